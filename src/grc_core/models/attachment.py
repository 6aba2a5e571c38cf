"""Attachments, the administrator's attachment policy, and blobs waiting to be deleted."""

from __future__ import annotations

import uuid as uuid_module
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, UTCDateTime
from grc_core.models.user import User
from grc_core.timeutil import utcnow

MB = 1024 * 1024


class Attachment(Base):
    """A file attached to exactly one exchange, company or opportunity.

    ``core_key`` is the key GRC generated when the file arrived; it never changes.
    ``storage_key`` is where the current ``backend`` keeps the blob (a GED may give its own
    id).  ``moving_to``/``moving_key`` record a backend migration in progress, so that an
    interrupted migration resumes without copying twice.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN exchange_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN opportunity_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_owner",
        ),
        UniqueConstraint("backend", "storage_key"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[uuid_module.UUID] = mapped_column(Uuid, unique=True, default=uuid_module.uuid4)
    exchange_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchanges.id", ondelete="RESTRICT"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id", ondelete="RESTRICT"), index=True
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="RESTRICT"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    extension: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    core_key: Mapped[str] = mapped_column(String(200), unique=True)
    backend: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024))
    moving_to: Mapped[str | None] = mapped_column(String(64))
    moving_key: Mapped[str | None] = mapped_column(String(1024))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[Timestamp]

    author: Mapped[User] = relationship(lazy="joined")

    @property
    def owner(self) -> tuple[str, int]:
        """``("exchange" | "company" | "opportunity", id)``."""
        for kind in ("exchange", "company", "opportunity"):
            ident = getattr(self, f"{kind}_id")
            if ident is not None:
                return kind, ident
        raise AssertionError("an attachment always has an owner")  # pragma: no cover


class BlobDeletion(Base):
    """A blob to delete once nothing refers to it (written with the change that frees it).

    Deleting a blob cannot be part of a database transaction; recording the intent in the
    transaction and acting on it after commit means a crash leaves a pending row, never a
    dangling attachment or a forgotten blob.
    """

    __tablename__ = "blob_deletions"
    __table_args__ = (UniqueConstraint("backend", "storage_key"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(1024))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttachmentPolicy(Base):
    """The attachment rules an administrator configures (a single row, id 1)."""

    __tablename__ = "attachment_policy"
    __table_args__ = (
        CheckConstraint("scanning IN ('required', 'optional', 'off')", name="scanning_mode"),
        CheckConstraint("strip_image_metadata IN ('always', 'mobile', 'never')", name="strip_mode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    max_size: Mapped[int] = mapped_column(BigInteger, default=20 * MB)
    allowed_extensions: Mapped[list[str]] = mapped_column(JSON)
    allow_macros: Mapped[bool] = mapped_column(Boolean, default=False)
    zip_max_entries: Mapped[int] = mapped_column(Integer, default=2000)
    zip_max_uncompressed: Mapped[int] = mapped_column(BigInteger, default=200 * MB)
    #: ``required`` (no active scanner: every file refused), ``optional`` or ``off``.
    scanning: Mapped[str] = mapped_column(String(16), default="optional")
    #: How many times its compressed size a large package entry may inflate.
    zip_max_ratio: Mapped[int] = mapped_column(Integer, default=100)
    allow_nested_archives: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_active_pdf: Mapped[bool] = mapped_column(Boolean, default=False)
    max_image_pixels: Mapped[int] = mapped_column(BigInteger, default=100_000_000)
    #: ``always``, ``mobile`` (images sent by the mobile app) or ``never``.
    strip_image_metadata: Mapped[str] = mapped_column(String(16), default="mobile")
