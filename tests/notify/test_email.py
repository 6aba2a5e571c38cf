"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1), and in mbox mode."""

from __future__ import annotations

import io
import mailbox
import socket
import threading
import time
from collections.abc import Callable, Iterator
from email.generator import BytesGenerator
from pathlib import Path

import pytest

from grc_adapters.email import EmailChannel, EmailSettings
from grc_adapters.email import transport as transport_module
from grc_adapters.email.plugin import make_email_channel
from grc_adapters.email.transport import (
    SmtpTransport,
    build_email,
    usable_address,
    wire_form,
)
from grc_core.errors import ConfigError
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.testing.channel_contract import NotificationChannelContract

from .conftest import Certificate, SmtpRecorder, SmtpServer, _start_smtp, free_port

ALICE = Recipient(1, "alice", "Alice Martin", "alice@example.com", None)
BOB = Recipient(2, "bob", "Bob", "bob@example.com", None)


def message(delivery_id: int, recipient: Recipient = ALICE, **fields: object) -> OutgoingMessage:
    values: dict = {"subject": f"Sujet {delivery_id}", "text": f"Texte {delivery_id}"}
    values.update(fields)
    return OutgoingMessage(delivery_id=delivery_id, recipient=recipient, **values)


def content(part) -> str:  # type: ignore[no-untyped-def]
    """A part's text with the SMTP line endings (CRLF) made plain."""
    return part.get_content().replace("\r\n", "\n").strip()


def smtp_channel(server: SmtpServer, **config: object) -> EmailChannel:
    settings = {
        "host": server.host,
        "port": server.port,
        "from_address": "GRC <grc@example.com>",
        "timeout": 5,
        **config,
    }
    return make_email_channel(settings)


# --- the contract -----------------------------------------------------------------------------


class TestEmailOverSmtp(NotificationChannelContract):
    @pytest.fixture
    def channel(self, smtp_server: SmtpServer) -> Iterator[EmailChannel]:
        channel = smtp_channel(smtp_server)
        yield channel
        channel.close()

    @pytest.fixture
    def delivered(self, smtp_server: SmtpServer) -> Callable[[int], int]:
        return smtp_server.recorder.count


def mbox_count(path: Path) -> Callable[[int], int]:
    def count(delivery_id: int) -> int:
        if not path.exists():
            return 0
        box = mailbox.mbox(path)
        try:
            return sum(1 for m in box if m["X-GRC-Delivery"] == str(delivery_id))
        finally:
            box.close()

    return count


class TestEmailIntoMbox(NotificationChannelContract):
    @pytest.fixture
    def mbox_path(self, tmp_path: Path) -> Path:
        return tmp_path / "mail" / "outbox.mbox"

    @pytest.fixture
    def channel(self, mbox_path: Path) -> Iterator[EmailChannel]:
        channel = make_email_channel({"mailbox": str(mbox_path)})
        yield channel
        channel.close()

    @pytest.fixture
    def delivered(self, mbox_path: Path) -> Callable[[int], int]:
        return mbox_count(mbox_path)


# --- what an e-mail looks like ------------------------------------------------------------------


def test_text_and_html_parts_and_headers(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    [result] = channel.send(
        None,
        [
            message(
                42,
                subject="Relance\r\nBcc: victim@example.com",
                text="Bonjour Alice,\nUn échange.",
                html="<p>Bonjour <b>Alice</b></p>",
            )
        ],
    )
    assert result.ok and result.message_id == "<grc-delivery-42@example.com>"
    received = smtp_server.recorder.by_delivery(42)
    assert smtp_server.recorder.recipients == [["alice@example.com"]]
    assert received["Message-ID"] == "<grc-delivery-42@example.com>"
    assert received["From"] == "GRC <grc@example.com>"
    assert received["To"] == "Alice Martin <alice@example.com>"
    # The line break was folded away: no header was smuggled in.
    assert received["Subject"] == "Relance Bcc: victim@example.com"
    assert received["Bcc"] is None
    assert received["Auto-Submitted"] == "auto-generated"
    assert received.get_content_type() == "multipart/alternative"
    plain, html = received.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert content(plain) == "Bonjour Alice,\nUn échange."
    assert html.get_content_type() == "text/html"
    assert content(html) == "<p>Bonjour <b>Alice</b></p>"


def test_a_message_without_html_is_plain_text(smtp_server: SmtpServer) -> None:
    smtp_channel(smtp_server).send(None, [message(7, text="Seulement du texte")])
    received = smtp_server.recorder.by_delivery(7)
    assert received.get_content_type() == "text/plain"
    assert content(received) == "Seulement du texte"


def test_message_id_domain_is_configurable(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server, message_id_domain="mail.example.org")
    [result] = channel.send(None, [message(9)])
    assert result.message_id == "<grc-delivery-9@mail.example.org>"
    assert smtp_server.recorder.by_delivery(9)["Message-ID"] == result.message_id


def test_a_resend_carries_the_same_message_id(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    channel.send(None, [message(5)])
    channel.send(None, [message(5)])
    ids = [m["Message-ID"] for m in smtp_server.recorder.messages]
    assert ids == ["<grc-delivery-5@example.com>"] * 2


# --- one connection per batch -------------------------------------------------------------------


def test_one_connection_for_a_whole_batch(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server, connections=1)
    results = channel.send(None, [message(i) for i in range(1, 26)])
    assert all(r.ok for r in results)
    assert len(smtp_server.recorder.messages) == 25
    assert smtp_server.recorder.connections == 1
    assert isinstance(channel.transport, SmtpTransport)
    assert channel.transport.connections == 1
    channel.send(None, [message(i) for i in range(26, 31)])
    assert smtp_server.recorder.connections == 1  # kept for the next batch
    assert smtp_server.recorder.quits == []
    channel.close()
    assert smtp_server.recorder.quits == smtp_server.recorder.peers  # ended with QUIT
    channel.send(None, [message(31)])  # a batch after close opens a new one
    assert smtp_server.recorder.connections == 2
    assert [smtp_server.recorder.count(i) for i in range(1, 32)] == [1] * 31
    channel.close()


def test_a_kept_connection_the_server_dropped_is_replaced(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server, connections=1)
    assert all(r.ok for r in channel.send(None, [message(1)]))
    transport = channel.transport
    assert isinstance(transport, SmtpTransport)
    [(kept, _)] = transport._idle
    assert kept.sock is not None
    kept.sock.shutdown(socket.SHUT_RDWR)  # as a server's idle timeout ends it
    assert all(r.ok for r in channel.send(None, [message(2), message(3)]))
    assert smtp_server.recorder.connections == 2
    assert [smtp_server.recorder.count(i) for i in (1, 2, 3)] == [1, 1, 1]
    channel.close()


def test_a_connection_idle_too_long_is_ended_not_used(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = smtp_channel(smtp_server, connections=1)
    channel.send(None, [message(1)])
    monkeypatch.setattr(transport_module, "IDLE_SECONDS", 0.0)
    time.sleep(0.01)
    channel.send(None, [message(2)])
    assert smtp_server.recorder.connections == 2
    assert len(smtp_server.recorder.quits) == 1  # the old one was ended politely
    channel.close()


def test_no_connection_when_nobody_has_an_address(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    nobody = Recipient(3, "carol", "Carol", None, None)
    bad = Recipient(4, "dave", "Dave", "dave@example.com\r\nBcc: x@example.com", None)
    results = channel.send(None, [message(1, nobody), message(2, bad)])
    assert [(r.ok, r.retryable) for r in results] == [(False, False), (False, False)]
    assert results[0].error == "user 'carol' has no usable e-mail address"
    assert smtp_server.recorder.connections == 0
    assert channel.send(None, []) == []
    assert smtp_server.recorder.connections == 0


# --- failures ----------------------------------------------------------------------------------


def test_a_refused_recipient_fails_alone_and_for_good(smtp_server: SmtpServer) -> None:
    smtp_server.recorder.refuse["bob@example.com"] = "550 5.1.1 <bob@example.com>: no such user"
    results = smtp_channel(smtp_server).send(None, [message(1), message(2, BOB), message(3)])
    assert [r.ok for r in results] == [True, False, True]
    refused = results[1]
    assert refused.retryable is False
    assert refused.error == (
        "the SMTP server refused the recipient bob@example.com: "
        "550 5.1.1 <bob@example.com>: no such user"
    )
    assert refused.message_id == "<grc-delivery-2@example.com>"
    assert [smtp_server.recorder.count(i) for i in (1, 2, 3)] == [1, 0, 1]
    assert smtp_server.recorder.connections == 1  # the connection went on after the refusal


def test_a_temporarily_refused_recipient_is_retryable(smtp_server: SmtpServer) -> None:
    smtp_server.recorder.refuse["bob@example.com"] = "450 4.2.1 mailbox busy, try later"
    [result] = smtp_channel(smtp_server).send(None, [message(1, BOB)])
    assert not result.ok and result.retryable is True
    assert "450 4.2.1 mailbox busy" in (result.error or "")


def test_a_server_that_is_down_gives_retryable_failures() -> None:
    port = free_port()  # nothing listens there
    channel = make_email_channel(
        {"host": "127.0.0.1", "port": port, "from_address": "grc@example.com", "timeout": 2}
    )
    results = channel.send(None, [message(1), message(2)])
    assert [(r.ok, r.retryable) for r in results] == [(False, True), (False, True)]
    assert results[0].error is not None
    assert results[0].error.startswith(f"cannot connect to the SMTP server 127.0.0.1:{port}: ")


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    try:
        channel = make_email_channel(
            {
                "host": "127.0.0.1",
                "port": listener.getsockname()[1],
                "from_address": "grc@example.com",
                "timeout": 0.3,
            }
        )
        started = time.monotonic()
        [result] = channel.send(None, [message(1)])
        assert time.monotonic() - started < 3
        assert not result.ok and result.retryable
        assert "timed out" in (result.error or "")
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_the_connection_breaking_mid_batch_fails_the_rest_retryably(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = smtp_channel(smtp_server)
    real = SmtpTransport._send_one
    calls = {"n": 0}

    def flaky(self: SmtpTransport, connection, envelope):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            connection.close()  # the connection is gone before the second message
        return real(self, connection, envelope)

    monkeypatch.setattr(SmtpTransport, "_send_one", flaky)
    results = channel.send(None, [message(1), message(2), message(3)])
    assert [(r.ok, r.retryable) for r in results] == [(True, False), (False, True), (False, True)]
    assert results[1].error == (
        f"lost the connection to the SMTP server 127.0.0.1:{smtp_server.port}"
    )
    assert smtp_server.recorder.count(1) == 1


# --- TLS and authentication ----------------------------------------------------------------------


def test_starttls_and_login(smtp_starttls: SmtpServer, certificate: Certificate) -> None:
    channel = smtp_channel(
        smtp_starttls,
        tls="starttls",
        username="grc",
        password="s3cret-pass",
        ca_file=str(certificate.cert),
    )
    results = channel.send(None, [message(1), message(2)])
    assert all(r.ok for r in results), results
    assert smtp_starttls.recorder.logins == ["grc"]
    assert smtp_starttls.recorder.count(1) == 1
    assert smtp_starttls.recorder.connections == 1


def test_wrong_credentials_are_retryable_and_never_shown(
    smtp_starttls: SmtpServer, certificate: Certificate
) -> None:
    channel = smtp_channel(
        smtp_starttls,
        tls="starttls",
        username="grc",
        password="not-the-password",
        ca_file=str(certificate.cert),
    )
    [result] = channel.send(None, [message(1)])
    assert not result.ok and result.retryable
    assert (result.error or "").startswith(
        f"the SMTP server 127.0.0.1:{smtp_starttls.port} refused the credentials of 'grc': 535"
    )
    assert "not-the-password" not in (result.error or "")
    assert smtp_starttls.recorder.messages == []


def test_an_unknown_certificate_is_refused(smtp_starttls: SmtpServer) -> None:
    channel = smtp_channel(smtp_starttls, tls="starttls", username="grc", password="s3cret-pass")
    [result] = channel.send(None, [message(1)])
    assert not result.ok and result.retryable
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert smtp_starttls.recorder.messages == []


def test_a_server_requiring_starttls_refuses_plain_text(smtp_starttls: SmtpServer) -> None:
    [result] = smtp_channel(smtp_starttls).send(None, [message(1)])
    assert not result.ok and result.retryable
    assert "530" in (result.error or "")
    assert smtp_starttls.recorder.messages == []


def test_implicit_tls(certificate: Certificate) -> None:
    recorder = SmtpRecorder()
    controller, server = _start_smtp(recorder, ssl_context=certificate.server_context())
    try:
        channel = smtp_channel(server, tls="ssl", ca_file=str(certificate.cert))
        [result] = channel.send(None, [message(1, html="<p>x</p>")])
        assert result.ok, result
        assert recorder.count(1) == 1
    finally:
        controller.stop()


# --- mbox mode ----------------------------------------------------------------------------------


def test_mbox_mode_appends_batches_with_their_message_ids(tmp_path: Path) -> None:
    path = tmp_path / "outbox.mbox"
    channel = make_email_channel({"mailbox": str(path)})
    channel.send(None, [message(1, html="<p>un</p>"), message(2)])
    channel.send(None, [message(3)])
    box = mailbox.mbox(path)
    try:
        assert [m["Message-ID"] for m in box] == [
            "<grc-delivery-1@localhost>",
            "<grc-delivery-2@localhost>",
            "<grc-delivery-3@localhost>",
        ]
        first = box[0]
        assert first["From"] == "grc@localhost"
        assert first.get_content_type() == "multipart/alternative"
    finally:
        box.close()
    assert not (tmp_path / "outbox.mbox.lock").exists()  # the lock was released


def test_mbox_mode_reports_an_unwritable_file_as_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    channel = make_email_channel({"mailbox": str(blocker / "outbox.mbox")})
    [result] = channel.send(None, [message(1)])
    assert not result.ok and result.retryable
    assert (result.error or "").startswith(f"cannot write to the mailbox {blocker}/outbox.mbox")


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"host": "smtp.example.com"}, "the 'email' channel needs from_address"),
        ({"mailbox": "/tmp/x", "colour": "blue"}, "the 'email' channel has no setting 'colour'"),
        ({"from_address": "nobody"}, "the 'email' channel's from_address must be an e-mail"),
        (
            {"from_address": "g@example.com", "tls": "maybe"},
            "the 'email' channel's tls must be one of none, starttls, ssl",
        ),
        (
            {"from_address": "g@example.com", "port": "smtp"},
            "the 'email' channel's port must be an integer from 1 to 65535",
        ),
        (
            {"from_address": "g@example.com", "username": "grc"},
            "the 'email' channel needs both username and password, or none",
        ),
        (
            {
                "host": "smtp.example.com",
                "from_address": "g@example.com",
                "username": "grc",
                "password": "hunter2",
            },
            "the 'email' channel would send its password unencrypted to smtp.example.com",
        ),
    ],
)
def test_configuration_errors(config: dict, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_email_channel(config)
    assert str(caught.value).startswith(error)
    assert "hunter2" not in str(caught.value)


def test_settings_defaults_and_environment_strings() -> None:
    settings = EmailSettings.from_config(
        {"host": "smtp.example.com", "tls": "STARTTLS", "from_address": "GRC <g@example.com>"}
    )
    assert (settings.port, settings.tls, settings.message_id_domain) == (
        587,
        "starttls",
        "example.com",
    )
    assert EmailSettings.from_config({"from_address": "g@e.com", "tls": "ssl"}).port == 465
    from_env = EmailSettings.from_config(
        {"from_address": "g@e.com", "port": "2525", "timeout": "2.5"}
    )
    assert (from_env.port, from_env.timeout) == (2525, 2.5)


def test_the_password_is_not_in_the_repr() -> None:
    settings = EmailSettings.from_config(
        {
            "host": "smtp.example.com",
            "tls": "ssl",
            "from_address": "g@example.com",
            "username": "grc",
            "password": "hunter2",
        }
    )
    assert "hunter2" not in repr(settings)
    assert "password='***'" in repr(settings)


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        ("alice@example.com", True),
        (" alice@example.com ", True),
        (None, False),
        ("", False),
        ("alice", False),
        ("alice@localhost", False),
        ("a@b@example.com", False),
        ("alice@example.com, bob@example.com", False),
        ("alice@example.com\r\nBcc: x@example.com", False),
        ("<alice@example.com>", False),
    ],
)
def test_usable_address(address: str | None, usable: bool) -> None:
    assert (usable_address(address) is not None) is usable


# --- the message on the wire ---------------------------------------------------------------------


def generated(envelope_message) -> bytes:  # type: ignore[no-untyped-def]
    out = io.BytesIO()
    BytesGenerator(out).flatten(envelope_message, linesep="\r\n")
    return out.getvalue()


@pytest.mark.parametrize(
    ("subject", "name", "html"),
    [
        ("Relance devis", "Alice Martin", None),
        ("Relance devis", "Alice Martin", "<p>Bonjour</p>"),
        ("Compte rendu — réunion de lancement du projet de renouvellement " * 2, "Élise", None),
        ("Réclamation", "Jean-Christophe de La Rochefoucauld", "<p>é</p>" * 60),
    ],
)
def test_the_wire_form_is_what_the_generator_writes(
    subject: str, name: str, html: str | None
) -> None:
    settings = EmailSettings.from_config(
        {"host": "127.0.0.1", "from_address": "Équipe GRC <grc@example.com>"}
    )
    text = "Bonjour,\n.\nUne ligne qui commence par un point, puis une longue : " + "é" * 120
    recipient = Recipient(1, "alice", name, "alice@example.com", None)
    outgoing = message(7, recipient, subject=subject, text=text, html=html)
    envelope = build_email(outgoing, settings, "alice@example.com")
    fast = wire_form(envelope.message)
    assert fast is not None
    assert fast == generated(envelope.message)


def test_a_header_too_long_for_the_wire_form_goes_through_the_generator(
    smtp_server: SmtpServer,
) -> None:
    long_name = Recipient(1, "alice", "Alice " + "Martin-" * 12, "alice@example.com", None)
    settings = EmailSettings.from_config({"host": "127.0.0.1", "from_address": "g@example.com"})
    envelope = build_email(message(1, long_name), settings, "alice@example.com")
    assert wire_form(envelope.message) is None
    channel = smtp_channel(smtp_server)
    assert all(r.ok for r in channel.send(None, [message(1, long_name)]))
    received = smtp_server.recorder.by_delivery(1)
    assert received["To"].addresses[0].display_name == "Alice " + "Martin-" * 12
    channel.close()


def test_a_line_starting_with_a_dot_arrives_whole(smtp_server: SmtpServer) -> None:
    channel = smtp_channel(smtp_server)
    text = "Bonjour,\n.\n..deux points\n.fin"
    assert all(r.ok for r in channel.send(None, [message(1, text=text)]))
    assert content(smtp_server.recorder.by_delivery(1)) == text
    channel.close()
