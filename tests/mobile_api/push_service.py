"""A Web Push service for the tests, on 127.0.0.1: it checks each message's VAPID signature
(RFC 8292: an ES256 JWT for this service's origin, signed by the key in ``k=``, which must
be the server's) and decrypts its ``aes128gcm`` payload (RFC 8291) with the subscription's
private key, as a browser vendor's service and the browser would."""

from __future__ import annotations

import base64
import http.server
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's subscription: the keys it generated and what it received."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    received: list[dict[str, Any]] = field(default_factory=list)
    #: The status this endpoint answers (410: the subscription is gone).
    status: int = 201

    def subscription(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the application."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(point), "auth": b64(self.auth)},
        }


class PushService:
    """The HTTP server; ``server_key`` is the VAPID public key messages must be signed with."""

    def __init__(self, server_key: str) -> None:
        self.server_key = server_key
        self.browsers: dict[str, Browser] = {}
        self.refused: list[str] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reason = service.receive(self.path, dict(self.headers.items()), body)
                self.send_response(status, reason)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def browser(self, name: str, status: int = 201) -> Browser:
        found = Browser(f"{self.origin}/push/{name}", status=status)
        self.browsers[f"/push/{name}"] = found
        return found

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        browser = self.browsers.get(path)
        if browser is None:
            return 404, "no such subscription"
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            self.check_vapid(lower.get("authorization", ""))
            if lower.get("content-encoding") != "aes128gcm":
                raise ValueError(f"content encoding {lower.get('content-encoding')!r}")
            if int(lower.get("ttl", "-1")) < 0:
                raise ValueError("no TTL header")
            clear = http_ece.decrypt(
                body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
            )
        except Exception as exc:  # the test reads why the message was refused
            self.refused.append(f"{path}: {exc}")
            return 400, "refused"
        if browser.status >= 300:
            return browser.status, "gone"
        browser.received.append(json.loads(clear))
        return 201, "Created"

    def check_vapid(self, header: str) -> None:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"authorization scheme {scheme!r}")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        if parts["k"].rstrip("=") != self.server_key:
            raise ValueError("signed with another key than the server's")
        point = unb64(parts["k"])
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        claims = jwt.decode(
            parts["t"], key=public, algorithms=["ES256"], audience=self.origin,
            options={"require": ["exp", "aud", "sub"]},
        )  # fmt: skip
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("a VAPID token may not live more than 24 hours")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
