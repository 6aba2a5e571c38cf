"""Writing audit events in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from grc_core.models import Event, EventKind, User


def json_safe(value: Any) -> Any:
    """Turn a domain value into a JSON value (ISO dates, strings for decimals and UUIDs)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs."""
    keys = list(before) + [k for k in after if k not in before]
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def record_event(
    session: Session,
    actor: User | None,
    kind: EventKind,
    *,
    entity_type: str,
    entity_id: int,
    company_id: int | None,
    changes: Mapping[str, list[Any]],
    audience: Mapping[str, Any] | None = None,
) -> Event:
    """Add one audit event to ``session``; it commits or rolls back with the change itself.

    :param audience: for an event about an exchange (its creation, update, completion,
        deletion, an attachment added to or deleted from it), who could see the exchange
        right after the event — :func:`grc_core.visibility.audience_of`; for a deletion, as
        it was when deleted.  Notifications and the audit trail judge the event on it.
    """
    event = Event(
        actor_id=actor.id if actor is not None else None,
        kind=kind.value,
        entity_type=entity_type,
        entity_id=entity_id,
        company_id=company_id,
        changes=json_safe(dict(changes)),
        audience=json_safe(dict(audience)) if audience is not None else None,
    )
    session.add(event)
    return event
