"""Processes killed with SIGKILL at random points lose nothing and leave nothing dangling.

The children are forked (not spawned) so that each starts in milliseconds: two hundred
kills take seconds, and the random delays land in every phase of an attachment — spooling,
writing the temporary file, fsync, rename, the INSERT, the COMMIT, after the commit.
"""

from __future__ import annotations

import io
import os
import random
import select as io_select
import signal
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from grc_adapters.local.backend import LocalDiskBackend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.files import samples
from grc_core.models import Attachment
from grc_core.services import attachments
from grc_core.services.storage_admin import migrate_storage, verify_storage

KILLS = 200


def fork(work: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            work()
        except BaseException:
            code = 1
        os._exit(code)
    return pid


def run_and_kill(work: Callable[[int], None], rng: random.Random) -> None:
    """Fork ``work(progress_fd)`` and SIGKILL it at a random point of its cycle.

    The child writes a byte to ``progress_fd`` after each unit of work.  The parent lets it
    finish 0 to 2 units, then kills it after a random fraction of the last unit's duration,
    so kills land in every phase however slow the disk is today (fsync can take seconds
    on a loaded machine; fixed delays would then kill every child before its first commit).
    """
    read_end, write_end = os.pipe()
    pid = fork(lambda: work(write_end))
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
    os.waitpid(pid, 0)
    os.close(read_end)
    assert time.monotonic() - started < 120


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
    for i in range(KILLS):
        run_and_kill(lambda fd, i=i: attach_forever(url, roots["local"], app.shared_id, i, fd), rng)
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


def test_killed_migration_resumes_to_a_verified_copy(app, tmp_path):
    for i in range(40):
        with app.grc.acting_as("alice") as work:
            attachments.attach(
                work.session, work.actor, app.backends,
                io.BytesIO(samples.pdf(f"doc {i}") + b" " * (i * 20_000)), f"doc{i}.pdf",
                exchange_id=app.shared_id,
            )  # fmt: skip
    roots = {"local": str(tmp_path / "blobs"), "archive": str(tmp_path / "archive")}
    url = app.grc.settings.database_url
    app.grc.dispose()

    def migrate(progress: int) -> None:
        grc = Grc.from_url(url)
        backends = Backends.of({n: LocalDiskBackend(r) for n, r in roots.items()}, "local")
        migrate_storage(
            grc.session, backends, "archive", progress=lambda *_: os.write(progress, b".")
        )

    rng = random.Random(7)
    for _ in range(12):
        run_and_kill(migrate, rng)
    report = migrate_storage(app.grc.session, app.backends, "archive")
    assert report.failed == []
    with app.grc.session(read_only=True) as s:
        backends_used = set(s.scalars(select(Attachment.backend)))
        total = s.scalar(select(func.count()).select_from(Attachment))
    assert backends_used == {"archive"} and total == 40
    check = verify_storage(app.grc.session, app.backends, grace=timedelta(0))
    assert check.checked == 40  # every row read back from the target and checksummed
    # A kill in the middle of a copy leaves at most a temporary file, never a wrong blob.
    assert {p.kind for p in check.problems} <= {"temporary"}
    verify_storage(app.grc.session, app.backends, grace=timedelta(0), repair=True)
    assert verify_storage(app.grc.session, app.backends, grace=timedelta(0)).problems == []
    assert list(app.backends.get("local").iter_blobs()) == []
    assert len(list(app.backends.get("archive").iter_blobs())) == 40
