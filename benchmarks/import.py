"""``grc import`` throughput: 100,000 exchanges from a CSV (or JSON Lines) file.

Usage (see ``make bench-import``)::

    .venv/bin/python benchmarks/import.py [--db sqlite|postgresql] [--rows 100000]
        [--format csv|jsonl]

The file names companies, users, opportunities and contacts the way an export from another
CRM does (names, logins, external references), with a UUID per line; the figure is the
whole command — reading, resolving names, checking, writing the exchanges, their links and
their timeline and full-text index rows, committing — in rows per second.  The same file is
then imported a second time: every line is skipped (idempotent on the UUID).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from grc_cli.main import cli
from grc_core import Grc
from grc_core.models import Exchange
from grc_core.services import companies, opportunities, users

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
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


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='grc-bench-import-')}/bench.sqlite3"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "grc_bench_import" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "grc_bench_import"'))
    admin.dispose()
    return "postgresql+psycopg://postgres@127.0.0.1:5432/grc_bench_import"


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


def write_file(path: Path, rows: int, n_companies: int, fmt: str) -> None:
    rng = random.Random(7)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    lines = []
    for _ in range(rows):
        c = rng.randrange(n_companies)
        when = start + timedelta(minutes=rng.randrange(3_000_000))
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


def run_import(url: str, path: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one ``grc import`` (the CPU figure does not count the
    time the database server spends, nor the time other processes take the CPU from us)."""
    began, cpu = time.perf_counter(), time.process_time()
    cli.main(["--db", url, "--as", "admin", "import", str(path)], standalone_mode=False)
    return time.perf_counter() - began, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=300)
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    args = parser.parse_args()
    url = database(args.db)
    with Grc.from_url(url) as grc:
        grc.upgrade()
        setup(grc, args.companies)
    folder = Path(tempfile.mkdtemp(prefix="grc-bench-import-file-"))
    path = folder / f"exchanges.{args.format}"
    write_file(path, args.rows, args.companies, args.format)
    first, first_cpu = run_import(url, path)
    again, _ = run_import(url, path)
    with Grc.from_url(url) as grc, grc.session(read_only=True) as s:
        count = s.scalar(select(func.count()).select_from(Exchange))
    assert count == args.rows, count
    print(f"database: {args.db}; {args.rows:,} exchanges from a {args.format} file")
    print(
        f"grc import: {args.rows / first:,.0f} rows/s ({first:.1f} s; "
        f"{args.rows / first_cpu:,.0f} rows per second of this process's CPU)"
    )
    print(f"same file again: {args.rows / again:,.0f} rows/s, nothing imported twice")


if __name__ == "__main__":
    main()
