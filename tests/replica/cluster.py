"""A real PostgreSQL primary and its streaming replica, in a temporary folder.

A new primary cluster (``initdb``, ``wal_level=replica``) on a spare port, copied with
``pg_basebackup -R`` into a standby started on another spare port: the replica replays the
primary's write-ahead log as a production one does, so lag, read-only refusals and
``pg_is_in_recovery()`` are the server's own.  Both clusters live in a temporary folder
owned by the ``postgres`` user and are stopped and removed at the end.  Used by the tests'
fixture and by ``benchmarks/replica.py``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from grc_core.facade import Grc

PG_BIN = Path(os.environ.get("GRC_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
DB_NAME = "grc"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a server binary as the ``postgres`` user (the server refuses to run as root)."""
    command = [str(PG_BIN / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Replicated:
    """The URLs of the primary and of its replica, and how to wait for the replica."""

    primary_url: str
    replica_url: str

    def wait_for_replay(self, timeout: float = 10.0) -> None:
        """Return once the replica has replayed everything the primary has written so far."""
        primary = create_engine(self.primary_url, poolclass=NullPool)
        replica = create_engine(self.replica_url, poolclass=NullPool)
        try:
            with primary.connect() as conn:
                target = conn.scalar(text("SELECT pg_current_wal_flush_lsn()"))
            deadline = time.monotonic() + timeout
            with replica.connect() as conn:
                while True:
                    behind = conn.scalar(
                        text(
                            "SELECT pg_wal_lsn_diff(CAST(:t AS pg_lsn), pg_last_wal_replay_lsn())"
                        ),
                        {"t": target},
                    )
                    if behind is not None and behind <= 0:
                        return
                    if time.monotonic() > deadline:
                        raise AssertionError(f"the replica is still {behind} bytes behind")
                    time.sleep(0.02)
        finally:
            primary.dispose()
            replica.dispose()


class ServerMissing(RuntimeError):
    """The PostgreSQL server binaries are not where :data:`PG_BIN` says."""


@contextmanager
def replicated_cluster(shared_buffers: str = "32MB") -> Iterator[Replicated]:
    """A migrated primary and its running standby, removed when the block ends."""
    missing = [
        b for b in ("initdb", "pg_ctl", "pg_basebackup", "postgres") if not (PG_BIN / b).exists()
    ]
    if missing:
        raise ServerMissing(f"PostgreSQL server binaries missing in {PG_BIN}: {', '.join(missing)}")
    root = Path(tempfile.mkdtemp(prefix="grc-replica-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    primary_dir, standby_dir = root / "primary", root / "standby"
    primary_port, standby_port = _free_port(), _free_port()
    started: list[Path] = []
    try:
        _as_postgres("initdb", "-D", str(primary_dir), "-U", "postgres", "-A", "trust", "--no-sync")
        settings = (
            f"port = {primary_port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\n"
            "wal_level = replica\n"
            "max_wal_senders = 4\n"
            "fsync = off\n"  # a throw-away cluster: durability is not under test
            "full_page_writes = off\n"
            f"shared_buffers = {shared_buffers}\n"
        )
        with (primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        # initdb's pg_hba.conf already lets 127.0.0.1 replicate with -A trust; say so anyway.
        with (primary_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        _as_postgres(
            "pg_ctl", "-D", str(primary_dir), "-l", str(root / "primary.log"), "-w", "start"
        )
        started.append(primary_dir)
        primary_url = f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/{DB_NAME}"
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres",
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
        admin.dispose()
        # The schema is created before the copy: the standby starts with it.
        with Grc.from_url(primary_url) as grc:
            grc.upgrade()
        _as_postgres(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
            "-D", str(standby_dir), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip
        with (standby_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {standby_port}\nhot_standby = on\n")
        _as_postgres(
            "pg_ctl", "-D", str(standby_dir), "-l", str(root / "standby.log"), "-w", "start"
        )
        started.append(standby_dir)
        pair = Replicated(
            primary_url, f"postgresql+psycopg://postgres@127.0.0.1:{standby_port}/{DB_NAME}"
        )
        pair.wait_for_replay()
        yield pair
    finally:
        for folder in reversed(started):
            # A cluster that will not stop is removed below all the same.
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _as_postgres("pg_ctl", "-D", str(folder), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
