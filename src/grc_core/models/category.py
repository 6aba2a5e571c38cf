"""Exchange categories: a configurable tree."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Versioned


class Category(Versioned, Base):
    """A node of the category tree; retired nodes stay on old exchanges only."""

    __tablename__ = "categories"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label_fr: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Category | None] = relationship(remote_side="Category.id")

    def label(self, language: str = "fr") -> str:
        return self.label_en if language == "en" else self.label_fr
