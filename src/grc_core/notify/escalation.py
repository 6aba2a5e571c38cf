"""Escalation rules: conditions checked periodically, each record notified once per rule.

A sweep has two halves so that it never holds SQLite's write lock for long:
:func:`due_escalations` finds the records to escalate in a read-only transaction, and
:func:`escalate` escalates them, re-checking each one, in write transactions the caller keeps
short (``budget``).  :func:`sweep` does both in the caller's transaction.

**No chain reaction.**  A rule never escalates a record that its own output made (a To-do
the ``task`` channel created for it), nor one made from such a record: the record's
provenance (``Exchange.origin``, followed from record to record) is checked first.  Such a
record is marked as handled, so that it is not looked at again.  Any other loop is stopped
by the safety limit (:mod:`grc_core.notify.runaway`); parked rules are not swept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from grc_core.errors import GrcError
from grc_core.models import Delivery, EscalationMark, Event, Exchange, Rule
from grc_core.notify import messages
from grc_core.notify.facts import Facts
from grc_core.notify.fanout import insert_new, origin_rules, rule_recipients
from grc_core.notify.schedule import due
from grc_core.notify.subscriptions import DEFAULT_CHANNELS, get_preferences

log = logging.getLogger(__name__)

#: Records one sweep may escalate per rule; the rest wait for the next sweep.
SWEEP_LIMIT = 500


class Due(NamedTuple):
    """A record an escalation rule's condition holds for, not escalated yet."""

    rule_id: int
    exchange_id: int


def _rules(session: Session) -> list[Rule]:
    stmt = (
        select(Rule)
        .where(Rule.enabled.is_(True), Rule.escalation.is_(True), Rule.parked_at.is_(None))
        .order_by(Rule.id)
    )
    return list(session.scalars(stmt))


def _condition(session: Session, rule: Rule) -> Any:
    try:
        return messages.condition_of(session, rule)
    except Exception as exc:  # a rule broken by a later change must not stop the others
        log.warning("escalation rule %s skipped: %s", rule.name, exc)
        return None


def _not_marked(rule: Rule) -> Any:
    return ~exists(
        select(1).where(
            EscalationMark.rule_id == rule.id, EscalationMark.exchange_id == Exchange.id
        )
    )


def due_escalations(session: Session, *, now: datetime, limit: int = SWEEP_LIMIT) -> list[Due]:
    """What the enabled escalation rules call for now (only reads: run it read-only)."""
    found: list[Due] = []
    for rule in _rules(session):
        condition = _condition(session, rule)
        if condition is None:
            continue
        stmt = (
            select(Exchange.id)
            .where(condition.to_sql(now), _not_marked(rule))
            .order_by(Exchange.id)
            .limit(limit)
        )
        found += [Due(rule.id, ident) for ident in session.scalars(stmt)]
    return found


def escalate(
    session: Session,
    todo: Sequence[Due],
    *,
    now: datetime,
    budget: float | None = None,
) -> tuple[int, int]:
    """Escalate ``todo`` in order; return (items handled, records escalated).

    Each item is checked again in this transaction (the rule still enabled and not parked,
    the condition still true, the record not escalated by another worker meanwhile).  With
    ``budget`` (seconds), it stops after the item that spends it — at least one is handled —
    and the caller commits and calls again with the rest.
    """
    deadline = None if budget is None else time.monotonic() + budget
    rules: dict[int, Rule | None] = {}
    handled = escalated = 0
    for item in todo:
        handled += 1
        if item.rule_id not in rules:
            rule = session.get(Rule, item.rule_id)
            usable = (
                rule is not None and rule.enabled and rule.escalation and rule.parked_at is None
            )
            rules[item.rule_id] = rule if usable else None
        rule = rules[item.rule_id]
        condition = _condition(session, rule) if rule is not None else None
        if rule is not None and condition is not None:
            exchange = session.scalar(
                select(Exchange).where(
                    Exchange.id == item.exchange_id, condition.to_sql(now), _not_marked(rule)
                )
            )
            if exchange is not None:
                escalated += _escalate(session, rule, exchange, now)
        if deadline is not None and time.monotonic() >= deadline:
            break
    session.flush()
    return handled, escalated


def sweep(session: Session, *, now: datetime) -> int:
    """Check every enabled escalation rule in one transaction; return how many records were
    escalated.  (The worker splits the same work into short transactions.)"""
    return escalate(session, due_escalations(session, now=now), now=now)[1]


def _mark(session: Session, rule: Rule, exchange: Exchange, now: datetime) -> bool:
    # RETURNING says whether this sweep claimed the record (row counts are not reliable
    # across drivers for ON CONFLICT DO NOTHING).
    marks = EscalationMark.__table__
    claimed = session.connection().execute(
        insert_new(session, marks)
        .values(rule_id=rule.id, exchange_id=exchange.id, notified_at=now)
        .returning(marks.c.rule_id)
    )
    return claimed.first() is not None


def _escalate(session: Session, rule: Rule, exchange: Exchange, now: datetime) -> int:
    made_by = origin_rules(session, exchange)
    if not _mark(session, rule, exchange, now):  # another worker escalated it meanwhile
        return 0
    if rule.id in made_by or -1 in made_by:
        # The rule's own output (or made from it): marked, so that it is not looked at
        # again, and never escalated — else each task would beget the next.
        log.info("escalation rule %s skips exchange %s: made by its own output", rule.name,
                 exchange.id)  # fmt: skip
        return 0
    event = Event(
        id=None,
        kind="escalation",
        entity_type="exchange",
        entity_id=exchange.id,
        company_id=exchange.company_id,
        actor_id=None,
        changes={},
        occurred_at=now,
    )
    facts = Facts(
        event,
        exchange=exchange,
        company_id=exchange.company_id,
        opportunity_ids=[o.id for o in exchange.opportunities],
    )
    rows = []
    for user in rule_recipients(session, rule, facts):
        if not facts.visible_to(user):
            continue
        try:
            subject, body = messages.rule_message(session, rule, facts, user, now=now)
        except GrcError as exc:  # a template failing on these values: skip, tell the log
            log.warning("escalation rule %s not rendered for exchange %s: %s", rule.name,
                        exchange.id, exc)  # fmt: skip
            break
        due_at, digest = due(get_preferences(session, user.id), now)
        about = (
            facts.about()
            | {"rule": rule.name, "rule_id": rule.id}
            | ({"digest": digest} if digest else {})
        )
        for channel in rule.channels or list(DEFAULT_CHANNELS):
            rows.append(
                {
                    "dedupe_key": f"escalation:{rule.id}:{exchange.id}",
                    "rule_id": rule.id,
                    "user_id": user.id,
                    "channel": channel,
                    "status": "pending",
                    "due_at": due_at,
                    "attempts": 0,
                    "subject": subject,
                    "body": body,
                    "about": about,
                    "created_at": now,
                }
            )
    if rows:
        session.connection().execute(insert_new(session, Delivery.__table__), rows)
    return 1
