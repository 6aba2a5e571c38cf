"""Configurable picklists: list, add, retire, restore, and resolve a code for a write."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from grc_core.driver_statements import DriverRead
from grc_core.errors import Conflict, NotFound, ValidationError
from grc_core.loaded_rows import join_as_loaded
from grc_core.models import EventKind, PicklistKind, PicklistValue, User
from grc_core.services.concurrency import (
    check_version,
    fresh,
    lock_for_update,
    lock_rows,
    stale_as_conflict,
)
from grc_core.services.events import record_event
from grc_core.services.text import clean_line
from grc_core.services.users import require_admin

CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_code(code: str, field: str = "code") -> str:
    """A configuration code: lower-case letters, digits and ``_``, starting with a letter."""
    value = code.strip() if isinstance(code, str) else code
    if not isinstance(value, str) or not CODE_RE.match(value):
        raise ValidationError(
            f"{field} {code!r} is invalid: use 1 to 40 lower-case letters, digits or '_', "
            "starting with a letter",
            field=field,
        )
    return value


def _kind(kind: PicklistKind | str) -> PicklistKind:
    try:
        return PicklistKind(kind)
    except ValueError:
        accepted = ", ".join(k.value for k in PicklistKind)
        raise ValidationError(f"unknown picklist {kind!r}; accepted: {accepted}") from None


def list_values(
    session: Session, kind: PicklistKind | str, *, include_retired: bool = False
) -> list[PicklistValue]:
    """The values of one picklist, in display order."""
    stmt = select(PicklistValue).where(PicklistValue.kind == _kind(kind))
    if not include_retired:
        stmt = stmt.where(PicklistValue.active.is_(True))
    return list(session.scalars(stmt.order_by(PicklistValue.position, PicklistValue.code)))


def get_value(session: Session, kind: PicklistKind | str, code: str) -> PicklistValue:
    """A value by code, retired or not."""
    kind = _kind(kind)
    value = session.scalar(
        select(PicklistValue).where(PicklistValue.kind == kind, PicklistValue.code == code)
    )
    if value is None:
        accepted = ", ".join(v.code for v in list_values(session, kind))
        raise ValidationError(
            f"unknown {kind.value} {code!r}; accepted: {accepted}", field=kind.value
        )
    return value


def resolve_for_write(
    session: Session, kind: PicklistKind | str, code: str, current: PicklistValue | None = None
) -> PicklistValue:
    """The value to store for ``code``: it must exist and be active, unless it is unchanged.

    Retired values stay valid on the records that already carry them (``current``).
    """
    value = get_value(session, kind, code)
    if not value.active and (current is None or current.id != value.id):
        kind = _kind(kind)
        accepted = ", ".join(v.code for v in list_values(session, kind))
        raise ValidationError(
            f"{kind.value} {code!r} is retired and cannot be chosen; accepted: {accepted}",
            field=kind.value,
        )
    return value


_VALUES = cast(Table, PicklistValue.__table__)
_KEYS = tuple(c.key for c in _VALUES.columns)

#: Reads of :func:`resolve_many_for_write` by picklist kinds and extra column, each built
#: once: a statement used again keeps its cache key, which SQLAlchemy otherwise recomputes
#: for every new statement, and runs on the driver's cursor (:mod:`grc_core.driver_statements`).
#: The extra column is kept in the value so that its ``id`` stays its own.
_VALUES_READS: dict[
    tuple[tuple[PicklistKind, ...], int], tuple[DriverRead, ColumnElement[Any] | None]
] = {}


def _values_read(
    kinds: tuple[PicklistKind, ...], alongside: ColumnElement[Any] | None
) -> DriverRead:
    """The read of the values of ``kinds``, the codes bound as ``code_0``, …"""
    key = (kinds, id(alongside))
    cached = _VALUES_READS.get(key)
    if cached is not None:
        return cached[0]
    pairs = [
        and_(_VALUES.c.kind == kind, _VALUES.c.code == bindparam(f"code_{i}"))
        for i, kind in enumerate(kinds)
    ]
    # The row's columns, not the entity: the values join the session as loaded, which costs
    # half what the ORM's load of them did.
    stmt = select(*_VALUES.columns).where(or_(*pairs))
    if alongside is not None:
        stmt = stmt.add_columns(alongside)
    read = DriverRead(stmt)
    _VALUES_READS[key] = (read, alongside)
    return read


def resolve_many_for_write(
    session: Session,
    wanted: Mapping[PicklistKind, str],
    *,
    alongside: ColumnElement[Any] | None = None,
) -> tuple[dict[PicklistKind, PicklistValue], Any]:
    """:func:`resolve_for_write` for several picklists at once, for a new record.

    One query reads every value a creation names (each picklist a request names used to cost
    its own round trip).  Nothing is cached: a value retired a moment ago is refused at once.
    A code that is unknown or retired falls back to :func:`resolve_for_write`, in the order
    given, so the error is the same as one lookup at a time would raise.

    :param alongside: a scalar expression the caller needs from the same round trip (a
        count read from another table); its value is returned second, ``None`` when no
        value matched (the lookup then raises anyway).
    """
    if not wanted:
        return {}, None
    kinds = tuple(wanted)
    read = _values_read(kinds, alongside)
    params = {f"code_{i}": code for i, code in enumerate(wanted.values())}
    if session.autoflush:  # as the ORM's query would have
        session.flush()
    rows = read.rows(session.connection(), params)
    values = [
        join_as_loaded(session, PicklistValue, dict(zip(_KEYS, row, strict=False))) for row in rows
    ]
    found = {(value.kind, value.code): value for value in values}
    extra = rows[0][len(_KEYS)] if rows and alongside is not None else None
    resolved: dict[PicklistKind, PicklistValue] = {}
    for kind, code in wanted.items():
        value = found.get((kind, code))
        resolved[kind] = (
            value if value is not None and value.active else resolve_for_write(session, kind, code)
        )
    return resolved, extra


def add_value(
    session: Session,
    actor: User,
    kind: PicklistKind | str,
    code: str,
    *,
    label_fr: str,
    label_en: str | None = None,
    is_closed: bool = False,
) -> PicklistValue:
    """Add a value at the end of a picklist."""
    require_admin(actor, "changing picklists")
    kind = _kind(kind)
    code = check_code(code)
    exists = session.scalar(
        select(PicklistValue.id).where(PicklistValue.kind == kind, PicklistValue.code == code)
    )
    if exists is not None:
        raise Conflict(f"{kind.value} {code!r} already exists (restore it if it was retired)")
    last = session.scalar(
        select(func.coalesce(func.max(PicklistValue.position), 0)).where(PicklistValue.kind == kind)
    )
    value = PicklistValue(
        kind=kind,
        code=code,
        label_fr=clean_line(label_fr, "label_fr", 100),
        label_en=clean_line(label_en or label_fr, "label_en", 100),
        position=(last or 0) + 1,
        active=True,
        is_closed=is_closed,
    )
    session.add(value)
    session.flush()
    _record(
        session,
        actor,
        EventKind.PICKLIST_VALUE_ADDED,
        value,
        {
            "kind": [None, kind.value],
            "code": [None, code],
            "label_fr": [None, value.label_fr],
            "label_en": [None, value.label_en],
            "is_closed": [None, is_closed],
        },
    )
    return value


def _record(
    session: Session,
    actor: User,
    kind: EventKind,
    value: PicklistValue,
    changes: dict[str, list[object]],
) -> None:
    record_event(
        session,
        actor,
        kind,
        entity_type="picklist_value",
        entity_id=value.id,
        company_id=None,
        changes=changes,
    )


def set_active(
    session: Session,
    actor: User,
    kind: PicklistKind | str,
    code: str,
    active: bool,
    *,
    expected_version: int | None = None,
) -> PicklistValue:
    """Retire (``active=False``) or restore a value; records keep it either way.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing picklists")
    value = get_value(session, kind, code)
    value = lock_for_update(session, PicklistValue, value.id) or value
    check_version(value, expected_version, f"{value.kind.value} {value.code!r}")
    if not active and value.active:
        remaining = [v for v in list_values(session, kind) if v.id != value.id]
        if not remaining:
            raise ValidationError(f"{code!r} is the last active {value.kind.value}; keep one")
    if value.active == active:
        return value
    value.active = active
    with stale_as_conflict(value, f"{value.kind.value} {value.code!r}"):
        session.flush()
    _record(
        session, actor, EventKind.PICKLIST_VALUE_UPDATED, value, {"active": [not active, active]}
    )
    return value


def require_value(session: Session, kind: PicklistKind | str, code: str) -> PicklistValue:
    """Like :func:`get_value` but raising :class:`NotFound` (for lookups, not writes)."""
    try:
        return get_value(session, kind, code)
    except ValidationError as exc:
        raise NotFound(str(exc)) from None


def update_value(
    session: Session,
    actor: User,
    kind: PicklistKind | str,
    code: str,
    *,
    label_fr: str | None = None,
    label_en: str | None = None,
    is_closed: bool | None = None,
    position: int | None = None,
    expected_version: int | None = None,
) -> PicklistValue:
    """Relabel a value, mark it closing or not, or move it within its picklist.

    Arguments left ``None`` are unchanged.  ``position`` is 1-based over every value of the
    picklist, retired ones included (they keep their place should they be restored); a
    position past the end moves the value last.  Moving renumbers the values between the old
    and the new place, so their versions change too.  The code never changes: records refer
    to it.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing picklists")
    kind = _kind(kind)
    value = get_value(session, kind, code)
    ordered: list[PicklistValue] = []
    if position is not None:
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise ValidationError(
                f"position {position!r} is invalid: give 1 for the first place", field="position"
            )
        # Every value of the list may be renumbered: lock them all (in id order), then read
        # them as committed, before anything is changed in this session.
        same_kind = PicklistValue.kind == kind
        lock_rows(
            session, PicklistValue, session.scalars(select(PicklistValue.id).where(same_kind))
        )
        ordered = list(
            session.scalars(
                fresh(select(PicklistValue).where(same_kind)).order_by(
                    PicklistValue.position, PicklistValue.code
                )
            )
        )
    value = lock_for_update(session, PicklistValue, value.id) or value
    label = f"{kind.value} {value.code!r}"
    check_version(value, expected_version, label)
    changes: dict[str, list[object]] = {}
    if label_fr is not None:
        cleaned = clean_line(label_fr, "label_fr", 100)
        if cleaned != value.label_fr:
            changes["label_fr"] = [value.label_fr, cleaned]
            value.label_fr = cleaned
    if label_en is not None:
        cleaned = clean_line(label_en, "label_en", 100)
        if cleaned != value.label_en:
            changes["label_en"] = [value.label_en, cleaned]
            value.label_en = cleaned
    if is_closed is not None and is_closed != value.is_closed:
        changes["is_closed"] = [value.is_closed, is_closed]
        value.is_closed = is_closed
    moved: list[tuple[PicklistValue, int]] = []
    if position is not None:
        ordered = [v for v in ordered if v.id != value.id]
        ordered.insert(min(position, len(ordered) + 1) - 1, value)
        for place, item in enumerate(ordered, start=1):
            if item.position != place:
                moved.append((item, item.position))
                item.position = place
    if not changes and not moved:
        return value
    with stale_as_conflict(value, label):
        session.flush()
    for item, old in moved:
        if item.id == value.id:
            changes["position"] = [old, item.position]
        else:
            _record(
                session, actor, EventKind.PICKLIST_VALUE_UPDATED, item,
                {"position": [old, item.position]},
            )  # fmt: skip
    if changes:
        _record(session, actor, EventKind.PICKLIST_VALUE_UPDATED, value, changes)
    return value
