"""`grc storage migrate --to nuxeo` moves the demo's attachments, checksum-verified."""

from __future__ import annotations

from tests.adapters.demo_migration import migrate_demo

from .conftest import settings_for


def test_the_demo_moves_to_nuxeo(tmp_path, server):
    outcome = migrate_demo(tmp_path, "nuxeo", settings_for(server))
    assert outcome["backends"] and set(outcome["backends"]) == {"nuxeo"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]


def test_the_demo_moves_to_a_nuxeo_like_the_real_one(tmp_path):
    """Nuxeo 10.10 with a 2 s search lag and the default subtype rules."""
    from .conftest import BEARER, PASSWORD, TOKEN, USER
    from .server import NuxeoProtocol, NuxeoServer

    protocol = NuxeoProtocol(
        tmp_path / "nx", users={USER: PASSWORD}, tokens={TOKEN}, bearer_tokens={BEARER},
        index_lag=2.0, idempotency=False, rename_clashes=True, subtypes=True,
    )  # fmt: skip
    with NuxeoServer(protocol) as server:
        outcome = migrate_demo(tmp_path, "nuxeo", settings_for(server))
    assert outcome["backends"] and set(outcome["backends"]) == {"nuxeo"}
    assert outcome["local_files"] == []
    assert outcome["verify_exit"] == 0, outcome["verify"]
    sources = [d.properties["dc:source"] for d in protocol.files()]
    assert len(sources) == len(set(sources)) == len(outcome["backends"])
