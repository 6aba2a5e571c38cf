"""Escalation rules: conditions checked periodically, each record notified once per rule."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from grc_core.models import Delivery, EscalationMark, Event, Exchange, Rule
from grc_core.notify import messages
from grc_core.notify.fanout import Facts, insert_new, rule_recipients
from grc_core.notify.schedule import due
from grc_core.notify.subscriptions import DEFAULT_CHANNELS, get_preferences

log = logging.getLogger(__name__)

#: Records one sweep may escalate per rule; the rest wait for the next sweep.
SWEEP_LIMIT = 500


def sweep(session: Session, *, now: datetime) -> int:
    """Check every enabled escalation rule; return how many records were escalated."""
    count = 0
    rules = session.scalars(
        select(Rule).where(Rule.enabled.is_(True), Rule.escalation.is_(True)).order_by(Rule.id)
    )
    for rule in rules:
        try:
            condition = messages.condition_of(session, rule)
        except Exception as exc:  # a rule broken by a later change must not stop the others
            log.warning("escalation rule %s skipped: %s", rule.name, exc)
            continue
        if condition is None:
            continue
        marked = exists(
            select(1).where(
                EscalationMark.rule_id == rule.id, EscalationMark.exchange_id == Exchange.id
            )
        )
        stmt = (
            select(Exchange)
            .where(condition.to_sql(now), ~marked)
            .order_by(Exchange.id)
            .limit(SWEEP_LIMIT)
        )
        for exchange in session.scalars(stmt).all():
            count += _escalate(session, rule, exchange, now)
    session.flush()
    return count


def _escalate(session: Session, rule: Rule, exchange: Exchange, now: datetime) -> int:
    # RETURNING says whether this sweep claimed the record (row counts are not reliable
    # across drivers for ON CONFLICT DO NOTHING).
    marks = EscalationMark.__table__
    claimed = session.connection().execute(
        insert_new(session, marks)
        .values(rule_id=rule.id, exchange_id=exchange.id, notified_at=now)
        .returning(marks.c.rule_id)
    )
    if claimed.first() is None:  # another worker escalated it meanwhile
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
        subject, body = messages.rule_message(session, rule, facts, user, now=now)
        due_at, digest = due(get_preferences(session, user.id), now)
        about = facts.about() | {"rule": rule.name} | ({"digest": digest} if digest else {})
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
