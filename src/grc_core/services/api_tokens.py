"""Personal API tokens: created for a user, shown once, stored hashed, listed, revoked.

A token is ``grc_`` followed by 43 URL-safe characters (256 random bits).  Only its SHA-256
is stored: with that much entropy a plain hash cannot be reversed by guessing, and it lets a
request be authenticated with one indexed lookup (a slow password hash would cost every
request tens of milliseconds for no gain).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.errors import NotFound, PermissionDenied, ValidationError
from grc_core.models import ApiToken, User
from grc_core.services.text import clean_line
from grc_core.services.users import UserRef, get_user, require_active, require_self_or_admin
from grc_core.timeutil import require_aware, utcnow

PREFIX = "grc_"
SHOWN_PREFIX = 10  # "grc_" and six characters: enough to tell tokens apart in a listing


def token_hash(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_token(secret: str) -> bool:
    """True when ``secret`` has the shape of a GRC API token (not of a JWT)."""
    return secret.startswith(PREFIX) and 20 <= len(secret) <= 100


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is shown once and never again."""

    token: ApiToken
    secret: str


def create_token(
    session: Session,
    actor: User,
    user: UserRef,
    *,
    name: str = "api",
    expires_at: datetime | None = None,
) -> NewToken:
    """Create a token authenticating ``user`` (themself or, for an administrator, anyone).

    :param expires_at: when it stops working (timezone-aware, in the future); ``None``
        for a token that works until revoked.
    """
    owner = get_user(session, user)
    require_self_or_admin(actor, owner, "creating a token")
    if not owner.active:
        raise ValidationError(f"user {owner.login!r} is deactivated; no token can be created")
    if expires_at is not None:
        expires_at = require_aware(expires_at, "expires")
        if expires_at <= utcnow():
            raise ValidationError("the expiry date is in the past", field="expires")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=owner.id,
        name=clean_line(name, "name", 100),
        prefix=secret[:SHOWN_PREFIX],
        token_hash=token_hash(secret),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def list_tokens(session: Session, actor: User, user: UserRef | None = None) -> list[ApiToken]:
    """The tokens of ``user`` (default: the actor's own; every user's for ``"*"``, admins)."""
    require_active(actor)
    stmt = select(ApiToken).order_by(ApiToken.id)
    if user == "*":
        if not actor.is_admin:
            raise PermissionDenied("listing every user's tokens needs an administrator")
    else:
        owner = actor if user is None else get_user(session, user)
        require_self_or_admin(actor, owner, "listing the tokens")
        stmt = stmt.where(ApiToken.user_id == owner.id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, actor: User, token_id: int) -> ApiToken:
    """Revoke a token at once (its owner's or, for an administrator, anyone's)."""
    require_active(actor)
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not actor.is_admin):
        raise NotFound(f"no token {token_id} of yours")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def find_token(session: Session, secret: str) -> ApiToken | None:
    """The token whose secret is ``secret``, valid or not (``None`` if there is none)."""
    if not looks_like_token(secret):
        return None
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(secret)))


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or utcnow()):
        return "expired"
    return "active"
