"""SQLite only: a long writer or a long reader never holds up the commands that read.

SQLite in WAL mode lets readers and one writer work at once, provided a reading
transaction never asks for the write lock.  Each test here holds a transaction open on a
connection of its own (a thread), runs the interactive read commands meanwhile, and checks
that they answered while the lock was still held, not after it was released.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .runner import Grc

#: The longest a test holds its transaction if the commands never come back.
HOLD_AT_MOST = 60.0


class Holder:
    """A thread holding one SQLite transaction open until told to let go.

    ``write``: ``BEGIN IMMEDIATE`` and an insert (the write lock, as a saving user or a
    worker holds it); otherwise a deferred ``BEGIN`` and a read (a snapshot, as a long
    report holds it).
    """

    def __init__(self, path: str, *, write: bool) -> None:
        self.path, self.write = path, write
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held_for = 0.0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            try:
                if self.write:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("UPDATE companies SET name = name || '' WHERE id = 1")
                else:
                    conn.execute("BEGIN")
                    conn.execute("SELECT count(*) FROM exchanges").fetchone()
                started = time.monotonic()
                self.holding.set()
                self.release.wait(HOLD_AT_MOST)
                self.held_for = time.monotonic() - started
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            self.holding.set()

    def __enter__(self) -> Holder:
        self.thread.start()
        assert self.holding.wait(30), "the holder never began its transaction"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(30)
        assert self.error is None, self.error

    @property
    def still_holding(self) -> bool:
        return self.holding.is_set() and not self.release.is_set() and self.thread.is_alive()


def write_lock_taken(path: str) -> bool:
    """Whether another connection holds the write lock (tried once, without waiting)."""
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


@pytest.fixture
def crm(db_factory, tmp_path: Path) -> Iterator[tuple[Grc, str]]:
    """A migrated SQLite database with a team, a company, exchanges and an inbox alert."""
    url = db_factory.url("sqlite")
    grc = Grc(url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    for login in ("alice", "bob"):
        grc.ok("user", "add", login, "--name", login.title(), as_="admin")
    grc.ok("company", "add", "ACME", as_="admin")
    grc.ok("subscribe", "--company", "1", "--channel", "inbox", as_="alice")
    for n in range(3):
        grc.ok(
            "exchange", "add", "--company", "1", "--subject", f"Relance échéance {n}",
            "--action", "call", "--start", "2026-06-01 10:00", as_="bob",
        )  # fmt: skip
    grc.ok("notify", "run-once")
    path = make_url(url).database
    assert path is not None
    yield grc, path


READS = [
    ("exchange", "list"),
    ("exchange", "show", "1"),
    ("history", "company", "1"),
    ("history", "global"),
    ("search", "echeance"),
    ("inbox",),
    ("audit",),
]


def run_reads(grc: Grc, holder: Holder) -> None:
    for args in READS:
        result = grc.run(*args, as_="alice")
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}: {result.output}"
        # Answered while the other transaction was still open, not once it let go.
        assert holder.still_holding, f"{args} answered only after the holder let go"


def test_reads_answer_while_a_writer_holds_the_write_lock(crm: tuple[Grc, str]) -> None:
    grc, path = crm
    with Holder(path, write=True) as writer:
        assert write_lock_taken(path)
        run_reads(grc, writer)
        assert write_lock_taken(path)  # still held: the reads did not wait it out
    assert not write_lock_taken(path)
    assert "Relance échéance 0" in grc.ok("search", "echeance", as_="alice").stdout


def test_reads_and_writes_answer_while_a_reader_holds_a_snapshot(crm: tuple[Grc, str]) -> None:
    grc, path = crm
    with Holder(path, write=False) as reader:
        assert not write_lock_taken(path)
        run_reads(grc, reader)
        grc.ok(
            "exchange", "add", "--company", "1", "--subject", "Saved meanwhile",
            "--action", "note", "--start", "2026-06-02 10:00", as_="bob",
        )  # fmt: skip
        assert reader.still_holding
    assert "Saved meanwhile" in grc.ok("exchange", "list", as_="alice").stdout


def test_reads_answer_with_a_long_reader_and_a_long_writer_at_once(
    crm: tuple[Grc, str],
) -> None:
    grc, path = crm
    with Holder(path, write=False) as reader, Holder(path, write=True) as writer:
        run_reads(grc, writer)
        assert reader.still_holding and writer.still_holding
