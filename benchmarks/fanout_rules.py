"""Fan-out cost per event as the number of rules grows: 100, 1,000 and 10,000 rules.

Usage (see ``make bench-fanout``)::

    .venv/bin/python benchmarks/fanout_rules.py [--db sqlite|postgresql] [--events 100]
        [--rules 100,1000,10000]

Each size gets a fresh database (the set-up of ``benchmarks/notifications.py``: 500 users,
2,000 companies followed by 5 users each, rules spread over seven event kinds, each with a
condition naming an action and one of 40 companies), then ``--events`` exchange creations
are fanned out in passes of 50.  The table gives the cost per event, the median and 95th
percentile of the passes (per event), and the ratio to the smallest rule count.
Goal: 10,000 rules cost at most twice what 100 rules cost.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).parent))

from grc_core import Grc
from grc_core.models import Delivery, User
from grc_core.notify.fanout import fan_out
from grc_core.services import exchanges
from notifications import database, setup

PASS = 50


def measure(db: str, rules: int, events: int) -> dict[str, float]:
    with Grc.from_url(database(db)) as grc:
        grc.upgrade()
        admin_id, company_ids = setup(grc, 10_000, rules, 2_000)
        while True:  # the set-up's own events (2,000 companies created): not measured
            with grc.session() as s:
                if not fan_out(s, limit=500):
                    break
        start = datetime(2026, 6, 1, 9, tzinfo=UTC)
        with grc.session() as s:
            admin = s.get(User, admin_id)
            for i in range(events):
                exchanges.create_exchange(
                    s, admin, subject=f"RDV {i}", start=start, action="meeting",
                    company_id=company_ids[i % len(company_ids)],
                )  # fmt: skip
        passes: list[float] = []
        handled = 0
        began = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            with grc.session() as s:
                n = fan_out(s, limit=PASS)
            if not n:
                break
            passes.append((time.perf_counter() - t0) * 1000 / n)
            handled += n
        total = (time.perf_counter() - began) * 1000 / max(handled, 1)
        with grc.session(read_only=True) as s:
            made = s.scalar(
                select(text("count(*)")).select_from(Delivery).where(Delivery.rule_id.is_not(None))
            )
    passes.sort()
    return {
        "rules": rules,
        "ms_per_event": total,
        "p50": statistics.median(passes),
        "p95": passes[min(len(passes) - 1, math.ceil(len(passes) * 0.95) - 1)],
        "deliveries": made,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rules", default="100,1000,10000")
    args = parser.parse_args()
    rows = [measure(args.db, int(n), args.events) for n in args.rules.split(",")]
    floor = rows[0]["ms_per_event"]
    print(f"fan-out per event, {args.db}, {args.events} events in passes of {PASS}")
    print(f"{'rules':>7} {'ms/event':>9} {'pass p50':>9} {'pass p95':>9} {'× first':>8} "
          f"{'by rules':>10}")  # fmt: skip
    for r in rows:
        print(
            f"{r['rules']:>7,} {r['ms_per_event']:>9.2f} {r['p50']:>9.2f} {r['p95']:>9.2f} "
            f"{r['ms_per_event'] / floor:>8.2f} {r['deliveries']:>10,}"
        )


if __name__ == "__main__":
    main()
