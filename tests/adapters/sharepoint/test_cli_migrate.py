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
