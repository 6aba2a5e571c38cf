"""``grc import`` throughput: 100,000 exchanges from a CSV (or JSON Lines) file, into a
database that already holds ``--existing`` exchanges (1,000,000 by default).

Usage (see ``make bench-import``)::

    .venv/bin/python benchmarks/import.py [--db sqlite|postgresql] [--rows 100000]
        [--existing 1000000] [--fresh] [--format csv|jsonl] [--repeat 1] [--batch-size N]

The file names companies, users, opportunities and contacts the way an export from another
CRM does (names, logins, external references), with a UUID per line; the figure is the
whole command — reading, resolving names, checking, writing the exchanges, their links and
their timeline and full-text index rows, committing — in rows per second.  The same file is
then imported a second time: every line is skipped (idempotent on the UUID).

The database of ``--existing`` exchanges is built once, by this import itself (its fastest
path), into ``benchmarks/data/import_<N>.sqlite3`` or the PostgreSQL database
``grc_bench_import_<N>``, and reused (``--fresh`` rebuilds it).  Each run imports into a copy of
it (a file copy, or ``CREATE DATABASE … TEMPLATE``), so every run starts from the same state.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from import_floor import (
    Written,
    backend_cpu,
    check_same,
    pg_floor,
    read_written,
    sqlite_floor,
)
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from grc_cli.main import cli
from grc_core import Grc
from grc_core.models import Exchange
from grc_core.services import companies, opportunities, users

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_RUN = "grc_bench_import_run"


def pg_base(existing: int) -> str:
    """The PostgreSQL base of ``existing`` exchanges (one per size: none rebuilds another)."""
    return f"grc_bench_import_{existing}"


DATA = Path(__file__).parent / "data"
COMPANIES = 300
SUBJECTS = [
    "Relance devis", "Point d'avancement", "Rendez-vous de présentation", "Appel entrant",
    "Réclamation livraison", "Renouvellement du contrat", "Démonstration produit",
]  # fmt: skip
DETAILS = [
    "Le client souhaite un nouveau chiffrage avant la fin du mois.",
    "Échange cordial ; rappeler la semaine prochaine pour confirmer les quantités.",
    "Problème de facturation réglé avec la comptabilité.",
    "Présentation de la nouvelle gamme, intérêt pour les options de maintenance.",
]
ACTIONS = ["call", "meeting", "email", "note"]
#: Lines of the files that build the existing exchanges, imported one file at a time.
BUILD_CHUNK = 200_000


def _pg_admin(statement: str) -> None:
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def _pg_exists(name: str) -> bool:
    admin = create_engine(f"{PG_SERVER}/postgres")
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first()
    admin.dispose()
    return found is not None


def base_url(kind: str, existing: int) -> str:
    if kind == "sqlite":
        return f"sqlite:///{DATA / f'import_{existing}.sqlite3'}"
    return f"{PG_SERVER}/{pg_base(existing)}"


def build_base(kind: str, existing: int, fresh: bool) -> str:
    """The database holding ``existing`` exchanges (built now if missing or ``fresh``)."""
    url = base_url(kind, existing)
    if kind == "sqlite":
        path = DATA / f"import_{existing}.sqlite3"
        ready = path.exists() and not fresh
        if not ready:
            DATA.mkdir(exist_ok=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        ready = _pg_exists(pg_base(existing)) and not fresh
        if ready:
            # A base of another size (or a 100k file of an older version of this benchmark).
            with Grc.from_url(url) as grc, grc.session(read_only=True) as s:
                ready = s.scalar(select(func.count()).select_from(Exchange)) == existing
        if not ready:
            _pg_admin(f'DROP DATABASE IF EXISTS "{pg_base(existing)}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{pg_base(existing)}"')
    with Grc.from_url(url) as grc:
        # Brings a base built before the latest migration up to date once, not every run.
        grc.upgrade()
        if ready:
            return url
        setup(grc, COMPANIES)
    began = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="grc-bench-import-base-"))
    done = 0
    while done < existing:
        n = min(BUILD_CHUNK, existing - done)
        path = folder / "part.csv"
        # Chronological, as a real history is imported: dates grow with the ids.
        write_file(path, n, COMPANIES, "csv", seed=1000 + done, offset=done, total=existing)
        run_import(url, path)
        done += n
        print(f"  base: {done:,} exchanges ({time.perf_counter() - began:.0f} s)", flush=True)
    shutil.rmtree(folder)
    return url


def run_copy(kind: str, existing: int) -> str:
    """A copy of the base for one run (the base itself is never imported into)."""
    if kind == "sqlite":
        source = DATA / f"import_{existing}.sqlite3"
        target = Path(tempfile.mkdtemp(prefix="grc-bench-import-")) / "bench.sqlite3"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{PG_RUN}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{PG_RUN}" TEMPLATE "{pg_base(existing)}"')
    return f"{PG_SERVER}/{PG_RUN}"


def empty_database(kind: str) -> str:
    """A new empty database for one run (``--existing 0``)."""
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='grc-bench-import-')}/bench.sqlite3"
    _pg_admin(f'DROP DATABASE IF EXISTS "{PG_RUN}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{PG_RUN}"')
    return f"{PG_SERVER}/{PG_RUN}"


def drop_copy(url: str) -> None:
    if url.startswith("sqlite:///"):
        shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent)
    else:
        _pg_admin(f'DROP DATABASE IF EXISTS "{PG_RUN}" WITH (FORCE)')


def setup(grc: Grc, n_companies: int) -> None:
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        for i in range(20):
            users.create_user(
                s, admin, login=f"u{i:02d}", display_name=f"Commercial {i}", external_ref=f"U{i}"
            )
        for i in range(n_companies):
            company = companies.create_company(s, admin, name=f"Société {i}", external_ref=f"C{i}")
            companies.create_contact(
                s, admin, company.id, last_name=f"Martin{i}", first_name="Élise",
                external_ref=f"P{i}",
            )  # fmt: skip
            opportunities.create_opportunity(
                s, admin, company.id, title="Renouvellement", external_ref=f"O{i}"
            )


def write_file(
    path: Path,
    rows: int,
    n_companies: int,
    fmt: str,
    *,
    seed: int = 7,
    offset: int | None = None,
    total: int = 0,
) -> None:
    """``rows`` lines; with ``offset``, lines ``offset``… of a chronological history of
    ``total`` lines (2015 on), else random dates of 2019-2024 (a new export)."""
    rng = random.Random(seed)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    lines = []
    for i in range(rows):
        c = rng.randrange(n_companies)
        if offset is None:
            when = start + timedelta(minutes=rng.randrange(3_000_000))
        else:
            span = 4_000_000 / max(total, 1)  # minutes between two lines, over ~7.6 years
            when = datetime(2011, 1, 1, tzinfo=UTC) + timedelta(minutes=(offset + i) * span)
        by_name = rng.random() < 0.5
        line = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "subject": rng.choice(SUBJECTS),
            # Mostly distinct texts, as in a real history (nothing to gain from repeats).
            "details": " ".join(rng.sample(DETAILS, rng.randint(1, 3)))
            + f" Commande n° {rng.randrange(10**6)}, suivi par {rng.choice(SUBJECTS).lower()}.",
            "start": when.isoformat(),
            "end": (when + timedelta(minutes=30)).isoformat(),
            "action": rng.choice(ACTIONS),
            "private": "true" if rng.random() < 0.1 else "false",
            "author": f"u{rng.randrange(20):02d}",
            "assignees": "",
            "company": f"Société {c}" if by_name else "",
            "company_ref": "" if by_name else f"C{c}",
            "opportunity_refs": f"O{c}" if rng.random() < 0.3 else "",
            "contacts": "Élise Martin" + str(c) if by_name and rng.random() < 0.25 else "",
        }
        lines.append(line)
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=list(lines[0]))
            writer.writeheader()
            writer.writerows(lines)
        else:
            for line in lines:
                out.write(json.dumps({k: v for k, v in line.items() if v}) + "\n")


class ServerCpu:
    """CPU seconds spent by the PostgreSQL backends serving database ``name`` while it runs.

    The server runs on this machine: its backends are found in ``pg_stat_activity`` and
    their CPU read from ``/proc`` every 50 ms (a backend's figure is gone once it exits, so
    the last reading of each counts).  Under load, wall-clock rates mostly measure the share
    of the two cores this run got; CPU seconds are what the import costs.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ServerCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())

    def _watch(self) -> None:
        admin = create_engine(f"{PG_SERVER}/postgres", poolclass=NullPool)
        with admin.connect() as conn:
            while not self._stop.wait(0.05):
                pids = conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = :n"), {"n": self.name}
                ).scalars()
                for pid in pids:
                    try:
                        self.seen[pid] = backend_cpu(pid)
                    except OSError:
                        continue
                conn.rollback()
        admin.dispose()


def run_import(url: str, path: Path, *options: str) -> tuple[float, float, float]:
    """Wall-clock seconds of one ``grc import``, the CPU seconds of this process and its
    preparing process (reading, checking, building rows; SQLite's work too) and those of
    the PostgreSQL server's backends (0 on SQLite)."""
    server = ServerCpu(url.rsplit("/", 1)[1]) if url.startswith("postgresql") else None
    began, cpu = time.perf_counter(), _own_cpu()
    with server or nullcontext():
        cli.main(
            ["--db", url, "--as", "admin", "import", "exchanges", *options, str(path)],
            standalone_mode=False,
        )
    wall, cpu = time.perf_counter() - began, _own_cpu() - cpu
    return wall, cpu, server.seconds if server is not None else 0.0


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the import's
    preparing process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _driver(url: str) -> str:
    """What the driver itself connects to (a file, or a libpq URI)."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    return url.replace("postgresql+psycopg://", "postgresql://")


def print_floors(args: argparse.Namespace, written: Written, above: int, wall: float) -> None:
    """The same rows written by the database alone (see ``import_floor``), on a fresh copy
    of the same base each time, beside the import's rate."""
    runs = [("floor, one transaction", 1)]
    if args.db == "postgresql":
        runs.append(("floor, two connections at once", 2))
    for what, connections in runs:
        url = run_copy(args.db, args.existing) if args.existing else None
        if url is None:
            raise SystemExit("the floor needs a base (--existing > 0)")
        try:
            if args.db == "sqlite":
                floor = sqlite_floor(Path(_driver(url)), written)
            else:
                parts = [written] if connections == 1 else [written.half(0), written.half(1)]
                floor = pg_floor(_driver(url), parts)
            check_same(args.db, _driver(url), above, written)
        finally:
            drop_copy(url)
        rate = written.exchanges / floor.wall
        print(
            f"{what}: {rate:,.0f} rows/s ({floor.wall:.1f} s); the database's CPU per exchange: "
            f"{floor.cpu / written.exchanges * 1e6:.0f} µs; grc import at "
            f"{written.exchanges / wall / rate:.0%} of it"
        )


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="rebuild the existing exchanges")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh copy")
    parser.add_argument("--batch-size", type=int, help="grc import's --batch-size")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the floor (the database's work alone)"
    )
    args = parser.parse_args()
    options = ("--batch-size", str(args.batch_size)) if args.batch_size else ()
    if args.existing:
        print(f"existing exchanges: {args.existing:,} (load average {load()})", flush=True)
        build_base(args.db, args.existing, args.fresh)
    folder = Path(tempfile.mkdtemp(prefix="grc-bench-import-file-"))
    path = folder / f"exchanges.{args.format}"
    write_file(path, args.rows, COMPANIES, args.format)
    print(f"database: {args.db}; {args.rows:,} exchanges from a {args.format} file")
    for _ in range(args.repeat):
        if args.existing:
            url = run_copy(args.db, args.existing)
        else:
            url = empty_database(args.db)
            with Grc.from_url(url) as grc:
                grc.upgrade()
                setup(grc, COMPANIES)
        try:
            with Grc.from_url(url) as grc, grc.session(read_only=True) as s:
                above = s.scalar(select(func.max(Exchange.id))) or 0
            before = load()
            first = run_import(url, path, *options)
            again = run_import(url, path, *options)
            after = load()
            with Grc.from_url(url) as grc, grc.session(read_only=True) as s:
                count = s.scalar(select(func.count()).select_from(Exchange))
            assert count == args.existing + args.rows, count
            written = None if args.no_floor else read_written(args.db, _driver(url), above)
        finally:
            drop_copy(url)
        for what, (wall, cpu, server) in (("grc import", first), ("same file again", again)):
            print(
                f"{what}: {args.rows / wall:,.0f} rows/s ({wall:.1f} s); CPU per exchange: "
                f"{cpu / args.rows * 1e6:.0f} µs this process"
                + (f" + {server / args.rows * 1e6:.0f} µs server" if server else "")
                + f" = {args.rows / (cpu + server):,.0f} rows per CPU second"
            )
        if written is not None:
            print_floors(args, written, above, first[0])
        print(f"load average before / after: {before} / {after}", flush=True)
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
