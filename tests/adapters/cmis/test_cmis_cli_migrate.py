"""`grc storage migrate --to cmis` moves the demo's attachments, checksum-verified."""

from __future__ import annotations

from tests.adapters.demo_migration import migrate_demo

from .conftest import settings


def test_the_demo_moves_to_cmis(tmp_path, server):
    outcome = migrate_demo(tmp_path, "cmis", settings(server))
    assert outcome["backends"] and set(outcome["backends"]) == {"cmis"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]
