"""Notification pipeline figures: fan-out cost per event, e-mail delivery throughput.

Usage (see ``make bench-notify``)::

    .venv/bin/python benchmarks/notifications.py [--db sqlite|postgresql] [--events 200]
        [--subscriptions 10000] [--rules 1000] [--emails 2000]

Fan-out: 10,000 subscriptions (500 users × 20 companies) and 1,000 rules spread over the
event kinds, each with a condition; the time per event is measured over ``--events``
exchanges created on subscribed companies.  Delivery: one worker sends ``--emails``
messages to a real SMTP server (aiosmtpd, in its own process, discarding mail) that answers
at once, then to one that takes 10 ms per message (``--smtp-delay``), through one SMTP
connection and through several (``--connections``, the channel's ``connections`` setting).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, select, text

from grc_core import Grc
from grc_core.models import Delivery, Subscription, User, rule_triggers
from grc_core.models.notification import Rule
from grc_core.notify.fanout import fan_out
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.plugins import Registry
from grc_core.services import companies, exchanges, users
from grc_core.timeutil import utcnow

KINDS = [
    "exchange.created", "exchange.updated", "exchange.completed", "exchange.deleted",
    "attachment.added", "company.status_changed", "opportunity.stage_changed",
]  # fmt: skip
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='grc-bench-notify-')}/bench.sqlite3"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "grc_bench_notify" WITH (FORCE)'))
        conn.execute(text('CREATE DATABASE "grc_bench_notify"'))
    admin.dispose()
    return "postgresql+psycopg://postgres@127.0.0.1:5432/grc_bench_notify"


def setup(grc: Grc, n_subs: int, n_rules: int, n_companies: int) -> tuple[int, list[int]]:
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        s.execute(
            insert(User),
            [{"login": f"u{i:04d}", "display_name": f"Commercial {i}", "active": True,
              "is_admin": False, "email": f"u{i}@example.fr"} for i in range(500)],
        )  # fmt: skip
        user_ids = list(s.scalars(select(User.id).where(User.login.like("u%"))))
        company_ids = [
            companies.create_company(s, admin, name=f"Société {i}", owner=user_ids[i % 500]).id
            for i in range(n_companies)
        ]
        # Spread evenly: each company is followed by n_subs / n_companies users.
        subs = [
            {"user_id": user_ids[(i * 7 + j) % len(user_ids)], "target_kind": "company",
             "target_id": c, "narrow": False, "created_at": utcnow()}
            for i, c in enumerate(company_ids)
            for j in range(n_subs // n_companies)
        ]  # fmt: skip
        s.execute(insert(Subscription), subs)
        rules = [
            {"name": f"règle {i}", "enabled": True, "escalation": False,
             "condition": f"exchange.action = 'meeting' and company.name = 'Société {i % 40}'",
             "recipients": {"company_owner": True}, "channels": ["inbox"],
             "subject_template": "", "body_template": "", "created_at": utcnow()}
            for i in range(n_rules)
        ]  # fmt: skip
        s.execute(insert(Rule), rules)
        rule_ids = list(s.scalars(select(Rule.id)))
        s.execute(
            insert(rule_triggers),
            [{"kind": KINDS[i % len(KINDS)], "rule_id": r} for i, r in enumerate(rule_ids)],
        )
        return admin.id, company_ids


def bench_fanout(grc: Grc, admin_id: int, company_ids: list[int], events: int) -> dict[str, float]:
    start = datetime(2026, 6, 1, 9, tzinfo=UTC)
    with grc.session() as s:
        admin = s.get(User, admin_id)
        for i in range(events):
            exchanges.create_exchange(
                s, admin, subject=f"RDV {i}", start=start, action="meeting",
                company_id=company_ids[i % len(company_ids)],
            )  # fmt: skip
    began = time.perf_counter()
    handled = 0
    while True:
        with grc.session() as s:
            n = fan_out(s, limit=50)
        if not n:
            break
        handled += n
    seconds = time.perf_counter() - began
    with grc.session(read_only=True) as s:
        made = s.scalar(select(text("count(*)")).select_from(Delivery))
    return {"events": handled, "ms_per_event": seconds * 1000 / handled, "deliveries": made}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: An SMTP server discarding mail after ``delay`` seconds per message (argv: port, delay).
SLOW_SINK = """
import asyncio, sys, time
from aiosmtpd.controller import Controller

class Slow:
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(sys.argv[2]))
        return "250 Message accepted"

Controller(Slow(), hostname="127.0.0.1", port=int(sys.argv[1])).start()
while True:
    time.sleep(3600)
"""


def bench_email(
    grc: Grc, emails: int, delay: float = 0.0, connections: int = 1
) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SLOW_SINK, str(port), str(delay)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        now = utcnow()
        with grc.session() as s:
            s.execute(text("DELETE FROM deliveries"))
            user = s.scalar(select(User.id).where(User.login == "u0000"))
            s.execute(
                insert(Delivery.__table__),
                [{"dedupe_key": f"bench:{i}", "user_id": user, "channel": "email",
                  "status": "pending", "due_at": now, "attempts": 0,
                  "subject": f"Relance {i}", "body": "Bonjour,\n\nMerci de votre retour.",
                  "html": "<p>Bonjour,</p><p>Merci de votre retour.</p>", "about": {},
                  "created_at": now} for i in range(emails)],
            )  # fmt: skip
        channel = Registry.load().notification_channel(
            "email", {"host": "127.0.0.1", "port": port, "tls": "none",
                      "from_address": "GRC <grc@example.fr>", "connections": connections},
        )  # fmt: skip
        worker = DeliveryWorker(grc.session, {"email": channel}, config=WorkerConfig(batch=100))
        began = time.perf_counter()
        stats = worker.drain(max_passes=10_000)
        seconds = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait()
    return {"sent": stats.sent, "per_second": stats.sent / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--companies", type=int, default=2_000, help="subscriptions spread over")
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument("--smtp-delay", type=float, default=0.010, help="seconds per message")
    parser.add_argument("--connections", type=int, default=16, help="with the slow server")
    args = parser.parse_args()
    with Grc.from_url(database(args.db)) as grc:
        grc.upgrade()
        admin_id, company_ids = setup(grc, args.subscriptions, args.rules, args.companies)
        fan = bench_fanout(grc, admin_id, company_ids, args.events)
        mail = bench_email(grc, args.emails)
        slow_one = bench_email(grc, args.emails, args.smtp_delay, connections=1)
        slow_many = bench_email(grc, args.emails, args.smtp_delay, args.connections)
    print(
        f"database: {args.db}; {args.subscriptions:,} subscriptions over {args.companies:,} "
        f"companies, {args.rules:,} rules"
    )
    print(f"fan-out: {fan['ms_per_event']:.1f} ms per event over {fan['events']:,} events "
          f"({fan['deliveries']:,} deliveries created)")  # fmt: skip
    print(f"e-mail: {mail['per_second']:,.0f} messages/s with one worker ({mail['sent']:,} sent)")
    ms = args.smtp_delay * 1000
    print(f"e-mail, server taking {ms:.0f} ms a message: {slow_one['per_second']:,.0f}/s through "
          f"one connection, {slow_many['per_second']:,.0f}/s through {args.connections} "
          f"({slow_many['sent']:,} sent)")  # fmt: skip


if __name__ == "__main__":
    main()
