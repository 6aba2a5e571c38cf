"""Opportunities: the deals a company's exchanges are about."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, Versioned
from grc_core.models.company import Company
from grc_core.models.picklist import PicklistValue
from grc_core.models.user import User


class Opportunity(Versioned, Base):
    """A deal with one company; its stage is a picklist value and its changes are audited."""

    __tablename__ = "opportunities"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    stage_id: Mapped[int] = mapped_column(ForeignKey("picklist_values.id"))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    expected_close: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]

    company: Mapped[Company] = relationship(lazy="joined")
    stage: Mapped[PicklistValue] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined")
