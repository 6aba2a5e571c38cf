"""Browser sign-in: device enrolment by one-time code, OpenID Connect (authorization code
with PKCE), the current session, sign-out.

The session lives in cookies (:mod:`grc_api.sessions`); every ``/api/v1`` operation accepts
it besides bearer credentials.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import Field

from grc_api import sessions
from grc_api.auth import Principal, client_of
from grc_api.context import Api
from grc_api.problems import ApiProblem
from grc_api.routes import PrincipalDependency
from grc_api.schemas import In, Out, UserOut
from grc_core.models import Device, User
from grc_core.services import devices

PREFIX = "/api/v1"
CALLBACK = f"{PREFIX}/session/oidc/callback"
#: How long a sign-in at the identity provider may take.
OIDC_FLOW_SECONDS = 600


class EnrolIn(In):
    code: str = Field(max_length=20, description="the one-time code, e.g. ABCD-EFGH")
    device_name: str | None = Field(default=None, max_length=100, examples=["Pixel 7"])


class DeviceRef(Out):
    id: int
    name: str
    created_at: datetime


class SessionOut(Out):
    user: UserOut
    device: DeviceRef | None = Field(
        description="the device signed in by cookie; null for a bearer credential"
    )


class SessionOptions(Out):
    oidc: bool = Field(description="sign-in with the company directory is configured")
    enrolment: bool = True


def device_ref(device: Device) -> DeviceRef:
    return DeviceRef(id=device.id, name=device.name, created_at=device.created_at)


def base_url(api: Api, request: Request) -> str:
    """The address users reach the server at (configured, else this request's)."""
    return api.settings.base_url or str(request.base_url).rstrip("/")


def check_origin(api: Api, request: Request) -> None:
    """Refuse a sign-in posted from another site (login CSRF): a browser names the page's
    origin in ``Origin``; it must be this server or an allowed CORS origin."""
    origin = request.headers.get("origin")
    if not origin:
        return
    allowed = {base_url(api, request), str(request.base_url).rstrip("/")}
    allowed.update(api.settings.cors_origins)
    if origin.rstrip("/") not in allowed:
        raise ApiProblem(403, f"sign-in from origin {origin!r} is refused", slug="origin")


def _session_response(api: Api, body: Out, new: devices.NewDevice) -> JSONResponse:
    response = JSONResponse(body.model_dump(mode="json"))
    sessions.set_session_cookies(response, new.secret, new.device.expires_at)
    return response


def public_router(api: Api) -> APIRouter:
    """Sign-in routes: no authentication (they are how a device gets one)."""
    r = APIRouter(tags=["session"])

    @r.get("/session/options", response_model=SessionOptions, summary="How one may sign in")
    def options() -> SessionOptions:
        return SessionOptions(oidc=api.settings.oidc is not None)

    @r.post(
        "/session/enrol",
        response_model=SessionOut,
        summary="Sign this device in with a one-time enrolment code",
        responses={
            400: {"description": "Unknown, expired or used code"},
            429: {"description": "Too many failed attempts from this client"},
        },
    )
    def enrol(body: EnrolIn, request: Request) -> JSONResponse:
        """Consumes the code and sets the ``grc_session`` and ``grc_csrf`` cookies.

        Wrong codes count as failed authentications (rate-limited per client).
        """
        check_origin(api, request)
        api.authenticator.check_shared(client_of(request))
        try:
            with api.grc.session() as session:
                new = devices.enrol(
                    session, body.code, device_name=body.device_name, days=api.settings.session_days
                )
                user = session.get(User, new.device.user_id)
                assert user is not None  # enrol() refuses a code whose user is gone
                out = SessionOut(user=UserOut.of(user), device=device_ref(new.device))
        except devices.EnrolmentInvalid as exc:
            api.authenticator.failed(request, "enrolment code refused")
            raise ApiProblem(400, str(exc), slug="enrolment-invalid") from None
        return _session_response(api, out, new)

    @r.get("/session/oidc/start", include_in_schema=False)
    def oidc_start(
        request: Request,
        device_name: Annotated[str | None, Query(max_length=100)] = None,
    ) -> RedirectResponse:
        """Redirect to the identity provider (authorization code flow with PKCE)."""
        oidc = _oidc(api)
        provider = provider_metadata(oidc.issuer)
        verifier = secrets.token_urlsafe(48)
        flow = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": verifier,
            "device": (device_name or "")[:100],
            "at": int(time.time()),
        }
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = {
            "response_type": "code",
            "client_id": oidc.client_id or oidc.audience,
            "redirect_uri": base_url(api, request) + CALLBACK,
            "scope": oidc.scopes,
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        target = provider["authorization_endpoint"]
        joiner = "&" if urlsplit(target).query else "?"
        response = RedirectResponse(f"{target}{joiner}{urlencode(query)}", status_code=302)
        # Lax, not Strict: the provider's redirect back is a cross-site navigation.
        response.set_cookie(
            sessions.OIDC_COOKIE,
            base64.urlsafe_b64encode(json.dumps(flow).encode()).decode(),
            max_age=OIDC_FLOW_SECONDS,
            path=f"{PREFIX}/session/oidc",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        return response

    @r.get("/session/oidc/callback", include_in_schema=False)
    def oidc_callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> RedirectResponse:
        """Exchange the code, verify the ID token, sign the device in, back to ``/``."""
        oidc = _oidc(api)
        client = client_of(request)
        api.authenticator.check_shared(client)
        flow = _flow(request.cookies.get(sessions.OIDC_COOKIE))
        if error:
            raise ApiProblem(
                400, f"the identity provider refused the sign-in: {error[:100]}", slug="oidc"
            )
        if (
            flow is None
            or not state
            or not code
            or not hmac.compare_digest(str(flow.get("state", "")), state)
            or int(flow.get("at", 0)) < time.time() - OIDC_FLOW_SECONDS
        ):
            api.authenticator.failed(request, "OpenID Connect callback without a valid state")
            raise ApiProblem(
                400, "this sign-in is unknown or too old; start again", slug="oidc-state"
            )
        provider = provider_metadata(oidc.issuer)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": base_url(api, request) + CALLBACK,
            "client_id": oidc.client_id or oidc.audience,
            "code_verifier": str(flow["verifier"]),
        }
        if oidc.client_secret:
            form["client_secret"] = oidc.client_secret
        try:
            answer = httpx.post(provider["token_endpoint"], data=form, timeout=10)
            tokens = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            tokens = {}
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            api.authenticator.failed(request, "OpenID Connect code not exchanged")
            raise ApiProblem(502, "the identity provider gave no ID token", slug="oidc")
        try:
            claims = _verify_id_token(api, id_token)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            api.authenticator.failed(request, f"ID token refused: {exc}")
            raise ApiProblem(401, f"the ID token is not valid: {exc}", slug="oidc") from None
        if not hmac.compare_digest(str(claims.get("nonce", "")), str(flow.get("nonce", ""))):
            api.authenticator.failed(request, "ID token nonce mismatch")
            raise ApiProblem(401, "the ID token is not for this sign-in", slug="oidc")
        login = claims.get(oidc.login_claim)
        if not isinstance(login, str) or not login.strip():
            raise ApiProblem(403, f"the ID token has no {oidc.login_claim!r} claim")
        try:
            principal = api.authenticator.user_principal(login, "oidc")
        except ApiProblem:
            api.authenticator.failed(request, "ID token names no active GRC user")
            raise
        with api.grc.session() as session:
            user = session.get(User, principal.user_id)
            assert user is not None
            new = devices.sign_in(
                session,
                user,
                device_name=str(flow.get("device") or "browser"),
                method="oidc",
                days=api.settings.session_days,
            )
        response = RedirectResponse("/", status_code=302)
        sessions.set_session_cookies(response, new.secret, new.device.expires_at)
        response.delete_cookie(
            sessions.OIDC_COOKIE, path=f"{PREFIX}/session/oidc", secure=True, httponly=True
        )
        return response

    return r


def _oidc(api: Api) -> Any:
    if api.settings.oidc is None:
        raise ApiProblem(
            404, "sign-in with an identity provider is not configured", slug="oidc-off"
        )
    return api.settings.oidc


def _flow(cookie: str | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cookie.encode()))
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _verify_id_token(api: Api, token: str) -> dict[str, Any]:
    """The ID token's verified claims: signature against the provider's keys, issuer,
    audience (our client id), expiry."""
    verifier = api.authenticator.oidc
    assert verifier is not None
    settings = verifier.settings
    header = jwt.get_unverified_header(token)
    if header.get("alg") not in settings.algorithms:
        raise jwt.InvalidAlgorithmError(f"algorithm {header.get('alg')!r} is not accepted")
    key = verifier.jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key=key.key,
        algorithms=list(settings.algorithms),
        audience=settings.client_id or settings.audience,
        issuer=settings.issuer,
        leeway=settings.leeway,
        options={"require": ["exp", "iss", "aud", "iat"], "verify_signature": True},
    )


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    """The current session and signing out."""
    r = APIRouter(tags=["session"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get("/session", response_model=SessionOut, summary="Who is signed in, on which device")
    def current(principal: Caller) -> SessionOut:
        with api.work(principal, read_only=True) as work:
            device = work.session.get(Device, principal.device_id) if principal.device_id else None
            return SessionOut(
                user=UserOut.of(work.actor), device=device_ref(device) if device else None
            )

    @r.post(
        "/session/logout",
        status_code=204,
        summary="Sign this device out (its session is revoked, its cookies removed)",
    )
    def logout(principal: Caller) -> Response:
        if principal.device_id is not None:
            with api.grc.session() as session:
                devices.revoke_device(session, None, principal.device_id)
            api.authenticator.forget_device(principal.device_id)
        response = Response(status_code=204)
        sessions.clear_session_cookies(response)
        return response

    return r


#: Discovery documents by issuer, with the time they were read.
_PROVIDERS: dict[str, tuple[float, dict[str, Any]]] = {}
PROVIDER_CACHE_SECONDS = 3600


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The provider's discovery document (``<issuer>/.well-known/openid-configuration``),
    read once an hour at most.

    :raises ApiProblem: 502 when it cannot be read or lacks the endpoints.
    """
    cached = _PROVIDERS.get(issuer)
    if cached is not None and cached[0] > time.monotonic() - PROVIDER_CACHE_SECONDS:
        return cached[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        answer = httpx.get(url, timeout=10)
        answer.raise_for_status()
        document = dict(answer.json())
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        raise ApiProblem(
            502, f"the identity provider's configuration cannot be read: {exc}", slug="oidc"
        ) from None
    if not all(
        isinstance(document.get(k), str) for k in ("authorization_endpoint", "token_endpoint")
    ):
        raise ApiProblem(
            502, "the identity provider publishes no authorization or token endpoint", slug="oidc"
        )
    _PROVIDERS[issuer] = (time.monotonic(), document)
    return document
