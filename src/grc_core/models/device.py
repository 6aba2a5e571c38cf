"""Enrolled devices (long-lived browser sessions), enrolment codes, Web Push subscriptions,
and the failed authentications every API process counts together.

Secrets are never stored: a device's session secret and an enrolment code are kept as their
SHA-256 (both are random enough that a plain hash cannot be reversed by guessing), so a
copy of the database opens no session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, UTCDateTime


class Device(Base):
    """A browser (phone, tablet) signed in as a user until it is revoked or expires.

    ``session_hash`` is the SHA-256 of the secret held in the device's ``grc_session``
    cookie.  ``method`` says how it signed in: ``code`` (an enrolment code) or ``oidc``.
    """

    __tablename__ = "devices"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(16))
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeviceEnrolment(Base):
    """A one-time code that signs one device in as ``user_id``, valid until ``expires_at``.

    ``used_at`` and ``device_id`` are set by the enrolment that consumed it: a code works once.
    """

    __tablename__ = "device_enrolments"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_name: Mapped[str | None] = mapped_column(String(100))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))


class PushSubscription(Base):
    """A browser's Web Push subscription (RFC 8030): where to send, and the keys to encrypt
    for it (RFC 8291).  Removed when the push service says it is gone (404/410), when its
    device is revoked, or when the user turns alerts off on the device."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the endpoint URL: unique, and short enough for an index on every database.
    endpoint_hash: Mapped[str] = mapped_column(String(64), unique=True)
    endpoint: Mapped[str] = mapped_column(Text)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[Timestamp]
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthFailure(Base):
    """One failed authentication from a client address, shared by every API process so
    that the limit holds however many workers serve the requests.  Rows older than the
    window are deleted as new failures come."""

    __tablename__ = "api_auth_failures"
    __table_args__ = (Index("ix_api_auth_failures_client_at", "client", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(100))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
