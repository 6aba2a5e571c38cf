"""Processes killed with SIGKILL at random points lose nothing and leave nothing dangling.

The children are forked (not spawned) so that each starts in milliseconds, and the random
delays land in every phase of an attachment — spooling, writing the temporary file, fsync,
rename, the INSERT, the COMMIT, after the commit.  A child's exception is written to a file
and its exit status checked: only the kill (or, for a migration, finishing) may end it.

Random kills find what nobody thought of; the migration is also killed deterministically
after each of its steps in turn (every blob written or deleted, every commit), each time on
a fresh copy of the data, so that a wrong order of steps is caught at every run.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import random
import select as io_select
import shutil
import signal
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment
from grc_core.services import attachments
from grc_core.services.storage_admin import migrate_storage, verify_storage

KILLS = 60


def fork(work: Callable[[], None], errors: Path) -> int:
    """Run ``work`` in a forked child; whatever it raises is written to ``errors`` and makes
    it exit with status 1 (see :func:`reap`)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            work()
        except BaseException:
            errors.write_text(traceback.format_exc())
            code = 1
        os._exit(code)
    return pid


def reap(pid: int, errors: Path, *, may_finish: bool = False) -> bool:
    """Wait for ``pid``; True if the kill ended it, False if it finished its work (allowed
    only when ``may_finish``).  Anything else fails the test with the child's traceback."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return True
    if may_finish and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return False
    detail = errors.read_text() if errors.exists() else "(no traceback)"
    raise AssertionError(f"child {pid} ended with status {status}:\n{detail}")


def run_and_kill(work: Callable[[int], None], rng: random.Random, errors: Path) -> bool:
    """Fork ``work(progress_fd)`` and SIGKILL it at a random point of its cycle; True if the
    kill ended it (False: it finished first).

    The child writes a byte to ``progress_fd`` after each unit of work.  The parent lets it
    finish 0 to 2 units, then kills it after a random fraction of the last unit's duration,
    so kills land in every phase however slow the disk is today (fsync can take seconds
    on a loaded machine; fixed delays would then kill every child before its first commit).
    """
    read_end, write_end = os.pipe()
    pid = fork(lambda: work(write_end), errors)
    os.close(write_end)
    started = last = time.monotonic()
    interval = 0.02
    for _ in range(rng.randrange(0, 3)):
        ready, _, _ = io_select.select([read_end], [], [], 60)
        if not ready or not os.read(read_end, 1):
            break
        now = time.monotonic()
        interval, last = now - last, now
    time.sleep(rng.uniform(0, interval * 1.2))
    os.kill(pid, signal.SIGKILL)
    killed = reap(pid, errors, may_finish=True)
    os.close(read_end)
    assert time.monotonic() - started < 120
    return killed


def attach_forever(url: str, root: str, exchange_id: int, seed: int, progress: int) -> None:
    grc = Grc.from_url(url)
    backends = Backends.of({"local": LocalDiskBackend(root)}, "local")
    rng = random.Random(seed)
    while True:
        data = samples.pdf(f"piece {rng.random()}") + b" " * rng.randrange(0, 300_000)
        with grc.acting_as("alice") as work:
            attachments.attach(
                work.session, work.actor, backends, io.BytesIO(data), "piece.pdf",
                exchange_id=exchange_id,
            )  # fmt: skip
        os.write(progress, b".")


def test_killed_attachers_leave_no_row_without_blob(app, tmp_path):
    roots = {"local": str(tmp_path / "blobs")}
    app.grc.dispose()  # no pooled connection may cross the fork
    rng = random.Random(20261128)
    url = app.grc.settings.database_url
    errors = tmp_path / "child.err"
    for i in range(KILLS):
        work = functools.partial(attach_forever, url, roots["local"], app.shared_id, i)
        assert run_and_kill(work, rng, errors)  # it attaches forever: only the kill ends it
    with app.grc.session(read_only=True) as s:
        rows = s.scalar(select(func.count()).select_from(Attachment))
    assert rows >= 10, f"only {rows} attachments were made: the kills came too early"
    report = verify_storage(app.grc.session, app.backends, grace=timedelta(0))
    leftovers = {"orphan", "temporary"}  # what a kill may leave; never a row without blob
    assert [p for p in report.problems if p.kind not in leftovers] == []
    repaired = verify_storage(app.grc.session, app.backends, grace=timedelta(0), repair=True)
    assert repaired.ok
    assert repaired.of_kind("orphan") or repaired.of_kind("temporary")  # kills did land
    after = verify_storage(app.grc.session, app.backends, grace=timedelta(0))
    assert after.problems == [] and after.checked == rows
    assert list((tmp_path / "blobs").rglob(".tmp-*")) == []


def attach_documents(app, count: int) -> dict[str, str]:
    """``count`` PDF attachments of growing size; their SHA-256 by file name."""
    digests = {}
    for i in range(count):
        data = samples.pdf(f"doc {i}") + b" " * (i * 20_000)
        with app.grc.acting_as("alice") as work:
            attachments.attach(
                work.session, work.actor, app.backends, io.BytesIO(data), f"doc{i}.pdf",
                exchange_id=app.shared_id,
            )  # fmt: skip
        digests[f"doc{i}.pdf"] = hashlib.sha256(data).hexdigest()
    return digests


def assert_migrated(grc: Grc, backends: Backends, digests: dict[str, str], why: str) -> None:
    """Every attachment on the archive, read back intact; nothing left on the source."""
    with grc.session(read_only=True) as s:
        rows = list(s.execute(select(Attachment.filename, Attachment.backend)))
    assert sorted(rows) == sorted((name, "archive") for name in digests), why
    check = verify_storage(grc.session, backends, grace=timedelta(0))
    assert check.checked == len(digests), why  # each row read back and checksummed
    # A kill in the middle of a copy leaves at most a temporary file, never a wrong blob.
    assert {p.kind for p in check.problems} <= {"temporary"}, (why, check.problems)
    verify_storage(grc.session, backends, grace=timedelta(0), repair=True)
    assert verify_storage(grc.session, backends, grace=timedelta(0)).problems == [], why
    assert list(backends.get("local").iter_blobs()) == [], why
    archive = backends.get("archive")
    blobs = list(archive.iter_blobs())
    assert len(blobs) == len(digests), why
    found = set()
    for blob in blobs:
        with archive.open(blob.key) as stream:
            found.add(hashlib.sha256(stream.read()).hexdigest())
    assert found == set(digests.values()), why


@pytest.mark.parametrize("seed", [7, random.SystemRandom().randrange(2**32)], ids=["fixed", "new"])
def test_killed_migration_resumes_to_a_verified_copy(app, tmp_path, seed):
    # One fixed seed, and a new one at every run (shown in the test id and the messages).
    digests = attach_documents(app, 40)
    roots = {"local": str(tmp_path / "blobs"), "archive": str(tmp_path / "archive")}
    url = app.grc.settings.database_url
    app.grc.dispose()

    def migrate(progress: int) -> None:
        grc = Grc.from_url(url)
        backends = Backends.of({n: LocalDiskBackend(r) for n, r in roots.items()}, "local")
        migrate_storage(
            grc.session, backends, "archive", progress=lambda *_: os.write(progress, b".")
        )

    rng = random.Random(seed)
    for _ in range(12):
        run_and_kill(migrate, rng, tmp_path / "child.err")
    report = migrate_storage(app.grc.session, app.backends, "archive")
    assert report.failed == [], f"seed {seed}"
    assert_migrated(app.grc, app.backends, digests, f"seed {seed}")


# --- a kill at every step boundary -------------------------------------------------------------


class Steps:
    """Counts the steps that change state in a migration (a blob written or deleted, a
    transaction committed) and SIGKILLs the process right after step ``kill_at``."""

    def __init__(self, kill_at: int | None, report: int | None = None) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.report = report

    def done(self) -> None:
        self.count += 1
        if self.report is not None:
            os.write(self.report, b".")
        if self.count == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def counted_backend(steps: Steps, root: str) -> LocalDiskBackend:
    class Counted(LocalDiskBackend):
        def put(self, *args: Any, **kwargs: Any) -> Any:
            key = super().put(*args, **kwargs)
            steps.done()
            return key

        def delete(self, *args: Any, **kwargs: Any) -> Any:
            super().delete(*args, **kwargs)
            steps.done()

    return Counted(root)


def migrate_with_steps(url: str, roots: dict[str, str], steps: Steps) -> None:
    """In a child: the migration, with every state change counted (and the kill)."""
    event.listen(Session, "after_commit", lambda _session: steps.done())
    grc = Grc.from_url(url)
    backends = Backends.of({n: counted_backend(steps, r) for n, r in roots.items()}, "local")
    report = migrate_storage(grc.session, backends, "archive")
    assert report.failed == [], report.failed


class Copies:
    """The database and blob directories as they were before the migration, copied afresh
    for each attempt (PostgreSQL: CREATE DATABASE … TEMPLATE)."""

    def __init__(self, url: str, roots: dict[str, str], db_factory, tmp: Path) -> None:
        self.url, self.roots, self.db_factory, self.tmp = make_url(url), roots, db_factory, tmp
        self.made = 0

    def make(self) -> tuple[str, dict[str, str]]:
        self.made += 1
        where = self.tmp / f"attempt-{self.made}"
        roots = {}
        where.mkdir()
        for name, root in self.roots.items():
            roots[name] = str(where / name)
            if Path(root).exists():
                shutil.copytree(root, roots[name])
        if self.url.get_backend_name() == "sqlite":
            target = where / "db.sqlite3"
            for suffix in ("", "-wal", "-shm"):  # a disposed engine leaves none, normally
                if Path(f"{self.url.database}{suffix}").exists():
                    shutil.copyfile(f"{self.url.database}{suffix}", f"{target}{suffix}")
            url = self.url.set(database=str(target))
        else:
            name = f"{self.url.database}_{self.made}"
            with self.db_factory.admin().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.url.database}"'))
            self.db_factory.pg_databases.append(name)
            url = self.url.set(database=name)
        return url.render_as_string(hide_password=False), roots

    def drop(self, url: str) -> None:
        if self.url.get_backend_name() != "sqlite":
            name = make_url(url).database
            with self.db_factory.admin().connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_migration_killed_after_any_step_resumes_to_a_verified_copy(app, tmp_path, db_factory):
    """Deterministic: for every step of a whole migration, a fresh copy of the data, a child
    killed right after that step, then a resumed migration that must end verified."""
    digests = attach_documents(app, 2)
    roots = {"local": str(tmp_path / "blobs"), "archive": str(tmp_path / "archive")}
    app.grc.dispose()  # no connection to the template database, none across the forks
    copies = Copies(app.grc.settings.database_url, roots, db_factory, tmp_path)
    errors = tmp_path / "child.err"

    # A run to the end counts the steps.
    url, attempt_roots = copies.make()
    read_end, write_end = os.pipe()
    pid = fork(lambda: migrate_with_steps(url, attempt_roots, Steps(None, write_end)), errors)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as counted:
        total = len(counted.read())
    assert not reap(pid, errors, may_finish=True)
    copies.drop(url)
    assert total >= 2 * 4, f"only {total} steps counted"  # copy, record, switch, delete each

    for kill_at in range(1, total + 1):
        url, attempt_roots = copies.make()
        pid = fork(lambda: migrate_with_steps(url, attempt_roots, Steps(kill_at)), errors)  # noqa: B023
        assert reap(pid, errors), f"the migration ended before step {kill_at} of {total}"
        grc = Grc.from_url(url)
        backends = Backends.of({n: LocalDiskBackend(r) for n, r in attempt_roots.items()}, "local")
        report = migrate_storage(grc.session, backends, "archive")
        why = f"killed after step {kill_at} of {total}"
        assert report.failed == [], (why, report.failed)
        assert_migrated(grc, backends, digests, why)
        grc.dispose()
        copies.drop(url)
