"""PostgreSQL plan stability: the same query 50 times on one connection, per plan setting.

Usage::

    .venv/bin/python benchmarks/plan_stability.py [--exchanges 200000] [--repetitions 50]
        [--dir benchmarks/data] [--fresh]

psycopg 3 prepares a statement on its 5th execution on a connection; PostgreSQL may then
switch to a generic plan, blind to the parameter values.  This runs a one-week filtered
company history and searches (a word in about half the rows, a rare one) ``--repetitions``
times each on one connection, under three settings, and prints p50/p95 of runs 1-10 and of
runs 11-50 (a flip shows as the second far above the first):

- ``auto``: PostgreSQL's default, as GRC ran before it set ``plan_cache_mode``;
- ``force_custom_plan``: what :func:`grc_core.db.create_db_engine` sets (prepared, so parsed
  once, but planned with each execution's values);
- ``no-prepare``: ``prepare_threshold=None``, nothing prepared (parsed and planned each time).

The dataset is the one of ``history_search.py`` (a PostgreSQL database ``grc_bench``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from history_search import prepare

from grc_core.db import create_db_engine
from grc_core.models import User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import search

SETTINGS: dict[str, dict[str, Any]] = {
    "auto": {"options": "-c plan_cache_mode=auto"},
    "force_custom_plan": {"options": "-c plan_cache_mode=force_custom_plan"},
    "no-prepare": {"options": "-c plan_cache_mode=auto", "prepare_threshold": None},
}
WEEK = datetime(2019, 3, 4, tzinfo=UTC)


def runs(run: Callable[[], Any], repetitions: int) -> list[float]:
    samples = []
    for _ in range(repetitions):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=50)
    parser.add_argument("--dir", default=str(Path(__file__).parent / "data"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the dataset")
    args = parser.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    _grc, ds, url = prepare("postgresql", args)
    week = ExchangeFilter(since=WEEK, until=WEEK + timedelta(days=7))
    queries: dict[str, Callable[[Session, User], Any]] = {
        "company history, one week": lambda s, r: history.company_history(
            s, r, ds.largest_company, flt=week, limit=50
        ),
        "search 'pour' (common)": lambda s, r: search(s, r, "pour"),
        "search 'pour' + one week": lambda s, r: search(s, r, "pour", week),
        "search 'échéance' (rarer)": lambda s, r: search(s, r, "échéance "),
    }
    print(f"PostgreSQL, {ds.exchanges:,} exchanges, {args.repetitions} runs on one connection")
    print(f"{'query':28} {'setting':18} {'p50 1-10':>9} {'p95 1-10':>9} {'p50 11+':>9} "
          f"{'p95 11+':>9} {'max 11+':>9}")  # fmt: skip
    for name, query in queries.items():
        for setting, connect_args in SETTINGS.items():
            engine = create_db_engine(url, connect_args=connect_args)
            try:
                with engine.connect() as conn, Session(bind=conn) as s:
                    reader = s.get(User, ds.reader_id)
                    assert reader is not None
                    samples = runs(lambda: query(s, reader), args.repetitions)  # noqa: B023
            finally:
                engine.dispose()
            first, rest = samples[:10], samples[10:]
            print(
                f"{name:28} {setting:18} {pct(first, 50):9.1f} {pct(first, 95):9.1f} "
                f"{pct(rest, 50):9.1f} {pct(rest, 95):9.1f} {max(rest):9.1f}"
            )


if __name__ == "__main__":
    main()
