"""Subscriptions, preferences, rules, deliveries and the on-screen inbox.

The notification pipeline reads audit events (:class:`~grc_core.models.event.Event`):
fan-out turns each event into deliveries — one per event × recipient × channel, which a
unique constraint enforces — and workers hand deliveries to channel plugins.
"""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, UTCDateTime, Versioned


class TargetKind(enum.StrEnum):
    """What a subscription follows."""

    COMPANY = "company"
    OPPORTUNITY = "opportunity"
    CATEGORY = "category"


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # waiting for its next attempt (or its digest)
    SENT = "sent"
    DEAD = "dead"  # parked after too many failures, with its last error
    SKIPPED = "skipped"  # no longer allowed (privacy re-checked just before sending)


class Digest(enum.StrEnum):
    """How often a user wants their notifications."""

    IMMEDIATE = "immediate"
    HOURLY = "hourly"
    DAILY = "daily"


class Subscription(Versioned, Base):
    """A user following a company (and its opportunities unless ``narrow``), an
    opportunity or a category.  ``event_kinds`` and ``channels`` ``None`` mean "all" and
    "my preferred channels"."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("user_id", "target_kind", "target_id"),
        Index("ix_subscriptions_target", "target_kind", "target_id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    event_kinds: Mapped[list[str] | None] = mapped_column(JSON)
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    narrow: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[Timestamp]


class Preferences(Versioned, Base):
    """A user's notification preferences (one row per user, created on first change)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: Channels per event kind; the key ``"*"`` is the default for unlisted kinds.
    channels: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    digest: Mapped[str] = mapped_column(String(16), default=Digest.IMMEDIATE.value)


class Rule(Versioned, Base):
    """An administrator's notification rule (or, with ``escalation``, a periodic check).

    ``recipients`` is ``{"users": [ids], "subscribers": bool, "assignees": bool,
    "author": bool, "company_owner": bool}``.  ``condition`` is source text in the rule
    language (:mod:`grc_core.rules`), checked when the rule is saved.
    """

    __tablename__ = "notification_rules"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    condition: Mapped[str] = mapped_column(Text, default="")
    recipients: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_template: Mapped[str] = mapped_column(Text, default="")
    body_template: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp]
    #: Set when the safety limit parked a runaway rule (it then triggers nothing until an
    #: administrator re-enables it); ``parked_reason`` says what the limit saw.
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parked_reason: Mapped[str | None] = mapped_column(String(500))


#: Which rules an event kind triggers: fan-out looks rules up here, never scans them all.
rule_triggers = Table(
    "notification_rule_triggers",
    Base.metadata,
    Column("kind", String(64), primary_key=True),
    Column("rule_id", ForeignKey("notification_rules.id", ondelete="CASCADE"), primary_key=True),
)


class Delivery(Base):
    """One notification to one recipient through one channel.

    ``event_id`` is ``None`` for escalations and digests, which use ``dedupe_key`` instead
    (``escalation:<rule>:<exchange>``, ``digest:<user>:<channel>:<period>``).  A claimed
    delivery carries a lease (``lease_owner`` until ``lease_until``) renewed by its worker's
    heartbeat; an expired lease means the worker died and the delivery may be claimed again.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id", "channel"),
        UniqueConstraint("dedupe_key", "user_id", "channel"),
        Index("ix_deliveries_due", "status", "due_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_rules.id", ondelete="SET NULL")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    #: What the message is about, for the privacy re-check: ``{"exchange_id": …}`` etc.
    about: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[Timestamp]


class EscalationMark(Base):
    """An exchange an escalation rule has already notified about (once per rule)."""

    __tablename__ = "escalation_marks"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("notification_rules.id", ondelete="CASCADE"), primary_key=True
    )
    exchange_id: Mapped[int] = mapped_column(
        ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True
    )
    notified_at: Mapped[Timestamp]


class InboxItem(Base):
    """An on-screen alert in a user's inbox."""

    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_user", "user_id", "read_at", "id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), unique=True
    )
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    about: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[Timestamp]
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
