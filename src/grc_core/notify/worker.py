"""Delivery workers: claim due deliveries under a lease, send them, acknowledge.

Several workers may run at once.  A claim marks deliveries with the worker's name and a
lease end; PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so workers never wait on each
other, SQLite serialises claims in its write transaction.  While a worker sends, a
heartbeat thread extends its leases; if the worker dies, its leases expire and another
worker claims the deliveries again.  Delivery is therefore at least once: a duplicate is
possible only for a message sent but not yet acknowledged when its worker died — and it
carries the same Message-ID, derived from the delivery id.

**Short write transactions.**  SQLite has one write lock for the whole database: a worker
that held it for a whole pass would make every user saving an exchange meanwhile wait (and
fail after the busy timeout).  Every write of a pass is therefore cut into transactions
that each stop once they have spent :attr:`WorkerConfig.write_budget` (50 ms by default):
fan-out commits every few events, escalations every few records, transactional channels
(inbox, task) every few messages, acknowledgements a small batch at a time.  What only
reads (finding due escalations, preparing messages for external channels, checking the
rule limit) runs in read-only transactions, which take no lock at all.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, NotFound
from grc_core.models import Delivery, DeliveryStatus, Event, User
from grc_core.notify import escalation, fanout, runaway
from grc_core.notify.runaway import RunawayLimit
from grc_core.services.users import require_admin
from grc_core.timeutil import utcnow

log = logging.getLogger(__name__)

SessionScope = Callable[..., AbstractContextManager[Session]]

#: SQLite fan-out: events planned per read-only transaction at most, and rows planned
#: (when one event alone has more, it is planned alone); rows inserted per statement.
PLAN_EVENTS = 50
PLAN_ROWS = 5000
INSERT_ROWS = 100


@dataclass(frozen=True)
class WorkerConfig:
    """Tuning of a worker; the defaults suit a small team's CRM."""

    lease: timedelta = timedelta(seconds=60)
    batch: int = 100
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=6)
    #: Events one pass fans out at most (in as many short transactions as it takes).
    fanout_batch: int = 200
    #: How long one background write transaction may run before it commits and the next
    #: one starts (it finishes the event, record or message in hand first).
    write_budget: timedelta = timedelta(milliseconds=50)
    #: Deliveries acknowledged per transaction.
    ack_batch: int = 50
    #: The safety limit that parks a runaway rule (:mod:`grc_core.notify.runaway`).
    rule_limit: RunawayLimit = field(default_factory=RunawayLimit)


@dataclass
class RunStats:
    """What one pass did."""

    events: int = 0
    escalated: int = 0
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    parked: int = 0

    def add(self, other: RunStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def backoff(attempts: int, config: WorkerConfig, rng: random.Random) -> timedelta:
    """Exponential back-off with full jitter: spread retries, never hammer a dead server."""
    ceiling = min(config.backoff_max, config.backoff_base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=rng.uniform(0.5, 1.0) * ceiling.total_seconds())


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class DeliveryWorker:
    """Fans out events, sweeps escalations, and delivers due notifications.

    :param scope: opens a transaction (``Grc.session``); called with ``read_only=True``
        for the read-only work.
    :param channels: the channel plugins by name.
    """

    def __init__(
        self,
        scope: SessionScope,
        channels: Mapping[str, Any],
        *,
        worker_id: str | None = None,
        config: WorkerConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        seed: int | None = None,
    ) -> None:
        self.scope = scope
        self.channels = channels
        self.worker_id = worker_id or default_worker_id()
        self.config = config or WorkerConfig()
        self.clock = clock
        self.rng = random.Random(seed)
        self._held: set[int] = set()
        self._lock = threading.Lock()
        #: The newest delivery id the rule limit has looked at.
        self._mark: int | None = None
        #: (time, newest delivery id) at each check: the newest id seen before the rule
        #: limit's window began bounds its counting scans.
        self._seen: list[tuple[datetime, int]] = []
        self._dialect_name: str | None = None

    # --- one pass ---------------------------------------------------------------------------

    def run_once(self) -> RunStats:
        """Fan out pending events, sweep escalations, deliver what is due (one batch)."""
        stats = RunStats()
        if self._mark is None:
            self._mark = self._newest_delivery()
        stats.events = self.fan_out()
        stats.escalated = self.sweep()
        stats.parked = self.enforce_rule_limit()
        claimed = self.claim()
        stats.claimed = len(claimed)
        if claimed:
            with self.heartbeat():
                stats.add(self.deliver(claimed))
        return stats

    def drain(self, max_passes: int = 1000) -> RunStats:
        """Run passes until nothing is left to do now (tests, ``grc notify run-once``)."""
        total = RunStats()
        for _ in range(max_passes):
            stats = self.run_once()
            total.add(stats)
            if not (stats.events or stats.claimed or stats.escalated):
                break
        return total

    def work(self, stop: threading.Event, *, idle: float = 1.0) -> RunStats:
        """Loop until ``stop`` is set (SIGTERM sets it: the current batch finishes first)."""
        total = RunStats()
        while not stop.is_set():
            try:
                stats = self.run_once()
            except Exception:  # the loop survives a bad pass; the next pass retries
                log.exception("notification worker pass failed")
                stats = RunStats()
            total.add(stats)
            if not (stats.events or stats.claimed):
                stop.wait(idle)
        return total

    # --- fan-out and escalations, in short transactions ----------------------------------------

    @property
    def _budget(self) -> float:
        return self.config.write_budget.total_seconds()

    def fan_out(self) -> int:
        """Fan out up to ``fanout_batch`` events, committing whenever the budget is spent."""
        if self._dialect() == "sqlite":
            return self._fan_out_planned()
        # PostgreSQL locks rows, not the database: one transaction per event or so, each
        # event claimed with SKIP LOCKED so that concurrent workers share the events.
        done, more = 0, True
        while more and done < self.config.fanout_batch:
            with self.scope() as session:
                deadline = time.monotonic() + self._budget
                while done < self.config.fanout_batch:
                    # One event per call: each is claimed (PostgreSQL: locked, others skip
                    # it), fanned out and marked done before the clock is looked at.
                    if not fanout.fan_out(session, limit=1, now=self.clock()):
                        more = False
                        break
                    done += 1
                    if time.monotonic() >= deadline:
                        break
        return done

    def _dialect(self) -> str:
        if self._dialect_name is None:
            with self.scope(read_only=True) as session:
                self._dialect_name = session.get_bind().dialect.name
        return self._dialect_name

    def _fan_out_planned(self) -> int:
        """SQLite: plan in a read-only transaction (no lock: rendering the messages of an
        event followed by hundreds of people takes longer than a write may hold the lock),
        then insert the rows in short write transactions.

        An event is marked done in the transaction that inserts its last rows.  If the
        worker dies in between, the event is planned again and the unique constraint
        (event, user, channel) keeps the rows already inserted from being inserted twice;
        another worker planning the same event meanwhile is harmless for the same reason.
        What changes between planning and inserting is judged again before sending
        (:func:`still_visible`).
        """
        done = 0
        while done < self.config.fanout_batch:
            now = self.clock()
            planned: list[tuple[int, list[dict[str, Any]]]] = []
            with self.scope(read_only=True) as session:
                stmt = (
                    select(Event)
                    .where(Event.fanned_out.is_(False))
                    .order_by(Event.id)
                    .limit(min(PLAN_EVENTS, self.config.fanout_batch - done))
                )
                rows = 0
                for event in session.scalars(stmt).all():
                    planned.append((event.id, fanout.delivery_rows(session, event, now=now)))
                    rows += len(planned[-1][1])
                    if rows >= PLAN_ROWS:
                        break
            if not planned:
                break
            self._insert_planned(planned)
            done += len(planned)
        return done

    def _insert_planned(self, planned: Sequence[tuple[int, list[dict[str, Any]]]]) -> None:
        steps: list[tuple[list[dict[str, Any]], int | None]] = []
        for event_id, rows in planned:
            steps += [(rows[i : i + INSERT_ROWS], None) for i in range(0, len(rows), INSERT_ROWS)]
            steps.append(([], event_id))
        steps.reverse()  # popped from the end, in order
        while steps:
            with self.scope() as session:
                deadline = time.monotonic() + self._budget
                while steps:
                    batch, fanned_out = steps.pop()
                    if batch:
                        session.connection().execute(
                            fanout.insert_new(session, Delivery.__table__), batch
                        )
                    if fanned_out is not None:
                        session.execute(
                            update(Event).where(Event.id == fanned_out).values(fanned_out=True)
                        )
                    if time.monotonic() >= deadline:
                        break

    def sweep(self) -> int:
        """Find due escalations (read-only), then escalate them in short transactions."""
        now = self.clock()
        with self.scope(read_only=True) as session:
            todo = escalation.due_escalations(session, now=now)
        escalated = 0
        while todo:
            with self.scope() as session:
                handled, count = escalation.escalate(session, todo, now=now, budget=self._budget)
            escalated += count
            todo = todo[handled:]
        return escalated

    def _newest_delivery(self) -> int:
        with self.scope(read_only=True) as session:
            return int(session.scalar(select(func.max(Delivery.id))) or 0)

    def enforce_rule_limit(self) -> int:
        """Park the rules that went over the limit with the deliveries made since the last
        check (by this worker or another); return how many were parked."""
        now = self.clock()
        limit = self.config.rule_limit
        with self.scope(read_only=True) as session:
            mark = self._mark or 0
            newest = int(session.scalar(select(func.max(Delivery.id))) or 0)
            # NULL is left out by the query; the test narrows the column's type.
            rule_ids = [
                rule_id
                for rule_id in session.scalars(
                    select(Delivery.rule_id)
                    .where(Delivery.id > mark, Delivery.id <= newest, Delivery.rule_id.is_not(None))
                    .distinct()
                )
                if rule_id is not None
            ]
            since = now - limit.window
            before = [ident for at, ident in self._seen if at < since]
            after_id = max(before) if before else None
            over = runaway.over_limit(session, rule_ids, now=now, limit=limit, after_id=after_id)
        self._mark = max(mark, newest)
        # Keep the newest sample older than the window, and those within it.
        self._seen = [s for s in self._seen if s[0] >= since or s[1] == after_id]
        if not self._seen or now - self._seen[-1][0] >= limit.window / 60:
            self._seen.append((now, newest))
        parked = 0
        for rule_id, count in over.items():
            with self.scope() as session:
                parked += runaway.park(session, rule_id, runaway.reason(count, limit), now=now)
        return parked

    # --- claiming ---------------------------------------------------------------------------

    def claim(self) -> list[int]:
        """Lease up to a batch of due deliveries to this worker."""
        now = self.clock()
        with self.scope() as session:
            stmt = (
                select(Delivery.id)
                .where(
                    Delivery.status == DeliveryStatus.PENDING.value,
                    Delivery.due_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(self.config.batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list(session.scalars(stmt))
            if ids:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(ids))
                    .values(lease_owner=self.worker_id, lease_until=now + self.config.lease)
                )
        with self._lock:
            self._held |= set(ids)
        return ids

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Extend this worker's leases every third of a lease while the block runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.config.lease.total_seconds() / 3):
                self.renew()

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def renew(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held:
            return
        with self.scope() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(held), Delivery.lease_owner == self.worker_id)
                .values(lease_until=self.clock() + self.config.lease)
            )

    # --- delivering -------------------------------------------------------------------------

    def deliver(self, ids: Sequence[int]) -> RunStats:
        stats = RunStats()
        by_channel: dict[str, list[int]] = defaultdict(list)
        with self.scope(read_only=True) as session:
            for ident, channel in session.execute(
                select(Delivery.id, Delivery.channel).where(Delivery.id.in_(ids))
            ):
                by_channel[channel].append(ident)
        for name, group in by_channel.items():
            stats.add(self._deliver_channel(name, group))
        with self._lock:
            self._held -= set(ids)
        return stats

    def _deliver_channel(self, name: str, ids: list[int]) -> RunStats:
        channel = self.channels.get(name)
        if channel is None:
            return self._acknowledge(
                # Retried, not parked: the channel may be configured or installed meanwhile.
                {i: _Outcome(False, f"no notification channel named {name!r}", True) for i in ids}
            )
        if getattr(channel, "transactional", False):
            return self._deliver_in_transactions(name, channel, ids)
        # An external channel: messages are prepared in a read-only transaction (no lock is
        # held while the server answers), then acknowledged in short write transactions.
        with self.scope(read_only=True) as session:
            outcomes = _send(session, name, channel, ids)
        return self._acknowledge(outcomes)

    def _deliver_in_transactions(self, name: str, channel: Any, ids: list[int]) -> RunStats:
        """A database channel writes and acknowledges in the same transaction (exactly
        once); a transaction takes units (one message, or one user's whole digest) until the
        budget is spent."""
        stats = RunStats()
        units = self._units(ids)
        while units:
            with self.scope() as session:
                deadline = time.monotonic() + self._budget
                outcomes: dict[int, _Outcome] = {}
                while units:
                    outcomes |= _send(session, name, channel, units.pop(0))
                    if time.monotonic() >= deadline:
                        break
                stats.add(self._acknowledge(outcomes, session))
        return stats

    def _units(self, ids: Sequence[int]) -> list[list[int]]:
        """The deliveries grouped as they are sent: a digest's members stay together."""
        units: dict[Any, list[int]] = {}
        with self.scope(read_only=True) as session:
            rows = session.execute(
                select(Delivery.id, Delivery.user_id, Delivery.about)
                .where(Delivery.id.in_(ids))
                .order_by(Delivery.id)
            )
            for ident, user_id, about in rows:
                digest = (about or {}).get("digest")
                units.setdefault((user_id, digest) if digest else ident, []).append(ident)
        return list(units.values())

    def _acknowledge(
        self, outcomes: Mapping[int, _Outcome], session: Session | None = None
    ) -> RunStats:
        if session is None:
            stats = RunStats()
            items = list(outcomes.items())
            step = max(self.config.ack_batch, 1)
            for start in range(0, len(items), step):
                with self.scope() as own:
                    stats.add(self._acknowledge(dict(items[start : start + step]), own))
            return stats
        stats = RunStats()
        now = self.clock()
        rows = {
            d.id: d
            for d in session.scalars(select(Delivery).where(Delivery.id.in_(list(outcomes))))
        }
        for ident, outcome in outcomes.items():
            delivery = rows.get(ident)
            if delivery is None or delivery.status != DeliveryStatus.PENDING.value:
                continue
            delivery.lease_owner = delivery.lease_until = None
            if outcome.skipped:
                delivery.status = DeliveryStatus.SKIPPED.value
                stats.skipped += 1
            elif outcome.ok:
                delivery.status = DeliveryStatus.SENT.value
                delivery.sent_at = now
                delivery.message_id = outcome.message_id
                delivery.attempts += 1
                stats.sent += 1
            else:
                delivery.attempts += 1
                delivery.last_error = (outcome.error or "unknown error")[:2000]
                if outcome.retryable and delivery.attempts < self.config.max_attempts:
                    delivery.due_at = now + backoff(delivery.attempts, self.config, self.rng)
                    stats.retried += 1
                else:
                    delivery.status = DeliveryStatus.DEAD.value
                    stats.dead += 1
        session.flush()
        return stats


def _send(session: Session, name: str, channel: Any, ids: Sequence[int]) -> dict[int, _Outcome]:
    """Prepare and send the messages of ``ids`` through ``channel``; the outcome of each."""
    groups, skipped = _prepare(session, ids)
    messages = [group.message for group in groups]
    outcomes: dict[int, _Outcome] = {i: _Outcome.skip() for i in skipped}
    try:
        results = channel.send(session, messages) if messages else []
    except Exception as exc:  # a channel bug or outage: every message retried later
        results = [None] * len(messages)
        error = f"{type(exc).__name__}: {exc}"
        log.warning("channel %s failed: %s", name, error)
        for group in groups:
            for member in group.members:
                outcomes[member] = _Outcome(False, error, True)
    for group, result in zip(groups, results, strict=True):
        if result is None:
            continue
        for member in group.members:
            outcomes[member] = _Outcome(
                result.ok, result.error, result.retryable, result.message_id
            )
    return outcomes


@dataclass
class _Outcome:
    ok: bool
    error: str | None = None
    retryable: bool = True
    message_id: str | None = None
    skipped: bool = False

    @classmethod
    def skip(cls) -> _Outcome:
        return cls(False, skipped=True)


@dataclass
class _Group:
    message: Any
    members: list[int] = field(default_factory=list)


def _recipient(user: User) -> Any:
    from grc_core.notify.channels import Recipient

    return Recipient(
        user_id=user.id,
        login=user.login,
        name=user.display_name,
        email=user.email,
        phone=user.phone,
        timezone="Europe/Paris",
    )


def still_visible(session: Session, delivery: Delivery, user: User) -> bool:
    """Re-check, just before sending, that the recipient may still see what it is about
    (digests: each member; see :func:`grc_core.notify.fanout.still_visible`)."""
    return fanout.still_visible(session, delivery, user)


def _prepare(session: Session, ids: Sequence[int]) -> tuple[list[_Group], list[int]]:
    """Messages for the claimed deliveries (digests merged); ids no longer allowed."""
    from grc_core.notify.channels import OutgoingMessage, digest_about

    deliveries = list(
        session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id))
    )
    users = {
        u.id: u
        for u in session.scalars(select(User).where(User.id.in_({d.user_id for d in deliveries})))
    }
    skipped: list[int] = []
    singles: list[_Group] = []
    digests: dict[tuple[int, str], list[Delivery]] = defaultdict(list)
    for d in deliveries:
        user = users[d.user_id]
        if not still_visible(session, d, user):
            skipped.append(d.id)
            continue
        digest = (d.about or {}).get("digest")
        if digest:
            digests[(d.user_id, digest)].append(d)
            continue
        message = OutgoingMessage(
            delivery_id=d.id,
            recipient=_recipient(user),
            subject=d.subject,
            text=d.body,
            html=d.html,
            about=dict(d.about or {}),
        )
        singles.append(_Group(message, [d.id]))
    for (user_id, digest), members in digests.items():
        first = members[0]
        text = "\n\n———\n\n".join(f"{m.subject}\n{m.body}" for m in members)
        message = OutgoingMessage(
            delivery_id=first.id,
            recipient=_recipient(users[user_id]),
            subject=f"[GRC] Récapitulatif : {len(members)} notification(s)",
            text=text,
            html=None,
            about=digest_about(digest, [(m.id, dict(m.about or {})) for m in members]),
        )
        singles.append(_Group(message, [m.id for m in members]))
    return singles, skipped


# --- administration --------------------------------------------------------------------------


def list_dead(session: Session, actor: User, limit: int = 100) -> list[Delivery]:
    """Deliveries parked after too many failures, newest first."""
    require_admin(actor, "listing dead deliveries")
    stmt = (
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.DEAD.value)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def retry(session: Session, actor: User, ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Put dead deliveries back in the queue, due now, with a fresh attempt count."""
    require_admin(actor, "retrying deliveries")
    found = list(session.scalars(select(Delivery).where(Delivery.id.in_(list(ids)))))
    missing = set(ids) - {d.id for d in found}
    if missing:
        raise NotFound(f"no delivery {', '.join(map(str, sorted(missing)))}")
    not_dead = [d.id for d in found if d.status != DeliveryStatus.DEAD.value]
    if not_dead:
        raise Conflict(f"only dead deliveries can be retried: {not_dead} are not")
    for d in found:
        d.status = DeliveryStatus.PENDING.value
        d.attempts = 0
        d.due_at = now or utcnow()
        d.lease_owner = d.lease_until = None
    session.flush()
    return len(found)
