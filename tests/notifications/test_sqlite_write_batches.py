"""SQLite only: background work never holds the database's one write lock for long.

A worker cuts its writes into short transactions (``WorkerConfig.write_budget``), so that a
user saving an exchange meanwhile waits a few milliseconds, never the busy timeout.  These
tests count the write transactions (a ``begin``/``commit`` listener on the engine) and save
exchanges from another thread while a large fan-out runs.

``pytest -s`` prints the figures measured (longest write transaction, longest save).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, insert, select

from grc_core import Grc
from grc_core.db import READ_ONLY
from grc_core.models import Delivery, EscalationMark, Event, InboxItem, Subscription, User
from grc_core.notify import rule_admin
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.services import companies, exchanges, users

from .conftest import T0

#: The issue's figures: one pass held the lock 26 s for 200 events × 500 subscribers.
EVENTS = 200
SUBSCRIBERS = 500


@dataclass
class WriteLog:
    """How long each write transaction held SQLite's write lock (BEGIN IMMEDIATE → end)."""

    spans: list[float] = field(default_factory=list)
    _open: dict[int, float] = field(default_factory=dict)

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def detach(self, engine: Engine) -> None:
        event.remove(engine, "begin", self._begin)
        event.remove(engine, "commit", self._end)
        event.remove(engine, "rollback", self._end)

    def _begin(self, conn: object) -> None:
        if not conn.get_execution_options().get(READ_ONLY):  # type: ignore[attr-defined]
            self._open[id(conn)] = time.perf_counter()

    def _end(self, conn: object) -> None:
        started = self._open.pop(id(conn), None)
        if started is not None:
            self.spans.append(time.perf_counter() - started)


@pytest.fixture
def grc(db_factory) -> Iterator[Grc]:
    facade = Grc.from_url(db_factory.url("sqlite"))
    facade.upgrade()
    yield facade
    facade.dispose()


def crowd(grc: Grc, subscribers: int) -> tuple[int, int]:
    """admin, bob, ACME followed by ``subscribers`` users (inbox), Globex followed by nobody."""
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        users.create_user(s, admin, login="bob", display_name="Bob")
        acme = companies.create_company(s, admin, name="ACME").id
        globex = companies.create_company(s, admin, name="Globex").id
        if not subscribers:
            return acme, globex
        # Rows written directly: the services would add an audit event per user.
        s.execute(
            insert(User),
            [{"login": f"u{i}", "display_name": f"U{i}"} for i in range(subscribers)],
        )
        ids = s.scalars(select(User.id).where(User.login.like("u%"))).all()
        s.execute(
            insert(Subscription),
            [
                {"user_id": i, "target_kind": "company", "target_id": acme, "channels": ["inbox"]}
                for i in ids
            ],
        )
    return acme, globex


def record(grc: Grc, company_id: int, n: int, **fields: object) -> None:
    with grc.acting_as("bob") as work:
        for i in range(n):
            values = {"subject": f"Visite {i}", "start": T0, "action": "meeting"} | fields
            exchanges.create_exchange(work.session, work.actor, company_id=company_id, **values)


def settle(grc: Grc) -> None:
    """Fan out the events of the setup (users, companies) so that only ours remain."""
    DeliveryWorker(grc.session, {}, config=WorkerConfig(fanout_batch=10_000)).fan_out()


def pending_events(grc: Grc, *where: object) -> int:
    with grc.session(read_only=True) as s:
        return s.scalar(select(func.count()).where(Event.fanned_out.is_(False), *where))


#: A colleague recording exchanges at Globex (followed by nobody) from another process, until
#: the stop file appears; prints how long each save took, or the error that stopped it.
SAVER = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path
from grc_core import Grc
from grc_core.services import exchanges
url, company, stop = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
grc = Grc.from_url(url)
times, error = [], None
while not stop.exists():
    started = time.perf_counter()
    try:
        with grc.acting_as("bob") as work:
            exchanges.create_exchange(
                work.session, work.actor, subject="Saved during the fan-out",
                start=datetime(2026, 5, 4, tzinfo=UTC), action="note", company_id=company,
            )
    except Exception as exc:  # "database is locked" would land here
        error = f"{type(exc).__name__}: {exc}"
        break
    times.append(time.perf_counter() - started)
    time.sleep(0.05)
print(json.dumps({"times": times, "error": error}))
"""


def test_a_large_fan_out_never_makes_a_saving_user_wait_for_the_lock(
    grc: Grc, tmp_path: Path
) -> None:
    acme, globex = crowd(grc, SUBSCRIBERS)
    settle(grc)
    record(grc, acme, EVENTS)
    writes = WriteLog()
    stop = tmp_path / "stop"
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(grc.engine.url), str(globex), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    writes.attach(grc.engine)
    worker = DeliveryWorker(grc.session, {}, config=WorkerConfig(fanout_batch=10 * EVENTS))
    started = time.perf_counter()
    try:
        fanned = worker.fan_out()
    finally:
        elapsed = time.perf_counter() - started
        writes.detach(grc.engine)
        stop.touch()
        out, _ = saver.communicate(timeout=120)
    assert saver.returncode == 0
    report = json.loads(out)
    saves = report["times"]

    assert report["error"] is None
    # (The saver's own events at Globex may arrive after the pass: they wait for the next.)
    assert fanned >= EVENTS and pending_events(grc, Event.company_id == acme) == 0
    with grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == EVENTS * SUBSCRIBERS
    # The pass was cut into many short transactions, and the user saved all along.
    # (How many depends on the machine's speed: each stops after its 50 ms budget.)
    assert len(writes.spans) >= 10
    assert len(saves) >= 10
    print(
        f"\nfan-out of {EVENTS} events x {SUBSCRIBERS} subscribers on SQLite: {elapsed:.1f} s in "
        f"{len(writes.spans)} write transactions: longest {max(writes.spans) * 1000:.0f} ms, "
        f"median {statistics.median(writes.spans) * 1000:.0f} ms; meanwhile another process "
        f"saved {len(saves)} exchanges: first (cold) {saves[0] * 1000:.0f} ms, then longest "
        f"{max(saves[1:]) * 1000:.0f} ms, 99th percentile "
        f"{statistics.quantiles(saves[1:], n=100)[98] * 1000:.0f} ms, "
        f"median {statistics.median(saves) * 1000:.0f} ms"
    )


def no_budget(grc: Grc, channels: dict[str, object] | None = None) -> DeliveryWorker:
    """A worker that commits after every step: the tests can count its transactions."""
    config = WorkerConfig(write_budget=timedelta(0), ack_batch=10, fanout_batch=10_000)
    return DeliveryWorker(grc.session, channels or {}, config=config)


def test_every_kind_of_background_write_is_split(grc: Grc) -> None:
    from grc_adapters.inbox.channel import InboxChannel

    acme, _ = crowd(grc, 60)
    settle(grc)
    record(grc, acme, 3)
    writes = WriteLog()
    writes.attach(grc.engine)
    try:
        stats = no_budget(grc, {"inbox": InboxChannel()}).drain()
    finally:
        writes.detach(grc.engine)
    assert stats.events == 3 and stats.sent == 180
    with grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 180
    # Fan-out: the rows and the "done" mark of each event; the inbox: one message per
    # transaction (a database channel acknowledges in the transaction that writes).
    assert len(writes.spans) >= 3 * 2 + 180


def test_escalations_and_acknowledgements_are_split(grc: Grc) -> None:
    from .conftest import Recording

    crowd(grc, 0)
    with grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, "Relance", escalation=True,
            condition="exchange.action = 'todo'", recipients={"author": True},
            channels=["email"],
        )  # fmt: skip
    record(grc, 1, 40, action="todo")
    settle(grc)
    channel = Recording()
    writes = WriteLog()
    writes.attach(grc.engine)
    try:
        stats = no_budget(grc, {"email": channel}).drain()
    finally:
        writes.detach(grc.engine)
    assert stats.escalated == 40 and len(channel.sent) == 40
    with grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(EscalationMark)) == 40
    # One escalation per transaction, acknowledgements 10 at a time, one claim.
    assert len(writes.spans) >= 40 + 4 + 1
