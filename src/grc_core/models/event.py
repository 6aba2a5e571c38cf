"""Audit events: the trail of every change and the input of notifications."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

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
        Index(
            "ix_events_pending",
            "id",
            postgresql_where=text("NOT fanned_out"),
            sqlite_where=text("NOT fanned_out"),
        ),
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
