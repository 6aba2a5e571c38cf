"""`grc storage migrate --to cmis` moves the demo's attachments, checksum-verified."""

from __future__ import annotations

from tests.adapters.demo_migration import migrate_demo

from .conftest import settings


def test_the_demo_moves_to_cmis(tmp_path, server):
    outcome = migrate_demo(tmp_path, "cmis", settings(server))
    assert outcome["backends"] and set(outcome["backends"]) == {"cmis"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]


def test_the_demo_moves_to_cmis_through_atompub(tmp_path):
    from .atom_server import ATOM, AtomPubProtocol
    from .conftest import PASSWORD, USER, serve

    protocol = AtomPubProtocol(tmp_path / "atom", user=USER, password=PASSWORD)
    with serve(protocol) as server:
        outcome = migrate_demo(tmp_path, "cmis", settings(server, url=server.url + ATOM))
    assert outcome["backends"] and set(outcome["backends"]) == {"cmis"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]
    assert protocol.content_uploads == len(outcome["backends"])
