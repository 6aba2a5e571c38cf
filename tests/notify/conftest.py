"""Local servers for the channel tests: a real SMTP server (aiosmtpd) and an HTTP SMS gateway.

Both listen on 127.0.0.1 only, record what they receive, and are shared by a test module
(``reset()`` before each test).  The TLS certificate is made on the fly for 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.server
import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- TLS ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 (and localhost)."""
    # cryptography comes with msal (the [sharepoint] extra, part of [test]): TLS is always
    # tested, never skipped.
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "grc-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler recording every message and every client connection."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    #: Client (ip, port) pairs that said EHLO: one per TCP connection, STARTTLS or not.
    peers: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    #: Clients that said QUIT (an orderly end of their connection).
    quits: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.recipients.clear()
            self.peers.clear()
            self.logins.clear()
            self.refuse.clear()
            self.quits.clear()

    @property
    def connections(self) -> int:
        return len(set(self.peers))

    def count(self, delivery_id: int) -> int:
        with self.lock:
            return sum(1 for m in self.messages if m["X-GRC-Delivery"] == str(delivery_id))

    def by_delivery(self, delivery_id: int) -> EmailMessage:
        [message] = [m for m in self.messages if m["X-GRC-Delivery"] == str(delivery_id)]
        return message

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            if session.peer not in self.peers:
                self.peers.append(session.peer)
        return responses

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quits.append(session.peer)
        return "221 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        login = auth_data.login.decode()
        ok = login == "grc" and auth_data.password == b"s3cret-pass"
        if ok:
            with self.lock:
                self.logins.append(login)
        # handled=False: aiosmtpd answers "535" itself (its default assumes we did).
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: SmtpRecorder


def _start_smtp(recorder: SmtpRecorder, **kwargs: Any) -> tuple[Any, SmtpServer]:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, SmtpServer("127.0.0.1", port, recorder)


@pytest.fixture(scope="module")
def _smtp_plain() -> Iterator[SmtpServer]:
    recorder = SmtpRecorder()
    controller, server = _start_smtp(recorder)
    yield server
    controller.stop()


@pytest.fixture
def smtp_server(_smtp_plain: SmtpServer) -> SmtpServer:
    """A plain SMTP server on 127.0.0.1, emptied before the test."""
    _smtp_plain.recorder.reset()
    return _smtp_plain


@pytest.fixture(scope="module")
def _smtp_starttls(certificate: Certificate) -> Iterator[SmtpServer]:
    recorder = SmtpRecorder()
    controller, server = _start_smtp(
        recorder,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=recorder.authenticate,
        auth_require_tls=True,
    )
    yield server
    controller.stop()


@pytest.fixture
def smtp_starttls(_smtp_starttls: SmtpServer) -> SmtpServer:
    """An SMTP server that requires STARTTLS, then AUTH (grc / s3cret-pass)."""
    _smtp_starttls.recorder.reset()
    return _smtp_starttls


# --- the HTTP SMS gateway -------------------------------------------------------------------


@dataclass
class GatewayRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    """What the fake gateway received, and how it answers (by phone number)."""

    url: str
    requests: list[GatewayRequest] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    #: Put the request's Authorization header in the answer (a careless gateway).
    echo_auth: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.statuses.clear()
            self.delay = 0.0
            self.echo_auth = False

    def phone_of(self, request: GatewayRequest) -> str | None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        if "to" in query:
            return query["to"][0]
        try:
            return str(request.json["to"])
        except (ValueError, KeyError, TypeError):
            return None

    def count(self, delivery_id: int) -> int:
        key = f"grc-delivery-{delivery_id}"
        with self.lock:
            return sum(
                1
                for r in self.requests
                if r.headers.get("Idempotency-Key") == key
                and self.statuses.get(self.phone_of(r) or "", 200) < 300
            )


def _gateway_handler(gateway: Gateway) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real gateways do

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = GatewayRequest(self.command, self.path, dict(self.headers), body)
            with gateway.lock:
                gateway.requests.append(request)
            if gateway.delay:
                threading.Event().wait(gateway.delay)
            status = gateway.statuses.get(gateway.phone_of(request) or "", 200)
            reply: dict[str, Any] = {"status": status, "id": len(gateway.requests)}
            if gateway.echo_auth:
                reply["auth"] = self.headers.get("Authorization")
            answer = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_POST = do_PUT = do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def _gateway() -> Iterator[Gateway]:
    gateway = Gateway(url="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _gateway_handler(gateway))
    server.daemon_threads = True
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/api/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gateway
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway(_gateway: Gateway) -> Gateway:
    """A local HTTP SMS gateway, emptied before the test."""
    _gateway.reset()
    return _gateway


# --- deliveries (database channels write rows that reference them) ---------------------------


def add_delivery(session: Any, user_id: int, channel: str, about: dict | None = None) -> int:
    """A pending delivery row (as fan-out would write), for the foreign keys."""
    import uuid

    from grc_core.models import Delivery
    from grc_core.timeutil import utcnow

    delivery = Delivery(
        dedupe_key=f"test:{uuid.uuid4().hex}",
        user_id=user_id,
        channel=channel,
        due_at=utcnow(),
        about=about or {},
    )
    session.add(delivery)
    session.flush()
    return int(delivery.id)
