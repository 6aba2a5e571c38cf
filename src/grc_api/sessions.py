"""Browser sessions: the cookies of an enrolled device, and CSRF protection.

A device signed in (by an enrolment code or OpenID Connect) holds two cookies:

* ``grc_session``: the device's session secret; ``HttpOnly`` (no script reads it),
  ``Secure``, ``SameSite=Strict``, ``Path=/``, kept as long as the session lives;
* ``grc_csrf``: a token the application's script reads and sends back in the
  ``X-CSRF-Token`` header of every unsafe request (double submit).  It is derived from the
  session secret (an HMAC), so a token planted by another site or a sibling sub-domain
  cannot match a session it does not know.

Bearer-authenticated requests carry no cookie and need no CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from fastapi import Response

SESSION_COOKIE = "grc_session"
CSRF_COOKIE = "grc_csrf"
CSRF_HEADER = "x-csrf-token"
#: The OpenID Connect sign-in in progress (state, nonce, PKCE verifier), for the callback.
OIDC_COOKIE = "grc_oidc"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What a revoked device is told to wipe (RFC: Clear Site Data).
CLEAR_SITE_DATA = '"cache", "storage"'


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose secret is ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), b"grc-csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def csrf_matches(secret: str, cookie: str | None, header: str | None) -> bool:
    """The header equals the cookie, and both are the session's token (constant time)."""
    if not cookie or not header:
        return False
    expected = csrf_token(secret)
    return hmac.compare_digest(header.encode(), cookie.encode()) and hmac.compare_digest(
        header.encode(), expected.encode()
    )


def set_session_cookies(response: Response, secret: str, expires_at: datetime) -> None:
    """Give the device its session and CSRF cookies (until the session expires)."""
    common = {"path": "/", "secure": True, "samesite": "strict", "expires": expires_at}
    response.set_cookie(SESSION_COOKIE, secret, httponly=True, **common)  # type: ignore[arg-type]
    response.set_cookie(CSRF_COOKIE, csrf_token(secret), httponly=False, **common)  # type: ignore[arg-type]


def clear_session_cookies(response: Response) -> None:
    """Remove both cookies from the browser."""
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=True, httponly=http_only, samesite="strict")


def clear_cookie_headers() -> list[tuple[str, str]]:
    """``Set-Cookie`` headers removing both cookies (for problem responses)."""
    response = Response()
    clear_session_cookies(response)
    return [(k, v) for k, v in response.headers.items() if k.lower() == "set-cookie"]
