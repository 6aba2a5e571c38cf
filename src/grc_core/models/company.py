"""Companies (clients, prospects, suspects) and their contacts."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, Versioned
from grc_core.models.user import User


class CompanyStatus(enum.StrEnum):
    """Where a company stands in the relationship."""

    CLIENT = "client"
    PROSPECT = "prospect"
    SUSPECT = "suspect"


class Company(Versioned, Base):
    """A company the sales team deals with; its status changes are audited."""

    __tablename__ = "companies"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[CompanyStatus] = mapped_column(
        Enum(
            CompanyStatus,
            name="company_status",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]

    owner: Mapped[User | None] = relationship(lazy="joined")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="company", order_by="Contact.last_name"
    )


class Contact(Versioned, Base):
    """A person at a company."""

    __tablename__ = "contacts"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    job_title: Mapped[str | None] = mapped_column(String(200))
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)

    company: Mapped[Company] = relationship(back_populates="contacts")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
