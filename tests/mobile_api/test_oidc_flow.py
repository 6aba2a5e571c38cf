"""Sign-in with OpenID Connect (authorization code with PKCE) against an identity provider
written here: discovery, the authorization redirect, the code exchange (the provider checks
the PKCE verifier), the ID token verified against its published keys."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from grc_api import ApiSettings, OidcSettings, create_app

from .conftest import browser

CLIENT_ID = "grc-web"
KID = "idp-key"


class Provider:
    """The identity provider: issues codes for a chosen user, exchanges them for ID tokens."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}
        self.codes: dict[str, dict[str, Any]] = {}
        self.exchanges: list[dict[str, str]] = []
        self.nonce_override: str | None = None
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(200, provider.discovery())
                elif self.path == "/jwks":
                    self._json(200, provider.jwks)
                else:
                    self._json(404, {})

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(size).decode()).items()}
                status, body = provider.token(form)
                self._json(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
        }

    def authorize(self, redirect: str, login: str) -> str:
        """What the provider does when the user signs in: the URL it sends the browser to."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert "openid" in query["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "login": login}
        return f"{query['redirect_uri']}?code={code}&state={query['state']}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.exchanges.append(form)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": "u-1",
            "preferred_username": grant["login"],
            "nonce": self.nonce_override or grant["nonce"],
            "iat": now,
            "exp": now + 300,
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})
        return 200, {"access_token": "opaque", "token_type": "Bearer", "id_token": token}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = Provider()
    yield found
    found.close()


@pytest.fixture(scope="module")
def oidc_app(api_world, provider):  # type: ignore[no-untyped-def]
    oidc = OidcSettings(
        issuer=provider.url, audience="grc-api", jwks_url=f"{provider.url}/jwks",
        client_id=CLIENT_ID,
    )  # fmt: skip
    return create_app(api_world.grc, settings=ApiSettings(oidc=oidc, auth_failures=1000))


def start(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get(
        "/api/v1/session/oidc/start", params={"device_name": "iPad"}, follow_redirects=False
    )
    assert response.status_code == 302, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    return response.headers["location"]


def test_sign_in_with_the_company_directory(oidc_app, provider):
    with browser(oidc_app) as client:
        assert client.get("/api/v1/session/options").json()["oidc"] is True
        redirect = start(client)
        assert redirect.startswith(f"{provider.url}/authorize?")
        assert "redirect_uri=https%3A%2F%2Ftestserver%2Fapi%2Fv1%2Fsession%2Foidc%2Fcallback" in (
            redirect
        )
        back = urlsplit(provider.authorize(redirect, "alice"))
        done = client.get(f"{back.path}?{back.query}", follow_redirects=False)
        assert done.status_code == 302, done.text
        assert done.headers["location"] == "/"
        session = client.get("/api/v1/session").json()
        assert session["user"]["login"] == "alice"
        assert session["device"]["name"] == "iPad"
        devices = client.get("/api/v1/devices").json()
        assert next(d for d in devices if d["current"])["method"] == "oidc"
    # The code was exchanged with the PKCE verifier, never a secret the browser saw.
    assert provider.exchanges[-1]["code_verifier"]
    assert provider.exchanges[-1]["client_id"] == CLIENT_ID


def test_a_forged_state_or_replayed_code_is_refused(oidc_app, provider):
    with browser(oidc_app) as client:
        redirect = start(client)
        back = urlsplit(provider.authorize(redirect, "alice"))
        query = parse_qs(back.query)
        forged = client.get(
            back.path, params={"code": query["code"][0], "state": "forged"}, follow_redirects=False
        )
        assert forged.status_code == 400
        assert "grc_session" not in client.cookies
    # Without the browser's flow cookie (another browser), the callback is refused.
    with browser(oidc_app) as stranger:
        redirect = start(client)
        back = urlsplit(provider.authorize(redirect, "alice"))
        stolen = stranger.get(f"{back.path}?{back.query}", follow_redirects=False)
        assert stolen.status_code == 400
        assert "grc_session" not in stranger.cookies


def test_an_id_token_for_another_sign_in_or_user_is_refused(oidc_app, provider):
    with browser(oidc_app) as client:
        provider.nonce_override = "another sign-in"
        try:
            back = urlsplit(provider.authorize(start(client), "alice"))
            replayed = client.get(f"{back.path}?{back.query}", follow_redirects=False)
        finally:
            provider.nonce_override = None
        assert replayed.status_code == 401
        back = urlsplit(provider.authorize(start(client), "nobody"))
        unknown = client.get(f"{back.path}?{back.query}", follow_redirects=False)
        assert unknown.status_code == 403
        assert "grc_session" not in client.cookies


def test_without_a_provider_the_flow_is_off(client):
    assert client.get("/api/v1/session/oidc/start", follow_redirects=False).status_code == 404
