"""Certificate app-only authentication, end to end, in the environment that also has nuxeo.

``ClientContext.with_client_certificate`` hands the private key to MSAL, which signs a client
assertion (a JWT, RS256, with the certificate's SHA-1 thumbprint as ``x5t``) with **PyJWT**.
The ``nuxeo`` client imports a ``jwt`` module too — that of the ``jwt`` distribution, which
installs into the same folder as PyJWT (GED-NOTES): if it won, MSAL could not sign anything.
This test runs in the one environment where the SharePoint and Nuxeo adapters are both
installed, and proves that the certificate path works there:

1. a self-signed certificate is generated with ``cryptography``;
2. a local HTTPS server plays Entra ID (OpenID configuration and token endpoint); the token
   endpoint **verifies the client assertion with PyJWT** against the certificate's public key
   and answers with an access token;
3. the SharePoint backend, configured with ``tenant``, ``client_id``, ``thumbprint`` and
   ``cert_path`` (and ``authority`` pointing at the local server), stores and reads back a
   blob on the strict SharePoint server, which only accepts that token.

MSAL is constructed by the client library itself; the test only adds what a laptop without
Internet needs: an HTTP session that trusts the local server's certificate, and no instance
discovery (a call to login.microsoftonline.com).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.adapters.sharepoint.conftest import ROOT

from grc_core.errors import ConfigError, StorageAuthError

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
ACCESS_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.from-the-certificate-flow"
KEY = "2026/03/" + "c" * 32


def self_signed(common_name: str, *, ip: str | None = None) -> tuple[rsa.RSAPrivateKey, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return key, builder.sign(key, hashes.SHA256())


def pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class FakeEntra:
    """OpenID configuration and a token endpoint that checks the assertion with PyJWT."""

    def __init__(self, directory: Path, client_certificate: Any) -> None:
        key, certificate = self_signed("127.0.0.1", ip="127.0.0.1")
        self.ca_file = directory / "entra-tls.pem"
        self.ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file = directory / "entra-tls-key.pem"
        key_file.write_bytes(pem_key(key))
        self.client_certificate = client_certificate
        self.assertions: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.refuse = False
        self.client_secret = "graph-client-secret-0123456789"
        entra = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _json(self, status: int, data: dict[str, Any]) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"/{TENANT}/v2.0/.well-known/openid-configuration":
                    return self._json(404, {"error": "not_found"})
                base = f"{entra.url}/{TENANT}"
                self._json(
                    200,
                    {
                        "issuer": f"{base}/v2.0",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if self.path != f"/{TENANT}/oauth2/v2.0/token":
                    return self._json(404, {"error": "not_found"})
                self._json(*entra.token(form))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.refuse:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS700027: The certificate with identifier used to "
                "sign the client assertion is not registered on application.",
            }
        assert form["grant_type"] == "client_credentials"
        if "client_secret" in form:  # the secret flow (Microsoft Graph accepts it)
            if form["client_secret"] != self.client_secret or form["client_id"] != CLIENT_ID:
                return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: "
                             "Invalid client secret provided."}  # fmt: skip
            self.assertions.append(({}, {"scope": form["scope"], "secret": True}))
            return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": ACCESS_TOKEN}
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(  # PyJWT verifies the RS256 signature with the certificate
            assertion,
            self.client_certificate.public_key(),
            algorithms=["RS256"],
            audience=f"{self.url}/{TENANT}/oauth2/v2.0/token",
        )
        assert claims["iss"] == claims["sub"] == form["client_id"] == CLIENT_ID
        self.assertions.append((header, {**claims, "scope": form["scope"]}))
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": ACCESS_TOKEN}

    def __enter__(self) -> FakeEntra:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def certificate(tmp_path) -> tuple[Path, str, Any]:
    key, certificate = self_signed("grc-sharepoint")
    path = tmp_path / "grc-sharepoint.pem"
    path.write_bytes(pem_key(key) + certificate.public_bytes(serialization.Encoding.PEM))
    thumbprint = certificate.fingerprint(hashes.SHA1()).hex().upper()
    return path, thumbprint, certificate


@pytest.fixture
def entra(tmp_path, certificate, monkeypatch) -> Iterator[FakeEntra]:
    with FakeEntra(tmp_path, certificate[2]) as fake:
        real = msal.ConfidentialClientApplication

        class LocalConfidentialClientApplication(real):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                session = requests.Session()
                session.trust_env = False  # REQUESTS_CA_BUNDLE would override ``verify``
                session.verify = str(fake.ca_file)
                kwargs.setdefault("http_client", session)
                kwargs["instance_discovery"] = False
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(
            msal, "ConfidentialClientApplication", LocalConfidentialClientApplication
        )
        yield fake


def certificate_config(entra: FakeEntra, certificate: tuple[Path, str, Any]) -> dict[str, Any]:
    path, thumbprint, _ = certificate
    return {
        "access_token": None,
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "thumbprint": ":".join(thumbprint[i : i + 2] for i in range(0, 40, 2)),  # as shown
        "cert_path": str(path),
        "authority": f"{entra.url}/{TENANT}",
    }


def test_the_environment_has_both_nuxeo_and_pyjwt():
    # The premise of the jwt/PyJWT conflict: both clients installed side by side…
    assert importlib.metadata.distribution("nuxeo").version == "7.1.0"
    assert importlib.metadata.distribution("office365-rest-python-client").version == "3.3.0"
    # …and the ``jwt`` module MSAL imports is PyJWT's, whose API it calls.
    pyjwt = importlib.metadata.distribution("PyJWT")
    assert jwt.__version__ == pyjwt.version
    assert callable(jwt.encode) and hasattr(jwt, "PyJWK")


def test_certificate_authentication_end_to_end(make_backend, protocol, entra, certificate):
    protocol.tokens = {ACCESS_TOKEN}  # the SharePoint server accepts only the real token
    backend = make_backend(**certificate_config(entra, certificate))
    key = backend.put(KEY, io.BytesIO(b"signed in with a certificate"))
    with backend.open(key) as stream:
        assert stream.read() == b"signed in with a certificate"
    assert list(protocol.documents(ROOT).values()) == [len(b"signed in with a certificate")]

    # One assertion, signed by our certificate and verified by PyJWT, served every request.
    assert len(entra.assertions) == 1
    header, claims = entra.assertions[0]
    thumbprint = bytes.fromhex(certificate[1])
    assert header["alg"] == "RS256"
    assert header["x5t"].rstrip("=") == base64.urlsafe_b64encode(thumbprint).decode().rstrip("=")
    site = backend.settings.site_url.rsplit("/sites/", 1)[0]
    assert claims["scope"] == f"{site}/.default"  # the SharePoint resource, app-only
    assert hashlib.sha1(certificate[2].public_bytes(serialization.Encoding.DER)).digest() == (
        thumbprint
    )


def test_a_refused_certificate_is_an_auth_error(make_backend, protocol, entra, certificate):
    entra.refuse = True
    backend = make_backend(**certificate_config(entra, certificate))
    with pytest.raises(StorageAuthError, match="invalid_client") as caught:
        backend.stat(KEY)
    private_key = certificate[0].read_text()
    assert "PRIVATE KEY" not in str(caught.value)
    assert private_key not in str(caught.value)
    assert len(protocol.chunks) == 0 and protocol.documents(ROOT) == {}


def test_a_public_certificate_instead_of_the_private_key_is_refused(make_backend, tmp_path):
    _, certificate = self_signed("grc")
    cer = tmp_path / "grc.cer"
    cer.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match="private key"):
        make_backend(
            access_token=None,
            tenant=TENANT,
            client_id=CLIENT_ID,
            thumbprint="AB" * 20,
            cert_path=str(cer),
        )
