"""Personal API tokens and the idempotency keys of retried HTTP requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from grc_core.models.base import NEVER_REUSE_IDS, Base, Timestamp, UTCDateTime


class ApiToken(Base):
    """A bearer token that authenticates one user on the HTTP API.

    Only the SHA-256 of the secret is stored: the secret is shown once, at creation.  A
    token is refused once ``expires_at`` has passed or ``revoked_at`` is set.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: The first characters of the secret, to recognise a token in a listing.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyKey(Base):
    """The outcome of a ``POST`` sent with an ``Idempotency-Key`` header.

    Written in the same transaction as the change the request made, so a retry finds
    either nothing (the first attempt changed nothing) or the response to replay.
    ``fingerprint`` is the method and path: the same key reused for another request is a
    conflict, never a replay of the wrong response.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[Timestamp]
