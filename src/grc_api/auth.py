"""Who is calling: API tokens, OpenID Connect bearer JWTs, or the host's resolver.

The acting user always comes from here, never from a request parameter.  A missing or
invalid credential is 401 (with ``WWW-Authenticate: Bearer``); a valid credential for a user
who is unknown to GRC or deactivated is 403.  Failed attempts are counted per client
address; past the configured number within the window the client gets 429 before its
credential is even looked at.  Logs name the client and the reason, never the credential.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import jwt
from fastapi import Request
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from grc_api.problems import ApiProblem
from grc_api.settings import ApiSettings, OidcSettings
from grc_core.facade import Grc
from grc_core.models import ApiToken, User
from grc_core.services import api_tokens
from grc_core.timeutil import utcnow

log = logging.getLogger("grc_api.auth")

#: A host's resolver: given the request, the acting user's login or id, or ``None`` when
#: the host has not authenticated anyone (the API then answers 401).
IdentityResolver = Callable[[Request], "str | int | Awaitable[str | int | None] | None"]

T = TypeVar("T")

#: How precisely a token's last use is recorded.
USE_RESOLUTION = timedelta(minutes=10)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="grc"'}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the GRC user's id and how they were authenticated."""

    user_id: int
    login: str
    method: str  # "token", "oidc" or "host"
    token_id: int | None = None


def unauthenticated(detail: str) -> ApiProblem:
    """The 401 problem, with its challenge."""
    return ApiProblem(401, detail, slug="unauthenticated", headers=CHALLENGE)


class FailureLimiter:
    """Counts failed authentications per client in a sliding window (per process)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        stamps = self._failures.setdefault(client, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def check(self, client: str) -> None:
        """Refuse a client that failed too often lately (429 with ``Retry-After``)."""
        now = time.monotonic()
        with self._lock:
            stamps = self._recent(client, now)
            if len(stamps) >= self.limit:
                retry = max(1, int(stamps[0] + self.window - now) + 1)
                raise ApiProblem(
                    429,
                    f"too many failed authentications from this client; retry in {retry} s",
                    slug="too-many-failures",
                    headers={"Retry-After": str(retry)},
                )

    def failed(self, client: str) -> None:
        """Count one failure."""
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget idle clients; bounded memory
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]


class RecentlySeen(Generic[T]):
    """A small time-limited cache (per process), emptied when it grows too large."""

    def __init__(self, ttl: float, limit: int = 10_000) -> None:
        self.ttl = ttl
        self.limit = limit
        self._items: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: str, value: T) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._items) >= self.limit:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, value)

    def drop(self, matches: Callable[[T], bool]) -> None:
        with self._lock:
            for key in [k for k, (_, v) in self._items.items() if matches(v)]:
                del self._items[key]


class OidcVerifier:
    """Verifies bearer JWTs against the provider's published keys (PyJWT's JWKS client)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        # Keys are cached; an unknown ``kid`` makes the client fetch the set again (key
        # rotation), at most once per lifespan of its cache.
        self.jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=10)

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims, or :class:`jwt.InvalidTokenError` (or a JWKS fetch error)."""
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise jwt.InvalidAlgorithmError(f"algorithm {alg!r} is not accepted")
        key = self.jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key=key.key,
            algorithms=list(self.settings.algorithms),
            audience=self.settings.audience,
            issuer=self.settings.issuer,
            leeway=self.settings.leeway,
            options={"require": ["exp", "iss", "aud"], "verify_signature": True},
        )


class Authenticator:
    """Turns a request into a :class:`Principal`, or raises the matching problem."""

    def __init__(
        self,
        grc: Grc,
        settings: ApiSettings,
        resolver: IdentityResolver | None = None,
    ) -> None:
        self.grc = grc
        self.settings = settings
        self.resolver = resolver
        self.oidc = OidcVerifier(settings.oidc) if settings.oidc is not None else None
        self.limiter = FailureLimiter(settings.auth_failures, settings.auth_window)
        # Credentials verified lately, so that a request costs no extra transaction.  The
        # acting user is loaded (and refused if deactivated) by every request anyway.
        self.known: RecentlySeen[tuple[Principal, datetime | None]] = RecentlySeen(
            settings.credential_cache
        )

    async def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``."""
        client = request.client.host if request.client else "unknown"
        self.limiter.check(client)
        try:
            if self.resolver is not None:
                return await self._from_host(request)
            # Token and user look-ups are blocking database calls: off the event loop.
            return await run_in_threadpool(self._from_bearer, request)
        except ApiProblem as problem:
            if problem.status in (401, 403):
                self.limiter.failed(client)
                log.warning(
                    "authentication refused (%s) for %s %s from %s: %s",
                    problem.status,
                    request.method,
                    request.url.path,
                    client,
                    problem.detail,
                )
            raise

    async def _from_host(self, request: Request) -> Principal:
        assert self.resolver is not None
        found = self.resolver(request)
        if inspect.isawaitable(found):
            found = await found
        if found is None:
            raise unauthenticated("the host application has not authenticated this request")
        return await run_in_threadpool(self._user, found, "host")

    def _from_bearer(self, request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise unauthenticated("send 'Authorization: Bearer <API token or OIDC token>'")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthenticated("only 'Authorization: Bearer <token>' is accepted")
        if api_tokens.looks_like_token(credential):
            if not self.settings.api_tokens:
                raise unauthenticated("API tokens are not accepted by this server; use OIDC")
            return self._from_token(credential)
        if self.oidc is None:
            raise unauthenticated("the bearer token is not a GRC API token")
        return self._from_jwt(credential)

    def _from_token(self, secret: str) -> Principal:
        digest = api_tokens.token_hash(secret)
        cached = self.known.get(digest)
        if cached is not None:
            principal, expires_at = cached
            if expires_at is None or expires_at > utcnow():
                return principal
        principal, expires_at = self._look_up_token(secret)
        self.known.put(digest, (principal, expires_at))
        return principal

    def forget_token(self, token_id: int) -> None:
        """Stop trusting a token this process has seen (it was just revoked here)."""
        self.known.drop(lambda value: value[0].token_id == token_id)

    def _look_up_token(self, secret: str) -> tuple[Principal, datetime | None]:
        with self.grc.session(read_only=True) as session:
            token = api_tokens.find_token(session, secret)
            if token is None:
                raise unauthenticated("the API token is not valid")
            state = api_tokens.token_state(token)
            if state != "active":
                raise unauthenticated(f"the API token is {state}")
            user = session.get(User, token.user_id)
            principal = self._principal(user, "token", f"user {token.user_id}", token.id)
            stale = token.last_used_at is None or token.last_used_at < utcnow() - USE_RESOLUTION
            token_id, expires_at = token.id, token.expires_at
        if stale:
            # Recorded coarsely, so that authenticating is not a write per request.
            with self.grc.session() as session:
                session.execute(
                    update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
                )
        return principal, expires_at

    def _from_jwt(self, token: str) -> Principal:
        assert self.oidc is not None
        try:
            claims = self.oidc.claims(token)
        except jwt.PyJWKClientError as exc:
            # An unknown key id, or the key set cannot be fetched: the token cannot be
            # verified, so it is refused.
            raise unauthenticated(f"the token cannot be verified: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise unauthenticated(f"the token is not valid: {exc}") from None
        claim = self.oidc.settings.login_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value.strip():
            raise ApiProblem(403, f"the token has no {claim!r} claim naming a GRC user")
        return self._user(value, "oidc")

    def _user(self, ref: str | int, method: str) -> Principal:
        key = f"{method}:{type(ref).__name__}:{ref}"
        cached = self.known.get(key)
        if cached is not None:
            return cached[0]
        principal = self._look_up_user(ref, method)
        self.known.put(key, (principal, None))
        return principal

    def _look_up_user(self, ref: str | int, method: str) -> Principal:
        with self.grc.session(read_only=True) as session:
            if isinstance(ref, int) and not isinstance(ref, bool):
                user = session.get(User, ref)
            else:
                wanted = str(ref).strip()
                user = session.scalar(select(User).where(User.login == wanted.lower()))
                if user is None:  # e.g. an e-mail-shaped upn mapped through external_ref
                    user = session.scalar(select(User).where(User.external_ref == wanted))
            return self._principal(user, method, repr(ref))

    @staticmethod
    def _principal(
        user: User | None, method: str, named: str, token_id: int | None = None
    ) -> Principal:
        if user is None:
            raise ApiProblem(403, f"{named} is not a GRC user", slug="unknown-user")
        if not user.active:
            raise ApiProblem(403, f"user {user.login!r} is deactivated", slug="deactivated")
        return Principal(user.id, user.login, method, token_id)
