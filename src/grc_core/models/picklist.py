"""Configurable picklists: exchange action, status and medium, opportunity stage."""

from __future__ import annotations

import enum

from sqlalchemy import Boolean, Enum, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grc_core.models.base import NEVER_REUSE_IDS, Base, Versioned


class PicklistKind(enum.StrEnum):
    """The picklists an administrator can configure."""

    ACTION = "action"
    STATUS = "status"
    MEDIUM = "medium"
    STAGE = "stage"


class PicklistValue(Versioned, Base):
    """One value of a picklist.

    A retired value (``active`` false) stays on the records that use it but cannot be chosen
    for new ones.  ``is_closed`` marks the statuses that end an exchange (done, cancelled)
    and the stages that end an opportunity (won, lost).
    """

    __tablename__ = "picklist_values"
    __table_args__ = (UniqueConstraint("kind", "code"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PicklistKind] = mapped_column(
        Enum(
            PicklistKind,
            name="picklist_kind",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    code: Mapped[str] = mapped_column(String(40))
    label_fr: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)

    def label(self, language: str = "fr") -> str:
        return self.label_en if language == "en" else self.label_fr
