"""Histories (and quick search) at 200,000 and 1,000,000 exchanges, against the SQL floor.

Usage (see also ``make bench-history``)::

    .venv/bin/python benchmarks/history_search.py [--db sqlite|postgresql|both]
        [--sizes 200000,1000000] [--repeat 200] [--flip-runs 50] [--build-only] [--fresh]

Datasets come from ``benchmarks/dataset.py`` (chronological import, Zipf company sizes,
categories with children, a choice field, skewed actions), built once into PostgreSQL
``grc_bench_200k`` / ``grc_bench_1m`` and SQLite files ``benchmarks/data/history_*.sqlite``
and reused (``--fresh`` rebuilds).  Every request opens a fresh read-only session, as the API
does, for an ordinary reader (the privacy rule applies), on a company drawn (seeded) from
a sample: half by activity, half uniformly.  The floor runs the same SQL through the bare
driver (sqlite3 / psycopg) with the same companies and dates.  Printed: p50/p95 of both,
the library/floor ratio, the 200k -> 1M growth of p95, a plan-flip check on PostgreSQL
(one connection, --flip-runs runs of each filtered history: the max of runs 11.. over the
median of runs 1..10) and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from dataset import CHOICE_FIELD, DATA, Dataset, label, open_dataset
from search_scale import fill_terms, floor_search

from grc_core import Grc
from grc_core.models import Category, CustomField, User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.search import search
from grc_core.services import categories

PAGE = 50
FIRST_DAY = datetime(2019, 1, 1, tzinfo=UTC)
DAYS = 7 * 365

RARE_ACTION = "report"  # 1 % of exchanges
PARENT_CATEGORY = "support"  # and its two children
RARE_CHOICE = "salon"  # 1 % of exchanges
COMMON_WORD = "équipe"  # in 37 % of the exchanges ("pour", in more, is a stop word)
RARE_WORD = "12345"  # the number in one small company's name: a few dozen exchanges
WORDS = ["contrat", "facture", "devis", "livraison", "budget", "maintenance", "équipe",
         "renouvellement", "réunion", "comptabilité", "démonstration", "transporteur"]  # fmt: skip


def pg_name(size: int) -> str:
    return f"grc_bench_{label(size)}"


def prepare(kind: str, size: int, fresh: bool) -> tuple[Grc, Dataset, str]:
    """The dataset of ``size`` exchanges in ``kind``, built if missing, migrated to head."""
    grc, dataset, url = open_dataset(kind, size, fresh, "history", pg_name(size))
    if kind == "sqlite":
        fill_terms(grc)  # prefixes are completed from the list of indexed words
    return grc, dataset, url


# --- the floor: the library's SQL, by hand ---------------------------------------------------

VISIBLE = (
    " AND (e.private = {false} OR e.author_id = {p} OR EXISTS (SELECT 1 FROM exchange_assignees x"
    " WHERE x.exchange_id = e.id AND x.user_id = {p}))"
)
COLUMNS = (
    "e.id, e.uuid, e.start_at, e.end_at, e.subject, e.details, e.action_id, e.status_id,"
    " e.medium_id, e.category_id, e.private, e.author_id, e.company_id"
)
# The page first (index walk, exchange, visibility, filters, keyset, order, limit), then its
# names (one subquery each) and assignees: the shape of grc_core.queries.history._statement.
WALK = (
    "SELECT {columns}, t.start_at AS key_start FROM {table} t JOIN exchanges e"
    " ON e.id = t.exchange_id WHERE t.scope = {p} AND t.scope_id = {p}{pin}{visible}{where}"
    " ORDER BY t.start_at DESC, t.exchange_id DESC LIMIT {p}"
)
# The global history walks the partial indexes of the exchanges linked to no company
# (migration 0013), named on SQLite as the library names them.
GLOBAL_WALK = (
    "SELECT {columns}, t.start_at AS key_start FROM exchanges AS t{indexed} JOIN exchanges e"
    " ON e.id = t.id WHERE t.company_id IS NULL{pin}{visible}{where}"
    " ORDER BY t.start_at DESC, t.id DESC LIMIT {p}"
)
OUTER = (
    "SELECT e.id, e.uuid, e.start_at, e.end_at, e.subject, e.details,"
    " (SELECT a.code FROM picklist_values a WHERE a.id = e.action_id),"
    " (SELECT st.code FROM picklist_values st WHERE st.id = e.status_id),"
    " (SELECT m.code FROM picklist_values m WHERE m.id = e.medium_id),"
    " (SELECT cat.code FROM categories cat WHERE cat.id = e.category_id),"
    " e.private, e.author_id, (SELECT au.display_name FROM users au WHERE au.id = e.author_id),"
    " e.company_id, (SELECT c.name FROM companies c WHERE c.id = e.company_id), {assigned}"
    " FROM ({page}) e ORDER BY e.key_start DESC, e.id DESC"
)
ASSIGNED = {
    "postgresql": "ARRAY((SELECT (SELECT u.login FROM users u WHERE u.id = x.user_id) AS login"
    " FROM exchange_assignees x WHERE x.exchange_id = e.id ORDER BY login))",
    "sqlite": "(SELECT group_concat(u.login, char(31)) FROM exchange_assignees x"
    " JOIN users u ON u.id = x.user_id WHERE x.exchange_id = e.id)",
}


@dataclass
class Floor:
    """A bare driver connection and the dialect's spelling."""

    kind: str
    conn: Any

    @property
    def p(self) -> str:
        return "?" if self.kind == "sqlite" else "%s"

    @property
    def false(self) -> str:
        return "0" if self.kind == "sqlite" else "false"

    def when(self, value: datetime) -> Any:
        if self.kind == "sqlite":  # as grc_core.models.base.UTCDateTime stores it
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self.kind == "sqlite":
            return self.conn.execute(sql, tuple(params)).fetchall()
        return self.conn.execute(sql, tuple(params), prepare=False).fetchall()


@dataclass
class Branch:
    """One index walk of a page: its table and pinned equalities (SQL, parameters)."""

    table: str = "exchange_timeline"
    pin: str = ""
    pin_params: tuple[Any, ...] = ()
    #: The global index walked (``ix_exchanges_global_{index}``) when the scope is global.
    index: str = "start"


def floor_page(
    f: Floor,
    scope: str | None,
    scope_id: int,
    reader: int,
    branches: Sequence[Branch],
    where: str = "",
    where_params: Sequence[Any] = (),
    after: tuple[datetime, int] | None = None,
) -> list[Any]:
    """A history page through the bare driver: the library's statement, by hand; ``scope``
    ``None`` is the global history."""
    p = f.p
    ident = "t.exchange_id" if scope is not None else "t.id"
    keyset = f" AND (t.start_at, {ident}) < ({p}, {p})" if after else ""
    walks, params = [], []
    for b in branches:
        shape = WALK if scope is not None else GLOBAL_WALK
        indexed = f" INDEXED BY ix_exchanges_global_{b.index}" if f.kind == "sqlite" else ""
        walks.append(
            shape.format(
                columns=COLUMNS,
                table=b.table,
                indexed=indexed,
                p=p,
                pin=b.pin.format(p=p),
                visible=VISIBLE.format(false=f.false, p=p),
                where=where.format(p=p) + keyset,
            )
        )
        params += [scope, scope_id] if scope is not None else []
        params += [*b.pin_params, reader, reader, *where_params]
        params += [f.when(after[0]), after[1]] if after else []
        params.append(PAGE + 1)
    if len(walks) == 1:
        page = walks[0]
    else:
        merged = " UNION ALL ".join(f"SELECT * FROM ({w}) w{i}" for i, w in enumerate(walks))
        page = f"SELECT * FROM ({merged}) m ORDER BY key_start DESC, id DESC LIMIT {p}"
        params.append(PAGE + 1)
    found = f.rows(OUTER.format(assigned=ASSIGNED[f.kind], page=page), params)[:PAGE]
    if f.kind == "sqlite":  # the logins sorted as SQLite's ORDER BY would
        return [sorted(r[-1].split("\x1f")) if r[-1] else [] for r in found]
    return [r[-1] or [] for r in found]


def search_floor(
    f: Floor, reader: int, words: Sequence[str], week: tuple[datetime, datetime] | None
) -> list[Any]:
    """A search through the bare driver: the library's statements, as ``make bench-search``
    runs them (:func:`search_scale.floor_search`, the one copy of that SQL)."""
    since, until = week if week else (None, None)
    return floor_search(f.kind, f.conn, " ".join(words), reader, since, until)


# --- the cases -------------------------------------------------------------------------------


@dataclass
class Ids:
    """What the cases look up once: the filter values' ids."""

    rare_action: int
    support: list[int]
    field: int


@dataclass
class Case:
    """A measured request: the library's call and the floor's, for the same draw."""

    name: str
    library: Callable[[Any, User, random.Random], Any]
    floor: Callable[[Floor, int, random.Random], Any]
    filtered: bool = False  # checked for plan flips on PostgreSQL


def _week(rng: random.Random) -> tuple[datetime, datetime]:
    since = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 7))
    return since, since + timedelta(days=7)


def cases(ds: Dataset, ids: Ids, deep: tuple[str, datetime, int] | None) -> list[Case]:
    sample = ds.sample_companies

    def company(rng: random.Random) -> int:
        return rng.choice(sample)

    def lib(flt: Callable[[random.Random], ExchangeFilter | None]) -> Callable[..., Any]:
        return lambda s, reader, rng: history.company_history(
            s, reader, company(rng), flt(rng), limit=PAGE
        )

    action_where = (
        " AND e.action_id IN (SELECT id FROM picklist_values WHERE kind = 'action'"
        " AND code IN ({p}))"
    )
    support_where = " AND e.category_id IN ({})".format(", ".join(map(str, ids.support)))
    choice_where = (
        " AND EXISTS (SELECT 1 FROM exchange_field_values v WHERE v.exchange_id = e.id"
        " AND v.field_id = {p} AND v.text_value = {p})"
    )
    week_where = (
        " AND e.start_at >= {p} AND e.start_at < {p} AND t.start_at >= {p} AND t.start_at < {p}"
    )

    rare = "action"  # the global index of actions

    def week_floor(f: Floor, reader: int, rng: random.Random) -> Any:
        cid = company(rng)
        since, until = (f.when(d) for d in _week(rng))
        params = (since, until, since, until)
        return floor_page(f, "c", cid, reader, [Branch()], week_where, params)

    found: list[Case] = [
        Case(
            "company, page 1",
            lib(lambda rng: None),
            lambda f, reader, rng: floor_page(f, "c", company(rng), reader, [Branch()]),
        ),
        Case(
            "company, one week",
            lib(lambda rng: ExchangeFilter(since=(w := _week(rng))[0], until=w[1])),
            week_floor,
            filtered=True,
        ),
        Case(
            f"company, action {RARE_ACTION}",
            lib(lambda rng: ExchangeFilter(actions=(RARE_ACTION,))),
            lambda f, reader, rng: floor_page(
                f,
                "c",
                company(rng),
                reader,
                [Branch(pin=" AND t.action_id = {p}", pin_params=(ids.rare_action,))],
                action_where,
                (RARE_ACTION,),
            ),
            filtered=True,
        ),
        Case(
            f"company, category {PARENT_CATEGORY}+",
            lib(lambda rng: ExchangeFilter(category=PARENT_CATEGORY)),
            lambda f, reader, rng: floor_page(
                f,
                "c",
                company(rng),
                reader,
                [Branch(pin=" AND t.category_id = {p}", pin_params=(i,)) for i in ids.support],
                support_where,
            ),
            filtered=True,
        ),
        Case(
            f"company, {CHOICE_FIELD}={RARE_CHOICE}",
            lib(lambda rng: ExchangeFilter(custom={CHOICE_FIELD: RARE_CHOICE})),
            lambda f, reader, rng: floor_page(
                f,
                "c",
                company(rng),
                reader,
                [
                    Branch(
                        "exchange_timeline_choices",
                        " AND t.field_id = {p} AND t.value = {p}",
                        (ids.field, RARE_CHOICE),
                    )
                ],
                choice_where,
                (ids.field, RARE_CHOICE),
            ),
            filtered=True,
        ),
        Case(
            "opportunity, page 1",
            lambda s, reader, rng: history.opportunity_history(
                s, reader, ds.largest_opportunity, limit=PAGE
            ),
            lambda f, reader, rng: floor_page(f, "o", ds.largest_opportunity, reader, [Branch()]),
        ),
        Case(
            "global, page 1",
            lambda s, reader, rng: history.global_history(s, reader, limit=PAGE),
            lambda f, reader, rng: floor_page(f, None, 0, reader, [Branch()]),
        ),
        Case(
            f"global, action {RARE_ACTION}",
            lambda s, reader, rng: history.global_history(
                s, reader, ExchangeFilter(actions=(RARE_ACTION,)), limit=PAGE
            ),
            lambda f, reader, rng: floor_page(
                f,
                None,
                0,
                reader,
                [Branch(pin=" AND t.action_id = {p}", pin_params=(ids.rare_action,), index=rare)],
                action_where,
                (RARE_ACTION,),
            ),
            filtered=True,
        ),
        Case(
            f"global, {CHOICE_FIELD}={RARE_CHOICE}",
            lambda s, reader, rng: history.global_history(
                s, reader, ExchangeFilter(custom={CHOICE_FIELD: RARE_CHOICE}), limit=PAGE
            ),
            # The global scope's rows of the choice-value timeline (migration 0014).
            lambda f, reader, rng: floor_page(
                f,
                "g",
                0,
                reader,
                [
                    Branch(
                        "exchange_timeline_choices",
                        " AND t.field_id = {p} AND t.value = {p}",
                        (ids.field, RARE_CHOICE),
                    )
                ],
                choice_where + " AND e.company_id IS NULL",
                (ids.field, RARE_CHOICE),
            ),
            filtered=True,
        ),
    ]
    if deep is not None:
        cursor, start, ident = deep
        found.append(
            Case(
                "largest company, deep page",
                lambda s, reader, rng: history.company_history(
                    s, reader, ds.largest_company, limit=PAGE, cursor=cursor
                ),
                lambda f, reader, rng: floor_page(
                    f, "c", ds.largest_company, reader, [Branch()], after=(start, ident)
                ),
            )
        )

    def new_text(rng: random.Random) -> list[str]:
        return rng.sample(WORDS, 2)

    found += [
        Case(
            f"search rare word ({RARE_WORD})",
            lambda s, reader, rng: search(s, reader, RARE_WORD),
            lambda f, reader, rng: search_floor(f, reader, [RARE_WORD], None),
        ),
        Case(
            f"search common word ({COMMON_WORD})",
            lambda s, reader, rng: search(s, reader, COMMON_WORD),
            lambda f, reader, rng: search_floor(f, reader, [COMMON_WORD], None),
        ),
        Case(
            "search, a new text each time",
            lambda s, reader, rng: search(s, reader, " ".join(new_text(rng))),
            lambda f, reader, rng: search_floor(f, reader, new_text(rng), None),
        ),
        Case(
            f"search {COMMON_WORD} + one week",
            lambda s, reader, rng: search(
                s, reader, COMMON_WORD, ExchangeFilter(since=(w := _week(rng))[0], until=w[1])
            ),
            lambda f, reader, rng: search_floor(f, reader, [COMMON_WORD], _week(rng)),
        ),
    ]
    return found


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def timed(
    run: Callable[[random.Random], Any], repeat: int, seed: int, returned: list[int] | None = None
) -> list[float]:
    """``repeat`` timings (ms) of ``run``; the rows each returned are added to ``returned``."""
    run(random.Random(seed + 1))  # warm caches and statement caches
    rng = random.Random(seed)
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        found = run(rng)
        samples.append((time.perf_counter() - began) * 1000)
        if returned is not None:
            returned.append(len(getattr(found, "entries", found)))
    return samples


def measure(kind: str, size: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    grc, ds, url = prepare(kind, size, args.fresh)
    if args.build_only:
        grc.dispose()
        return []
    with grc.session(read_only=True) as s:
        reader = s.get(User, ds.reader_id)
        assert reader is not None
        s.expunge(reader)  # a plain object each request passes, as the API's authenticated user
        support = categories.get_category(s, PARENT_CATEGORY).id
        ids = Ids(
            rare_action=s.execute(
                text("SELECT id FROM picklist_values WHERE kind = 'action' AND code = :c"),
                {"c": RARE_ACTION},
            ).scalar_one(),
            support=sorted(categories.descendant_ids(s, support)),
            field=s.scalars(
                CustomField.__table__.select()
                .with_only_columns(CustomField.id)
                .where(CustomField.code == CHOICE_FIELD)
            ).one(),
        )
        assert s.get(Category, support) is not None
        cursor, edge = None, None
        for _ in range(args.deep_page - 1):  # the cursor of the deep page
            walked = history.company_history(
                s, reader, ds.largest_company, limit=PAGE, cursor=cursor
            )
            if walked.next_cursor is None:
                break
            cursor, edge = walked.next_cursor, walked.entries[-1]
    deep = (cursor, edge.start_at, edge.id) if cursor and edge else None
    if kind == "sqlite":
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        conn = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={pg_name(size)}")
        conn.autocommit = True
    floor = Floor(kind, conn)
    rows = []
    for i, case in enumerate(cases(ds, ids, deep)):

        def library(rng: random.Random, case: Case = case) -> Any:
            with grc.session(read_only=True) as session:
                return case.library(session, reader, rng)

        def by_hand(rng: random.Random, case: Case = case) -> Any:
            return case.floor(floor, reader.id, rng)

        # The pages the draws read are warmed first (both sides read the same rows): the
        # side measured first on a cold cache paid for both, which after another size's
        # dataset was the library's page 1, twice the floor's. Then library and floor
        # alternate by halves, so a burst of load hits both alike.
        half = args.repeat // 2
        for seed in (100 + i, 200 + i):
            timed(library, half, seed)
        returned: list[int] = []
        lib_s = timed(library, half, 100 + i, returned)
        floor_s = timed(by_hand, half, 100 + i)
        lib_s += timed(library, half, 200 + i)
        floor_s += timed(by_hand, half, 200 + i)
        if not any(returned):  # an empty answer measures nothing: the dataset lacks its rows
            print(f"[{kind}] warning: {case.name!r} returned no rows", file=sys.stderr)
        rows.append(
            {
                "db": kind,
                "size": size,
                "case": case.name,
                "p50": pct(lib_s, 50),
                "p95": pct(lib_s, 95),
                "floor_p50": pct(floor_s, 50),
                "floor_p95": pct(floor_s, 95),
                "rows": statistics.mean(returned),
            }
        )
        if case.filtered or case.name == "company, page 1":
            rows[-1]["flip"] = flip_check(grc, reader, ds, case, args.flip_runs)
    conn.close()
    grc.dispose()
    return rows


def flip_check(
    grc: Grc, reader: User, ds: Dataset, case: Case, runs: int
) -> tuple[float, float] | None:
    """Max, and median, of runs 11..N over the median of runs 1..10, all on one connection
    (psycopg prepares a statement at its 5th use; a generic plan would show from then on,
    in every later run: the median says so when load bursts make the max noisy)."""
    if grc.engine.dialect.name != "postgresql":
        return None
    samples = []
    with grc.session(read_only=True) as s:
        for _ in range(runs):
            rng = random.Random(7)  # the same request (company, dates) every run
            began = time.perf_counter()
            case.library(s, reader, rng)
            samples.append((time.perf_counter() - began) * 1000)
    first = statistics.median(samples[:10])
    return max(samples[10:]) / first, statistics.median(samples[10:]) / first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--flip-runs", type=int, default=50)
    parser.add_argument("--deep-page", type=int, default=100, help="the page compared to page 1")
    parser.add_argument("--build-only", action="store_true", help="build the datasets and stop")
    parser.add_argument("--fresh", action="store_true", help="rebuild the datasets")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [row for kind in kinds for size in sizes for row in measure(kind, size, args)]
    if not rows:
        return
    print(
        f"\n{'database':<11}{'size':>6}  {'case':<32}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'floor p50':>10}{'floor p95':>10}{'ratio':>7}{'flip max':>9}{'med':>6}"
    )
    for r in rows:
        flip = f"{r['flip'][0]:>9.2f}{r['flip'][1]:>6.2f}" if r.get("flip") else ""
        print(
            f"{r['db']:<11}{label(r['size']):>6}  {r['case']:<32}{r['p50']:>8.2f}{r['p95']:>8.2f}"
            f"{r['floor_p50']:>10.2f}{r['floor_p95']:>10.2f}{r['p50'] / r['floor_p50']:>7.2f}"
            f"{flip}"
        )
    if len(sizes) > 1:
        # A page that is not full returns more rows at the larger size (a random company's
        # week holds five times as many exchanges): the rows returned and the floor's
        # growth say whether the growth is the table's or the answer's.
        print(
            f"\np95 growth {label(sizes[0])} -> {label(sizes[-1])} (goal <= 1.3), with the"
            " floor's and the mean rows returned at each size"
        )
        print(f"{'database':<11}{'case':<34}{'growth':>7}{'floor':>7}{'rows':>14}")
        for kind in kinds:
            small = {r["case"]: r for r in rows if r["db"] == kind and r["size"] == sizes[0]}
            large = {r["case"]: r for r in rows if r["db"] == kind and r["size"] == sizes[-1]}
            for name, r in large.items():
                if name in small:
                    was = small[name]
                    print(
                        f"{kind:<11}{name:<34}{r['p95'] / was['p95']:>7.2f}"
                        f"{r['floor_p95'] / was['floor_p95']:>7.2f}"
                        f"{was['rows']:>7.1f}{r['rows']:>7.1f}"
                    )
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
