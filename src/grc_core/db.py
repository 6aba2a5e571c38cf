"""Engines and sessions: nothing is built at import time, everything from a URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from grc_core.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000

#: Execution option marking a connection that will only read (SQLite then needs no write lock).
READ_ONLY = "grc_read_only"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens transactions itself and breaks SAVEPOINT; hand control to SQLAlchemy
    # (the recipe from SQLAlchemy's SQLite dialect documentation) and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with "database is
    # locked" if another writer committed meanwhile (WAL snapshots cannot be upgraded), and
    # the busy timeout does not help.  Writers therefore take the write lock up front and
    # queue on the busy timeout; read-only engines (see READ_ONLY) keep deferred BEGINs.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings GRC relies on.

    SQLite gets WAL, foreign keys, a busy timeout and working savepoints.  A bare
    ``postgresql://`` URL uses psycopg 3.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"invalid database URL {url!r}: expected e.g. sqlite:///path/grc.sqlite3 "
            "or postgresql://user@host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
            "GRC runs on sqlite and postgresql"
        )
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)

    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit (the CLI prints them)."""
    return sessionmaker(engine, expire_on_commit=False)
