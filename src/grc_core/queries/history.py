"""Histories (timelines): a company's, an opportunity's, a user's, and global exchanges.

Every page is a keyset page — ``(start, id)`` below the cursor, newest first — read from
the timeline index (:mod:`grc_core.models.timeline`), so page 500 costs what page 1 costs
and the order stays stable while new exchanges arrive.  Every query applies the one
visibility predicate and accepts the same filters as listings.  Rows are plain read models
(:class:`TimelineEntry`), built from one query and one for assignees — no ORM objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import Session, aliased

from grc_core.errors import ValidationError
from grc_core.models import (
    Category,
    Company,
    Exchange,
    PicklistValue,
    Scope,
    User,
    exchange_assignees,
    exchange_timeline,
)
from grc_core.queries import cursors
from grc_core.queries.exchanges import ExchangeFilter, filter_conditions
from grc_core.visibility import visible_exchanges

MAX_PAGE = 200

_action = aliased(PicklistValue, name="action")
_status = aliased(PicklistValue, name="status")
_medium = aliased(PicklistValue, name="medium")
_author = aliased(User, name="author")


@dataclass(frozen=True)
class TimelineEntry:
    """One exchange as a history shows it."""

    id: int
    uuid: UUID
    start_at: datetime
    end_at: datetime
    subject: str
    details: str
    action: str
    status: str
    medium: str | None
    category: str | None
    private: bool
    author_id: int
    author: str
    company_id: int | None
    company: str | None
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """A page of history; ``next_cursor`` is ``None`` on the last page."""

    entries: list[TimelineEntry]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ENTRY_COLUMNS = (
    Exchange.id,
    Exchange.uuid,
    Exchange.start_at,
    Exchange.end_at,
    Exchange.subject,
    Exchange.details,
    _action.code,
    _status.code,
    _medium.code,
    Category.code,
    Exchange.private,
    Exchange.author_id,
    _author.display_name,
    Exchange.company_id,
    Company.name,
)


def entry_select(source: Any = Exchange, *extra: Any) -> Select[Any]:
    """The columns of :class:`TimelineEntry` read from ``source`` (a FROM clause holding
    ``exchanges``), and the joins they need."""
    return (
        select(*ENTRY_COLUMNS, *extra)
        .select_from(source)
        .join(_action, _action.id == Exchange.action_id)
        .join(_status, _status.id == Exchange.status_id)
        .join(_medium, _medium.id == Exchange.medium_id, isouter=True)
        .join(Category, Category.id == Exchange.category_id, isouter=True)
        .join(_author, _author.id == Exchange.author_id)
        .join(Company, Company.id == Exchange.company_id, isouter=True)
    )


def build_entries(session: Session, rows: Sequence[Any]) -> list[TimelineEntry]:
    """Turn rows of :func:`entry_select` into entries, with their assignees' logins."""
    if not rows:
        return []
    names: dict[int, list[str]] = defaultdict(list)
    assigned = (
        select(exchange_assignees.c.exchange_id, User.login)
        .join(User, User.id == exchange_assignees.c.user_id)
        .where(exchange_assignees.c.exchange_id.in_([r[0] for r in rows]))
        .order_by(User.login)
    )
    for exchange_id, login in session.execute(assigned):
        names[exchange_id].append(login)
    return [TimelineEntry(*row[: len(ENTRY_COLUMNS)], tuple(names[row[0]])) for row in rows]


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit}", field="limit")
    return limit


def _walk(
    session: Session,
    actor: User,
    stmt: Select[Any],
    order: tuple[Any, Any],
    conds: list[ColumnElement[bool]],
    query: str,
    limit: int,
    cursor: str | None,
) -> Page:
    start_col, id_col = order
    stmt = stmt.where(visible_exchanges(actor), *conds)
    if cursor is not None:
        position = cursors.decode(session, cursor, query)
        stmt = stmt.where(tuple_(start_col, id_col) < tuple_(position.start_at, position.id))
    stmt = stmt.order_by(start_col.desc(), id_col.desc()).limit(limit + 1)
    rows = session.execute(stmt).all()
    more = len(rows) > limit
    entries = build_entries(session, rows[:limit])
    next_cursor = None
    if more:
        last = entries[-1]
        next_cursor = cursors.encode(session, cursors.Position(last.start_at, last.id), query)
    return Page(entries, next_cursor)


def _scoped(
    session: Session,
    actor: User,
    scope: Scope,
    scope_id: int,
    flt: ExchangeFilter | None,
    limit: int,
    cursor: str | None,
) -> Page:
    t = exchange_timeline
    stmt = entry_select(t.join(Exchange, Exchange.id == t.c.exchange_id))
    stmt = stmt.where(t.c.scope == scope.value, t.c.scope_id == scope_id)
    query = cursors.fingerprint(scope.value, scope_id, actor.id, flt)
    conds = filter_conditions(session, flt or ExchangeFilter())
    order = (t.c.start_at, t.c.exchange_id)
    return _walk(session, actor, stmt, order, conds, query, _page_size(limit), cursor)


def company_history(
    session: Session,
    actor: User,
    company_id: int,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """A company's exchanges and those linked to its opportunities and contacts, each once."""
    return _scoped(session, actor, Scope.COMPANY, company_id, flt, limit, cursor)


def opportunity_history(
    session: Session,
    actor: User,
    opportunity_id: int,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The exchanges linked to an opportunity."""
    return _scoped(session, actor, Scope.OPPORTUNITY, opportunity_id, flt, limit, cursor)


def user_history(
    session: Session,
    actor: User,
    user_id: int,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The exchanges a user authored or is assigned (as ``actor`` may see them)."""
    return _scoped(session, actor, Scope.USER, user_id, flt, limit, cursor)


def global_history(
    session: Session,
    actor: User,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Global exchanges (linked to no company)."""
    stmt = entry_select(Exchange).where(Exchange.company_id.is_(None))
    query = cursors.fingerprint("global", actor.id, flt)
    conds = filter_conditions(session, flt or ExchangeFilter())
    order = (Exchange.start_at, Exchange.id)
    return _walk(session, actor, stmt, order, conds, query, _page_size(limit), cursor)
