"""Who may see an exchange: written once, used by every read path.

A shared exchange is visible to every active user.  A private one is visible to its author,
its assigned users and administrators.  :func:`visible_exchanges` is the SQL form (for lists,
histories, search and notification fan-out); :func:`can_see` is the same rule on a loaded
object (for a single record already in memory, and just before a notification is delivered).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true

from grc_core.models import Exchange, User, exchange_assignees


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
