"""Audit events: the trail of every change and the input of notifications."""

from __future__ import annotations

import enum
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.base import _DialectArgDict
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import PopulateDict

from grc_core.models.base import NEVER_REUSE_IDS, Base, UTCDateTime
from grc_core.timeutil import utcnow


class EventKind(enum.StrEnum):
    """What happened."""

    EXCHANGE_CREATED = "exchange.created"
    EXCHANGE_UPDATED = "exchange.updated"
    EXCHANGE_COMPLETED = "exchange.completed"
    EXCHANGE_DELETED = "exchange.deleted"
    EXCHANGES_IMPORTED = "exchange.imported"
    ATTACHMENT_ADDED = "attachment.added"
    ATTACHMENT_DELETED = "attachment.deleted"
    COMPANY_CREATED = "company.created"
    COMPANY_UPDATED = "company.updated"
    COMPANY_STATUS_CHANGED = "company.status_changed"
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_MOVED = "contact.moved"
    OPPORTUNITY_CREATED = "opportunity.created"
    OPPORTUNITY_UPDATED = "opportunity.updated"
    OPPORTUNITY_STAGE_CHANGED = "opportunity.stage_changed"
    OPPORTUNITY_TRANSFERRED = "opportunity.transferred"
    # Administration: the configuration everyone works with...
    PICKLIST_VALUE_ADDED = "picklist.value_added"
    PICKLIST_VALUE_UPDATED = "picklist.value_updated"
    CATEGORY_ADDED = "category.added"
    CATEGORY_UPDATED = "category.updated"
    CUSTOM_FIELD_DEFINED = "custom_field.defined"
    CUSTOM_FIELD_UPDATED = "custom_field.updated"
    # ... and what only administrators see (see ADMIN_ONLY_KINDS).
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    ATTACHMENT_POLICY_CHANGED = "attachment_policy.changed"
    RULE_ADDED = "rule.added"
    RULE_UPDATED = "rule.updated"
    RULE_DELETED = "rule.deleted"


#: Events only administrators may read (audit trail) or be notified of: accounts and their
#: rights, the attachment policy, notification rules, bulk imports.
ADMIN_ONLY_KINDS = frozenset(
    k.value
    for k in (
        EventKind.USER_CREATED,
        EventKind.USER_UPDATED,
        EventKind.ATTACHMENT_POLICY_CHANGED,
        EventKind.RULE_ADDED,
        EventKind.RULE_UPDATED,
        EventKind.RULE_DELETED,
        EventKind.EXCHANGES_IMPORTED,
    )
)


class _PostgresqlWhereLater(PopulateDict[str, _DialectArgDict]):
    """An index's ``dialect_options`` whose ``postgresql_where`` is set only when the
    PostgreSQL options are first read.

    Passing ``postgresql_where=`` to :class:`~sqlalchemy.Index` makes SQLAlchemy import its
    PostgreSQL dialect to validate the argument, a twentieth of every command's start-up on
    SQLite.  Here the argument is stored when something asks for the PostgreSQL options (the
    DDL compiler, Alembic) or lists the options (``dialect_kwargs``): the dialect is loaded
    then, and the index is the same as with the argument given.
    """

    def __init__(self, options: PopulateDict[str, _DialectArgDict], where: ClauseElement) -> None:
        super().__init__(options.creator)
        self.update(options)
        self._where: ClauseElement | None = where

    def __missing__(self, key: str) -> _DialectArgDict:
        value: _DialectArgDict = super().__missing__(key)
        if key == "postgresql":
            self._settle()
        return value

    def _settle(self) -> None:
        where, self._where = self._where, None
        if where is not None:
            self["postgresql"]["where"] = where

    def __contains__(self, key: object) -> bool:
        self._settle()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._settle()
        return super().__iter__()

    def __len__(self) -> int:
        self._settle()
        return super().__len__()

    def get(self, key: str, default: Any = None) -> Any:
        self._settle()
        return super().get(key, default)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        self._settle()
        return super().keys()

    def values(self) -> ValuesView[_DialectArgDict]:  # type: ignore[override]
        self._settle()
        return super().values()

    def items(self) -> ItemsView[str, _DialectArgDict]:  # type: ignore[override]
        self._settle()
        return super().items()


def partial_index(name: str, *expressions: Any, where: ClauseElement) -> Index:
    """An index of the rows matching ``where``, on SQLite and on PostgreSQL alike.

    The same as ``Index(name, *expressions, sqlite_where=where, postgresql_where=where)``,
    without importing SQLAlchemy's PostgreSQL dialect when the models are imported (see
    :class:`_PostgresqlWhereLater`).
    """
    index = Index(name, *expressions, sqlite_where=where)
    index.__dict__["dialect_options"] = _PostgresqlWhereLater(index.dialect_options, where)
    return index


class Event(Base):
    """One change, written in the same transaction as the change itself.

    ``changes`` maps each changed field to ``[old, new]`` (JSON-safe values); an exchange's
    creation and deletion events carry its whole snapshot (privacy, author, assignees), so
    the notification fan-out can decide who may hear of it even after a deletion.
    ``company_id`` is copied from the record to scope subscriptions without reloading it.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_entity", "entity_type", "entity_id", "id"),
        Index("ix_events_company", "company_id", "id"),
        # Fan-out reads the few events not yet handled, never the whole trail.
        partial_index("ix_events_pending", "id", where=text("NOT fanned_out")),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column()
    company_id: Mapped[int | None] = mapped_column()
    #: False until the notification fan-out has turned the event into deliveries.
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Who could see the exchange the event is about, right after the event:
    #: ``{"uuid": str, "private": bool, "author_id": int, "assignee_ids": [int]}``, so that
    #: the event is judged on the record it was about, never on what now has its id.
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
