"""The exchange listing query: filters, visibility and a newest-first order."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from grc_core.errors import ValidationError
from grc_core.models import (
    Exchange,
    ExchangeFieldValue,
    FieldType,
    PicklistKind,
    PicklistValue,
    User,
    exchange_assignees,
)
from grc_core.models.custom_field import VALUE_COLUMN
from grc_core.timeutil import require_aware
from grc_core.visibility import visible_exchanges

_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

#: Comparison operators accepted in custom-field filters.
OPERATORS = (*_COMPARE, "contains")


@dataclass(frozen=True)
class FieldCondition:
    """A condition on a custom field: ``code op value`` (``contains`` is for text)."""

    code: str
    op: str
    value: Any


@dataclass(frozen=True)
class ExchangeFilter:
    """What to keep in an exchange listing; every criterion given must hold.

    Picklist and category criteria are codes; a category includes its sub-categories.

    ``custom`` maps a field code to a value (equality) or is a list of
    :class:`FieldCondition`.
    """

    company_id: int | None = None
    global_only: bool = False
    since: datetime | None = None
    until: datetime | None = None
    actions: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    category: str | None = None
    author_id: int | None = None
    assignee_id: int | None = None
    private: bool | None = None
    has_attachments: bool | None = None
    custom: Mapping[str, Any] | tuple[FieldCondition, ...] = field(default_factory=dict)


def _picklist_in(
    column: InstrumentedAttribute[int | None], kind: PicklistKind, codes: Iterable[str]
) -> ColumnElement[bool]:
    ids = select(PicklistValue.id).where(
        PicklistValue.kind == kind, PicklistValue.code.in_(list(codes))
    )
    return column.in_(ids.scalar_subquery())


def field_condition(session: Session, cond: FieldCondition) -> ColumnElement[bool]:
    """An ``EXISTS`` predicate on :class:`Exchange` for one custom-field condition."""
    # The services (and the audit modules they load) are imported by the filters that use
    # them: an unfiltered listing needs none.
    from grc_core.services import custom_fields

    definition = custom_fields.get_field(session, cond.code)
    if cond.op not in OPERATORS:
        raise ValidationError(
            f"unknown operator {cond.op!r}; accepted: {', '.join(OPERATORS)}", field=cond.code
        )
    column = getattr(ExchangeFieldValue, VALUE_COLUMN[definition.type])
    if cond.op == "contains":
        if definition.type is not FieldType.TEXT:
            raise ValidationError("'contains' applies to text fields only", field=cond.code)
        if "\x00" in str(cond.value):  # PostgreSQL cannot compare text with it
            raise ValidationError("the text to look for contains a NUL character", field=cond.code)
        test = column.icontains(str(cond.value), autoescape=True)
    else:
        if definition.type is FieldType.BOOLEAN and cond.op not in ("eq", "ne"):
            raise ValidationError("boolean fields accept only 'eq' and 'ne'", field=cond.code)
        test = _COMPARE[cond.op](column, custom_fields.coerce(definition, cond.value))
    return exists(
        select(1).where(
            ExchangeFieldValue.exchange_id == Exchange.id,
            ExchangeFieldValue.field_id == definition.id,
            test,
        )
    )


def filter_conditions(session: Session, flt: ExchangeFilter) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions of ``flt`` (without visibility)."""
    conds: list[ColumnElement[bool]] = []
    if flt.company_id is not None and flt.global_only:
        raise ValidationError("a filter cannot ask for a company and for global exchanges")
    if flt.company_id is not None:
        conds.append(Exchange.company_id == flt.company_id)
    if flt.global_only:
        conds.append(Exchange.company_id.is_(None))
    if flt.since is not None:
        conds.append(Exchange.start_at >= require_aware(flt.since, "since"))
    if flt.until is not None:
        conds.append(Exchange.start_at < require_aware(flt.until, "until"))
    if flt.actions:
        conds.append(_picklist_in(Exchange.action_id, PicklistKind.ACTION, flt.actions))
    if flt.statuses:
        conds.append(_picklist_in(Exchange.status_id, PicklistKind.STATUS, flt.statuses))
    if flt.media:
        conds.append(_picklist_in(Exchange.medium_id, PicklistKind.MEDIUM, flt.media))
    if flt.category is not None:
        from grc_core.services import categories

        root = categories.get_category(session, flt.category)
        conds.append(Exchange.category_id.in_(categories.descendant_ids(session, root.id)))
    if flt.author_id is not None:
        conds.append(Exchange.author_id == flt.author_id)
    if flt.assignee_id is not None:
        conds.append(
            exists(
                select(1).where(
                    exchange_assignees.c.exchange_id == Exchange.id,
                    exchange_assignees.c.user_id == flt.assignee_id,
                )
            )
        )
    if flt.private is not None:
        conds.append(Exchange.private.is_(flt.private))
    if flt.has_attachments is not None:
        # Imported here: a listing without this filter does not declare the attachment
        # models (see grc_core.models).
        from grc_core.models import Attachment

        attached = exists(select(1).where(Attachment.exchange_id == Exchange.id))
        conds.append(attached if flt.has_attachments else ~attached)
    field_conds = (
        flt.custom
        if isinstance(flt.custom, tuple)
        else tuple(FieldCondition(code, "eq", value) for code, value in flt.custom.items())
    )
    conds.extend(field_condition(session, c) for c in field_conds)
    return conds


def exchanges_query(
    session: Session, actor: User, flt: ExchangeFilter | None = None, *, limit: int = 50
) -> Select[Exchange]:
    """Exchanges matching ``flt`` that ``actor`` may see, newest first (start, then id)."""
    if not 1 <= limit <= 1000:
        raise ValidationError(f"limit must be between 1 and 1000, got {limit}", field="limit")
    conds = filter_conditions(session, flt or ExchangeFilter())
    return (
        select(Exchange)
        .where(visible_exchanges(actor), *conds)
        .order_by(Exchange.start_at.desc(), Exchange.id.desc())
        .limit(limit)
    )


def list_exchanges(
    session: Session, actor: User, flt: ExchangeFilter | None = None, *, limit: int = 50
) -> list[Exchange]:
    """Run :func:`exchanges_query`."""
    return list(session.scalars(exchanges_query(session, actor, flt, limit=limit)))
