"""Read throughput on the primary and on its streaming replica.

Usage::

    .venv/bin/python benchmarks/replica.py [--exchanges 100000] [--seconds 5]
        [--clients 1,4]

Builds a throw-away PostgreSQL primary and a standby copied from it with ``pg_basebackup``
(see ``tests/replica/cluster.py``; the server binaries of ``/usr/lib/postgresql/15/bin`` or
``$GRC_TEST_PG_BIN``, run as the ``postgres`` user when started as root), fills the primary
with the dataset of ``dataset.py``, times how long the replica takes to replay it, then runs
the same read mix for ``--seconds`` with each number of clients (threads, one pooled
connection each) through ``Grc.session(read_only=True)``: once served by the primary
(``primary=True``), once by the replica.  The mix is what read-only sessions serve: the
largest company's history, the busiest user's history, a two-word search.

Both servers run on this machine and share its cores: the figures show that the replica
serves reads as fast as the primary (same plans, same data), not the capacity a replica on
its own machine adds.  Each run checks ``pg_is_in_recovery()`` to prove which server
answered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from dataset import Dataset, generate  # noqa: E402
from tests.replica.cluster import replicated_cluster  # noqa: E402

from grc_core.config import Settings  # noqa: E402
from grc_core.facade import Grc  # noqa: E402
from grc_core.models import User  # noqa: E402
from grc_core.queries import history  # noqa: E402
from grc_core.queries.search import search  # noqa: E402

PAGE = 50


def read_mix(ds: Dataset) -> list[Callable[[Session, User], object]]:
    return [
        lambda s, u: history.company_history(s, u, ds.largest_company, limit=PAGE),
        lambda s, u: history.user_history(s, u, ds.busiest_user, limit=PAGE),
        lambda s, u: search(s, u, "facture impay", limit=20),
    ]


def run(grc: Grc, ds: Dataset, *, primary: bool, clients: int, seconds: float) -> dict[str, float]:
    """Reads per second and latency of the mix, ``clients`` threads for ``seconds``."""
    with grc.session(read_only=True, primary=primary) as s:
        in_recovery = bool(s.scalar(text("SELECT pg_is_in_recovery()")))
    assert in_recovery is not primary, "the read went to the wrong server"
    mix = read_mix(ds)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(mine: list[float]) -> None:
        start.wait()
        i = 0
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            with grc.session(read_only=True, primary=primary) as s:
                reader = s.get(User, ds.reader_id)
                assert reader is not None
                mix[i % len(mix)](s, reader)
            mine.append((time.perf_counter() - began) * 1000)
            i += 1

    threads = [threading.Thread(target=client, args=(lat,)) for lat in latencies]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for lat in latencies for x in lat)
    q = statistics.quantiles(every, n=20)
    return {"reads/s": len(every) / elapsed, "p50": statistics.median(every), "p95": q[18]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,4")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    with replicated_cluster(shared_buffers="256MB") as pair:
        settings = Settings(database_url=pair.primary_url, read_url=pair.replica_url)
        with Grc(settings) as grc:
            print(f"generating {args.exchanges:,} exchanges on the primary…", file=sys.stderr)
            ds = generate(
                grc,
                exchanges=args.exchanges,
                companies=max(100, args.exchanges // 50),
                opportunities=max(200, args.exchanges // 20),
                progress=False,
            )
            began = time.perf_counter()
            pair.wait_for_replay(timeout=600)
            catch_up = time.perf_counter() - began
            with grc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            pair.wait_for_replay(timeout=600)  # the statistics reach the replica too
            for target in ("primary", "replica"):  # warm both caches alike
                run(grc, ds, primary=target == "primary", clients=1, seconds=1)

            print(f"\n{args.exchanges:,} exchanges, imported in {ds.import_seconds:.1f} s "
                  f"({ds.exchanges / ds.import_seconds:,.0f}/s); the replica had replayed "
                  f"them {catch_up:.2f} s after the import's last commit")  # fmt: skip
            print(f"load average before the runs: {os.getloadavg()[0]:.2f} "
                  f"({os.cpu_count()} cores)\n")  # fmt: skip
            print(f"{'clients':>7} {'server':<8} {'reads/s':>9} {'p50 ms':>8} {'p95 ms':>8}"
                  f" {'vs primary':>10}")  # fmt: skip
            for clients in counts:
                base = 0.0
                for target in ("primary", "replica"):
                    r = run(grc, ds, primary=target == "primary", clients=clients,
                            seconds=args.seconds)  # fmt: skip
                    base = base or r["reads/s"]
                    print(f"{clients:>7} {target:<8} {r['reads/s']:>9.1f} {r['p50']:>8.2f}"
                          f" {r['p95']:>8.2f} {r['reads/s'] / base:>9.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
