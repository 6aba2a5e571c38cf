"""``migrate_storage`` moves attachments from local disk into Nuxeo, verified by checksum."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from grc_adapters.local.backend import LocalDiskBackend
from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment
from grc_core.services import attachments, companies, exchanges, users
from grc_core.services.storage_admin import checksum, migrate_storage, verify_storage

from .conftest import CHUNK, ROOT
from .server import NuxeoProtocol

FILES = {
    "Compte rendu d'été.pdf": samples.pdf("Compte rendu"),
    "Devis n°12 & options 100%.docx": samples.docx("Devis"),
    # Larger than a chunk: moved on the chunked path.
    "Relevé #3.csv": b"date;montant\n" + b"2026-03-02;1234,56\n" * (3 * CHUNK // 19),
}


def test_migrate_storage_from_local_disk_to_nuxeo(
    tmp_path: Path, make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol
):
    local = LocalDiskBackend(tmp_path / "blobs")
    backends = Backends.of({"local": local, "nuxeo": make_backend()}, default="local")
    grc = Grc.from_url(f"sqlite:///{tmp_path / 'grc.sqlite3'}")  # a fresh SQLite database
    grc.upgrade()
    with grc.session() as session:
        admin = users.create_user(session, None, login="admin", display_name="Admin", is_admin=True)
        company = companies.create_company(session, admin, name="Société Générale")
        exchange = exchanges.create_exchange(
            session,
            admin,
            subject="Échéance / relance",
            start=datetime(2026, 3, 2, 9, tzinfo=UTC),
            action="meeting",
            company_id=company.id,
        )
        exchange_id = exchange.id
    with grc.acting_as("admin") as work:
        for name, data in FILES.items():
            attachments.attach(
                work.session, work.actor, backends, io.BytesIO(data), name, exchange_id=exchange_id
            )

    report = migrate_storage(grc.session, backends, "nuxeo")

    assert (report.moved, report.total, report.failed) == (3, 3, [])
    with grc.session(read_only=True) as session:
        rows = list(session.scalars(select(Attachment).order_by(Attachment.id)))
    nuxeo = backends.get("nuxeo")
    for row in rows:
        assert row.backend == "nuxeo"
        assert row.storage_key in protocol.docs, "the row keeps the Nuxeo document uid"
        expected = FILES[row.filename]
        assert checksum(nuxeo, row.storage_key) == (
            len(expected),
            hashlib.sha256(expected).hexdigest(),
        )
        doc = protocol.docs[row.storage_key]
        folder = f"{ROOT}/Société Générale/2026-03-02 — Échéance - relance"
        assert doc.path.rsplit("/", 1)[0] == folder
        assert doc.properties["dc:title"] == row.filename
        assert doc.properties["dc:source"] == f"grc:{row.core_key}"
    assert list(local.iter_blobs()) == [], "the local copies were deleted"
    assert protocol.batches == {} and protocol.duplicate_chunks == []
    verified = verify_storage(grc.session, backends, grace=timedelta(0))
    assert verified.problems == [] and verified.checked == 3
    grc.dispose()


class KilledAfterPut:
    """Wraps a backend; the process "dies" right after the first put reached Nuxeo."""

    def __init__(self, inner: NuxeoBackend) -> None:
        self.inner, self.name = inner, inner.name

    def __getattr__(self, attr: str):
        return getattr(self.inner, attr)

    def put(self, *args, **kwargs) -> str:
        self.inner.put(*args, **kwargs)
        raise KeyboardInterrupt("killed after put")


def test_a_migration_killed_after_a_put_resumes(
    tmp_path: Path, make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol
):
    local = LocalDiskBackend(tmp_path / "blobs")
    nuxeo = make_backend()
    grc = Grc.from_url(f"sqlite:///{tmp_path / 'grc.sqlite3'}")
    grc.upgrade()
    with grc.session() as session:
        admin = users.create_user(session, None, login="admin", display_name="Admin", is_admin=True)
        company_id = companies.create_company(session, admin, name="ACME").id
    backends = Backends.of({"local": local, "nuxeo": nuxeo}, default="local")
    with grc.acting_as("admin") as work:
        attachments.attach(
            work.session, work.actor, backends, io.BytesIO(samples.pdf()), "a.pdf",
            company_id=company_id,
        )  # fmt: skip
    killed = Backends.of({"local": local, "nuxeo": KilledAfterPut(nuxeo)}, default="local")
    with pytest.raises(KeyboardInterrupt):
        migrate_storage(grc.session, killed, "nuxeo")
    try:
        report = migrate_storage(grc.session, backends, "nuxeo")
        assert (report.moved, report.failed) == (1, [])
        assert len(protocol.files()) == 1
    finally:
        grc.dispose()
