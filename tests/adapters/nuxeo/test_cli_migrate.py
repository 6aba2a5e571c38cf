"""`grc storage migrate --to nuxeo` moves the demo's attachments, checksum-verified."""

from __future__ import annotations

from tests.adapters.demo_migration import migrate_demo

from .conftest import settings_for


def test_the_demo_moves_to_nuxeo(tmp_path, server):
    outcome = migrate_demo(tmp_path, "nuxeo", settings_for(server))
    assert outcome["backends"] and set(outcome["backends"]) == {"nuxeo"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]
