"""``migrate_storage`` from the local disk to SharePoint, verified by checksum."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.adapters.sharepoint.conftest import ROOT

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment
from grc_core.services import attachments, companies, exchanges, users
from grc_core.services.storage_admin import migrate_storage, verify_storage

FILES = {
    "compte rendu.pdf": samples.pdf("Compte rendu de la visite"),
    # The core refuses '"' in a file name; quotes, #, %, & and accents it keeps.
    "l'offre n°2 #2 50% R&D été.docx": samples.docx("Proposition"),
    "plan.png": samples.png(),
    "budget.xlsx": samples.xlsx(),
}


def setup(tmp_path, backend) -> tuple[Grc, LocalDiskBackend, Backends]:
    """A fresh SQLite database with an exchange and its attachments on the local disk."""
    grc = Grc.from_url(f"sqlite:///{tmp_path / 'grc.sqlite3'}")
    grc.upgrade()
    local = LocalDiskBackend(tmp_path / "blobs")
    backends = Backends.of({"local": local, "sharepoint": backend}, default="local")
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        alice = users.create_user(s, admin, login="alice", display_name="Alice")
        company = companies.create_company(s, admin, name="Société Générale & Fils")
        exchange = exchanges.create_exchange(
            s,
            alice,
            subject="Visite #1 « annuelle »",
            start=datetime(2026, 3, 2, 9, tzinfo=UTC),
            action="meeting",
            company_id=company.id,
        )
        exchange_id = exchange.id
    with grc.acting_as("alice") as work:
        for name, data in FILES.items():
            attachments.attach(
                work.session, work.actor, backends, io.BytesIO(data), name,
                exchange_id=exchange_id,
            )  # fmt: skip
    assert len(list(local.iter_blobs())) == len(FILES)
    return grc, local, backends


def test_migrate_from_local_disk_to_sharepoint(tmp_path, backend, protocol):
    grc, local, backends = setup(tmp_path, backend)

    report = migrate_storage(grc.session, backends, "sharepoint")

    assert report.failed == []
    assert report.moved == report.total == len(FILES)
    with grc.session(read_only=True) as s:
        rows = list(s.scalars(select(Attachment)))
        moved = {row.filename: (row.backend, row.storage_key, row.sha256) for row in rows}
    assert {b for b, _, _ in moved.values()} == {"sharepoint"}
    for filename, (_, key, sha) in moved.items():
        with backend.open(key) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == sha, filename
    assert list(local.iter_blobs()) == []  # the source blobs were removed
    # The documents are filed where people look for them, under readable names.
    folder = f"{ROOT}/Société Générale ＆ Fils/2026-03-02 — Visite ＃1 « annuelle »"
    assert sorted(protocol.documents(ROOT)) == sorted(
        f"{folder}/{name}"
        for name in [
            "compte rendu.pdf",
            "l'offre n°2 ＃2 50％ R＆D été.docx",
            "plan.png",
            "budget.xlsx",
        ]
    )
    # And GRC's own verification agrees, checksums included.
    clean = verify_storage(grc.session, backends, grace=timedelta(0))
    assert clean.problems == []
    assert clean.checked == len(FILES)
    grc.dispose()


class KilledAfterPut:
    """The SharePoint backend, but the process "dies" right after the second upload."""

    def __init__(self, inner, after: int) -> None:
        self.inner, self.after, self.puts = inner, after, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def put(self, *args, **kwargs):
        key = self.inner.put(*args, **kwargs)
        self.puts += 1
        if self.puts == self.after:
            raise KeyboardInterrupt("killed after the upload, before it was recorded")
        return key


def interrupted_then_resumed(tmp_path, backend):
    grc, local, backends = setup(tmp_path, backend)
    flaky = Backends.of({"local": local, "sharepoint": KilledAfterPut(backend, 2)}, "local")
    with pytest.raises(KeyboardInterrupt):
        migrate_storage(grc.session, flaky, "sharepoint")
    # The second copy is on SharePoint but GRC never learnt its UniqueId: on the next run,
    # put() of the same core key is refused, and the copy is found through the key index.
    report = migrate_storage(grc.session, backends, "sharepoint")
    return grc, local, backends, report


def test_an_interrupted_migration_resumes_through_the_key_index(tmp_path, backend, protocol):
    grc, local, _, report = interrupted_then_resumed(tmp_path, backend)
    assert report.failed == []
    assert len(protocol.documents(ROOT)) == len(FILES)  # nothing uploaded twice
    assert list(local.iter_blobs()) == []
    with grc.session(read_only=True) as s:
        for row in s.scalars(select(Attachment)):
            assert row.backend == "sharepoint"
            with backend.open(row.storage_key) as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == row.sha256
    grc.dispose()


def test_verify_after_a_resumed_migration_finds_no_orphan(tmp_path, backend):
    grc, _, backends, _ = interrupted_then_resumed(tmp_path, backend)
    clean = verify_storage(grc.session, backends, grace=timedelta(0))
    grc.dispose()
    assert clean.problems == []
