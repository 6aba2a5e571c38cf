"""``grc notify``: the delivery workers, dead deliveries, and the audit events they read.

``run-once`` does everything that is due and exits (for cron, tests and the impatient);
``work`` loops until SIGTERM or Ctrl-C, which stop it after the current pass.  Both build
every registered channel from its configuration (a channel that is not configured is
reported in one line and its deliveries wait), fan out the pending events, sweep the
escalation rules and deliver.  Several workers may run at once, on one machine or several.
Workers need no acting user: they act for nobody, and re-check before sending that each
recipient may still see what the notification is about.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

import click
from sqlalchemy import select

from grc_cli.commands.exchanges import Decorator
from grc_cli.commands.rules import logins_by_id
from grc_cli.context import CliContext, close_channels, pass_cli
from grc_cli.output import (
    delivery_data,
    event_data,
    show_dead,
    show_events,
    stats_data,
    stats_summary,
)
from grc_cli.params import DURATION
from grc_core.models import Event
from grc_core.notify import worker as workers
from grc_core.notify.runaway import RunawayLimit
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.services.users import require_admin

_DEFAULTS = WorkerConfig()
#: Signals that stop ``grc notify work`` gracefully.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _seconds(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"


def worker_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The tuning of a worker (:class:`~grc_core.notify.worker.WorkerConfig`)."""
    decorators: tuple[Decorator, ...] = (
        click.option(
            "--max-attempts",
            type=click.IntRange(1, 100),
            default=_DEFAULTS.max_attempts,
            show_default=True,
            help="Attempts before a delivery is parked as dead.",
        ),
        click.option(
            "--batch",
            type=click.IntRange(1, 10_000),
            default=_DEFAULTS.batch,
            show_default=True,
            help="Deliveries claimed per pass.",
        ),
        click.option(
            "--lease",
            type=DURATION,
            default=_seconds(_DEFAULTS.lease),
            show_default=True,
            help="How long a claim holds without a heartbeat (a dead worker's deliveries "
            "are taken over after it).",
        ),
        click.option(
            "--backoff",
            type=DURATION,
            default=_seconds(_DEFAULTS.backoff_base),
            show_default=True,
            help="Wait before the first retry; it doubles at each attempt (with jitter).",
        ),
        click.option(
            "--rule-limit",
            type=click.IntRange(1, 1_000_000),
            default=_DEFAULTS.rule_limit.max_deliveries,
            show_default=True,
            help="Deliveries one rule may make within an hour; a rule making more is parked "
            "(it stops firing, administrators get an inbox alert; grc rules unpark NAME).",
        ),
        click.option(
            "--worker-id",
            metavar="NAME",
            help="The name leases are taken under (default: host:pid:thread).",
        ),
    )
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _worker(
    state: CliContext,
    max_attempts: int,
    batch: int,
    lease: timedelta,
    backoff: timedelta,
    worker_id: str | None,
    rule_limit: int = _DEFAULTS.rule_limit.max_deliveries,
) -> tuple[DeliveryWorker, dict[str, Any]]:
    grc = state.ready()
    channels = state.notification_channels()
    config = WorkerConfig(
        lease=max(lease, timedelta(seconds=3)),
        batch=batch,
        max_attempts=max_attempts,
        backoff_base=backoff,
        rule_limit=RunawayLimit(max_deliveries=rule_limit),
    )
    return DeliveryWorker(grc.session, channels, worker_id=worker_id, config=config), channels


@click.group("notify")
def notify_group() -> None:
    """Run the notification workers; list and retry dead deliveries; list events."""


@notify_group.command("run-once")
@worker_options
@pass_cli
def run_once(
    state: CliContext,
    max_attempts: int,
    batch: int,
    lease: timedelta,
    backoff: timedelta,
    worker_id: str | None,
    rule_limit: int,
) -> None:
    """Do everything that is due now, then exit: fan out the pending events, sweep the
    escalation rules, deliver (pass after pass until nothing is left)."""
    worker, channels = _worker(state, max_attempts, batch, lease, backoff, worker_id, rule_limit)
    try:
        stats = worker.drain()
    finally:
        close_channels(channels)
    state.out.emit_data(stats_data(stats))
    if not state.out.json_output:
        click.echo(stats_summary(stats))


@notify_group.command("work")
@click.option(
    "--idle",
    type=click.FloatRange(0.05, 3600),
    default=5.0,
    show_default=True,
    help="Seconds to wait after a pass that found nothing to do.",
)
@worker_options
@pass_cli
def work(
    state: CliContext,
    idle: float,
    max_attempts: int,
    batch: int,
    lease: timedelta,
    backoff: timedelta,
    worker_id: str | None,
    rule_limit: int,
) -> None:
    """Deliver notifications until stopped (a long-running worker, e.g. a systemd service).

    SIGTERM or Ctrl-C (SIGINT) stops it once the current pass is over — its claimed
    deliveries are sent and acknowledged first — and it prints what it did; a second signal
    stops it at once (deliveries it held are taken over by another worker when their lease
    expires). Exits with 0 when stopped by a signal.
    """
    worker, channels = _worker(state, max_attempts, batch, lease, backoff, worker_id, rule_limit)
    stop = threading.Event()
    received: list[str] = []
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handle(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        # Set from another thread: the handler runs in the main thread, which may hold the
        # event's (non-reentrant) lock at that very moment, inside ``stop.wait``.
        threading.Thread(target=stop.set, daemon=True).start()
        # A second signal is not gentle: SIGTERM kills, Ctrl-C interrupts.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handle)
    try:
        state.out.status(
            f"notification worker {worker.worker_id} started (channels: "
            f"{', '.join(sorted(channels))}; idle {idle:g}s); SIGTERM or Ctrl-C stops it "
            "after the current pass"
        )
        stats = worker.work(stop, idle=idle)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close_channels(channels)
    why = received[0] if received else "stop"
    state.out.status(f"{why} received: stopped after the current pass")
    state.out.emit_data({"worker": worker.worker_id, "signal": why, **stats_data(stats)})
    if not state.out.json_output:
        click.echo(f"worker {worker.worker_id} stopped: {stats_summary(stats)}")


@notify_group.command("dead")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most."
)
@pass_cli
def dead(state: CliContext, limit: int) -> None:
    """List the deliveries parked after their last attempt, newest first (administrators)."""
    with state.work(read_only=True) as work_:
        found = workers.list_dead(work_.session, work_.actor, limit=limit)
        logins = logins_by_id(work_.session, (d.user_id for d in found))
        rows = [delivery_data(d, logins.get(d.user_id, f"#{d.user_id}")) for d in found]
    state.out.emit(show_dead(state.out, rows))


@notify_group.command("retry")
@click.argument("ids", nargs=-1, type=int, required=True)
@pass_cli
def retry(state: CliContext, ids: tuple[int, ...]) -> None:
    """Put dead deliveries back in the queue, due now, with a fresh attempt count
    (administrators). The next worker pass sends them."""
    with state.work() as work_:
        count = workers.retry(work_.session, work_.actor, list(dict.fromkeys(ids)))
    state.out.status(
        f"{count} {'delivery' if count == 1 else 'deliveries'} back in the queue; "
        "grc notify run-once sends them now"
    )
    state.out.emit_data({"retried": sorted(set(ids))})


@notify_group.command("events")
@click.option("--pending", is_flag=True, help="Only the events not fanned out yet.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help="Only these kinds.")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=20, show_default=True, help="At most."
)
@pass_cli
def events(state: CliContext, pending: bool, kinds: tuple[str, ...], limit: int) -> None:
    """List the latest audit events, newest first (administrators): their ids are what
    grc rules test --event takes."""
    with state.work(read_only=True) as work_:
        require_admin(work_.actor, "listing audit events")
        stmt = select(Event).order_by(Event.id.desc()).limit(limit)
        if pending:
            stmt = stmt.where(Event.fanned_out.is_(False))
        if kinds:
            stmt = stmt.where(Event.kind.in_(kinds))
        found = list(work_.session.scalars(stmt))
        logins = logins_by_id(work_.session, (e.actor_id for e in found))
        rows = [event_data(e, logins.get(e.actor_id) if e.actor_id else None) for e in found]
    state.out.emit(show_events(state.out, rows))


def register(cli: click.Group) -> None:
    """Add ``grc notify`` to the root group."""
    cli.add_command(notify_group)
