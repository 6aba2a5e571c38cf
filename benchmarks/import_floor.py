"""The import's floor: the rows ``grc import`` wrote, written again by the database alone.

The rows that an import added to a copy of the base (exchanges, links, timeline rows and
the search texts, exactly as ``grc import`` wrote them) are read back and staged, untimed,
into temporary tables of a second, fresh copy of the base.  What is timed is then only the
database's own work: one ``INSERT … SELECT`` per table from the staged rows, in the order
the tables' keys want, and the commit, with the same indexes, triggers and full-text
documents (PostgreSQL computes the search documents with the same ``to_tsvector``
expressions; SQLite's FTS5 tables take the same stemmed texts and the indexed words list
the same words).  No file is read, no name resolved, no value checked, nothing crosses the
socket while the clock runs: no loader, in any language, can write these rows faster.

On PostgreSQL the foreign-key triggers are off as the import turns them off
(``session_replication_role``), and the floor is also measured on two connections, each
writing half the rows in its own transaction at the same time: the most two cores can do,
whatever the client.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from grc_core.indexing import PG_DOCUMENT, PG_SLICES

#: The tables an import writes, the column naming the exchange, and the order their rows go
#: in (each table's key, as the import writes them).
TABLES = (
    ("exchanges", "id", "id"),
    ("exchange_assignees", "exchange_id", "exchange_id, user_id"),
    ("exchange_opportunities", "exchange_id", "exchange_id, opportunity_id"),
    ("exchange_contacts", "exchange_id", "exchange_id, contact_id"),
    ("exchange_timeline", "exchange_id", "scope, scope_id, start_at, exchange_id"),
)
#: The search document over the staged texts (the same expressions as the library's).
_PG_DOCUMENT = PG_DOCUMENT.replace(":subject", "e.subject").replace(":details", "e.details")
_PG_DOCUMENT = _PG_DOCUMENT.replace(":names", "t.names")
_PG_SLICES = PG_SLICES.replace(":start", "e.start_at")
#: SQLite's search key of an exchange (migration 0011's expression).
_SQLITE_KEY = (
    "((unixepoch(start_at) - ((unixepoch(start_at) % 60) + 60) % 60) / 60) * 2147483648 + id"
)


@dataclass
class Written:
    """The rows one import added: each table's column names and rows."""

    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]

    @property
    def exchanges(self) -> int:
        return len(self.tables["exchanges"][1])

    def half(self, which: int) -> Written:
        """The rows of the first (0) or second (1) half of the exchanges."""
        ids = sorted(row[0] for row in self.tables["exchanges"][1])
        cut = ids[len(ids) // 2]
        keep: Callable[[int], bool] = (lambda i: i < cut) if which == 0 else (lambda i: i >= cut)
        out = {}
        for name, (columns, rows) in self.tables.items():
            at = columns.index("id" if name == "exchanges" else "exchange_id")
            out[name] = (columns, [row for row in rows if keep(row[at])])
        return Written(out)


@dataclass
class Floor:
    """Wall-clock seconds and the database's CPU seconds of writing the staged rows."""

    wall: float
    cpu: float


def read_written(kind: str, target: str, above: int) -> Written:
    """The rows of exchanges whose id is above ``above`` (those the import added)."""
    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    queries = [
        (name, f"SELECT * FROM {name} WHERE {column} > {above}") for name, column, _ in TABLES
    ]
    if kind == "postgresql":
        search = f"SELECT exchange_id, names FROM exchange_search WHERE exchange_id > {above}"
        queries.append(("search", search))
        with psycopg.connect(target) as pg:
            for name, sql in queries:
                cursor = pg.execute(sql)
                columns = [d.name for d in cursor.description or ()]
                tables[name] = (columns, cursor.fetchall())
        return Written(tables)
    queries.append(
        (
            "search",
            "SELECT k.exchange_id, f.subject, f.details, f.names FROM exchange_search_key k "
            f"JOIN exchange_fts f ON f.rowid = k.search_key WHERE k.exchange_id > {above}",
        )
    )
    conn = sqlite3.connect(target)
    try:
        for name, sql in queries:
            found = conn.execute(sql)
            tables[name] = ([d[0] for d in found.description], found.fetchall())
        # The words typed prefixes are completed from, as the import lists them.
        words = {w for row in tables["search"][1] for text in row[1:] for w in text.split()}
        tables["terms"] = (["term"], [(w,) for w in sorted(words)])
    finally:
        conn.close()
    return Written(tables)


def check_same(kind: str, target: str, above: int, written: Written) -> None:
    """Fail unless the floor's database now holds as many rows of each kind as the import
    wrote (so the floor did the same work, not less)."""
    again = read_written(kind, target, above)
    for name, (_, rows) in written.tables.items():
        found = len(again.tables[name][1])
        if found != len(rows):
            raise AssertionError(f"the floor wrote {found} rows of {name}, the import {len(rows)}")


def sqlite_floor(path: Path, written: Written) -> Floor:
    """The staged rows written by SQLite into the database at ``path``, in one transaction
    and with the import's page cache."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -262144")
        statements = _stage(conn, written)
        statements += [
            "INSERT INTO exchange_search_key (exchange_id, search_key) "
            f"SELECT id, {_SQLITE_KEY} FROM staged_exchanges",
            "INSERT INTO exchange_fts (rowid, subject, details, names) "
            "SELECT k.search_key, t.subject, t.details, t.names FROM staged_search t "
            "JOIN exchange_search_key k ON k.exchange_id = t.exchange_id ORDER BY 1",
            "INSERT INTO exchange_fts_title (rowid, subject, names) "
            "SELECT k.search_key, t.subject, t.names FROM staged_search t "
            "JOIN exchange_search_key k ON k.exchange_id = t.exchange_id ORDER BY 1",
            "INSERT OR IGNORE INTO exchange_fts_terms (term) SELECT term FROM staged_terms",
        ]
        began, cpu = time.perf_counter(), time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        for sql in statements:
            conn.execute(sql)
        conn.execute("COMMIT")
        return Floor(time.perf_counter() - began, time.process_time() - cpu)
    finally:
        conn.close()


def pg_floor(target: str, parts: Sequence[Written]) -> Floor:
    """The staged rows written by PostgreSQL, one connection per part, each in its own
    transaction, all at once."""
    conns = [psycopg.connect(target) for _ in parts]
    try:
        plans = []
        for conn, part in zip(conns, parts, strict=True):
            statements = _stage(conn, part)
            statements.append(
                "INSERT INTO exchange_search (exchange_id, names, document, slices) "
                f"SELECT t.exchange_id, t.names, {_PG_DOCUMENT}, {_PG_SLICES} "
                "FROM staged_search t JOIN staged_exchanges e ON e.id = t.exchange_id"
            )
            conn.commit()
            plans.append(statements)
        pids = [conn.info.backend_pid for conn in conns]
        start = threading.Barrier(len(conns) + 1)

        def write(conn: psycopg.Connection[Any], statements: list[str]) -> None:
            start.wait()
            conn.execute("SET LOCAL session_replication_role = replica")
            for sql in statements:
                conn.execute(sql)
            conn.commit()

        threads = [
            threading.Thread(target=write, args=pair) for pair in zip(conns, plans, strict=True)
        ]
        for thread in threads:
            thread.start()
        cpu = sum(backend_cpu(pid) for pid in pids)
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        return Floor(wall, sum(backend_cpu(pid) for pid in pids) - cpu)
    finally:
        for conn in conns:
            conn.close()


def _stage(conn: Any, written: Written) -> list[str]:
    """Copy ``written`` into temporary tables (untimed); the statements writing them."""
    key_order = {table: key for table, _, key in TABLES}
    statements = []
    for name, (columns, rows) in written.tables.items():
        staged = f"staged_{name.removeprefix('exchange_')}"
        names = ", ".join(columns)
        order = key_order.get(name)
        if order is not None:
            # The table's own column types (no constraint, no index).
            empty = f"SELECT {names} FROM {name} WHERE false"
            conn.execute(f"CREATE TEMPORARY TABLE {staged} AS {empty}")
        else:
            typed = ", ".join(f"{c} {'bigint' if c == 'exchange_id' else 'text'}" for c in columns)
            conn.execute(f"CREATE TEMPORARY TABLE {staged} ({typed})")
        if rows and isinstance(conn, sqlite3.Connection):
            marks = ", ".join("?" for _ in columns)
            conn.executemany(f"INSERT INTO {staged} ({names}) VALUES ({marks})", rows)
        elif rows:
            with conn.cursor().copy(f"COPY {staged} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        if order is not None:
            statements.append(
                f"INSERT INTO {name} ({names}) SELECT {names} FROM {staged} ORDER BY {order}"
            )
    return statements


def backend_cpu(pid: int) -> float:
    """CPU seconds (user and system) process ``pid`` has spent so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
