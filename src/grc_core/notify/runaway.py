"""The safety limit on notification rules: a rule that makes too many deliveries is parked.

A rule whose notifications create records that trigger it again (an escalation whose
tasks match its own condition, an "on exchange created" rule that creates tasks) would fill
the database.  The origin guards stop the loops we know of (:mod:`~grc_core.notify.escalation`
and the fan-out never fire a rule on a record its own output created); this limit stops any
other, whatever its cause.

When a rule has made more than :attr:`RunawayLimit.max_deliveries` deliveries within
:attr:`RunawayLimit.window` (by default **500 in one hour**), it is *parked*:

- ``Rule.parked_at`` and ``Rule.parked_reason`` are set, and fan-out and escalation sweeps
  skip the rule until it is resumed;
- its deliveries still pending are skipped (never sent), with the reason as their error;
- every active administrator finds an alert in their inbox, and the log gets a warning;
- the parking is an audit event (``rule.updated``, no actor).

An administrator resumes it with :func:`unpark` (``grc rules unpark NAME``), best after
fixing what made it run away; its count then starts again from the moment it was resumed.

The delivery workers check the rules that made deliveries in each pass
(:meth:`~grc_core.notify.worker.DeliveryWorker.run_once`); the limit is set through
:class:`~grc_core.notify.worker.WorkerConfig` (``grc notify run-once|work
--rule-limit N``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, ValidationError
from grc_core.models import Delivery, DeliveryStatus, Event, EventKind, InboxItem, Rule, User
from grc_core.services.events import record_event
from grc_core.services.users import require_admin
from grc_core.timeutil import utcnow

log = logging.getLogger(__name__)

#: Deliveries one rule may make within :data:`DEFAULT_WINDOW` before it is parked.
DEFAULT_MAX_DELIVERIES = 500
DEFAULT_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class RunawayLimit:
    """How many deliveries a rule may make within a sliding window.

    :param max_deliveries: more than this many within ``window`` parks the rule.
    :param window: the sliding window (default one hour).
    """

    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    window: timedelta = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValidationError(
                f"the rule delivery limit must be at least 1, not {self.max_deliveries}"
            )
        if self.window <= timedelta(0):
            raise ValidationError(f"the rule limit window must be positive, not {self.window}")


def is_parked(rule: Rule) -> bool:
    """Whether the safety limit parked ``rule`` (it then triggers nothing)."""
    return rule.parked_at is not None


def _resumed_at(session: Session, rule_id: int, since: datetime) -> datetime | None:
    """When an administrator last resumed the rule, if it was after ``since``."""
    events = session.scalars(
        select(Event)
        .where(
            Event.entity_type == "rule",
            Event.entity_id == rule_id,
            Event.kind == EventKind.RULE_UPDATED.value,
            Event.occurred_at >= since,
        )
        .order_by(Event.id.desc())
    )
    for event in events:
        parked = (event.changes or {}).get("parked_at")
        if isinstance(parked, list) and len(parked) == 2 and parked[1] is None:
            return event.occurred_at
    return None


def deliveries_in_window(
    session: Session,
    rule_id: int,
    *,
    now: datetime,
    limit: RunawayLimit,
    after_id: int | None = None,
) -> int:
    """The deliveries ``rule_id`` made in the window (counted from its resumption if later).

    :param after_id: a delivery id known to be older than the window: only later ones are
        looked at (the primary key bounds the scan; a worker passes the newest id it saw
        before the window began).
    """
    since = now - limit.window
    since = max(since, _resumed_at(session, rule_id, since) or since)
    stmt = select(func.count()).where(Delivery.rule_id == rule_id, Delivery.created_at >= since)
    if after_id is not None:
        stmt = stmt.where(Delivery.id > after_id)
    return int(session.scalar(stmt) or 0)


def over_limit(
    session: Session,
    rule_ids: Iterable[int],
    *,
    now: datetime,
    limit: RunawayLimit,
    after_id: int | None = None,
) -> dict[int, int]:
    """Which of ``rule_ids`` (not parked yet) are over the limit, with their counts
    (``after_id``: see :func:`deliveries_in_window`)."""
    ids = sorted(set(rule_ids))
    if not ids:
        return {}
    active = session.scalars(select(Rule.id).where(Rule.id.in_(ids), Rule.parked_at.is_(None)))
    counts = {
        i: deliveries_in_window(session, i, now=now, limit=limit, after_id=after_id) for i in active
    }
    return {i: n for i, n in counts.items() if n > limit.max_deliveries}


def park(session: Session, rule_id: int, reason: str, *, now: datetime | None = None) -> bool:
    """Park a rule: it stops firing, its pending deliveries are skipped, admins are told.

    Returns ``False`` if the rule was already parked (by another worker, say): the
    administrators are told once.
    """
    now = now or utcnow()
    reason = reason[:500]
    parked: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Rule)
        .where(Rule.id == rule_id, Rule.parked_at.is_(None))
        .values(parked_at=now, parked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if parked.rowcount != 1:
        return False
    rule = session.get(Rule, rule_id)
    if rule is not None:
        session.refresh(rule)
    name = rule.name if rule is not None else f"#{rule_id}"
    session.execute(
        update(Delivery)
        .where(Delivery.rule_id == rule_id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(
            status=DeliveryStatus.SKIPPED.value,
            last_error=f"rule {name!r} parked: {reason}"[:2000],
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    record_event(
        session,
        None,
        EventKind.RULE_UPDATED,
        entity_type="rule",
        entity_id=rule_id,
        company_id=None,
        changes={"parked_at": [None, now.isoformat()], "parked_reason": [None, reason]},
    ).occurred_at = now
    admins = session.scalars(select(User).where(User.is_admin.is_(True), User.active.is_(True)))
    for admin in admins:
        session.add(
            InboxItem(
                user_id=admin.id,
                title=f"[GRC] Règle « {name} » suspendue par la limite de sécurité"[:300],
                body=(
                    f"La règle de notification « {name} » a été suspendue : {reason}.\n"
                    "Elle ne déclenche plus rien et ses notifications en attente ne seront "
                    "pas envoyées. Corrigez sa condition ou ses canaux, puis reprenez-la avec "
                    f"`grc rules unpark {name}`."
                ),
                about={"rule_id": rule_id, "rule": name, "kind": "rule.parked"},
                created_at=now,
            )
        )
    session.flush()
    log.warning("notification rule %r parked by the safety limit: %s", name, reason)
    return True


def enforce(
    session: Session,
    rule_ids: Iterable[int],
    *,
    now: datetime | None = None,
    limit: RunawayLimit | None = None,
) -> list[int]:
    """Park those of ``rule_ids`` that went over ``limit``; return the ids parked now.

    The worker calls it with the rules that made deliveries in its pass.
    """
    now = now or utcnow()
    limit = limit or RunawayLimit()
    parked = []
    for rule_id, count in over_limit(session, rule_ids, now=now, limit=limit).items():
        if park(session, rule_id, reason(count, limit), now=now):
            parked.append(rule_id)
    return parked


def reason(count: int, limit: RunawayLimit) -> str:
    """Why a rule with ``count`` deliveries in the window is parked."""
    return (
        f"{count} deliveries within {_span(limit.window)} "
        f"(the limit is {limit.max_deliveries}; see grc notify work --rule-limit)"
    )


def unpark(session: Session, actor: User, ref: int | str, *, now: datetime | None = None) -> Rule:
    """Resume a parked rule (administrators only); its count starts again from now."""
    from grc_core.notify.rule_admin import get_rule

    require_admin(actor, "resuming a parked notification rule")
    rule = get_rule(session, ref)
    if rule.parked_at is None:
        raise Conflict(f"the rule {rule.name!r} is not parked; parked rules: `grc rules list`")
    now = now or utcnow()
    record_event(
        session,
        actor,
        EventKind.RULE_UPDATED,
        entity_type="rule",
        entity_id=rule.id,
        company_id=None,
        changes={
            "parked_at": [rule.parked_at.isoformat(), None],
            "parked_reason": [rule.parked_reason, None],
        },
    ).occurred_at = now
    rule.parked_at = None
    rule.parked_reason = None
    session.flush()
    return rule


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "one hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
