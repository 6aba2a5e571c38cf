"""Who may see an exchange: written once, used by every read path.

A shared exchange is visible to every active user.  A private one is visible to its author,
its assigned users and administrators.  :func:`visible_exchanges` is the SQL form (for lists,
histories, search and notification fan-out); :func:`can_see` is the same rule on a loaded
object (for a single record already in memory, and just before a notification is delivered).

**Events: who could see them when they were current.**  Every event about an exchange
carries its *audience* (:func:`audience_of`): the exchange's uuid, privacy, author and
assignees right after the event (for a deletion: as the exchange was when deleted).  The
same rule on that snapshot is :func:`can_see_audience`.  An update's old values were
current *before* the event, when the audience may have been different (the exchange was
private, the reader not yet assigned): :func:`before_audience` rebuilds it from the event's
``[old, new]`` pairs, and :func:`may_read_old_values` says whether a reader may see them.
The notification fan-out and the audit trail both apply these functions, so that nobody
ever reads a value that they could not see while it was current.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.orm import Session

from grc_core.models import Exchange, User, exchange_assignees

#: The fields of an exchange that decide who may see it (they form its audience).
AUDIENCE_FIELDS = ("private", "author_id", "assignee_ids")


def visible_exchanges(actor: User) -> ColumnElement[bool]:
    """A ``WHERE`` predicate on :class:`Exchange` keeping what ``actor`` may see."""
    if not actor.active:
        return false()
    if actor.is_admin:
        return true()
    return visible_to_user(actor.id)


def visible_to_user(user_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """The predicate for an ordinary active user, whose id may be a bound parameter
    (prepared statements reused for every reader)."""
    assigned = exists(
        select(1)
        .select_from(exchange_assignees)
        .where(
            exchange_assignees.c.exchange_id == Exchange.id,
            exchange_assignees.c.user_id == user_id,
        )
    )
    return or_(Exchange.private.is_(False), Exchange.author_id == user_id, assigned)


def can_see_snapshot(actor: User, *, private: bool, author_id: int, assignee_ids: set[int]) -> bool:
    """The visibility rule on plain values (e.g. an event's snapshot of a deleted exchange)."""
    if not actor.active:
        return False
    if actor.is_admin or not private:
        return True
    return actor.id == author_id or actor.id in assignee_ids


def can_see(actor: User, exchange: Exchange) -> bool:
    """True when ``actor`` may see ``exchange`` (the object form of :func:`visible_exchanges`)."""
    return can_see_snapshot(
        actor,
        private=exchange.private,
        author_id=exchange.author_id,
        assignee_ids={u.id for u in exchange.assignees},
    )


def can_modify(actor: User, exchange: Exchange) -> bool:
    """Author, assignees and administrators may change an exchange; others may only read it."""
    if not actor.active:
        return False
    if actor.is_admin or actor.id == exchange.author_id:
        return True
    return any(u.id == actor.id for u in exchange.assignees)


# --- audiences: the visibility rule on the snapshots events carry ---------------------------


def audience_of(exchange: Exchange) -> dict[str, Any]:
    """Who may see ``exchange`` now, as plain JSON values (stored on its events).

    ``{"uuid": "…", "private": bool, "author_id": int, "assignee_ids": [int, …]}``.  The
    uuid names the record: an id may be reused (old SQLite databases), a uuid never is.
    """
    return {
        "uuid": str(exchange.uuid),
        "private": bool(exchange.private),
        "author_id": int(exchange.author_id),
        "assignee_ids": sorted(int(u.id) for u in exchange.assignees),
    }


def audience_of_record(session: Session, kind: str, ident: int) -> dict[str, Any] | None:
    """The audience of the exchange a record belongs to (an attachment's owner), when the
    owner is an exchange (``kind == "exchange"``); ``None`` otherwise."""
    if kind != "exchange":
        return None
    exchange = session.get(Exchange, ident)
    return audience_of(exchange) if exchange is not None else None


def audience_from_snapshot(snapshot: Mapping[str, Any]) -> dict[str, Any] | None:
    """The audience of an exchange snapshot (``grc_core.services.exchanges.snapshot``);
    ``None`` when the snapshot lacks what decides visibility (fail closed)."""
    if any(name not in snapshot for name in AUDIENCE_FIELDS):
        return None
    return {
        "uuid": None if snapshot.get("uuid") is None else str(snapshot["uuid"]),
        "private": bool(snapshot["private"]),
        "author_id": int(snapshot["author_id"] or 0),
        "assignee_ids": sorted(int(i) for i in snapshot["assignee_ids"] or []),
    }


def can_see_audience(actor: User, audience: Mapping[str, Any] | None) -> bool:
    """The visibility rule on an audience snapshot; ``None`` (unknown) is seen by nobody."""
    if audience is None:
        return False
    return can_see_snapshot(
        actor,
        private=bool(audience.get("private", True)),
        author_id=int(audience.get("author_id") or 0),
        assignee_ids={int(i) for i in audience.get("assignee_ids") or []},
    )


def before_audience(
    audience: Mapping[str, Any] | None, changes: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Who could see the exchange just *before* an event, from its audience (after the event)
    and its ``{field: [old, new]}`` changes.

    A creation has no "before" (``None``: nobody could read old values, there are none).
    A field the event did not change is as it is in the audience.
    """
    if audience is None:
        return None
    if all(
        isinstance(changes.get(name), list) and changes[name][0] is None for name in AUDIENCE_FIELDS
    ):
        return None  # a creation: every audience field went from nothing to something
    before = dict(audience)
    for name in AUDIENCE_FIELDS:
        pair = changes.get(name)
        if isinstance(pair, list) and len(pair) == 2:
            before[name] = pair[0]
    before["private"] = bool(before.get("private", True))
    before["assignee_ids"] = sorted(int(i) for i in before.get("assignee_ids") or [])
    return before


def may_read_old_values(
    actor: User, audience: Mapping[str, Any] | None, changes: Mapping[str, Any]
) -> bool:
    """Whether ``actor`` may read the old values of an event's changes: only if they could
    see the exchange before the event (and can see it right after it).  A creation has no
    old values: whoever may see the event may read it whole."""
    if not can_see_audience(actor, audience):
        return False
    before = before_audience(audience, changes)
    return before is None or can_see_audience(actor, before)
