"""``migrate_storage`` moves attachments from local disk to CMIS, verified by checksum."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment
from grc_core.services import attachments, companies, exchanges, users
from grc_core.services.storage_admin import migrate_storage, verify_storage

ROOT = "/Sites/crm/documentLibrary/CRM"
START = datetime(2026, 4, 1, 9, tzinfo=UTC)


def rows(grc: Grc) -> list[Attachment]:
    with grc.session(read_only=True) as s:
        found = list(s.scalars(select(Attachment).order_by(Attachment.id)))
        s.expunge_all()
    return found


def digest(backend, key: str) -> str:
    sha = hashlib.sha256()
    with backend.open(key) as stream:
        while chunk := stream.read(65536):
            sha.update(chunk)
    return sha.hexdigest()


def test_migrate_from_local_disk_to_cmis(tmp_path, make_backend, protocol):
    local = LocalDiskBackend(tmp_path / "blobs")
    cmis = make_backend()
    backends = Backends.of({"local": local, "cmis": cmis}, default="local")
    grc = Grc.from_url(f"sqlite:///{tmp_path / 'grc.sqlite3'}")
    try:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            company = companies.create_company(s, admin, name="Société Générale")
            exchange = exchanges.create_exchange(
                s, admin, subject='Réunion "budget" #3', start=START, action="meeting",
                company_id=company.id,
            )  # fmt: skip
            names = ["compte rendu.pdf", "compte rendu.pdf", "devis 100% & co.pdf"]
            for i, name in enumerate(names):
                attachments.attach(
                    s, admin, backends, io.BytesIO(samples.pdf(f"document {i}")), name,
                    exchange_id=exchange.id,
                )  # fmt: skip
            attachments.attach(
                s, admin, backends, io.BytesIO(samples.pdf("kbis")), "kbis.pdf",
                company_id=company.id,
            )  # fmt: skip
        before = {row.id: (row.sha256, row.size) for row in rows(grc)}
        assert {row.backend for row in rows(grc)} == {"local"}

        report = migrate_storage(grc.session, backends, "cmis")

        assert (report.moved, report.total, report.failed) == (4, 4, [])
        after = rows(grc)
        assert {row.backend for row in after} == {"cmis"}
        for row in after:
            assert digest(cmis, row.storage_key) == before[row.id][0]
            assert cmis.stat(row.storage_key).size == before[row.id][1]
        assert list(local.iter_blobs()) == []  # the source blobs are gone
        # Filed where a person looks for them, same names disambiguated.
        paths = sorted(protocol.path_of(protocol.nodes[row.storage_key]) for row in after)
        folder = f"{ROOT}/Société Générale/2026-04-01 — Réunion 'budget' #3"
        assert paths == [
            f"{folder}/compte rendu (2).pdf",
            f"{folder}/compte rendu.pdf",
            f"{folder}/devis 100% & co.pdf",
            f"{ROOT}/Société Générale/kbis.pdf",
        ]
        # iter_blobs lists exactly the keys the rows hold: verify finds nothing wrong.
        check = verify_storage(grc.session, backends, grace=timedelta(0))
        assert check.checked == 4 and check.problems == []
        again = migrate_storage(grc.session, backends, "cmis")
        assert (again.moved, again.already_there) == (0, 4)
    finally:
        grc.dispose()
