"""PostgreSQL plan stability: the same query 50 times on one connection, per plan setting.

Usage::

    .venv/bin/python benchmarks/plan_stability.py [--size 200000] [--repetitions 50]

psycopg prepares a statement on its 5th execution on a connection (unless told otherwise);
PostgreSQL may then switch to a generic plan, blind to the parameter values.  This runs
history pages and searches ``--repetitions`` times each on one connection, under three
settings, and prints p50/p95 of runs 1-10 and of runs 11-50 (a flip shows as the second far
above the first), and how many of the runs used a generic plan:

- ``auto, prepared``: PostgreSQL's default with psycopg's, as GRC ran before issue 13;
- ``force_custom``: ``plan_cache_mode=force_custom_plan`` with psycopg's preparation, as
  issue 13 set it (parsed once, planned with each execution's values);
- ``auto, marked``: a proposal, ``plan_cache_mode=auto`` with nothing prepared (so planned
  with its values: an unnamed statement always gets a custom plan) but the statements
  marked :data:`GENERIC_PLAN`, which psycopg prepares and which may then reuse a generic
  plan: here the unfiltered page, marked on the connection for its cases.

The pages: the largest company's first page, its second page (a cursor), a one-exchange
company's, and "small then large" (runs 1-10 on ten small companies, 11-50 on the largest:
a generic plan chosen from cheap custom plans, then run for a company of thousands, is the
classic flip).  The dataset is ``history_search.py``'s PostgreSQL one (``grc_bench_200k``,
``grc_bench_1m``), opened as it is (build it with ``history_search.py --build-only``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from dataset import DATA, label

from grc_core import db
from grc_core.models import User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import search

#: The execution option of a statement whose generic plan may be reused (``auto, marked``).
GENERIC_PLAN = "grc_generic_plan"


def prepare_marked(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """An engine's ``do_execute``: prepared if marked :data:`GENERIC_PLAN`, else unprepared."""
    marked = context is not None and bool(context.execution_options.get(GENERIC_PLAN))
    cursor.execute(statement, parameters, prepare=marked)
    return True


#: setting -> (connect arguments, whether statements go through :func:`prepare_marked`)
SETTINGS: dict[str, tuple[dict[str, Any], bool]] = {
    "auto, prepared": ({"options": "-c plan_cache_mode=auto"}, False),
    "force_custom": ({"options": "-c plan_cache_mode=force_custom_plan"}, False),
    "auto, marked": ({"options": "-c plan_cache_mode=auto"}, True),
}
WEEK = datetime(2019, 3, 4, tzinfo=UTC)


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def generic_plans(engine: Engine, reader: int, companies: dict[str, int]) -> None:
    """The generic plan of the marked statement (the unfiltered company page, first page and
    with a cursor) as PostgreSQL would cache it, run for each company: its scan of the
    timeline must be the same ordered range scan whatever the company."""
    for keyset in (False, True):
        stmt = history._prepared("c", "user", keyset, "postgresql")
        sql = stmt.compile(dialect=engine.dialect).string
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
        order = {name: i + 1 for i, name in enumerate(names)}
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${order[m[1]]}", sql)  # noqa: B023
        with engine.connect() as conn:
            conn.exec_driver_sql("DEALLOCATE ALL")
            conn.exec_driver_sql(f"PREPARE page AS {numbered}")
            conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            for who, company in companies.items():
                values = {
                    "scope_1": "'c'", "scope_id": str(company), "reader_id": str(reader),
                    "page_size": "51", "after_start": "'2100-01-01T00:00:00+00:00'",
                    "after_id": str(2**31 - 1),
                }  # fmt: skip
                args = ", ".join(values[n] for n in names)
                plan = conn.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) EXECUTE page({args})"
                ).scalars()
                lines = [line.strip() for line in plan]
                at = next(i for i, line in enumerate(lines) if "on exchange_timeline" in line)
                scans = [line.split("  (")[0] for line in lines[at : at + 2]]
                took = [line for line in lines if line.startswith(("Planning", "Execution"))]
                page = "page 2" if keyset else "page 1"
                print(f"  generic plan, {page}, {who}: {'; '.join(scans)}; {', '.join(took)}")
            conn.exec_driver_sql("DEALLOCATE ALL")
            conn.exec_driver_sql("RESET plan_cache_mode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--repetitions", type=int, default=50)
    args = parser.parse_args()
    info = DATA / f"history_postgresql_{label(args.size)}.json"
    if not info.exists():
        sys.exit(f"{info} is missing: build it with history_search.py --build-only")
    ds = json.loads(info.read_text())
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/grc_bench_{label(args.size)}"
    largest = ds["largest_company"]
    probe = db.create_db_engine(url)
    with probe.connect() as conn:
        small = list(
            conn.scalars(
                text(
                    "SELECT scope_id FROM exchange_timeline WHERE scope = 'c' GROUP BY scope_id"
                    " HAVING count(*) <= 3 ORDER BY scope_id LIMIT 10"
                )
            )
        )
        count = conn.scalar(text("SELECT count(*) FROM exchanges"))
    probe.dispose()
    week = ExchangeFilter(since=WEEK, until=WEEK + timedelta(days=7))
    second: dict[int, str | None] = {}

    def page_two(s: Session, r: User) -> Any:
        if id(s) not in second:  # the cursor of the first page, read in this session
            second[id(s)] = history.company_history(s, r, largest).next_cursor
        return history.company_history(s, r, largest, cursor=second[id(s)])

    # name -> (query of the i-th run, marked as the unfiltered page)
    queries: dict[str, tuple[Callable[[Session, User, int], Any], bool]] = {
        "page, largest company": (lambda s, r, i: history.company_history(s, r, largest), True),
        "page 2, largest company": (lambda s, r, i: page_two(s, r), True),
        "page, 1-row company": (lambda s, r, i: history.company_history(s, r, small[0]), True),
        "page, small then large": (
            lambda s, r, i: history.company_history(s, r, small[i] if i < 10 else largest),
            True,
        ),
        "company history, one week": (
            lambda s, r, i: history.company_history(s, r, largest, flt=week, limit=50),
            False,
        ),
        "search 'pour' (common)": (lambda s, r, i: search(s, r, "pour"), False),
        "search 'pour' + one week": (lambda s, r, i: search(s, r, "pour", week), False),
        "search 'échéance' (rarer)": (lambda s, r, i: search(s, r, "échéance "), False),
    }
    print(f"PostgreSQL, {count:,} exchanges")
    generic_plans(
        db.create_db_engine(url), ds["reader_id"], {"largest": largest, "1-row": small[0]}
    )
    print(f"{args.repetitions} runs on one connection")
    print(f"{'query':27} {'setting':15} {'p50 1-10':>9} {'p95 1-10':>9} {'p50 11+':>9} "
          f"{'p95 11+':>9} {'max 11+':>9} {'generic':>8}")  # fmt: skip
    for name, (query, marked) in queries.items():
        for setting, (connect_args, hook) in SETTINGS.items():
            engine = db.create_db_engine(url, connect_args=connect_args)
            if hook:
                event.listen(engine, "do_execute", prepare_marked)
            samples: list[float] = []
            generic: Any = 0
            try:
                with engine.connect() as conn:
                    if marked and hook:
                        conn.execution_options(**{GENERIC_PLAN: True})
                    with Session(bind=conn) as s:
                        reader = s.get(User, ds["reader_id"])
                        assert reader is not None
                        for i in range(args.repetitions):
                            began = time.perf_counter()
                            query(s, reader, i)
                            samples.append((time.perf_counter() - began) * 1000)
                        generic = conn.exec_driver_sql(
                            "SELECT coalesce(sum(generic_plans), 0) FROM pg_prepared_statements"
                        ).scalar()
            except DBAPIError as exc:  # e.g. a dataset built before a migration the query needs
                print(f"{name:27} {setting:15} not run: {str(exc.orig).splitlines()[0]}")
                continue
            finally:
                engine.dispose()
            first, rest = samples[:10], samples[10:]
            print(
                f"{name:27} {setting:15} {pct(first, 50):9.1f} {pct(first, 95):9.1f} "
                f"{pct(rest, 50):9.1f} {pct(rest, 95):9.1f} {max(rest):9.1f} {generic:>8}",
                flush=True,
            )


if __name__ == "__main__":
    main()
