"""Histories (timelines): a company's, an opportunity's, a user's, and global exchanges.

Every page is a keyset page — ``(start, id)`` below the cursor, newest first — read from
the timeline index (:mod:`grc_core.models.timeline`), so page 500 costs what page 1 costs
and the order stays stable while new exchanges arrive.  Every query applies the one
visibility predicate and accepts the same filters as listings.  Rows are plain read models
(:class:`TimelineEntry`), built from one query and one for assignees — no ORM objects.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    Alias,
    ColumnElement,
    FromClause,
    Integer,
    Select,
    any_,
    bindparam,
    exists,
    false,
    func,
    select,
    true,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased

from grc_core.driver_statements import DriverRead
from grc_core.errors import ValidationError
from grc_core.models import (
    Category,
    Company,
    CustomField,
    Exchange,
    ExchangeFieldValue,
    FieldEntity,
    FieldType,
    PicklistKind,
    PicklistValue,
    Scope,
    User,
    UTCDateTime,
    exchange_assignees,
    exchange_timeline,
    exchange_timeline_choices,
)
from grc_core.models.base import ReadUuid
from grc_core.models.timeline import GLOBAL_SCOPE, GLOBAL_SCOPE_ID
from grc_core.queries import cursors
from grc_core.queries.exchanges import ExchangeFilter, FieldCondition, filter_conditions
from grc_core.services import categories, custom_fields
from grc_core.timeutil import require_aware
from grc_core.visibility import visible_to_user

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


#: The fields of :class:`TimelineEntry` a row's first columns hold, in order (assignees apart).
_COLUMN_FIELDS = tuple(f.name for f in fields(TimelineEntry) if f.name != "assignees")
_new_entry = functools.partial(object.__new__, TimelineEntry)


def _entry_from(row: Sequence[Any], assignees: tuple[str, ...]) -> TimelineEntry:
    """An entry of the first columns of ``row`` (in :data:`_COLUMN_FIELDS` order; any
    further ones are ignored) and ``assignees``.

    Its fields are set in one dictionary update rather than through the frozen dataclass's
    ``__init__``, which sets each of sixteen fields with ``object.__setattr__``: a third of
    the time per entry, and a history page builds up to 200 of them.  It has no
    ``__post_init__`` to skip; equality, hashing and ``repr`` read the same fields.
    """
    entry: TimelineEntry = _new_entry()
    state = entry.__dict__
    state.update(zip(_COLUMN_FIELDS, row, strict=False))
    state["assignees"] = assignees
    return entry


@dataclass(frozen=True)
class Page:
    """A page of history; ``next_cursor`` is ``None`` on the last page."""

    entries: list[TimelineEntry]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ENTRY_COLUMNS = (
    Exchange.id,
    type_coerce(Exchange.uuid, ReadUuid()),
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


def entry_select(source: Any = Exchange, *extra: Any) -> Select[*tuple[Any, ...]]:
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


_ASSIGNED = (
    select(exchange_assignees.c.exchange_id, User.login)
    .join(User, User.id == exchange_assignees.c.user_id)
    .where(exchange_assignees.c.exchange_id.in_(bindparam("ids", expanding=True)))
    .order_by(User.login)
)

# PostgreSQL: one array parameter, so that every page size shares one statement text (an
# expanded IN list is a new statement, parsed and planned anew, for each number of rows).
_ASSIGNED_PG = (
    select(exchange_assignees.c.exchange_id, User.login)
    .join(User, User.id == exchange_assignees.c.user_id)
    .where(exchange_assignees.c.exchange_id == any_(bindparam("ids", type_=ARRAY(Integer))))
    .order_by(User.login)
)


def build_entries(session: Session, rows: Sequence[Any]) -> list[TimelineEntry]:
    """Turn rows of :func:`entry_select` into entries, with their assignees' logins."""
    if not rows:
        return []
    connection = session.connection()
    ids = [row[0] for row in rows]
    query = _ASSIGNED_PG if connection.dialect.name == "postgresql" else _ASSIGNED
    names: dict[int, list[str]] = {}
    for exchange_id, login in connection.execute(query, {"ids": ids}):
        found = names.get(exchange_id)
        if found is None:
            names[exchange_id] = [login]
        else:
            found.append(login)
    empty: tuple[str, ...] = ()
    return [
        _entry_from(row, tuple(found) if (found := names.get(row[0])) else empty) for row in rows
    ]


_SEPARATOR = "\x1f"  # never in a login (letters, digits, '.', '_', '-')


def _assigned_logins(exchange_id: Any, dialect: str) -> Any:
    """The logins assigned to the page's exchange, as one column of the page's own query
    (one round trip instead of a second statement): an array in login order on
    PostgreSQL, a separated string on SQLite (sorted by :func:`_entries`)."""
    x = exchange_assignees
    if dialect == "postgresql":
        # ARRAY(SELECT ... ORDER BY login), each login read by primary key: with a join,
        # PostgreSQL hashed the whole (small) users table again for each row of the page,
        # and sorted inside an ordered aggregate (0.15 ms of a 1.2 ms full page).
        login = select(User.login).where(User.id == x.c.user_id).scalar_subquery().label("login")
        rows = select(login).where(x.c.exchange_id == exchange_id).order_by(login)
        return func.ARRAY(rows.scalar_subquery())
    return (
        select(func.group_concat(User.login, _SEPARATOR))
        .select_from(x.join(User, User.id == x.c.user_id))
        .where(x.c.exchange_id == exchange_id)
        .scalar_subquery()
    )


def _entries(rows: Sequence[Any], dialect: str) -> list[TimelineEntry]:
    """Entries from the page's rows, whose last column holds the assignees' logins."""
    width = len(ENTRY_COLUMNS)
    empty: tuple[str, ...] = ()
    if dialect == "postgresql":
        return [_entry_from(row, tuple(row[width]) if row[width] else empty) for row in rows]
    # SQLite compares text by code point (BINARY): sorting here gives its ORDER BY login.
    return [
        _entry_from(row, tuple(sorted(row[width].split(_SEPARATOR))) if row[width] else empty)
        for row in rows
    ]


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}, got {limit}", field="limit")
    return limit


def _reader_kind(actor: User) -> str:
    return "nobody" if not actor.active else "admin" if actor.is_admin else "user"


def _visibility(kind: str) -> ColumnElement[bool]:
    if kind == "user":
        return visible_to_user(bindparam("reader_id"))
    return true() if kind == "admin" else false()


@functools.cache
def _prepared(scope: str | None, reader: str, keyset: bool, dialect: str = "") -> Select[Any]:
    """The unfiltered page query of a scope, built once and reused with new parameters.

    Building and hashing a statement costs more than running it on an indexed page, and
    nearly every history page is unfiltered; filtered pages have theirs (:func:`_shaped`).
    """
    return _statement(scope, reader, keyset, (), dialect, _whole(scope))


#: The columns of ``exchanges`` a page needs, selected in the inner query of
#: :func:`_statement` (lookups by their ids are joined outside it).
_PAGE_COLUMNS = (
    Exchange.id,
    Exchange.uuid,
    Exchange.start_at,
    Exchange.end_at,
    Exchange.subject,
    Exchange.details,
    Exchange.action_id,
    Exchange.status_id,
    Exchange.medium_id,
    Exchange.category_id,
    Exchange.private,
    Exchange.author_id,
    Exchange.company_id,
)


@dataclass(frozen=True)
class _Driver:
    """Which rows of a scope a page walks: ``table`` (the timeline, the choice values'
    timeline, or :data:`_GLOBAL`) restricted by each of ``branches`` in turn (a list of
    conditions each).

    One branch is one index range scan; several (an action among three, a category and its
    children) are each read up to a page and merged, so the page costs what the branches'
    pages cost, however many rows match further back.
    """

    table: FromClause
    branches: tuple[tuple[ColumnElement[bool], ...], ...]


#: The global history's "timeline": the exchanges themselves, walked through their partial
#: indexes restricted to those linked to no company (``ix_exchanges_global_*``, migration
#: 0013), then joined to the exchange by id as a timeline row is.  Read straight from
#: ``exchanges`` with the visibility rule as a filter, PostgreSQL walked ``ix_exchanges_start``
#: past the 95 % of company exchanges and checked the reader's assignments with a hash of all
#: of them (30 ms a page at a million exchanges); through this walk it reads a page's rows.
class _GlobalWalk(Alias):
    """``exchanges`` walked through the global index ``index``: named there on SQLite
    (``INDEXED BY``), whose statistics, once ``ANALYZE`` has run, average ``company_id``
    over all companies and make it prefer ix_exchanges_company_start for ``company_id IS
    NULL`` (50 rows expected, 50,000 read at a million exchanges: 1.3 -> 52 ms a page)."""

    inherit_cache = True
    index: str


def _global_walk(column: str) -> _GlobalWalk:
    walk = _GlobalWalk._construct(Exchange.__table__, name=f"walk_{column}")
    walk.index = f"ix_exchanges_global_{column}"
    return walk


@compiles(_GlobalWalk, "sqlite")
def _indexed_by(element: _GlobalWalk, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_alias(element, **kw)
    return f"{text} INDEXED BY {element.index}" if kw.get("asfrom") else text


#: The global walks: by date, and by each filtered column (one per :data:`_PINNED`).
_GLOBAL_WALKS = {name: _global_walk(name) for name in ("start", "action", "status", "category")}
_GLOBAL = _GLOBAL_WALKS["start"]
#: The global history read straight from ``exchanges``, the planner free to choose, for
#: custom-field conditions other than one choice value (whose rows the choice-value timeline
#: holds, migration 0014): walking the global indexes would check every global exchange
#: back to the page's last match (169 ms for a 1 % value at a million exchanges, against
#: 76 ms for the planner's own way).
_DIRECT = Exchange.__table__

_WHOLE_TIMELINE = _Driver(exchange_timeline, ((),))
_WHOLE_GLOBAL = _Driver(_GLOBAL, ((),))
_DIRECT_GLOBAL = _Driver(_DIRECT, ((),))


def _whole(scope: str | None) -> _Driver:
    """The unfiltered walk of a scope (``None``: the global history)."""
    return _WHOLE_GLOBAL if scope is None else _WHOLE_TIMELINE


#: Beyond this many values (a category with many descendants), one walk of the timeline
#: filtered on the exchanges is cheaper than a union of that many range scans.
_MAX_BRANCHES = 16


def _statement(
    scope: str | None,
    reader: str,
    keyset: bool,
    conds: Sequence[ColumnElement[bool]],
    dialect: str = "",
    driver: _Driver = _WHOLE_TIMELINE,
) -> Select[Any]:
    """A page in two steps: the page's rows (scope, visibility, filters, keyset, order and
    limit), then the names and codes of those rows only.

    One flat query of eight tables cost PostgreSQL about 4 ms of planning (it searches join
    orders over all of them) for 0.3 ms of execution, and GRC's connections plan every
    execution (``plan_cache_mode``, see :mod:`grc_core.db`).  The inner query has two
    tables; the outer one reads each name by primary key in a subquery of its own
    (:func:`_name`), so that no join order is searched at all.
    """
    page: Any
    walks = [
        _walk(scope, reader, keyset, [*conds, *branch], driver.table) for branch in driver.branches
    ]
    if len(walks) == 1:
        page = walks[0].subquery("page")
    else:
        # Each branch limited inside its own subquery (SQLite allows no LIMIT on the
        # members of a compound select), then merged and cut to one page.
        merged = union_all(*(select(w.subquery()) for w in walks)).subquery("merged")
        page = (
            select(merged)
            .order_by(merged.c.key_start.desc(), merged.c.id.desc())
            .limit(bindparam("page_size"))
            .subquery("page")
        )
    order_start = page.c.key_start
    return select(
        page.c.id,
        type_coerce(page.c.uuid, ReadUuid()),
        page.c.start_at,
        page.c.end_at,
        page.c.subject,
        page.c.details,
        _name(_action.code, _action.id, page.c.action_id),
        _name(_status.code, _status.id, page.c.status_id),
        _name(_medium.code, _medium.id, page.c.medium_id),
        _name(Category.code, Category.id, page.c.category_id),
        page.c.private,
        page.c.author_id,
        _name(_author.display_name, _author.id, page.c.author_id),
        page.c.company_id,
        _name(Company.name, Company.id, page.c.company_id),
        _assigned_logins(page.c.id, dialect),
    ).order_by(order_start.desc(), page.c.id.desc())


def _name(column: Any, key: Any, ref: Any) -> Any:
    """The ``column`` of the row whose ``key`` is ``ref`` (``NULL`` when ``ref`` is), as a
    subquery of the page's select list.

    Joined instead, the six lookups made PostgreSQL search join orders over seven relations
    at each execution (each is planned): about 0.8 ms more planning than these subqueries,
    which are planned alone and run once per row of the page by primary key.
    """
    return select(column).where(key == ref).scalar_subquery()


def _after() -> Any:
    return tuple_(bindparam("after_start", type_=UTCDateTime()), bindparam("after_id"))


def _walk(
    scope: str | None,
    reader: str,
    keyset: bool,
    conds: Sequence[ColumnElement[bool]],
    t: FromClause,
) -> Select[*tuple[Any, ...]]:
    """Up to a page of a scope's rows in ``t`` (newest first), joined to their exchanges;
    ``scope`` ``None`` walks :data:`_GLOBAL`."""
    where: list[ColumnElement[bool]]
    if scope is None:
        ident, where = t.c.id, [t.c.company_id.is_(None)]
    else:
        ident, where = t.c.exchange_id, [t.c.scope == scope, t.c.scope_id == bindparam("scope_id")]
    source = t if t is _DIRECT else t.join(Exchange, Exchange.id == ident)
    inner = (
        select(*_PAGE_COLUMNS, t.c.start_at.label("key_start"))
        .select_from(source)
        .where(*where, _visibility(reader))
        .where(*conds)
    )
    if keyset:
        inner = inner.where(tuple_(t.c.start_at, ident) < _after())
    return inner.order_by(t.c.start_at.desc(), ident.desc()).limit(bindparam("page_size"))


def _driver(session: Session, flt: ExchangeFilter) -> _Driver | None:
    """The index a filtered page walks; ``None`` when the filter can keep nothing (an
    action code that does not exist).

    The first criterion held on the timeline decides, in this order: a choice field's
    value, the category (with its children), the actions, the statuses.  The filter's own
    conditions on the exchanges stay in the query as the definition; the driver only says
    which index rows to read.
    """
    choice = _choice_condition(session, flt)
    if choice is not None:
        t = exchange_timeline_choices
        return _Driver(t, ((t.c.field_id == choice[0], t.c.value == choice[1]),))
    t = exchange_timeline
    ids: Sequence[int]
    column: Any
    if flt.category is not None:
        root = categories.get_category(session, flt.category)
        ids, column = sorted(categories.descendant_ids(session, root.id)), t.c.category_id
    elif flt.actions or flt.statuses:
        kind, codes = (
            (PicklistKind.ACTION, flt.actions)
            if flt.actions
            else (PicklistKind.STATUS, flt.statuses)
        )
        found = select(PicklistValue.id).where(
            PicklistValue.kind == kind, PicklistValue.code.in_(list(codes))
        )
        ids = sorted(session.scalars(found))
        column = t.c.action_id if kind is PicklistKind.ACTION else t.c.status_id
    else:
        return _WHOLE_TIMELINE
    if not ids:
        return None
    if len(ids) > _MAX_BRANCHES:
        return _Driver(t, ((column.in_(ids),),))
    return _Driver(t, tuple((column == i,) for i in ids))


def _choice_condition(session: Session, flt: ExchangeFilter) -> tuple[int, str] | None:
    """``(field id, value)`` of the filter's first equality on a choice field, if any."""
    pairs = (
        flt.custom
        if isinstance(flt.custom, tuple)
        else tuple(FieldCondition(code, "eq", value) for code, value in flt.custom.items())
    )
    for cond in pairs:
        if cond.op != "eq":
            continue
        definition = custom_fields.get_field(session, cond.code)
        if definition.type is FieldType.CHOICE:
            return definition.id, custom_fields.coerce(definition, cond.value)
    return None


def _timeline_bounds(
    flt: ExchangeFilter, t: FromClause = exchange_timeline
) -> list[ColumnElement[bool]]:
    """The date filters again, on the timeline's own copy of the start.

    The timeline's key is (scope, scope_id, start, exchange): bounded there, a page of one
    week in 2019 is a range scan of that week.  Bounded only on the exchange, it was a walk
    back from the newest row through every later one (92 ms at 1M exchanges, growing with
    the data).  The timeline copies the exchange's start in the same transaction, so both
    bounds keep the same rows; the exchange's stay, as the definition of the filter.
    """
    bounds: list[ColumnElement[bool]] = []
    if flt.since is not None:
        bounds.append(t.c.start_at >= require_aware(flt.since, "since"))
    if flt.until is not None:
        bounds.append(t.c.start_at < require_aware(flt.until, "until"))
    return bounds


def is_empty(flt: ExchangeFilter) -> bool:
    """Whether ``flt`` keeps everything.  Its custom-field conditions may be an empty mapping
    or an empty tuple (the API and the command line build one), which ``==`` tells apart."""
    return not flt.custom and flt == ExchangeFilter(custom=flt.custom)


@dataclass(frozen=True)
class _Shape:
    """What a filtered page's statement depends on, its values apart (they are bound).

    ``pins`` is the number of index walks (one per value of the driving criterion; 0 for a
    single walk over a list of values); ``driver`` names the criterion that drives them.
    """

    since: bool
    until: bool
    actions: bool
    statuses: bool
    category: bool
    choice: bool
    driver: str
    pins: int


#: Where each driving criterion's value sits on the timeline.
_PINNED = {"action": "action_id", "status": "status_id", "category": "category_id"}
#: The filter's fields that :func:`_shape_of` knows how to bind.
_BOUND_FIELDS = {"since", "until", "actions", "statuses", "category", "custom"}
_DEFAULTS = ExchangeFilter()


def _shape_of(session: Session, flt: ExchangeFilter) -> tuple[_Shape, dict[str, Any]] | None:
    """The shape and the parameters of a filter made of dates, actions, statuses, a
    category and one choice-field equality (the filters histories offer); ``None`` for any
    other filter, which is built per call (:func:`_statement` with literal conditions).

    Picklist codes are bound as codes and turned into ids inside the statement (one scalar
    subquery per walk, run once): no round trip for them before the page.
    """
    for name in ExchangeFilter.__dataclass_fields__:
        if name not in _BOUND_FIELDS and getattr(flt, name) != getattr(_DEFAULTS, name):
            return None
    conditions = (
        flt.custom
        if isinstance(flt.custom, tuple)
        else tuple(FieldCondition(code, "eq", value) for code, value in flt.custom.items())
    )
    params: dict[str, Any] = {}
    if conditions:
        if len(conditions) > 1 or conditions[0].op != "eq":
            return None
        choice = _choice_field(session, conditions[0])
        if choice is None:
            return None
        params |= {"choice_field": choice[0], "choice_value": choice[1]}
    if flt.since is not None:
        params["since"] = require_aware(flt.since, "since")
    if flt.until is not None:
        params["until"] = require_aware(flt.until, "until")
    # Values of each criterion: category ids, action and status codes (each once).
    values: dict[str, list[Any]] = {}
    if flt.category is not None:
        values["category"] = _category_ids(session, flt.category)
        params["category_ids"] = values["category"]
    for name, codes in (("action", flt.actions), ("status", flt.statuses)):
        if codes:
            values[name] = sorted(set(codes))
            params[f"{name}_codes"] = values[name]
    driver = "choice" if conditions else next(iter(values), "")
    pins = 1
    if driver in _PINNED:
        pinned = values[driver]
        pins = len(pinned) if len(pinned) <= _MAX_BRANCHES else 0
        params |= {f"pin_{i}": v for i, v in enumerate(pinned)} if pins else {}
    shape = _Shape(
        since=flt.since is not None,
        until=flt.until is not None,
        actions="action" in values,
        statuses="status" in values,
        category="category" in values,
        choice=bool(conditions),
        driver=driver,
        pins=pins,
    )
    return shape, params


# The two reads before a filtered page: built once, run on the driver's cursor (through
# the session they went through the ORM's result machinery: a fifth of a category page's
# CPU).
_CHOICE_FIELD = DriverRead(
    select(CustomField.id, CustomField.type, CustomField.choices).where(
        CustomField.entity == FieldEntity.EXCHANGE, CustomField.code == bindparam("code")
    )
)
_CATEGORY_TREE = DriverRead(select(Category.id, Category.parent_id, Category.code))


def _choice_field(session: Session, cond: FieldCondition) -> tuple[int, str] | None:
    """``(field id, value)`` when ``cond`` is an equality on a choice field, ``None`` for
    another type; an unknown field or a value not among the choices is refused, as
    :func:`grc_core.queries.exchanges.field_condition` refuses it (one plain row read
    instead of loading the definition)."""
    rows = _CHOICE_FIELD.rows(session.connection(), {"code": cond.code})
    if not rows or rows[0][1] is not FieldType.CHOICE:
        if not rows:
            custom_fields.get_field(session, cond.code)  # raises the usual error
        return None
    ident, _, choices = rows[0]
    if not isinstance(cond.value, str) or cond.value not in (choices or []):
        custom_fields.coerce(custom_fields.get_field(session, cond.code), cond.value)  # raises
    return ident, cond.value


def _category_ids(session: Session, code: str) -> list[int]:
    """The ids of the category ``code`` and of every category below it, from one read of
    the (small) category tree."""
    rows = _CATEGORY_TREE.rows(session.connection(), {})
    root = next((ident for ident, _, each in rows if each == code), None)
    if root is None:
        categories.get_category(session, code)  # raises the usual error
    children: dict[int | None, list[int]] = {}
    for ident, parent, _ in rows:
        children.setdefault(parent, []).append(ident)
    found: set[int] = set()
    todo = [root]
    while todo:
        current = todo.pop()
        if current is not None and current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return sorted(found)


_PICKLIST_KIND = {"action": PicklistKind.ACTION, "status": PicklistKind.STATUS}


def _picklist_ids(name: str) -> Any:
    """The ids of the bound codes ``{name}_codes`` of an action or a status, as a subquery."""
    return (
        select(PicklistValue.id)
        .where(
            PicklistValue.kind == _PICKLIST_KIND[name],
            PicklistValue.code.in_(bindparam(f"{name}_codes", expanding=True)),
        )
        .scalar_subquery()
    )


def _pin(driver: str, i: int) -> Any:
    """The value of the ``i``-th walk: a category id, or the id of an action's or a
    status's code (a scalar subquery, run once per walk)."""
    if driver == "category":
        return bindparam(f"pin_{i}")
    return (
        select(PicklistValue.id)
        .where(
            PicklistValue.kind == _PICKLIST_KIND[driver],
            PicklistValue.code == bindparam(f"pin_{i}"),
        )
        .scalar_subquery()
    )


@functools.lru_cache(maxsize=1024)
def _reads(statement: Select[Any]) -> DriverRead:
    """The page statement read on the driver's cursor (:mod:`grc_core.driver_statements`): one
    per statement of :func:`_prepared` and :func:`_shaped`, which are built once."""
    return DriverRead(statement)


@functools.lru_cache(maxsize=1024)
def _shaped(
    scope: str | None, reader: str, keyset: bool, dialect: str, shape: _Shape
) -> Select[Any]:
    """The statement of a filtered page of ``shape``, built once and reused: building one
    costs several milliseconds of Python, more than running it on its indexes."""
    conds: list[ColumnElement[bool]] = []
    if shape.since:
        conds.append(Exchange.start_at >= bindparam("since", type_=UTCDateTime()))
    if shape.until:
        conds.append(Exchange.start_at < bindparam("until", type_=UTCDateTime()))
    if shape.actions:
        conds.append(Exchange.action_id.in_(_picklist_ids("action")))
    if shape.statuses:
        conds.append(Exchange.status_id.in_(_picklist_ids("status")))
    if shape.category:
        conds.append(Exchange.category_id.in_(bindparam("category_ids", expanding=True)))
    if shape.choice:
        conds.append(
            exists(
                select(1).where(
                    ExchangeFieldValue.exchange_id == Exchange.id,
                    ExchangeFieldValue.field_id == bindparam("choice_field"),
                    ExchangeFieldValue.text_value == bindparam("choice_value"),
                )
            )
        )
    table: FromClause = exchange_timeline
    if scope is None and shape.choice:
        # The global history's own rows of choice values (migration 0014), walked as a
        # company's are; the exchange's lack of a company stays as the definition.
        scope = GLOBAL_SCOPE
        conds.append(Exchange.company_id.is_(None))
    if scope is None:
        walked = shape.driver if shape.driver in _PINNED and shape.pins else "start"
        table = _GLOBAL_WALKS[walked]
    elif shape.choice:
        table = exchange_timeline_choices
    if shape.since:
        conds.append(table.c.start_at >= bindparam("since", type_=UTCDateTime()))
    if shape.until:
        conds.append(table.c.start_at < bindparam("until", type_=UTCDateTime()))
    branches: tuple[tuple[ColumnElement[bool], ...], ...] = ((),)
    if shape.choice and scope is not None:
        c = exchange_timeline_choices.c
        branches = (
            (c.field_id == bindparam("choice_field"), c.value == bindparam("choice_value")),
        )
    elif shape.driver in _PINNED:
        pinned = table.c[_PINNED[shape.driver]]
        every = (
            bindparam("category_ids", expanding=True)
            if shape.driver == "category"
            else _picklist_ids(shape.driver)
        )
        if shape.pins:
            branches = tuple((pinned == _pin(shape.driver, i),) for i in range(shape.pins))
        else:
            branches = ((pinned.in_(every),),)
    return _statement(scope, reader, keyset, conds, dialect, _Driver(table, branches))


def _page(
    session: Session,
    actor: User,
    scope: Scope | None,
    scope_id: int | None,
    flt: ExchangeFilter | None,
    limit: int,
    cursor: str | None,
) -> Page:
    size = _page_size(limit)
    if flt is not None and is_empty(flt):
        flt = None  # an empty filter is no filter: same cursors, same prepared statement
    query = cursors.fingerprint(scope.value if scope else "global", scope_id, actor.id, flt)
    params: dict[str, Any] = {
        "scope_id": GLOBAL_SCOPE_ID if scope is None else scope_id,
        "reader_id": actor.id,
        "page_size": size + 1,
    }
    if cursor is not None:
        position = cursors.decode(session, cursor, query)
        params |= {"after_start": position.start_at, "after_id": position.id}
    code, reader = scope.value if scope else None, _reader_kind(actor)
    connection = session.connection()
    dialect = connection.dialect.name
    if flt is None:
        read = _reads(_prepared(code, reader, cursor is not None, dialect))
        return _finish(session, read.rows(connection, params), size, dialect, query)
    shaped = _shape_of(session, flt)
    if shaped is not None:
        shape, values = shaped
        read = _reads(_shaped(code, reader, cursor is not None, dialect, shape))
        return _finish(session, read.rows(connection, params | values), size, dialect, query)
    # Any other filter: a statement of its own, built for this call.
    conds = filter_conditions(session, flt)
    driver = _DIRECT_GLOBAL if flt.custom else _WHOLE_GLOBAL
    if scope is not None:
        found = _driver(session, flt)
        if found is None:
            return Page([])
        driver = found
    conds.extend(_timeline_bounds(flt, driver.table))
    stmt = _statement(code, reader, cursor is not None, conds, dialect, driver)
    rows = connection.execute(stmt, params).all()
    return _finish(session, rows, size, dialect, query)


def _finish(session: Session, rows: Sequence[Any], size: int, dialect: str, query: str) -> Page:
    """The page of ``rows`` (one more than ``size`` when there is a next page)."""
    entries = _entries(rows[:size], dialect)
    next_cursor = None
    if len(rows) > size:
        last = entries[-1]
        next_cursor = cursors.encode(session, cursors.Position(last.start_at, last.id), query)
    return Page(entries, next_cursor)


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
    return _page(session, actor, Scope.COMPANY, company_id, flt, limit, cursor)


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
    return _page(session, actor, Scope.OPPORTUNITY, opportunity_id, flt, limit, cursor)


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
    return _page(session, actor, Scope.USER, user_id, flt, limit, cursor)


def global_history(
    session: Session,
    actor: User,
    flt: ExchangeFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Global exchanges (linked to no company)."""
    return _page(session, actor, None, None, flt, limit, cursor)
