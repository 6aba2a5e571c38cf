"""Commands that touch storage either complete or change nothing (issue 9, defect 8).

Attachments are moved to a second backend, ``archive``; commands then run without its
configuration.  Each must refuse before changing anything: no row gone, no event recorded,
no pending deletion left for ``storage verify`` to report.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc as Facade
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment, BlobDeletion
from grc_core.services import attachments, companies, users

from .runner import Grc


@dataclass
class Archived:
    grc: Grc
    config: Path
    archive: Path
    exchange: str
    ids: list[int]

    def with_archive(self, *args: str, **kwargs: str) -> list[str]:
        return ["--config", str(self.config), *args]

    def blobs(self) -> list[Path]:
        return sorted(p for p in self.archive.rglob("*") if p.is_file())

    def listed(self) -> list[int]:
        found = self.grc.json(
            *self.with_archive("attachment", "list", "--exchange", self.exchange), as_="alice"
        )
        return [a["id"] for a in found]

    def deletion_events(self) -> list[dict]:
        return self.grc.json(
            "notify", "events", "--kind", "attachment.deleted", "--kind", "exchange.deleted",
            as_="admin",
        )  # fmt: skip

    def verify(self) -> tuple[int, dict]:
        result = self.grc.run(*self.with_archive("--json", "storage", "verify"), as_="admin")
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def archived(team: Grc, tmp_path: Path) -> Archived:
    exchange = team.json(
        "exchange", "add", "--subject", "Revue", "--start", "2026-03-02 10:00", "--action",
        "call", as_="alice",
    )["id"]  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cr.pdf").write_bytes(samples.pdf("Compte rendu"))
    (folder / "logo.png").write_bytes(samples.png())
    added = team.json(
        "attachment", "add", str(folder / "cr.pdf"), str(folder / "logo.png"),
        "--exchange", str(exchange), as_="alice",
    )  # fmt: skip
    archive = tmp_path / "archive"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[grc.storage.archive]\ntype = "local"\nroot = "{archive.as_posix()}"\n',
        encoding="utf-8",
    )
    moved = team.json("--config", str(config), "storage", "migrate", "--to", "archive", as_="admin")
    assert moved["moved"] == 2
    return Archived(team, config, archive, str(exchange), [a["id"] for a in added])


def _unchanged(archived: Archived) -> None:
    assert archived.listed() == archived.ids
    assert len(archived.blobs()) == 2
    assert archived.deletion_events() == []
    code, report = archived.verify()
    assert (code, report["checked"], report["problems"]) == (0, 2, [])


def test_attachment_delete_without_its_backend_changes_nothing(archived):
    message = archived.grc.fails(
        2, "attachment", "delete", str(archived.ids[0]), "--yes", as_="alice"
    )
    assert "'archive'" in message
    assert "nothing was deleted" in message
    _unchanged(archived)

    # With the backend configured, the same command completes: row, event and blob go.
    archived.grc.ok(
        *archived.with_archive("attachment", "delete", str(archived.ids[0]), "--yes"),
        as_="alice",
    )
    assert archived.listed() == archived.ids[1:]
    assert len(archived.blobs()) == 1
    assert [e["kind"] for e in archived.deletion_events()] == ["attachment.deleted"]
    code, report = archived.verify()
    assert (code, report["problems"]) == (0, [])


def test_exchange_delete_without_its_attachments_backend_changes_nothing(archived):
    message = archived.grc.fails(2, "exchange", "delete", archived.exchange, "--yes", as_="alice")
    assert "'archive'" in message
    _unchanged(archived)
    archived.grc.ok(*archived.with_archive("exchange", "show", archived.exchange), as_="alice")


def test_migrate_without_a_source_backend_moves_nothing(archived):
    # Back to the default root, without saying where the attachments now are.
    message = archived.grc.fails(2, "storage", "migrate", "--to", "local", as_="admin")
    assert "'archive'" in message
    assert "nothing was moved" in message
    _unchanged(archived)
    # No migration intent was recorded on any row either.
    listed = archived.grc.json(
        *archived.with_archive("attachment", "list", "--exchange", archived.exchange),
        as_="alice",
    )
    assert {a["backend"] for a in listed} == {"archive"}


class _DeleteFails:
    """A local backend whose delete fails with an error no backend should raise."""

    def __init__(self, inner: LocalDiskBackend) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, attribute: str) -> object:
        return getattr(self.inner, attribute)

    def delete(self, key: str) -> None:
        raise RuntimeError("the GED is down")


def test_a_failure_after_commit_never_reports_a_committed_deletion(fresh_url, tmp_path):
    """Once the deletion is committed, removing the blob is best effort: a failure there is
    logged and left for ``storage verify --repair``, never raised as the deletion's failure."""
    backends = Backends.of({"local": _DeleteFails(LocalDiskBackend(tmp_path / "blobs"))}, "local")
    with Facade.from_url(fresh_url) as grc:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
            company = companies.create_company(s, admin, name="ACME")
        with grc.acting_as("admin") as work:
            ident = attachments.attach(
                work.session, work.actor, backends, io.BytesIO(samples.pdf("x")), "cr.pdf",
                company_id=company.id,
            ).id  # fmt: skip
        with grc.acting_as("admin") as work:  # commits without raising
            attachments.delete_attachment(work.session, work.actor, backends, ident)
        with grc.session(read_only=True) as s:
            assert s.get(Attachment, ident) is None
            assert s.scalar(select(func.count()).select_from(BlobDeletion)) == 1
