"""Writing audit events in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from grc_core import event_hooks
from grc_core.driver_statements import DriverWrite
from grc_core.models import Event, EventKind, User
from grc_core.timeutil import utcnow

#: Values that are already JSON values (exactly these types: a subclass, such as an enum's
#: member, goes through the checks).
_PLAIN = frozenset({str, int, bool, float, type(None)})

_EVENTS = cast(Table, Event.__table__)
#: Built once: the statement is the same for every event (its values are parameters); run
#: on the driver's cursor.
_INSERT_EVENT = DriverWrite(
    insert(_EVENTS).returning(_EVENTS.c.id),
    column_keys=[c.key for c in _EVENTS.columns if c.key != "id"],
)


def json_safe(value: Any) -> Any:
    """Turn a domain value into a JSON value (ISO dates, strings for decimals and UUIDs)."""
    if type(value) in _PLAIN:  # most values of a snapshot: answered before the checks below
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    # Plain items are kept without a call each: a snapshot's lists and maps hold mostly those.
    if isinstance(value, list | tuple | set | frozenset):
        items = [v if type(v) in _PLAIN else json_safe(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        return {
            k if type(k) is str else str(k): v if type(v) in _PLAIN else json_safe(v)
            for k, v in value.items()
        }
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


def write_event(
    session: Session,
    actor: User | None,
    kind: EventKind,
    *,
    entity_type: str,
    entity_id: int,
    company_id: int | None,
    changes: Mapping[str, list[Any]],
    audience: Mapping[str, Any] | None = None,
) -> int:
    """:func:`record_event` as one INSERT, sent now; returns the event's id.

    The row is the one the unit of work would write, without its flush (change tracking, the
    dependency sort, the flush hooks: most of a creation's last step).  No ``Event`` joins the
    session; the commit announcer (:mod:`grc_core.event_hooks`) is told of the event directly,
    so plugins hear of it after the commit as of any other, and not if it rolls back.
    """
    occurred_at = utcnow()
    # json_safe builds new containers: nothing the caller keeps can change what is announced.
    safe_changes: dict[str, Any] = json_safe(dict(changes))
    safe_audience: dict[str, Any] | None = (
        json_safe(dict(audience)) if audience is not None else None
    )
    actor_id = actor.id if actor is not None else None
    ident: int = _INSERT_EVENT.execute(
        session.connection(),
        {
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "kind": kind.value,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "company_id": company_id,
            "fanned_out": False,
            "changes": safe_changes,
            "audience": safe_audience,
        },
    )[0][0]
    event_hooks.written(
        session,
        event_hooks.CommittedEvent(
            id=ident,
            occurred_at=occurred_at,
            kind=kind.value,
            entity_type=entity_type,
            entity_id=entity_id,
            company_id=company_id,
            actor_id=actor_id,
            changes=MappingProxyType(safe_changes),
            audience=MappingProxyType(safe_audience) if safe_audience else None,
        ),
    )
    return ident
