"""Quick search at 200,000 and 1,000,000 exchanges, against the hand-written SQL floor.

Usage (``make bench-search``)::

    .venv/bin/python benchmarks/search_scale.py [--db sqlite|postgresql|both]
        [--sizes 200000,1000000] [--repeat 60] [--build-only] [--fresh]

Datasets are built once with ``benchmarks/dataset.py`` into this benchmark's own databases
(PostgreSQL ``grc_bench_search_200k`` / ``grc_bench_search_1m``, SQLite files
``benchmarks/data/search_*.sqlite``) and reused; every run migrates them to the latest
revision first.  Each case runs --repeat times through :func:`grc_core.queries.search.search`
(a fresh read-only session per request, an ordinary reader: the privacy rule applies) and
through the bare driver running the same SQL (:func:`floor_search`), then prints p50/p95,
the library/floor ratio and the 200k -> 1M growth, with the machine's load average, and the
CPU a search costs, which other processes' load barely changes: this process's (p50/p95; all
of it on SQLite) and, on PostgreSQL, the server's (mean, from /proc).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from dataset import DATA, Dataset, label, open_dataset

from grc_core import Grc


def pg_name(size: int) -> str:
    return f"grc_bench_search_{label(size)}"


def prepare(kind: str, size: int, fresh: bool) -> tuple[Grc, Dataset, str]:
    """The dataset of ``size`` exchanges in ``kind``, built if missing, migrated to head."""
    grc, dataset, url = open_dataset(kind, size, fresh, "search", pg_name(size))
    if kind == "sqlite":
        fill_terms(grc)  # prefixes are completed from the list of indexed words
    return grc, dataset, url


def fill_terms(grc: Grc) -> None:
    """List the indexed words if a bulk import left the list empty (an import that does not
    call grc_core.indexing.add_search_terms yet): prefixes are completed from it."""
    with grc.engine.begin() as conn:
        if conn.exec_driver_sql("SELECT 1 FROM exchange_fts_terms LIMIT 1").first():
            return
        print("[sqlite] listing the indexed words…", file=sys.stderr)
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE temp.words USING fts5vocab(main, exchange_fts, 'row')"
        )
        conn.exec_driver_sql(
            "INSERT INTO exchange_fts_terms (term) SELECT term FROM temp.words"
            " WHERE unicode(term) NOT BETWEEN 57344 AND 63743"
        )
        conn.exec_driver_sql("DROP TABLE temp.words")


# --- the floor: the library's SQL, by hand ---------------------------------------------------

# The page's columns, for the best ids (a second statement, as the library reads them).
ENTRY = (
    "SELECT e.id, e.uuid, e.start_at, e.end_at, e.subject, e.details, a.code, st.code, m.code,"
    " cat.code, e.private, e.author_id, au.display_name, e.company_id, c.name"
    " FROM exchanges e"
    " JOIN picklist_values a ON a.id = e.action_id JOIN picklist_values st ON st.id = e.status_id"
    " LEFT JOIN picklist_values m ON m.id = e.medium_id"
    " LEFT JOIN categories cat ON cat.id = e.category_id"
    " JOIN users au ON au.id = e.author_id LEFT JOIN companies c ON c.id = e.company_id"
    " WHERE e.id {ids}"
)
BEST = "SELECT id, score FROM ({windows}) w ORDER BY score DESC, start_at DESC, id DESC LIMIT {n}"
VISIBLE = (
    " AND (e.private = {false} OR e.author_id = {p} OR EXISTS (SELECT 1 FROM exchange_assignees x"
    " WHERE x.exchange_id = e.id AND x.user_id = {p}))"
)
SQLITE_WINDOW = (
    "SELECT * FROM (SELECT e.id AS id, e.start_at AS start_at, {tier} AS score"
    " FROM {t} JOIN exchanges e ON e.id = ({t}.rowid & 2147483647)"
    " WHERE {t} MATCH ?{bounds}" + VISIBLE.format(false="0", p="?") + "{period}"
    " ORDER BY {t}.rowid DESC LIMIT {n})"
)
PG_HITS = (
    "SELECT e.id, e.start_at, {tier} AS score{n} FROM {source}"
    " JOIN exchanges e ON e.id = m.exchange_id"
    " WHERE true" + VISIBLE.format(false="false", p="%s") + "{period}"
    " ORDER BY e.start_at DESC, e.id DESC LIMIT {size}"
)
PG_SLICE = (
    "LATERAL (SELECT s.exchange_id FROM exchange_search s"
    " WHERE numnode({q}) > 0 AND ({searched} || s.slices) @@ (({q}) && sl.blocks) OFFSET 0) m"
)
PG_OLDER = (
    "(SELECT s.exchange_id FROM exchange_search s"
    " WHERE ({searched} || s.slices) @@ ({q}) OFFSET 0) m"
)
PG_WALK = (
    "SELECT w.id, w.start_at, w.score, sl.n FROM unnest(%s::tsquery[])"
    " WITH ORDINALITY AS sl(blocks, n) JOIN LATERAL ({hits}) w ON true LIMIT {size}"
)
# The library also turns JIT off for its transaction; the floor's connection has it off.
PG_SPAN = "SELECT min(start_at), max(start_at), set_config('jit', 'off', false) FROM exchanges"
PG_COMPLETIONS = (
    "SELECT t.term FROM exchange_search_terms t,"
    " (SELECT tsvector_to_array(to_tsvector('grc_simple', %s)) AS a,"
    " numnode(to_tsquery('grc_simple', %s)) AS n) p"
    ' WHERE p.n = 1 AND cardinality(p.a) = 1 AND t.term >= p.a[1] COLLATE "C"'
    ' AND t.term < (p.a[1] || chr(1114111)) COLLATE "C" ORDER BY t.term LIMIT %s'
)
ASSIGNEES = {
    "sqlite": "SELECT x.exchange_id, u.login FROM exchange_assignees x JOIN users u"
    " ON u.id = x.user_id WHERE x.exchange_id IN ({ids}) ORDER BY u.login",
    "postgresql": "SELECT x.exchange_id, u.login FROM exchange_assignees x JOIN users u"
    " ON u.id = x.user_id WHERE x.exchange_id = ANY(%s) ORDER BY u.login",
}
SQLITE_PEOPLE = (
    "SELECT ec.exchange_id, ct.first_name, ct.last_name FROM exchange_contacts ec"
    " JOIN contacts ct ON ct.id = ec.contact_id WHERE ec.exchange_id IN ({ids})"
    " ORDER BY ec.exchange_id, ct.id"
)
PG_SNIPPETS = (
    "SELECT e.id, ts_headline('grc_simple', concat_ws(' — ', nullif(e.subject, ''),"
    " nullif(e.details, ''), nullif(s.names, '')), to_tsquery('grc_simple', %s),"
    " 'StartSel=[, StopSel=], MaxFragments=1, MaxWords=18, MinWords=6')"
    " FROM exchange_search s JOIN exchanges e ON e.id = s.exchange_id WHERE e.id = ANY(%s)"
)


def _pg_tsquery(terms: Any, completions: str | None = None) -> tuple[str, list[str]]:
    """The tsquery expression of parsed terms and its parameters (as the library builds it),
    the prefix given as its ``completions`` if any."""
    parts: list[str] = []
    params: list[str] = []
    for w in terms.words:
        parts.append("to_tsquery('grc_french', %s)")
        params.append(w)
    for phrase in terms.phrases:
        parts.append("phraseto_tsquery('grc_french', %s)")
        params.append(" ".join(phrase))
    if terms.prefix and completions is not None:
        parts.append("(%s::tsquery || to_tsquery('grc_french', %s))")
        params += [completions, terms.prefix]
    elif terms.prefix:
        parts.append("(to_tsquery('grc_simple', %s) || to_tsquery('grc_french', %s))")
        params += [terms.prefix + ":*", terms.prefix]
    return " && ".join(parts), params


def _pg_best(conn: Any, terms: Any, reader: int, since: Any, until: Any, limit: int) -> Any:
    """The best ids on PostgreSQL: the library's walk by date slices (its own functions cut
    the days into slices and blocks), one statement for both windows."""
    from grc_core.queries.search import (
        MAX_COMPLETIONS,
        SLICED_DAYS,
        _day,
        _tsquery_lexeme,
        day_slices,
        slice_blocks,
    )

    oldest, newest, _ = conn.execute(PG_SPAN).fetchone()
    if oldest is None:
        return []
    completions = None
    if terms.prefix:
        words = conn.execute(
            PG_COMPLETIONS, (terms.prefix, terms.prefix + ":*", MAX_COMPLETIONS + 1)
        ).fetchall()
        if words and len(words) <= MAX_COMPLETIONS:
            completions = " | ".join(_tsquery_lexeme(w[0]) for w in words)
    q, qparams = _pg_tsquery(terms, completions)
    first, last = _day(oldest), _day(newest)
    period, extra = "", []
    if since is not None and until is not None:
        period, extra = " AND e.start_at >= %s AND e.start_at < %s", [since, until]
        first = max(first, _day(since))
        last = min(last, _day(until - timedelta(microseconds=1)))
    sizes = {1: min(500, limit), 0: min(500, 2 * limit)}
    boundary = max(first, last + 1 - SLICED_DAYS)
    slices = [
        " | ".join(_tsquery_lexeme(b) for b in slice_blocks(low, high))
        for low, high in day_slices(boundary, last)
    ]
    windows: dict[int, str] = {}
    params: dict[int, list[Any]] = {0: [], 1: []}
    for tier in (0, 1):
        searched = "ts_filter(s.document, '{a,b}')" if tier else "s.document"
        score, size = float(tier) or 0.5, sizes[tier]
        hits = PG_HITS.format(
            tier=score, n="", source=PG_SLICE.format(searched=searched, q=q), period=period,
            size=size,
        )  # fmt: skip
        walk = PG_WALK.format(hits=hits, size=size)
        params[tier] += [slices, *qparams, *qparams, reader, reader, *extra]
        if first < boundary:  # the older exchanges in one piece
            older = PG_HITS.format(
                tier=score, n=", 1000 AS n", source=PG_OLDER.format(searched=searched, q=q),
                period=period + " AND e.start_at < %s", size=size,
            )  # fmt: skip
            walk = f"SELECT * FROM (({walk}) UNION ALL ({older})) o LIMIT {size}"
            params[tier] += [
                *qparams,
                reader,
                reader,
                *extra,
                datetime.fromtimestamp(boundary * 86400, UTC),
            ]
        windows[tier] = walk
    # The subject-and-names window from the other one's hits when it is not full.
    statement = (
        f"WITH anywhere AS MATERIALIZED ({windows[0]}) SELECT * FROM anywhere"
        f" UNION ALL SELECT * FROM ({windows[1]}) t"
        f" WHERE (SELECT count(*) FROM anywhere) >= {sizes[0]}"
        " UNION ALL SELECT a.id, a.start_at, 1.0, a.n FROM anywhere a"
        " JOIN exchange_search s ON s.exchange_id = a.id"
        f" WHERE (SELECT count(*) FROM anywhere) < {sizes[0]}"
        f" AND ts_filter(s.document, '{{a,b}}') @@ ({q})"
    )
    rows = conn.execute(statement, [*params[0], *params[1], *qparams]).fetchall()
    found: dict[int, list[int]] = {1: [], 0: []}
    for score, _, _, _, ident in sorted(
        (-score, n, -start.timestamp(), -ident, ident) for ident, start, score, n in rows
    ):
        found[1 if score <= -1 else 0].append(ident)
    return [(i, 1.0) for i in found[1][: sizes[1]]] + [(i, 0.5) for i in found[0][: sizes[0]]]


def floor_search(
    kind: str,
    conn: Any,
    raw: str,
    reader: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> list[Any]:
    """Quick search by hand through the bare driver (``sqlite3`` / ``psycopg`` connection
    ``conn``): the library's statements (completions, both windows and the page, assignees,
    snippets' texts), without its Python layers.  Returns the page's rows."""
    from grc_core.queries.search import MAX_COMPLETIONS, _fts5_match, parse

    terms = parse(raw)
    if not terms:
        return []
    if kind == "sqlite":

        def complete(prefix: str) -> list[str] | None:
            found = conn.execute(
                "SELECT term FROM exchange_fts_terms WHERE term >= ? AND term < ?"
                " ORDER BY term LIMIT ?",
                (prefix, prefix + "\U0010ffff", MAX_COMPLETIONS + 1),
            ).fetchall()
            return [r[0] for r in found] if len(found) <= MAX_COMPLETIONS else None

        match = _fts5_match(terms, complete)
        if match is None:
            return []
        bounds, period, extra = "", "", []
        if since is not None and until is not None:
            low = (since.timestamp() // 60 - 1) * 2**31
            high = (until.timestamp() // 60 + 1) * 2**31
            bounds = " AND {t}.rowid >= ? AND {t}.rowid < ?"
            period = " AND e.start_at >= ? AND e.start_at < ?"
            extra = [
                d.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                for d in (since, until)
            ]
            key_bounds = [int(low), int(high)]
        windows, params = [], []
        for tier, table in ((1.0, "exchange_fts_title"), (0.5, "exchange_fts")):
            windows.append(
                SQLITE_WINDOW.format(
                    tier=tier,
                    t=table,
                    bounds=bounds.format(t=table),
                    period=period,
                    n=min(500, limit if tier == 1.0 else 2 * limit),
                )
            )
            params += [match] + (key_bounds if bounds else []) + [reader, reader] + extra
        best = conn.execute(
            BEST.format(windows=" UNION ALL ".join(windows), n=2 * limit), params
        ).fetchall()
    else:
        best = _pg_best(conn, terms, reader, since, until, limit)
    ranks: dict[int, float] = {}
    for ident, rank in best:
        if ident not in ranks and len(ranks) < limit:
            ranks[ident] = rank
    ids = list(ranks)
    if not ids:
        return []
    if kind == "sqlite":
        listed = ",".join(str(i) for i in ids)
        found = {r[0]: r for r in conn.execute(ENTRY.format(ids=f"IN ({listed})")).fetchall()}
    else:
        found = {r[0]: r for r in conn.execute(ENTRY.format(ids="= ANY(%s)"), (ids,)).fetchall()}
    page = [found[i] for i in ids]
    if kind == "sqlite":
        conn.execute(ASSIGNEES["sqlite"].format(ids=listed)).fetchall()
        conn.execute(SQLITE_PEOPLE.format(ids=listed)).fetchall()  # texts: the page's rows
    else:
        conn.execute(ASSIGNEES["postgresql"], (ids,)).fetchall()
        words = [*terms.words, *(w for p in terms.phrases for w in p)]
        words += [terms.prefix] if terms.prefix else []
        conn.execute(PG_SNIPPETS, (" | ".join(f"{w}:*" for w in words), ids)).fetchall()
    return page


# --- the measurements ---------------------------------------------------------------------------

#: Words of the dataset's subjects and sentences (benchmarks/dataset.py).
_WORDS = (
    "relance facture impayée échéance contrat maintenance présentation compte rendu"
    " réunion qualification négociation tarifaire demande devis réclamation livraison"
    " renouvellement abonnement suivi projet déploiement visite préparation appel offres"
    " hebdomadaire problème facturation nouvelle offre client souhaite revoir conditions"
    " générales trimestre envoyer révisé remise accordée direction commerciale retard"
    " transporteur démonstration module reporting équipe financière interlocuteur"
    " principal change poste prochain comptabilité février comité validera budget séance"
    " signé option tacite importante annuelle expire septembre rédiger partager technique"
)
VOCABULARY = _WORDS.split()


def new_texts(count: int, seed: int = 7) -> list[str]:
    """``count`` different searches: a word and the beginning of another (type-ahead)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < count:
        first, second = rng.sample(VOCABULARY, 2)
        typed = f"{first} {second[: rng.randint(3, len(second))]}"
        if typed not in seen:
            seen.add(typed)
            texts.append(typed)
    return texts


def pct(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def timed(run: Callable[[int], Any], repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock ms of ``repeat`` runs; ``cpu`` receives each run's CPU ms of this process
    (all of a SQLite search; on PostgreSQL, the client's share), which the load of other
    processes on the machine barely changes."""
    run(-1)  # warm caches
    samples = []
    for i in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        run(i)
        samples.append((time.perf_counter() - began) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - began_cpu) * 1000)
    return samples


def server_cpu(conn: Any, database: str) -> float:
    """CPU ms used so far by the PostgreSQL backends of ``database`` (from /proc: the server
    runs on this machine); a difference over many searches gives their mean."""
    pids = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
    ).fetchall()
    ticks = 0
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def cases(ds: Dataset, repeat: int) -> dict[str, tuple[Callable[[int], str], Any]]:
    """Case name -> (the text of repetition i, the one-week period or None)."""
    week_start = datetime(2022, 3, 7, tzinfo=UTC)
    week = (week_start, week_start + timedelta(days=7))
    fresh = new_texts(2 * repeat + 2)
    # A company number: in the names of one small company's exchanges only.
    rare = str(ds.sample_companies[-1] if ds.sample_companies else 4242)
    return {
        "rare word": (lambda i: f"{rare} ", None),
        "common word ('pour', typed)": (lambda i: "pour", None),
        "new text each time": (lambda i: fresh[i + 1], None),
        "'pour' + one-week filter": (lambda i: "pour", week),
        "subject word ('devis ')": (lambda i: "devis ", None),
        "absent word": (lambda i: "zygomatique ", None),
    }


def measure(kind: str, size: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    from grc_core.models import User
    from grc_core.queries.exchanges import ExchangeFilter
    from grc_core.queries.search import search

    grc, ds, url = prepare(kind, size, args.fresh)
    with grc.session(read_only=True) as s:
        reader = s.get(User, ds.reader_id)
        assert reader is not None and not reader.is_admin
    if kind == "sqlite":
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    else:
        conn = psycopg.connect(
            f"host=127.0.0.1 user=postgres dbname={pg_name(size)}",
            autocommit=True,
            options="-c plan_cache_mode=force_custom_plan -c jit=off",
        )
    rows = []
    for name, (typed, period) in cases(ds, args.repeat).items():
        flt = ExchangeFilter(since=period[0], until=period[1]) if period else None

        def library(i: int, typed: Any = typed, flt: Any = flt) -> Any:
            with grc.session(read_only=True) as s:  # a fresh session per request
                return search(s, reader, typed(i), flt)

        def floor(i: int, typed: Any = typed, period: Any = period) -> Any:
            since, until = period or (None, None)
            return floor_search(kind, conn, typed(i), ds.reader_id, since, until)

        hits = len(library(0))
        assert hits == len(floor(0)), (name, hits, len(floor(0)))
        lib, flo, lib_cpu, flo_cpu = [], [], [], []
        server = {"lib": 0.0, "floor": 0.0}
        for _ in range(2):  # interleaved, so that both see the same load
            for which, run, wall, cpu in (
                ("lib", library, lib, lib_cpu),
                ("floor", floor, flo, flo_cpu),
            ):
                before = server_cpu(conn, pg_name(size)) if kind == "postgresql" else 0.0
                wall += timed(run, args.repeat // 2, cpu)
                if kind == "postgresql":
                    server[which] += server_cpu(conn, pg_name(size)) - before
        runs = 2 * (args.repeat // 2)
        rows.append(
            {"db": kind, "size": size, "case": name, "hits": hits,
             "p50": pct(lib, 50), "p95": pct(lib, 95),
             "floor_p50": pct(flo, 50), "floor_p95": pct(flo, 95),
             "ratio": pct(lib, 50) / pct(flo, 50),
             "cpu_p50": pct(lib_cpu, 50), "cpu_p95": pct(lib_cpu, 95),
             "floor_cpu_p50": pct(flo_cpu, 50),
             # Server CPU: a mean over the runs and the two warming ones.
             "server_cpu": server["lib"] / (runs + 2),
             "floor_server_cpu": server["floor"] / (runs + 2)}
        )  # fmt: skip
    if kind == "postgresql":
        rows.append(plan_stability(grc, reader, size))
    conn.close()
    grc.dispose()
    return rows


def plan_stability(grc: Grc, reader: Any, size: int) -> dict[str, Any]:
    """50 runs of a filtered common-word search on one connection (psycopg prepares the
    statement from the 5th): the last runs must cost what the first ones did."""
    from grc_core.queries.exchanges import ExchangeFilter
    from grc_core.queries.search import search

    week_start = datetime(2022, 3, 7, tzinfo=UTC)
    flt = ExchangeFilter(since=week_start, until=week_start + timedelta(days=7))
    samples = []
    with grc.session(read_only=True) as s:
        for i in range(50):
            began = time.perf_counter()
            search(s, reader, "pour" if i % 2 else "facture ", flt)
            samples.append((time.perf_counter() - began) * 1000)
    first, last = statistics.median(samples[:10]), statistics.median(samples[-10:])
    return {"db": "postgresql", "size": size, "case": "50 runs, one connection",
            "first10": first, "last10": last, "max": max(samples)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--fresh", action="store_true", help="rebuild the datasets")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.build_only:
        for kind in kinds:
            for size in sizes:
                prepare(kind, size, args.fresh)[0].dispose()
        return
    rows = [row for kind in kinds for size in sizes for row in measure(kind, size, args)]
    report(rows, sizes)


def report(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'database':<11}{'size':>9}  {'case':<30}{'hits':>5}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'floor p50':>10}{'floor p95':>10}{'ratio':>7}{'growth':>8}"
        f"{'cpu p50':>8}{'cpu p95':>8}{'floor cpu':>10}{'srv cpu':>8}{'floor srv':>10}"
    )
    p95 = {(r["db"], r["size"], r["case"]): r.get("p95") for r in rows}
    for r in rows:
        if "first10" in r:
            print(
                f"{r['db']:<11}{r['size']:>9,}  {r['case']:<30} first 10 median"
                f" {r['first10']:.2f} ms, last 10 {r['last10']:.2f} ms, max {r['max']:.2f} ms"
            )
            continue
        smallest = p95.get((r["db"], sizes[0], r["case"]))
        growth = f"{r['p95'] / smallest:>8.2f}" if smallest and r["size"] != sizes[0] else ""
        print(
            f"{r['db']:<11}{r['size']:>9,}  {r['case']:<30}{r['hits']:>5}{r['p50']:>8.2f}"
            f"{r['p95']:>8.2f}{r['floor_p50']:>10.2f}{r['floor_p95']:>10.2f}{r['ratio']:>7.2f}"
            f"{growth or '':>8}{r['cpu_p50']:>8.2f}{r['cpu_p95']:>8.2f}{r['floor_cpu_p50']:>10.2f}"
            f"{r['server_cpu']:>8.2f}{r['floor_server_cpu']:>10.2f}"
        )


if __name__ == "__main__":
    main()
