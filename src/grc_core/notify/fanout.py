"""Fan-out: from audit events to deliveries, one per event × recipient × channel.

Events are written by the services in the same transaction as the change.  Fan-out claims
events not yet handled, finds who must hear of each — subscribers of its scope (looked up
by scope, never scanned), and the rules triggered by its kind (looked up by kind) whose
condition holds — drops anyone who may not see the exchange, renders the messages, and
inserts the deliveries with their due time, all in one transaction that also marks the
events done.  The unique constraint (event, user, channel) makes a repeated fan-out
harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from grc_core.errors import GrcError
from grc_core.models import (
    Category,
    Company,
    Delivery,
    Event,
    EventKind,
    Exchange,
    Opportunity,
    Preferences,
    Rule,
    Subscription,
    TargetKind,
    User,
    rule_triggers,
)
from grc_core.notify import messages
from grc_core.notify.schedule import due
from grc_core.notify.subscriptions import DEFAULT_CHANNELS, channels_for, get_preferences
from grc_core.timeutil import utcnow
from grc_core.visibility import can_see, can_see_snapshot

log = logging.getLogger(__name__)


@dataclass
class Facts:
    """What an event is about, resolved once for all its recipients."""

    event: Event
    exchange: Exchange | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    company_id: int | None = None
    opportunity_ids: list[int] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    #: Mail-merge values that do not depend on the recipient (filled on first use).
    template_values: dict[str, Any] | None = None

    @property
    def exchange_id(self) -> int | None:
        if self.event.entity_type == "exchange":
            return self.event.entity_id
        value = self.event.changes.get("exchange_id")
        return value[1] if isinstance(value, list) else None

    def visible_to(self, user: User) -> bool:
        """The one visibility rule, on the exchange as it is now or as it was deleted."""
        if not user.active:
            return False
        if self.exchange is not None:
            return can_see(user, self.exchange)
        if self.snapshot:
            return can_see_snapshot(
                user,
                private=bool(self.snapshot.get("private")),
                author_id=int(self.snapshot.get("author_id") or 0),
                assignee_ids=set(self.snapshot.get("assignee_ids") or []),
            )
        return self.exchange_id is None  # not about an exchange: companies, opportunities

    def about(self) -> dict[str, Any]:
        return {
            "event_id": self.event.id,
            "kind": self.event.kind,
            "exchange_id": self.exchange_id,
            "company_id": self.company_id,
            "opportunity_ids": self.opportunity_ids,
        }


def _snapshot(event: Event) -> dict[str, Any]:
    """The exchange's values carried by its event (new values, or old ones on deletion)."""
    index = 0 if event.kind == EventKind.EXCHANGE_DELETED.value else 1
    return {k: v[index] for k, v in event.changes.items() if isinstance(v, list) and len(v) == 2}


def _last_state(session: Session, event: Event, exchange_id: int) -> dict[str, Any]:
    """What a deleted exchange was, from its deletion event's full snapshot.

    An update event only carries the fields it changed, and a creation event what the
    exchange was before later changes (it may have been made private since): every event
    about a deleted exchange is judged on its last state.  With no such state the snapshot
    stays empty and nobody is told (fail closed).
    """
    if event.kind == EventKind.EXCHANGE_DELETED.value:
        return _snapshot(event)
    deletion = session.scalar(
        select(Event).where(
            Event.entity_type == "exchange",
            Event.entity_id == exchange_id,
            Event.kind == EventKind.EXCHANGE_DELETED.value,
        )
    )
    return _snapshot(deletion) if deletion is not None else {}


def _category_chain(session: Session, category_id: int | None) -> list[int]:
    chain: list[int] = []
    while category_id is not None and category_id not in chain:
        chain.append(category_id)
        category_id = session.scalar(select(Category.parent_id).where(Category.id == category_id))
    return chain


def resolve(session: Session, event: Event) -> Facts:
    """Gather what fan-out needs to know about ``event``."""
    facts = Facts(event, company_id=event.company_id)
    if event.entity_type == "opportunity":
        facts.opportunity_ids = [event.entity_id]
    exchange_id = facts.exchange_id
    if exchange_id is not None:
        facts.exchange = session.get(Exchange, exchange_id)
        if facts.exchange is None:
            facts.snapshot = _last_state(session, event, exchange_id)
    if facts.exchange is not None:
        ex = facts.exchange
        facts.company_id = ex.company_id
        facts.opportunity_ids = [o.id for o in ex.opportunities]
        facts.category_ids = _category_chain(session, ex.category_id)
    elif facts.snapshot:
        facts.opportunity_ids = list(facts.snapshot.get("opportunity_ids") or [])
        code = facts.snapshot.get("category")
        if code:
            first = session.scalar(select(Category.id).where(Category.code == code))
            facts.category_ids = _category_chain(session, first)
    return facts


@dataclass
class Planned:
    """A delivery to insert."""

    user: User
    channel: str
    rule_id: int | None
    subject: str
    body: str
    html: str | None = None


def _subscribers(session: Session, facts: Facts) -> list[tuple[Subscription, User]]:
    scopes = []
    if facts.company_id is not None:
        scopes.append(
            (Subscription.target_kind == TargetKind.COMPANY.value)
            & (Subscription.target_id == facts.company_id)
        )
    if facts.opportunity_ids:
        scopes.append(
            (Subscription.target_kind == TargetKind.OPPORTUNITY.value)
            & Subscription.target_id.in_(facts.opportunity_ids)
        )
    if facts.category_ids:
        scopes.append(
            (Subscription.target_kind == TargetKind.CATEGORY.value)
            & Subscription.target_id.in_(facts.category_ids)
        )
    if not scopes:
        return []
    rows = session.execute(
        select(Subscription, User).join(User, User.id == Subscription.user_id).where(or_(*scopes))
    ).all()
    kind = facts.event.kind
    found = []
    for sub, user in rows:
        if sub.event_kinds is not None and kind not in sub.event_kinds:
            continue
        about_opportunity = bool(facts.opportunity_ids)
        if sub.target_kind == TargetKind.COMPANY.value and sub.narrow and about_opportunity:
            continue
        found.append((sub, user))
    return found


def _rules(session: Session, kind: str) -> list[Rule]:
    stmt = (
        select(Rule)
        .join(rule_triggers, rule_triggers.c.rule_id == Rule.id)
        .where(rule_triggers.c.kind == kind, Rule.enabled.is_(True), Rule.escalation.is_(False))
        .order_by(Rule.id)
    )
    return list(session.scalars(stmt))


def rule_recipients(session: Session, rule: Rule, facts: Facts) -> list[User]:
    """The users a rule names for this event (before the visibility check)."""
    spec = rule.recipients or {}
    ids: set[int] = set(spec.get("users") or [])
    ex, snap = facts.exchange, facts.snapshot
    if spec.get("assignees"):
        ids |= {u.id for u in ex.assignees} if ex else set(snap.get("assignee_ids") or [])
    if spec.get("author"):
        author = ex.author_id if ex else snap.get("author_id")
        if author:
            ids.add(int(author))
    if spec.get("company_owner") and facts.company_id is not None:
        owner = session.scalar(select(Company.owner_id).where(Company.id == facts.company_id))
        if owner:
            ids.add(owner)
    if spec.get("opportunity_owner") and facts.opportunity_ids:
        ids |= set(
            session.scalars(
                select(Opportunity.owner_id).where(Opportunity.id.in_(facts.opportunity_ids))
            )
        ) - {None}
    if spec.get("subscribers"):
        ids |= {user.id for _, user in _subscribers(session, facts)}
    if not ids:
        return []
    return list(session.scalars(select(User).where(User.id.in_(ids))))


def plan(session: Session, facts: Facts, *, now: datetime) -> list[Planned]:
    """Every delivery ``facts.event`` calls for (the actor is not told of their own act)."""
    planned: dict[tuple[int, str], Planned] = {}
    actor = facts.event.actor_id
    kind = facts.event.kind
    subscribed = _subscribers(session, facts)
    stored = preferences_of(session, [user.id for _, user in subscribed])

    def prefs(user_id: int) -> Preferences:
        return stored.get(user_id) or get_preferences(session, user_id)

    for sub, user in subscribed:
        if user.id == actor or not facts.visible_to(user):
            continue
        subject, body = messages.subscription_message(session, facts, user)
        for channel in sub.channels or channels_for(prefs(user.id), kind):
            planned.setdefault((user.id, channel), Planned(user, channel, None, subject, body))
    for rule in _rules(session, kind):
        try:
            if not messages.rule_matches(session, rule, facts, now=now):
                continue
        except Exception as exc:  # a broken rule must not block every other notification
            log.warning("rule %s skipped for event %s: %s", rule.name, facts.event.id, exc)
            continue
        for user in rule_recipients(session, rule, facts):
            if user.id == actor or not facts.visible_to(user):
                continue
            try:
                subject, body = messages.rule_message(session, rule, facts, user, now=now)
            except GrcError as exc:  # a template failing on these values: skip, tell the log
                log.warning("rule %s not rendered for event %s: %s", rule.name, facts.event.id, exc)
                break
            for channel in rule.channels or list(DEFAULT_CHANNELS):
                planned[(user.id, channel)] = Planned(user, channel, rule.id, subject, body)
    return list(planned.values())


def preferences_of(session: Session, user_ids: Iterable[int]) -> dict[int, Preferences]:
    """The stored preferences of many users in one query (users without any are absent)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {
        p.user_id: p
        for p in session.scalars(select(Preferences).where(Preferences.user_id.in_(ids)))
    }


def _insert(session: Session, facts: Facts, deliveries: Sequence[Planned], now: datetime) -> int:
    rows = []
    stored = preferences_of(session, [d.user.id for d in deliveries])
    timing: dict[int, tuple[datetime, str | None]] = {}
    for d in deliveries:
        if d.user.id not in timing:
            prefs = stored.get(d.user.id) or get_preferences(session, d.user.id)
            timing[d.user.id] = due(prefs, now)
        due_at, digest = timing[d.user.id]
        about = facts.about() | ({"digest": digest} if digest else {})
        rows.append(
            {
                "event_id": facts.event.id,
                "rule_id": d.rule_id,
                "user_id": d.user.id,
                "channel": d.channel,
                "status": "pending",
                "due_at": due_at,
                "attempts": 0,
                "subject": d.subject,
                "body": d.body,
                "html": d.html,
                "about": about,
                "created_at": now,
            }
        )
    if not rows:
        return 0
    session.connection().execute(insert_new(session, Delivery.__table__), rows)
    return len(rows)


def insert_new(session: Session, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING``: the unique constraints decide what is new."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def claim_events(session: Session, limit: int) -> Sequence[Event]:
    """Events not yet fanned out, locked for this transaction (others skip them)."""
    stmt = select(Event).where(Event.fanned_out.is_(False)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def fan_out(session: Session, *, limit: int = 200, now: datetime | None = None) -> int:
    """Turn up to ``limit`` pending events into deliveries; return how many events."""
    now = now or utcnow()
    events = claim_events(session, limit)
    for event in events:
        if event.kind != EventKind.EXCHANGES_IMPORTED.value:
            facts = resolve(session, event)
            _insert(session, facts, plan(session, facts, now=now), now)
    if events:
        session.execute(
            update(Event).where(Event.id.in_([e.id for e in events])).values(fanned_out=True)
        )
    session.flush()
    return len(events)
