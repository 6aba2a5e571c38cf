"""What a condition is evaluated against in Python: plain values, by field name.

A :class:`Context` holds one value per field (a tuple for to-many fields such as
``opportunity.stage``) and the evaluation time.  It is built from a live exchange
(:func:`exchange_context`), from the snapshot an exchange's creation or deletion event
carries (:func:`snapshot_context`, for an exchange that no longer exists), or from any event
(:func:`event_context`, which picks the right one).  Plain values only: a context can be
logged, compared in tests and handed to a template without reaching into the ORM.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.errors import ValidationError
from grc_core.models import (
    Company,
    CustomField,
    Event,
    Exchange,
    FieldEntity,
    FieldType,
    Opportunity,
    User,
)
from grc_core.rules.catalogue import FieldSpec
from grc_core.timeutil import require_aware, utcnow

#: The keys of an exchange snapshot (see ``grc_core.services.exchanges.snapshot``) that a
#: context needs; an event without them (an update's diff) cannot rebuild the exchange.
SNAPSHOT_KEYS = (
    "subject",
    "details",
    "start",
    "end",
    "action",
    "status",
    "medium",
    "category",
    "private",
    "author_id",
    "company_id",
    "assignee_ids",
    "opportunity_ids",
    "custom",
)


@dataclass(frozen=True)
class Context:
    """The values a condition is evaluated against.

    :param now: the evaluation time (timezone-aware): what ``now()`` means.
    :param values: field name → plain value (``str``, ``int``, ``Decimal``, ``bool``,
        ``date``, UTC ``datetime`` or ``None``); to-many fields map to tuples.  A field
        missing from the mapping is empty.
    :param exchange_id: the exchange described, when there is one (for messages).
    """

    now: datetime
    values: Mapping[str, Any] = field(default_factory=dict)
    exchange_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", require_aware(self.now, "now"))

    def values_of(self, spec: FieldSpec) -> tuple[Any, ...]:
        """The non-empty values of a field: ``()``, one value, or several (to-many)."""
        raw = self.values.get(spec.name)
        if spec.multi:
            return tuple(v for v in (raw or ()) if v is not None)
        return () if raw is None else (raw,)


def _event_values(session: Session, event: Event | None) -> dict[str, Any]:
    if event is None:
        return {}
    actor = session.get(User, event.actor_id) if event.actor_id is not None else None
    return {"event.kind": event.kind, "event.actor": actor.login if actor else None}


def _company_values(company: Company | None) -> dict[str, Any]:
    if company is None:
        return {"company.name": None, "company.status": None, "company.owner": None}
    return {
        "company.name": company.name,
        "company.status": company.status.value if company.status is not None else None,
        "company.owner": company.owner.login if company.owner is not None else None,
    }


def _opportunity_values(opportunities: list[Opportunity]) -> dict[str, tuple[Any, ...]]:
    return {
        "opportunity.title": tuple(o.title for o in opportunities),
        "opportunity.stage": tuple(o.stage.code for o in opportunities),
        "opportunity.amount": tuple(o.amount for o in opportunities),
        "opportunity.expected_close": tuple(o.expected_close for o in opportunities),
        "opportunity.owner": tuple(o.owner.login if o.owner else None for o in opportunities),
    }


def exchange_context(
    session: Session,
    exchange: Exchange,
    *,
    event: Event | None = None,
    now: datetime | None = None,
) -> Context:
    """The context of a stored exchange (and of the event that triggered the rule, if any).

    :param now: the evaluation time; the current time when omitted.
    """
    values: dict[str, Any] = {
        "exchange.subject": exchange.subject,
        "exchange.details": exchange.details,
        "exchange.action": exchange.action.code,
        "exchange.status": exchange.status.code,
        "exchange.medium": exchange.medium.code if exchange.medium else None,
        "exchange.category": exchange.category.code if exchange.category else None,
        "exchange.private": exchange.private,
        "exchange.start": exchange.start_at,
        "exchange.end": exchange.end_at,
        "exchange.created": exchange.created_at,
        "exchange.updated": exchange.updated_at,
        "exchange.author": exchange.author.login,
        "exchange.assignees": tuple(u.login for u in exchange.assignees),
        **_company_values(exchange.company),
        **_opportunity_values(list(exchange.opportunities)),
        **_event_values(session, event),
    }
    for fv in exchange.field_values:
        values[f"custom.{fv.field.code}"] = fv.value
    return Context(now or utcnow(), values, exchange.id)


def _typed(ftype: FieldType, raw: Any) -> Any:
    """A custom value from its JSON form in an event (ISO dates, decimals as strings)."""
    if raw is None:
        return None
    if ftype is FieldType.DECIMAL:
        return Decimal(str(raw))
    if ftype is FieldType.DATE:
        return date.fromisoformat(raw)
    if ftype is FieldType.INTEGER:
        return int(raw)
    return raw


def _moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw is not None else None


def snapshot_context(
    session: Session,
    event: Event,
    *,
    now: datetime | None = None,
) -> Context:
    """The context of the exchange an event's snapshot describes (creation or deletion).

    For a deletion the snapshot holds the exchange as it was (the old values); for a
    creation, as it was created.  Users, company and opportunities are looked up by the ids
    the snapshot keeps (one deleted since is empty).  ``exchange.created`` is the event's
    time for a creation and empty for a deletion; ``exchange.updated`` is empty.

    :raises ValidationError: the event is not about an exchange or carries no whole snapshot
        (an update carries only what changed: use :func:`exchange_context`).
    """
    if event.entity_type != "exchange":
        raise ValidationError(f"event {event.id} is about a {event.entity_type}, not an exchange")
    pairs = event.changes or {}
    missing = [key for key in SNAPSHOT_KEYS if key not in pairs]
    if missing:
        raise ValidationError(
            f"event {event.id} ({event.kind}) carries no whole snapshot of exchange "
            f"{event.entity_id} (missing {', '.join(missing)}); evaluate the stored exchange"
        )
    # [old, new]: a deletion's snapshot is the old side, a creation's the new side.
    side = 0 if all(pair[1] is None for pair in pairs.values()) else 1
    snap = {key: pair[side] for key, pair in pairs.items()}

    author = session.get(User, snap["author_id"])
    assignees = [session.get(User, i) for i in snap["assignee_ids"]]
    company = session.get(Company, snap["company_id"]) if snap["company_id"] else None
    opportunities = [o for o in (session.get(Opportunity, i) for i in snap["opportunity_ids"]) if o]
    values: dict[str, Any] = {
        "exchange.subject": snap["subject"],
        "exchange.details": snap["details"],
        "exchange.action": snap["action"],
        "exchange.status": snap["status"],
        "exchange.medium": snap["medium"],
        "exchange.category": snap["category"],
        "exchange.private": snap["private"],
        "exchange.start": _moment(snap["start"]),
        "exchange.end": _moment(snap["end"]),
        "exchange.created": event.occurred_at if side == 1 else None,
        "exchange.updated": None,
        "exchange.author": author.login if author else None,
        "exchange.assignees": tuple(u.login for u in assignees if u is not None),
        **_company_values(company),
        **_opportunity_values(opportunities),
        **_event_values(session, event),
    }
    custom = snap["custom"] or {}
    if custom:
        rows = session.execute(
            select(CustomField.code, CustomField.type).where(
                CustomField.entity == FieldEntity.EXCHANGE, CustomField.code.in_(list(custom))
            )
        )
        types = {code: ftype for code, ftype in rows}
        for code, raw in custom.items():
            if code in types:
                values[f"custom.{code}"] = _typed(FieldType(types[code]), raw)
    return Context(now or utcnow(), values, event.entity_id)


def event_context(session: Session, event: Event, *, now: datetime | None = None) -> Context:
    """The context of whatever an event is about, for evaluating an event rule.

    - an exchange event: the stored exchange as it is now, or, when it no longer exists
      (deleted), the snapshot the event carries;
    - an attachment event: the exchange, company or opportunity the attachment belongs to;
    - a company event: the company's fields (exchange and opportunity fields are empty);
    - an opportunity event: that opportunity (as the only linked one) and its company.

    ``event.kind`` and ``event.actor`` are set in every case.
    """
    when = now or utcnow()
    target_type, target_id = event.entity_type, event.entity_id
    if target_type == "attachment":
        for kind in ("exchange", "company", "opportunity"):
            pair = (event.changes or {}).get(f"{kind}_id")
            if pair is not None:
                target_type, target_id = kind, pair[1] if pair[1] is not None else pair[0]
                break
    if target_type == "exchange":
        exchange = session.get(Exchange, target_id)
        if exchange is not None:
            return exchange_context(session, exchange, event=event, now=when)
        if event.entity_type == "exchange":
            return snapshot_context(session, event, now=when)
        return Context(when, _event_values(session, event))
    values: dict[str, Any] = _event_values(session, event)
    if target_type == "company":
        values |= _company_values(session.get(Company, target_id))
    elif target_type == "opportunity":
        opportunity = session.get(Opportunity, target_id)
        if opportunity is not None:
            values |= _company_values(opportunity.company)
            values |= _opportunity_values([opportunity])
    return Context(when, values)
