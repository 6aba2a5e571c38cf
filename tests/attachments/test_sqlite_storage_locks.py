"""SQLite only: storage verify --repair and migrate never call a backend inside a write
transaction (a GED may take seconds to answer while every user's save would wait)."""

from __future__ import annotations

import io
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from grc_adapters.local.backend import LocalDiskBackend
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment, BlobDeletion
from grc_core.services import attachments
from grc_core.services.storage_admin import migrate_storage, verify_storage


def write_lock_taken(path: str) -> bool:
    """Whether some connection holds SQLite's write lock (tried once, without waiting)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc), exc
        return True
    else:
        conn.execute("ROLLBACK")
        return False
    finally:
        conn.close()


class LockChecking:
    """A local disk backend that records each call made while the write lock was held."""

    def __init__(self, inner: LocalDiskBackend, path: str, calls: list[str]) -> None:
        self.inner, self.path, self.calls = inner, path, calls
        self.name = inner.name

    def _check(self, what: str) -> None:
        self.calls.append(f"{what}{' UNDER THE WRITE LOCK' if write_lock_taken(self.path) else ''}")

    def put(self, *args: Any, **kwargs: Any) -> Any:
        self._check("put")
        return self.inner.put(*args, **kwargs)

    def open(self, key: str) -> Any:
        self._check("open")
        return self.inner.open(key)

    def stat(self, key: str) -> Any:
        self._check("stat")
        return self.inner.stat(key)

    def delete(self, key: str) -> None:
        self._check("delete")
        self.inner.delete(key)

    def iter_blobs(self) -> Any:
        self._check("iter_blobs")
        return self.inner.iter_blobs()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def fresh_url(db_factory) -> str:
    """SQLite only (the ``app`` fixture's database)."""
    return db_factory.url("sqlite")


@pytest.fixture
def setup(app) -> tuple[Any, Backends, list[str]]:
    path = make_url(str(app.grc.engine.url)).database
    assert path is not None
    calls: list[str] = []
    for n in range(3):
        with app.grc.acting_as("alice") as work:
            attachments.attach(
                work.session, work.actor, app.backends, io.BytesIO(samples.pdf(f"p{n}")),
                f"p{n}.pdf", exchange_id=app.shared_id,
            )  # fmt: skip
    # Deletions recorded but not carried out (a backend was down when they were asked).
    local = app.backends.get("local")
    with app.grc.session() as s:
        for n in range(3):
            key = local.put(f"gone/{n}", io.BytesIO(samples.pdf(f"gone {n}")))
            s.add(BlobDeletion(backend="local", storage_key=key))
    checking = Backends.of(
        {n: LockChecking(app.backends.get(n), path, calls) for n in ("local", "archive")},
        "local",
    )
    return app, checking, calls


def test_verify_repair_calls_no_backend_under_the_write_lock(setup) -> None:
    app, backends, calls = setup
    report = verify_storage(app.grc.session, backends, grace=timedelta(0), repair=True)
    assert report.repaired == 3 and report.ok
    assert calls and not [c for c in calls if "LOCK" in c], calls
    with app.grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(BlobDeletion)) == 0


def test_migrate_calls_no_backend_under_the_write_lock(setup) -> None:
    app, backends, calls = setup
    report = migrate_storage(app.grc.session, backends, "archive")
    assert report.moved == 3 and not report.failed
    assert calls and not [c for c in calls if "LOCK" in c], calls
    with app.grc.session(read_only=True) as s:
        assert set(s.scalars(select(Attachment.backend))) == {"archive"}
        assert s.scalar(select(func.count()).select_from(BlobDeletion)) == 0
