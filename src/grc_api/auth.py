"""Who is calling: API tokens, OpenID Connect bearer JWTs, an enrolled device's session
cookie, or the host's resolver.

The acting user always comes from here, never from a request parameter.  A missing or
invalid credential is 401 (with ``WWW-Authenticate: Bearer``); a valid credential for a user
who is unknown to GRC or deactivated is 403.  Failed attempts are counted per client
address; past the configured number within the window the client gets 429 before its
credential is even looked at (with ``shared_limiter`` the failures are counted in the
database, for every worker together).  Logs name the client and the reason, never the
credential.

A device session (cookie ``grc_session``) is used only when no ``Authorization`` header is
sent; unsafe methods then need the ``X-CSRF-Token`` header (:mod:`grc_api.sessions`).  A
revoked device gets 401 ``device-revoked`` with ``Clear-Site-Data``.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import jwt
from fastapi import Request
from sqlalchemy import delete, func, select, update
from starlette.concurrency import run_in_threadpool

from grc_api import sessions
from grc_api.problems import ApiProblem
from grc_api.settings import ApiSettings, OidcSettings
from grc_core.facade import Grc
from grc_core.models import ApiToken, AuthFailure, Device, User
from grc_core.services import api_tokens, devices
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
    method: str  # "token", "oidc", "session" (a device's cookie) or "host"
    token_id: int | None = None
    device_id: int | None = None


def unauthenticated(detail: str) -> ApiProblem:
    """The 401 problem, with its challenge."""
    return ApiProblem(401, detail, slug="unauthenticated", headers=CHALLENGE)


class DeviceRevoked(ApiProblem):
    """401 for a revoked device's cookie: the browser is told to wipe what it keeps, and
    the cookies are removed (the application registers a handler for this class)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            401,
            detail,
            slug="device-revoked",
            headers={**CHALLENGE, "Clear-Site-Data": sessions.CLEAR_SITE_DATA},
        )


def too_many_failures(retry: int) -> ApiProblem:
    """The 429 problem of a client over the limit."""
    return ApiProblem(
        429,
        f"too many failed authentications from this client; retry in {retry} s",
        slug="too-many-failures",
        headers={"Retry-After": str(retry)},
    )


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
                raise too_many_failures(max(1, int(stamps[0] + self.window - now) + 1))

    def check_shared(self, client: str) -> None:
        """What other processes counted: nothing here (see :class:`SharedFailureLimiter`)."""

    def failed(self, client: str) -> None:
        """Count one failure."""
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget idle clients; bounded memory
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]


class SharedFailureLimiter(FailureLimiter):
    """Failed authentications counted in the database, for every process together.

    The process's own count answers first, at no cost.  The shared count is read only
    before a credential is actually looked up (a credential verified lately is served from
    memory and is no guess), so a successful client costs no extra transaction while
    every guess, whichever worker gets it, meets the shared limit.  A database failure
    falls back to the process's own count rather than refusing every request.
    """

    def __init__(self, grc: Grc, limit: int, window: float) -> None:
        super().__init__(limit, window)
        self.grc = grc
        self._blocked: dict[str, float] = {}

    def check(self, client: str) -> None:
        until = self._blocked.get(client)
        if until is not None:
            left = until - time.monotonic()
            if left > 0:
                raise too_many_failures(max(1, int(left) + 1))
            self._blocked.pop(client, None)
        super().check(client)

    def check_shared(self, client: str) -> None:
        since = utcnow() - timedelta(seconds=self.window)
        try:
            with self.grc.session(read_only=True, primary=True) as session:
                count, oldest = session.execute(
                    select(func.count(AuthFailure.id), func.min(AuthFailure.failed_at)).where(
                        AuthFailure.client == client[:100], AuthFailure.failed_at > since
                    )
                ).one()
        except Exception as exc:  # the database is down: the request will fail anyway
            log.warning("shared failed-authentication count unavailable: %s", exc)
            return
        if count >= self.limit and oldest is not None:
            retry = max(1, int((oldest - since).total_seconds()) + 1)
            with self._lock:
                if len(self._blocked) > 10_000:
                    self._blocked.clear()
                self._blocked[client] = time.monotonic() + retry
            raise too_many_failures(retry)

    def failed(self, client: str) -> None:
        super().failed(client)
        now = utcnow()
        try:
            with self.grc.session() as session:
                # Old rows go as new failures come: the table holds one window at most.
                session.execute(
                    delete(AuthFailure).where(
                        AuthFailure.failed_at <= now - timedelta(seconds=self.window)
                    )
                )
                session.add(AuthFailure(client=client[:100], failed_at=now))
        except Exception as exc:
            log.warning("failed authentication not counted in the database: %s", exc)


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


def client_of(request: Request) -> str:
    """The client's address (from a trusted proxy's headers, see the middleware)."""
    return request.client.host if request.client else "unknown"


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
        self.limiter: FailureLimiter = (
            SharedFailureLimiter(grc, settings.auth_failures, settings.auth_window)
            if settings.shared_limiter
            else FailureLimiter(settings.auth_failures, settings.auth_window)
        )
        # Credentials verified lately, so that a request costs no extra transaction.  The
        # acting user is loaded (and refused if deactivated) by every request anyway.
        self.known: RecentlySeen[tuple[Principal, datetime | None]] = RecentlySeen(
            settings.credential_cache
        )

    async def authenticate(self, request: Request) -> Principal:
        """The caller of ``request``."""
        client = client_of(request)
        self.limiter.check(client)
        try:
            if self.resolver is not None:
                return await self._from_host(request)
            # A token verified lately is known without the database: no thread for it.
            principal = self._recently_verified(request)
            if principal is None:
                # Token and user look-ups are blocking database calls: off the event loop.
                principal = await run_in_threadpool(self._from_request, request, client)
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
        if principal.method == "session" and request.method in sessions.UNSAFE_METHODS:
            secret = request.cookies.get(sessions.SESSION_COOKIE, "")
            if not sessions.csrf_matches(
                secret,
                request.cookies.get(sessions.CSRF_COOKIE),
                request.headers.get(sessions.CSRF_HEADER),
            ):
                log.warning(
                    "CSRF token missing or wrong for %s %s from %s (device %s)",
                    request.method,
                    request.url.path,
                    client,
                    principal.device_id,
                )
                raise ApiProblem(
                    403,
                    "send the X-CSRF-Token header with the value of the grc_csrf cookie",
                    slug="csrf",
                )
        return principal

    def _recently_verified(self, request: Request) -> Principal | None:
        """The caller of a bearer API token this process verified lately (the cache
        :meth:`_from_token` reads), or ``None``: then the full path runs in a thread."""
        header = request.headers.get("authorization")
        if not header or not self.settings.api_tokens:
            return None
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not api_tokens.looks_like_token(credential):
            return None
        return self._cached(api_tokens.token_hash(credential))

    def _from_request(self, request: Request, client: str) -> Principal:
        if not request.headers.get("authorization"):
            secret = request.cookies.get(sessions.SESSION_COOKIE)
            if secret:
                return self._from_cookie(secret, client)
        return self._from_bearer(request, client)

    async def _from_host(self, request: Request) -> Principal:
        assert self.resolver is not None
        found = self.resolver(request)
        if inspect.isawaitable(found):
            found = await found
        if found is None:
            raise unauthenticated("the host application has not authenticated this request")
        return await run_in_threadpool(self._user, found, "host")

    def _from_bearer(self, request: Request, client: str) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise unauthenticated(
                "send 'Authorization: Bearer <API token or OIDC token>', or sign this device in"
            )
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthenticated("only 'Authorization: Bearer <token>' is accepted")
        if api_tokens.looks_like_token(credential):
            if not self.settings.api_tokens:
                raise unauthenticated("API tokens are not accepted by this server; use OIDC")
            return self._from_token(credential, client)
        if self.oidc is None:
            raise unauthenticated("the bearer token is not a GRC API token")
        return self._from_jwt(credential, client)

    def _cached(self, key: str) -> Principal | None:
        cached = self.known.get(key)
        if cached is not None:
            principal, expires_at = cached
            if expires_at is None or expires_at > utcnow():
                return principal
        return None

    def _from_token(self, secret: str, client: str) -> Principal:
        digest = api_tokens.token_hash(secret)
        if (principal := self._cached(digest)) is not None:
            return principal
        self.limiter.check_shared(client)
        principal, expires_at = self._look_up_token(secret)
        self.known.put(digest, (principal, expires_at))
        return principal

    def forget_token(self, token_id: int) -> None:
        """Stop trusting a token this process has seen (it was just revoked here)."""
        self.known.drop(lambda value: value[0].token_id == token_id)

    def forget_device(self, device_id: int) -> None:
        """Stop trusting a device session this process has seen (it was just revoked here)."""
        self.known.drop(lambda value: value[0].device_id == device_id)

    def _from_cookie(self, secret: str, client: str) -> Principal:
        key = "session:" + devices.session_hash(secret)
        if (principal := self._cached(key)) is not None:
            return principal
        self.limiter.check_shared(client)
        principal, expires_at = self._look_up_device(secret)
        self.known.put(key, (principal, expires_at))
        return principal

    def _look_up_device(self, secret: str) -> tuple[Principal, datetime | None]:
        with self.grc.session(read_only=True, primary=True) as session:
            device = devices.find_device(session, secret)
            if device is None:
                raise unauthenticated("this device's session is not valid; enrol it again")
            state = devices.device_state(device)
            if state == "revoked":
                raise DeviceRevoked(
                    f"device {device.id} was signed out or revoked; its data must be wiped"
                )
            if state == "expired":
                raise ApiProblem(
                    401,
                    "this device's session has expired; sign in again",
                    slug="session-expired",
                    headers=CHALLENGE,
                )
            user = session.get(User, device.user_id)
            principal = self._principal(user, "session", f"user {device.user_id}")
            principal = Principal(
                principal.user_id, principal.login, "session", device_id=device.id
            )
            stale = device.last_used_at is None or device.last_used_at < utcnow() - USE_RESOLUTION
            device_id, expires_at = device.id, device.expires_at
        if stale:
            with self.grc.session() as session:
                session.execute(
                    update(Device).where(Device.id == device_id).values(last_used_at=utcnow())
                )
        return principal, expires_at

    def check_shared(self, client: str) -> None:
        """The shared failure limit, for sign-in routes that verify a secret themselves."""
        self.limiter.check(client)
        self.limiter.check_shared(client)

    def failed(self, request: Request, reason: str) -> None:
        """Count and log a failed sign-in made outside :meth:`authenticate` (an enrolment)."""
        client = client_of(request)
        self.limiter.failed(client)
        log.warning(
            "authentication refused for %s %s from %s: %s",
            request.method,
            request.url.path,
            client,
            reason,
        )

    def _look_up_token(self, secret: str) -> tuple[Principal, datetime | None]:
        with self.grc.session(read_only=True, primary=True) as session:
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

    def _from_jwt(self, token: str, client: str) -> Principal:
        assert self.oidc is not None
        key = "jwt:" + hashlib.sha256(token.encode()).hexdigest()
        if (principal := self._cached(key)) is not None:
            return principal
        self.limiter.check_shared(client)
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
        principal = self._user(value, "oidc")
        exp = claims.get("exp")
        if isinstance(exp, int | float):
            self.known.put(key, (principal, datetime.fromtimestamp(exp, tz=UTC)))
        return principal

    def user_principal(self, ref: str | int, method: str) -> Principal:
        """The principal of an active GRC user named by a verified claim (403 otherwise)."""
        return self._user(ref, method)

    def _user(self, ref: str | int, method: str) -> Principal:
        key = f"{method}:{type(ref).__name__}:{ref}"
        cached = self.known.get(key)
        if cached is not None:
            return cached[0]
        principal = self._look_up_user(ref, method)
        self.known.put(key, (principal, None))
        return principal

    def _look_up_user(self, ref: str | int, method: str) -> Principal:
        with self.grc.session(read_only=True, primary=True) as session:
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
