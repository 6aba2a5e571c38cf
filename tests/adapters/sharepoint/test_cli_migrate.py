"""`grc storage migrate --to sharepoint` moves the demo's attachments, checksum-verified."""

from __future__ import annotations

from tests.adapters.demo_migration import migrate_demo
from tests.adapters.sharepoint.conftest import TEST_CHUNK
from tests.adapters.sharepoint.server import SITE, TOKEN


def test_the_demo_moves_to_sharepoint(tmp_path, server):
    settings = {"site_url": server.url + SITE, "access_token": TOKEN, "chunk_size": TEST_CHUNK}
    outcome = migrate_demo(tmp_path, "sharepoint", settings)
    assert outcome["backends"] and set(outcome["backends"]) == {"sharepoint"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]


def test_the_demo_moves_to_sharepoint_through_graph_while_throttled(tmp_path):
    from click.testing import CliRunner
    from tests.adapters.sharepoint.graph_server import GraphProtocol
    from tests.adapters.sharepoint.test_graph import graph_config, serve_graph

    from grc_cli.demo_data import TEAM
    from grc_cli.main import cli

    protocol = GraphProtocol(tmp_path / "graph", throttle_every=7, retry_after="0")
    with serve_graph(protocol) as server:
        settings = {k: v for k, v in graph_config(server).items() if k != "chunk_size"}
        outcome = migrate_demo(tmp_path, "sharepoint", settings)
        assert outcome["backends"] and set(outcome["backends"]) == {"sharepoint"}
        assert outcome["local_files"] == []
        assert outcome["verify_exit"] == 0, outcome["verify"]
        assert protocol.throttled and protocol.duplicate_fragments == []
        # `grc storage check` against the same configuration: every step succeeds.
        config = tmp_path / "grc.toml"
        checked = CliRunner(env={"NO_COLOR": "1"}).invoke(
            cli, ["--config", str(config), "--as", TEAM[0].login, "storage", "check", "sharepoint"]
        )
        assert checked.exit_code == 0, checked.output
