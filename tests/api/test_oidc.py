"""OpenID Connect bearer tokens, verified against a JWKS served by a local test server.

The keys are generated here; the server publishes the public one.  A valid token is
accepted; every way a token can be wrong is refused with 401; a valid token naming a user
GRC does not know, or a deactivated one, gets 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from tests.api.conftest import ApiWorld, _client

from grc_api import ApiSettings, OidcSettings, create_app
from grc_core.errors import ConfigError

ISSUER = "https://idp.example/realms/grc"
AUDIENCE = "grc-api"
KID = "test-key-1"


class Keys:
    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_url(keys: Keys) -> Iterator[str]:
    body = json.dumps(keys.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/protocol/openid-connect/certs"
    server.shutdown()


@pytest.fixture(scope="module")
def oidc_client(api_world: ApiWorld, jwks_url: str) -> Iterator[Any]:
    settings = ApiSettings(
        oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url),
        auth_failures=1000,
    )
    with _client(create_app(api_world.grc, settings=settings)) as client:
        yield client


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f3b1c2",
        "preferred_username": "alice",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(keys: Keys, payload: dict[str, Any], *, kid: str = KID, key: Any = None) -> str:
    return jwt.encode(payload, key or keys.private, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": KID}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def hs256_with_public_key(keys: Keys, payload: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC keyed with the published RSA key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = _b64(json.dumps(payload).encode())
    mac = hmac.new(keys.public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def tampered(keys: Keys) -> str:
    header, _, signature = sign(keys, claims()).split(".")
    forged = _b64(json.dumps(claims(preferred_username="admin")).encode())
    return f"{header}.{forged}.{signature}"


def me(client: Any, token: str) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_a_valid_token_is_accepted(oidc_client, keys):
    response = me(oidc_client, sign(keys, claims()))
    assert response.status_code == 200, response.text
    assert response.json()["login"] == "alice"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda k: sign(k, claims(exp=int(time.time()) - 120)), id="expired"),
        pytest.param(lambda k: sign(k, claims(nbf=int(time.time()) + 600)), id="not-yet-valid"),
        pytest.param(lambda k: sign(k, claims(iss="https://evil.example")), id="wrong-issuer"),
        pytest.param(lambda k: sign(k, claims(aud="another-api")), id="wrong-audience"),
        pytest.param(lambda k: sign(k, claims(), kid="unknown"), id="unknown-kid"),
        pytest.param(lambda k: sign(k, claims(), key=k.other), id="signed-by-another-key"),
        pytest.param(lambda k: unsigned(claims()), id="alg-none"),
        pytest.param(lambda k: hs256_with_public_key(k, claims()), id="hs256-with-public-key"),
        pytest.param(tampered, id="tampered-payload"),
        pytest.param(lambda k: sign(k, claims(exp=None)), id="no-exp"),
        pytest.param(lambda k: "not.a.jwt", id="garbage"),
    ],
)
def test_bad_tokens_are_refused_with_401(oidc_client, keys, forge):
    response = me(oidc_client, forge(keys))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("login", ["nobody", "dan"])  # unknown; deactivated
def test_unknown_or_deactivated_users_get_403(oidc_client, keys, login):
    response = me(oidc_client, sign(keys, claims(preferred_username=login)))
    assert response.status_code == 403, response.text


def test_api_tokens_still_work_next_to_oidc(oidc_client, api_world):
    assert me(oidc_client, api_world.tokens["entitled"]).status_code == 200


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS512"), ()])
def test_symmetric_or_no_algorithms_cannot_be_configured(algorithms):
    with pytest.raises(ConfigError):
        OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://x", algorithms=algorithms)


def test_failed_authentications_are_rate_limited_and_logged_without_secrets(
    api_world, keys, jwks_url, caplog
):
    settings = ApiSettings(
        oidc=OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_url),
        auth_failures=3,
        auth_window=60,
    )
    bad = sign(keys, claims(aud="another-api"))
    with _client(create_app(api_world.grc, settings=settings)) as client:
        statuses = [me(client, bad).status_code for _ in range(5)]
        # Even a valid credential waits once the client is over the limit.
        blocked = me(client, api_world.tokens["entitled"])
    assert statuses == [401, 401, 401, 429, 429]
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    logged = caplog.text
    assert "authentication refused" in logged
    assert bad not in logged and bad.split(".")[2] not in logged
    assert api_world.tokens["entitled"] not in logged
