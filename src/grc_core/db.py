"""Engines and sessions: nothing is built at import time, everything from a URL."""

from __future__ import annotations

import re
import select
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from grc_core.errors import ConfigError, ValidationError
from grc_core.files.modes import create_private_file, make_private_dirs, restrict_like

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
    # queue on the busy timeout.  Read-only engines (see READ_ONLY) open no transaction:
    # each statement reads its own snapshot, as under PostgreSQL's READ COMMITTED (where
    # they run in autocommit too), and a page costs no BEGIN and COMMIT.
    if not conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings GRC relies on.

    SQLite gets WAL, foreign keys, a busy timeout and working savepoints.  A bare
    ``postgresql://`` URL uses psycopg 3.
    """
    try:
        parsed = make_url(url)
        port = parsed.port  # "h:notaport" fails here, or already in make_url
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"invalid database URL {_hide_password(url)!r}: expected e.g. "
            "sqlite:///path/grc.sqlite3 or postgresql://user@host:5432/db"
        ) from exc
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"invalid database URL: port {port} is not between 1 and 65535")
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
            "GRC runs on sqlite and postgresql"
        )
    # A caller's own pool_pre_ping (True or False) replaces GRC's cheaper liveness check.
    own_ping = "pool_pre_ping" in kwargs
    # GRC's plan settings, unless the caller chose a plan_cache_mode of their own.
    grc_plans = False
    if backend == "postgresql":
        kwargs["connect_args"] = _pg_connect_args(
            kwargs.get("connect_args"), parsed.query.get("options")
        )
        grc_plans = PG_PLAN_OPTION in kwargs["connect_args"]["options"]

    database = parsed.database or ""
    on_disk = backend == "sqlite" and database not in ("", ":memory:")
    if on_disk and not (database.startswith("file:") or parsed.query.get("uri")):
        # Created here with a private mode: SQLite would create it from the umask (0644),
        # and its -wal and -shm files take the database file's mode.
        path = Path(database)
        try:
            make_private_dirs(path.parent)
            create_private_file(path)
        except OSError as exc:
            raise ConfigError(f"cannot create the SQLite database {database}: {exc}") from None
    try:
        engine = create_engine(parsed, **kwargs)
    except ImportError as exc:
        driver = parsed.drivername
        raise ConfigError(
            f"the database driver {driver!r} needs the module {exc.name or exc}, which is not "
            "installed; GRC ships sqlite:// and postgresql+psycopg:// (postgresql:// uses it)"
        ) from None
    except ArgumentError as exc:
        raise ConfigError(
            f"unknown database driver {parsed.drivername!r} ({exc}); "
            "GRC ships sqlite:// and postgresql+psycopg://"
        ) from None
    # On both databases, so that a filter behaves the same on either (SQLite would match
    # nothing where PostgreSQL fails).
    event.listen(engine, "before_cursor_execute", check_statement_parameters, retval=True)
    if backend == "postgresql" and not own_ping:
        _watch_liveness(engine)
    if grc_plans:
        event.listen(engine, "begin", _pg_write_plans)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        if on_disk:
            event.listen(engine, "connect", _sidecar_guard(database))
    return engine


#: A pooled PostgreSQL connection idle for longer than this is pinged before it is used.
PG_PING_AFTER_IDLE = 20.0

_IDLE_SINCE = "grc_idle_since"


def _watch_liveness(engine: Engine) -> None:
    """Check pooled PostgreSQL connections on checkout without a round trip when possible.

    ``pool_pre_ping`` sends ``SELECT 1`` on every checkout: one more round trip per request,
    about a tenth of a short API request.  Instead, a connection is checked locally: psycopg
    knows when it is closed or broken, and a server that ends a session (restart,
    ``pg_terminate_backend``, ``idle_session_timeout``) sends a message and closes the
    socket, which then reads as ready although the connection is idle.  Only then, or after
    :data:`PG_PING_AFTER_IDLE` seconds of idleness (a silent network drop sends nothing), is
    it pinged; a dead one is replaced by the pool (``DisconnectionError``) before the
    request uses it.
    """
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None:
            return  # connected just now
        if dbapi_connection.closed or dbapi_connection.broken:
            raise DisconnectionError("the pooled connection was closed")
        if time.monotonic() - since <= PG_PING_AFTER_IDLE and not _has_input(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the pooled connection is dead: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the server sent something to an idle connection (a farewell, or end of file)."""
    try:
        ready, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True  # no usable socket: let the ping decide
    return bool(ready)


#: Startup option of every PostgreSQL connection (see :func:`_pg_connect_args`).
PG_PLAN_OPTION = "-c plan_cache_mode=force_custom_plan"
#: Startup option of every PostgreSQL connection: date-times come back in UTC.
PG_UTC_OPTION = "-c timezone=UTC"


def _pg_connect_args(
    given: Mapping[str, Any] | None, url_options: str | tuple[str, ...] | None
) -> dict[str, Any]:
    """psycopg's connect arguments with GRC's plan and time zone settings added to the
    caller's own.

    psycopg 3 prepares a statement on its 5th execution on a connection, and PostgreSQL
    then tries a *generic* plan, blind to the parameter values.  On skewed data (one
    company with 40,000 exchanges, a word in half the rows) that plan is 10-50x slower
    and it sticks for the life of the pooled connection.  ``force_custom_plan`` keeps a
    plan per set of values and still reuses the prepared statement's parse, which
    ``prepare_threshold=None`` (no preparation at all) would give up; measured in
    ``benchmarks/plan_stability.py``.  A caller's own ``plan_cache_mode`` (connect
    argument or ``?options=`` in the URL, which the connect argument would replace) wins.

    The session's time zone is UTC: psycopg then gives ``timestamptz`` values with
    :data:`datetime.UTC` as their zone, which :class:`~grc_core.models.base.UTCDateTime`
    returns as they are (with the server's default zone, often ``Etc/UTC``, each value was
    converted again: two per history entry).  Nothing GRC stores or compares depends on the
    session's zone (``timestamptz`` is an instant; the search's day blocks count epoch
    seconds).  A caller's own ``timezone`` wins; its values are converted to UTC as before.
    """
    args = dict(given or {})
    if isinstance(url_options, tuple):
        url_options = " ".join(url_options)
    options = str(args.get("options") or url_options or "")
    for name, option in (("plan_cache_mode", PG_PLAN_OPTION), ("timezone", PG_UTC_OPTION)):
        if name not in options.lower():
            options = f"{options} {option}".strip()
    args["options"] = options
    return args


#: Sent at the start of every PostgreSQL write transaction (see :func:`_pg_write_plans`).
PG_WRITE_PLANS = "SET LOCAL plan_cache_mode = auto"


def _pg_write_plans(conn: Connection) -> None:
    """Let a write transaction reuse generic plans.

    ``force_custom_plan`` protects the queries whose best plan depends on the values
    (histories, searches, lists: read-only sessions).  What a write transaction sends has one
    right plan whatever the values (rows read and written by key, plain inserts), and
    planning each execution again cost a creation about a quarter of its database time
    (``benchmarks/api.py``).  ``SET LOCAL`` ends with the transaction, so the pooled
    connection returns to ``force_custom_plan``.  Not sent when the caller chose a
    ``plan_cache_mode`` of their own.

    psycopg opens a transaction with a ``BEGIN`` round trip of its own before the first
    statement; sent here in one simple query with the setting, it costs no round trip more.
    psycopg then finds the transaction open and sends no ``BEGIN``.  This ``BEGIN`` keeps
    the connection's isolation level and access mode, as psycopg's does.
    """
    options = conn.get_execution_options()
    if options.get(READ_ONLY) or options.get("isolation_level") == "AUTOCOMMIT":
        return
    from psycopg import pq  # loaded already: the connection is psycopg's

    driver: Any = conn.connection.driver_connection
    if not driver.autocommit and driver.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        result = driver.pgconn.exec_(f"{_begin(driver)}; {PG_WRITE_PLANS}".encode())
        if result.status == pq.ExecStatus.COMMAND_OK:
            return
        # A failure (a lost connection, say) goes through SQLAlchemy below, which reports
        # it as for any statement and discards a dead connection.
    conn.exec_driver_sql(PG_WRITE_PLANS)


def _begin(driver: Any) -> str:
    """The ``BEGIN`` psycopg would send: with the connection's isolation level and modes."""
    from psycopg import IsolationLevel

    words = ["BEGIN"]
    if driver.isolation_level is not None:
        level = IsolationLevel(driver.isolation_level).name.replace("_", " ")
        words.append(f"ISOLATION LEVEL {level}")
    if driver.read_only is not None:
        words.append("READ ONLY" if driver.read_only else "READ WRITE")
    if driver.deferrable is not None:
        words.append("DEFERRABLE" if driver.deferrable else "NOT DEFERRABLE")
    return " ".join(words)


#: The range of a 64-bit integer: what both databases store and compare.
INT64 = range(-(2**63), 2**63)


def check_statement_parameters(
    _conn: Any,
    _cursor: Any,
    statement: str,
    parameters: Any,
    _context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """The engines' ``before_cursor_execute`` listener: :func:`check_parameters` on every
    statement but batched writes, which carry values the services have checked, by the
    thousand (scanning them would cost the bulk import about a tenth of its speed).

    Registered with ``retval=True``, so the engine keeps this very function as its
    listener: :mod:`grc_core.driver_statements` recognises it as GRC's own.
    """
    if not executemany:
        check_parameters(parameters)
    return statement, parameters


def check_parameters(parameters: Any) -> None:
    """Refuse, before the driver does, parameters no database accepts.

    A NUL character in text: PostgreSQL cannot hold it, and psycopg's refusal is a driver
    error (exit 6 in the CLI, "database error").  An integer beyond 64 bits: the sqlite3
    module raises ``OverflowError``, which is no database error at all.  Services refuse
    both in what they store; this catches what reaches a query otherwise (filters, ids,
    lookups) as the input error it is, on every path and on both databases.
    """
    values = parameters.values() if isinstance(parameters, Mapping) else (parameters or ())
    for value in values:
        kind = type(value)
        if kind is list or kind is tuple:
            for item in value:
                _check_value(item)
        elif (kind is str and "\x00" in value) or (
            kind is int and not _INT64_MIN <= value <= _INT64_MAX
        ):
            _check_value(value)


_INT64_MIN, _INT64_MAX = INT64.start, INT64.stop - 1


def _check_value(value: object) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValidationError(
            "text cannot contain a NUL character (U+0000); remove it and try again"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        raise ValidationError(
            f"a number is out of range: integers are accepted from {_INT64_MIN:,} to {_INT64_MAX:,}"
        )


def _sidecar_guard(database: str) -> Any:
    """A connect hook keeping the -wal and -shm files no more readable than the database
    (SQLite gives them its mode, but files left by an older version may be 0644)."""

    def restrict(_dbapi_connection: Any, _record: Any) -> None:
        for suffix in ("-wal", "-shm"):
            restrict_like(database + suffix, database)

    return restrict


def _hide_password(url: str) -> str:
    """``url`` without the password between ``:`` and ``@`` (the URL did not parse)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def read_only_options(engine: Engine) -> dict[str, Any]:
    """Execution options for sessions that promise to only read.

    No transaction: on SQLite no ``BEGIN`` (see :func:`_sqlite_on_begin`), and no write
    lock; on PostgreSQL autocommit, which spares the ``BEGIN`` and ``COMMIT`` round trips
    (two of a history page's six).  Under
    READ COMMITTED, PostgreSQL's default and GRC's, every statement takes its own snapshot
    inside a transaction too, so a reader sees exactly what it saw in one; only a write,
    which a read-only session never makes, would behave differently (committed at once).
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return options


def create_replica_engine(read_url: str, primary: Engine, **kwargs: Any) -> Engine:
    """The engine of a PostgreSQL streaming replica of ``primary``, for read-only sessions.

    Only PostgreSQL has replicas GRC can trust to hold the primary's data (a physical
    standby replays its write-ahead log); a SQLite file, or a replica of a SQLite primary,
    is a configuration mistake and refused here rather than read silently.
    """
    if primary.dialect.name != "postgresql":
        raise ConfigError(
            "read_url is only for PostgreSQL: the database_url "
            f"{primary.url.render_as_string(hide_password=True)} is not a PostgreSQL database"
        )
    try:
        backend: str | None = make_url(read_url).get_backend_name()
    except (ArgumentError, ValueError):
        backend = None  # create_db_engine says what is wrong with it
    if backend is not None and backend != "postgresql":
        # Checked before the engine exists: a SQLite URL would create an empty file.
        raise ConfigError(
            f"read_url {_hide_password(read_url)!r} is not a PostgreSQL database: it must "
            "name a streaming replica of the database_url (postgresql://user@replica/db)"
        )
    return create_db_engine(read_url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit (the CLI prints them)."""
    return sessionmaker(engine, expire_on_commit=False)
