"""Rows written through the database driver's executemany, below the services and the
indexes that both use it (bulk import, and the timeline index of every write).

SQLAlchemy's per-row parameter processing costs more than SQLite's own insert work at the
volumes of a bulk import; these helpers look the columns' bind processors up once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from grc_core.driver_statements import run_driver_sql


def insert_tuples(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    convert: bool = True,
) -> None:
    """Insert ``rows`` into ``table``'s columns ``names`` in one go.

    On SQLite one executemany; on PostgreSQL a few rows are one statement listing them all,
    more are an executemany, and from :data:`COPY_MIN_ROWS` on a ``COPY``.  SQLAlchemy's
    per-row parameter processing costs more than SQLite's own insert work at this volume;
    the columns' bind processors are looked up once and applied here (or not at all with
    ``convert=False``, for values already in the driver's form).
    """
    if not rows:
        return
    dialect = conn.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
        f"VALUES ({', '.join([mark] * len(names))})"
    )
    converters = [
        (i, _memoized(p))
        for i, n in enumerate(names)
        if convert and (p := table.c[n].type._cached_bind_processor(dialect)) is not None
    ]
    data: Sequence[tuple[Any, ...]] = rows
    if converters:
        lists = [list(values) for values in rows]
        for values in lists:
            for i, process in converters:
                values[i] = process(values[i])
        data = [tuple(values) for values in lists]
    if dialect.name == "postgresql":
        if len(data) >= COPY_MIN_ROWS:
            copy_rows(conn, table.name, names, data)
            return
        if 1 < len(data) <= VALUES_MAX_ROWS:
            # One statement of several rows: psycopg's executemany enters and leaves
            # pipeline mode for them, twice the client's CPU of a creation's two timeline
            # rows (93 against 45 µs) for the same round trip.
            row_marks = f"({', '.join([mark] * len(names))})"
            sql += ", " + ", ".join([row_marks] * (len(data) - 1))
            run_driver_sql(conn, sql, [v for values in data for v in values])
            return
    if len(data) == 1:
        run_driver_sql(conn, sql, data[0])
        return
    conn.exec_driver_sql(sql, data)


#: Up to this many rows, PostgreSQL is sent one INSERT listing them all.  A statement per
#: row count: few enough that they never crowd psycopg's cache of prepared statements.
VALUES_MAX_ROWS = 8

#: From this many rows on, PostgreSQL is given the rows by ``COPY`` rather than an
#: executemany: one stream instead of a statement per row (the timeline rows of an ordinary
#: write are a handful and stay plain INSERTs).
COPY_MIN_ROWS = 100


def copy_rows(
    conn: Connection, table: str, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """``COPY table (names) FROM STDIN`` on PostgreSQL, in the connection's transaction.

    The values are in the driver's form (psycopg adapts each one as it would a parameter);
    the table's constraints, defaults and indexes apply as for an INSERT.
    """
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    sql = f"COPY {quote(table)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert driver is not None  # a live connection inside a transaction
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi_error as error:
        # Raised as SQLAlchemy raises the driver's errors of other statements (an
        # IntegrityError for a duplicate, an OperationalError for a lost connection).
        raise DBAPIError.instance(sql, None, error, dbapi_error, dialect=dialect) from error


def driver_value(conn: Connection, column: Any) -> Callable[[Any], Any]:
    """The function turning a Python value of ``column`` into what the driver is given."""
    process = column.type._cached_bind_processor(conn.dialect)
    return _memoized(process) if process is not None else (lambda value: value)


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Rows of a batch share values (one creation time, each start repeated in its timeline
    # rows); converting each distinct value once halves the date-time formatting work.
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = process(value)
            return result
        except TypeError:  # unhashable
            return process(value)

    return convert
