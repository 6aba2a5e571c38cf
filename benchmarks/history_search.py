"""Timelines and quick search at a million exchanges, against the hand-written SQL floor.

Usage (see also ``make bench-history``)::

    .venv/bin/python benchmarks/history_search.py [--db sqlite|postgresql|both]
        [--exchanges 1000000] [--repeat 200] [--dir benchmarks/data]

Generates the dataset once per database (kept in --dir / a PostgreSQL database named
``grc_bench``; pass --fresh to rebuild), then times each query --repeat times through the
library and through the bare driver (sqlite3 / psycopg) running the same SQL, and prints
p50/p95 and the library/floor ratio.  The reader is an ordinary user: the visibility rule
applies to every query.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from dataset import Dataset, generate

from grc_core import Grc
from grc_core.models import User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import search

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DB = "grc_bench"
PAGE = 50

# The library's timeline query, written by hand.  {p} is the driver's placeholder.
ENTRY = (
    "SELECT e.id, e.uuid, e.start_at, e.end_at, e.subject, e.details, a.code, st.code, m.code,"
    " cat.code, e.private, e.author_id, au.display_name, e.company_id, c.name{extra}"
    " FROM {source}"
    " JOIN picklist_values a ON a.id = e.action_id JOIN picklist_values st ON st.id = e.status_id"
    " LEFT JOIN picklist_values m ON m.id = e.medium_id"
    " LEFT JOIN categories cat ON cat.id = e.category_id"
    " JOIN users au ON au.id = e.author_id LEFT JOIN companies c ON c.id = e.company_id"
)
VISIBLE = (
    " AND (e.private = {false} OR e.author_id = {p} OR EXISTS (SELECT 1 FROM exchange_assignees x"
    " WHERE x.exchange_id = e.id AND x.user_id = {p}))"
)
# The page first (timeline, exchange, visibility, keyset, order, limit), then its names: the
# library's shape (grc_core.queries.history._statement).
TIMELINE = (
    ENTRY.format(
        extra=", {assigned}",
        source="(SELECT e.*, t.start_at AS key_start"
        " FROM exchange_timeline t JOIN exchanges e ON e.id = t.exchange_id"
        " WHERE t.scope = {p} AND t.scope_id = {p}" + VISIBLE + "{keyset}"
        " ORDER BY t.start_at DESC, t.exchange_id DESC LIMIT {p}) e",
    )
    + " ORDER BY e.key_start DESC, e.id DESC"
)
# The assignees' logins, a column of the page (as the library reads them).
ASSIGNED = {
    "postgresql": "(SELECT array_agg(u.login ORDER BY u.login) FROM exchange_assignees x"
    " JOIN users u ON u.id = x.user_id WHERE x.exchange_id = e.id)",
    "sqlite": "(SELECT group_concat(u.login, char(31)) FROM exchange_assignees x"
    " JOIN users u ON u.id = x.user_id WHERE x.exchange_id = e.id)",
}
KEYSET = " AND (t.start_at, t.exchange_id) < ({p}, {p})"
ASSIGNEES = (
    "SELECT x.exchange_id, u.login FROM exchange_assignees x JOIN users u ON u.id = x.user_id"
    " WHERE x.exchange_id IN ({ids}) ORDER BY u.login"
)
ACTION_CALL = (
    " AND e.action_id IN (SELECT id FROM picklist_values WHERE kind = 'action' AND code = {p})"
)
SQLITE_WINDOW = (
    "(SELECT e.id AS id, -bm25(exchange_fts, 10.0, 1.0, 4.0) AS rank"
    " FROM exchange_fts JOIN exchanges e ON e.id = exchange_fts.rowid"
    " WHERE exchange_fts MATCH ?"
    + VISIBLE.format(false="0", p="?")
    + ACTION_CALL.format(p="?")
    + " ORDER BY exchange_fts.rowid DESC LIMIT 500) w JOIN exchanges e ON e.id = w.id"
)
SQLITE_SEARCH = (
    ENTRY.format(extra=", w.rank", source=SQLITE_WINDOW)
    + " ORDER BY w.rank DESC, e.start_at DESC, e.id DESC LIMIT ?"
)
SQLITE_SNIPPETS = (
    "SELECT e.id, e.subject, e.details, f.names FROM exchange_fts f"
    " JOIN exchanges e ON e.id = f.rowid WHERE e.id IN ({ids})"
)
# The words are inlined, as the library does (see grc_core.queries.search._word).
PG_QUERY = (
    "to_tsquery('grc_french', 'facture') && (to_tsquery('grc_simple', 'impay:*')"
    " || to_tsquery('grc_french', 'impay'))"
)
PG_WINDOW = (
    f"(SELECT e.id AS id, ts_rank_cd(s.document, {PG_QUERY}) AS rank"
    " FROM exchange_search s JOIN exchanges e ON e.id = s.exchange_id"
    f" WHERE s.document @@ ({PG_QUERY})"
    + VISIBLE.format(false="false", p="%s")
    + ACTION_CALL.format(p="%s")
    + " ORDER BY s.exchange_id DESC LIMIT 500) w"
    " JOIN exchanges e ON e.id = w.id"
)
PG_SEARCH = (
    ENTRY.format(extra=", w.rank", source=PG_WINDOW)
    + " ORDER BY w.rank DESC, e.start_at DESC, e.id DESC LIMIT %s"
)
PG_SNIPPETS = (
    "SELECT e.id, ts_headline('grc_simple', e.subject || ' — ' || e.details || ' — ' || s.names,"
    " to_tsquery('grc_simple', %s), 'StartSel=[, StopSel=], MaxFragments=1, MaxWords=18,"
    " MinWords=6') FROM exchange_search s JOIN exchanges e ON e.id = s.exchange_id"
    " WHERE e.id IN ({ids})"
)


def timed(run: Callable[[], Any], repeat: int) -> list[float]:
    run()  # warm caches and statement caches
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def prepare(kind: str, args: argparse.Namespace) -> tuple[Grc, Dataset, str]:
    info_path = Path(args.dir) / f"{kind}-{args.exchanges}.json"
    if kind == "sqlite":
        db = Path(args.dir) / f"bench-{args.exchanges}.sqlite3"
        url = f"sqlite:///{db}"
        if args.fresh:
            for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), info_path):
                p.unlink(missing_ok=True)
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB})
            if args.fresh or not exists or not info_path.exists():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
                info_path.unlink(missing_ok=True)
        admin.dispose()
    grc = Grc.from_url(url)
    if info_path.exists():
        return grc, Dataset(**json.loads(info_path.read_text())), url
    print(f"[{kind}] generating {args.exchanges:,} exchanges…", file=sys.stderr)
    grc.upgrade()
    dataset = generate(grc, exchanges=args.exchanges)
    if kind == "postgresql":
        with grc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with grc.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    info_path.write_text(json.dumps(asdict(dataset)))
    return grc, dataset, url


def measure(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    grc, ds, url = prepare(kind, args)
    rows: list[dict[str, Any]] = []
    with grc.session(read_only=True) as s:
        reader = s.get(User, ds.reader_id)
        assert reader is not None
        cursor, edge = None, None
        for _ in range(args.deep_page - 1):  # walk to the cursor of the deep page
            walked = history.company_history(
                s, reader, ds.largest_company, limit=PAGE, cursor=cursor
            )
            cursor, edge = walked.next_cursor, walked.entries[-1]
            assert cursor is not None, f"the largest company has fewer than {args.deep_page} pages"
        flt = ExchangeFilter(actions=("call",))
        library = {
            "company timeline, page 1": lambda: history.company_history(
                s, reader, ds.largest_company, limit=PAGE),
            "company timeline, deep page": lambda: history.company_history(
                s, reader, ds.largest_company, limit=PAGE, cursor=cursor),
            "opportunity timeline": lambda: history.opportunity_history(
                s, reader, ds.largest_opportunity, limit=PAGE),
            "user timeline": lambda: history.user_history(s, reader, ds.busiest_user, limit=PAGE),
            "search 2 words + filter": lambda: search(s, reader, "facture impay", flt, limit=20),
        }  # fmt: skip
        results = {name: timed(run, args.repeat) for name, run in library.items()}

    floor = floor_runs(kind, url, ds, edge, reader.id)
    floors = {name: timed(run, args.repeat) for name, run in floor.items()}
    for name, samples in results.items():
        f = floors[name]
        rows.append(
            {
                "db": kind,
                "query": name,
                "p50": pct(samples, 50),
                "p95": pct(samples, 95),
                "floor_p50": pct(f, 50),
                "floor_p95": pct(f, 95),
                "ratio": pct(samples, 50) / pct(f, 50),
            }
        )
    rows.append({"db": kind, "query": "bulk import (exchanges/s)",
                 "rate": ds.exchanges / ds.import_seconds})  # fmt: skip
    grc.dispose()
    return rows


def floor_runs(
    kind: str, url: str, ds: Dataset, edge: Any, reader: int
) -> dict[str, Callable[[], Any]]:
    if kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        p, false = "?", "0"
        edge_start = edge.start_at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

        def q(sql: str, params: tuple[Any, ...]) -> list[Any]:
            return conn.execute(sql, params).fetchall()
    else:
        conn = psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=" + PG_DB,
            autocommit=True,
        )
        p, false = "%s", "false"
        edge_start = edge.start_at

        def q(sql: str, params: tuple[Any, ...]) -> list[Any]:
            return conn.execute(sql, params, prepare=True).fetchall()

    def page(scope: str, scope_id: int, keyset: bool) -> Callable[[], Any]:
        sql = TIMELINE.format(
            p=p, false=false, keyset=KEYSET.format(p=p) if keyset else "", assigned=ASSIGNED[kind]
        )
        params: tuple[Any, ...] = (scope, scope_id, reader, reader)
        params += (edge_start, edge.id) if keyset else ()
        params += (PAGE + 1,)

        def run() -> Any:
            found = q(sql, params)[:PAGE]
            if kind == "sqlite":  # sorted as SQLite's ORDER BY would
                return [sorted(r[-1].split("\x1f")) if r[-1] else [] for r in found]
            return [r[-1] or [] for r in found]

        return run

    def search_run() -> Any:
        if kind == "sqlite":
            match = '"facture" AND "impay"*'
            found = q(SQLITE_SEARCH, (match, reader, reader, "call", 20))
            ids = ",".join(str(r[0]) for r in found) or "0"
            q(SQLITE_SNIPPETS.format(ids=ids), ())
        else:
            found = q(PG_SEARCH, (reader, reader, "call", 20))
            ids = ",".join(str(r[0]) for r in found) or "0"
            q(PG_SNIPPETS.format(ids=ids), ("facture:* | impay:*",))
        return q(ASSIGNEES.format(ids=ids), ())

    return {
        "company timeline, page 1": page("c", ds.largest_company, False),
        "company timeline, deep page": page("c", ds.largest_company, True),
        "opportunity timeline": page("o", ds.largest_opportunity, False),
        "user timeline": page("u", ds.busiest_user, False),
        "search 2 words + filter": search_run,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--deep-page", type=int, default=200, help="the page compared to page 1")
    parser.add_argument("--dir", default=str(Path(__file__).parent / "data"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the datasets")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = [row for kind in kinds for row in measure(kind, args)]
    print(
        f"\n{'database':<11}{'query':<30}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'floor p50':>10}{'floor p95':>10}{'ratio':>7}"
    )
    for r in rows:
        if "rate" in r:
            print(f"{r['db']:<11}{r['query']:<30}{r['rate']:>8,.0f}")
            continue
        print(
            f"{r['db']:<11}{r['query']:<30}{r['p50']:>8.2f}{r['p95']:>8.2f}"
            f"{r['floor_p50']:>10.2f}{r['floor_p95']:>10.2f}{r['ratio']:>7.2f}"
        )


if __name__ == "__main__":
    main()
