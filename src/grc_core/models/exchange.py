"""Exchanges: every call, meeting, letter, note or task recorded with a client."""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, UTCDateTime, Versioned
from grc_core.models.category import Category
from grc_core.models.company import Company, Contact
from grc_core.models.custom_field import ExchangeFieldValue
from grc_core.models.opportunity import Opportunity
from grc_core.models.picklist import PicklistValue
from grc_core.models.user import User

SUBJECT_MAX = 200

exchange_assignees = Table(
    "exchange_assignees",
    Base.metadata,
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    # Visibility and "my exchanges" look up by user first.
    Index("ix_exchange_assignees_user", "user_id", "exchange_id"),
)

exchange_opportunities = Table(
    "exchange_opportunities",
    Base.metadata,
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    Column("opportunity_id", ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_exchange_opportunities_opportunity", "opportunity_id", "exchange_id"),
)

exchange_contacts = Table(
    "exchange_contacts",
    Base.metadata,
    Column("exchange_id", ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_exchange_contacts_contact", "contact_id", "exchange_id"),
)


class Exchange(Versioned, Base):
    """One exchange with a client, prospect or suspect, or a global one (no company).

    ``uuid`` is chosen by the client when it wants idempotent creation (a phone retrying
    after a lost connection); the integer ``id`` is the internal key.
    """

    __tablename__ = "exchanges"
    __table_args__ = (
        CheckConstraint("end_at >= start_at", name="end_after_start"),
        # Timelines are read newest first, with the id as the keyset tiebreaker.
        Index("ix_exchanges_company_start", "company_id", "start_at", "id"),
        Index("ix_exchanges_start", "start_at", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    action_id: Mapped[int] = mapped_column(ForeignKey("picklist_values.id"))
    status_id: Mapped[int] = mapped_column(ForeignKey("picklist_values.id"))
    medium_id: Mapped[int | None] = mapped_column(ForeignKey("picklist_values.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    details: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="RESTRICT"))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    #: Provenance of an exchange a notification channel created (``{"channel": "task",
    #: "rule_id": 3, "event_id": 12, "exchange_id": 7, "delivery_id": 40}``); ``None`` for
    #: the exchanges people record.  Rules and escalations use it to avoid feeding on the
    #: records they created.
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    action: Mapped[PicklistValue] = relationship(foreign_keys=[action_id], lazy="joined")
    status: Mapped[PicklistValue] = relationship(foreign_keys=[status_id], lazy="joined")
    medium: Mapped[PicklistValue | None] = relationship(foreign_keys=[medium_id], lazy="joined")
    category: Mapped[Category | None] = relationship(lazy="joined")
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    company: Mapped[Company | None] = relationship(lazy="joined")
    assignees: Mapped[list[User]] = relationship(
        secondary=exchange_assignees, lazy="selectin", order_by=User.login
    )
    opportunities: Mapped[list[Opportunity]] = relationship(
        secondary=exchange_opportunities, lazy="selectin", order_by=Opportunity.id
    )
    contacts: Mapped[list[Contact]] = relationship(
        secondary=exchange_contacts, lazy="selectin", order_by=Contact.id
    )
    field_values: Mapped[list[ExchangeFieldValue]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_global(self) -> bool:
        """True when the exchange concerns no company."""
        return self.company_id is None

    @property
    def custom(self) -> dict[str, object]:
        """Custom field values by field code."""
        return {fv.field.code: fv.value for fv in self.field_values}
