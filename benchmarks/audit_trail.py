"""Audit trail pages at volume: page 1 and page N cost the same (keyset pages).

Writes ``--events`` company events (default 200,000) and, among them, events about private
exchanges a reader may not see, then times the first and a deep page of ``audit_events``
for an administrator and for an ordinary user, filtered by company and not.

    python benchmarks/audit_trail.py --db sqlite
    python benchmarks/audit_trail.py --db postgresql --events 200000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import create_engine, insert, text

from grc_core import Grc
from grc_core.models import Event
from grc_core.queries.audit import AuditFilter, audit_events
from grc_core.services import companies, users
from grc_core.timeutil import utcnow

PG_ADMIN = os.environ.get(
    "GRC_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp()}/audit-bench.sqlite3"
    name = f"grc_bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def fill(grc: Grc, count: int) -> int:
    """``count`` events: 9 in 10 about companies, 1 in 10 about a private exchange."""
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
        users.create_user(s, admin, login="alice", display_name="Alice")
        users.create_user(s, admin, login="carol", display_name="Carol")
        company_ids = [companies.create_company(s, admin, name=f"C{i}").id for i in range(50)]
    audience = {"uuid": str(uuid.uuid4()), "private": True, "author_id": 2, "assignee_ids": [2]}
    start = utcnow() - timedelta(days=365)
    rows = []
    for n in range(count):
        company = company_ids[n % len(company_ids)]
        private = n % 10 == 9
        rows.append(
            {
                "occurred_at": start + timedelta(seconds=n),
                "actor_id": 2,
                "kind": "exchange.updated" if private else "company.updated",
                "entity_type": "exchange" if private else "company",
                "entity_id": n if private else company,
                "company_id": company,
                "fanned_out": True,
                "changes": {"name": [f"old {n}", f"new {n}"]},
                "audience": audience if private else None,
            }
        )
    with grc.engine.begin() as conn:
        for i in range(0, len(rows), 10_000):
            conn.execute(insert(Event), rows[i : i + 10_000])
    return company_ids[0]


def timed(call: Callable[[], object], repeat: int = 20) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--deep", type=int, default=50, help="the deep page's number")
    args = parser.parse_args()
    url = database(args.db)
    try:
        run(url, args.db, args.events, args.deep)
    finally:
        drop(url)


def drop(url: str) -> None:
    """Remove the benchmark's PostgreSQL database (an SQLite file stays in its temp dir)."""
    if not url.startswith("postgresql"):
        return
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def run(url: str, kind: str, events: int, deep_page: int) -> None:
    """Fill the database at ``url`` and print the timings."""
    with Grc.from_url(url) as grc:
        grc.upgrade()
        company = fill(grc, events)
        print(f"{kind}: {events:,} events; median of 20 reads, 50 events a page")
        for login in ("admin", "carol"):
            for label, flt in (("all", None), ("one company", AuditFilter(company_id=company))):
                first, deep = measure(grc, login, flt, deep_page)
                print(
                    f"  {login:5} {label:11}: page 1 {first:6.1f} ms, "
                    f"page {deep_page} {deep:6.1f} ms (ratio {deep / first:4.2f})"
                )


def measure(grc: Grc, login: str, flt: AuditFilter | None, deep: int) -> tuple[float, float]:
    """Median times of page 1 and of page ``deep``, in milliseconds, each in a new session
    (as pages are read: one short transaction each)."""
    with grc.acting_as(login, read_only=True) as work:
        session, actor = work.session, work.actor
        first = timed(lambda: audit_events(session, actor, flt, limit=50))
    cursor = None
    for _ in range(deep - 1):
        with grc.acting_as(login, read_only=True) as work:
            page = audit_events(work.session, work.actor, flt, limit=50, cursor=cursor)
            cursor = page.next_cursor
    with grc.acting_as(login, read_only=True) as work:
        session, actor = work.session, work.actor
        last = timed(lambda: audit_events(session, actor, flt, limit=50, cursor=cursor))
    return first, last


if __name__ == "__main__":
    main()
