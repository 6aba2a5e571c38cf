"""Sending e-mail: building the message, and the SMTP and mbox transports.

Shared by the ``email`` channel and the ``report`` channel (which sends its digest by
e-mail).  A transport sends a batch of :class:`Envelope` and returns one
:class:`~grc_core.notify.channels.SendResult` per envelope, in order:

- :class:`SmtpTransport` spreads a batch over a few SMTP connections (TLS and
  authentication as configured, ``connections`` of them at most), each sending its share
  of the messages one after the other, and keeps them for the next batch until
  :meth:`~SmtpTransport.close`.  A recipient the server refuses fails that message only; a
  lost connection fails the rest of its share, retryably;
- :class:`MboxTransport` appends the batch to a local mbox file under a lock — for the demo
  and for tests, where no SMTP server is at hand.

Every message carries ``Message-ID: <grc-delivery-N@domain>`` (N the delivery id): a
message sent again after a crash in the send → acknowledge window has the same Message-ID,
which mail clients use to recognise (and often hide) the duplicate.
"""

from __future__ import annotations

import ipaddress
import mailbox
import secrets
import smtplib
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol, cast

from grc_core.errors import ConfigError
from grc_core.files.modes import create_private_file, make_private_dirs
from grc_core.notify.channels import (
    ChannelSettings,
    OutgoingMessage,
    SendResult,
    message_id_for,
)
from grc_core.timeutil import utcnow

#: The settings the email (and report) channels accept.
EMAIL_KEYS = (
    "host",
    "port",
    "tls",
    "username",
    "password",
    "from_address",
    "message_id_domain",
    "mailbox",
    "timeout",
    "ca_file",
    "connections",
)
TLS_MODES = ("none", "starttls", "ssl")
_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
#: The sender of mbox-mode messages when none is configured (the demo needs no settings).
DEFAULT_MBOX_SENDER = "grc@localhost"
#: SMTP connections a batch is spread over by default, and at most.
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 32
#: A batch uses a connection for every this many of its messages (up to ``connections``):
#: a batch of three messages does not use three connections, a batch of 100 may use 32.
MESSAGES_PER_CONNECTION = 3
#: Seconds a kept connection may stay idle before the next batch ends it instead of using
#: it: well under the idle timeouts of SMTP servers (RFC 5321 suggests 5 minutes).
IDLE_SECONDS = 30.0


@dataclass(frozen=True)
class EmailSettings:
    """How to send e-mail.

    :param host: the SMTP server.
    :param port: its port (25, 587 for STARTTLS, 465 for implicit TLS by default).
    :param tls: ``none``, ``starttls`` or ``ssl`` (TLS from the first byte).
    :param username: the login, when the server wants one.
    :param password: its password (a secret: never shown).
    :param from_address: the ``From`` address (``GRC <grc@example.com>``).
    :param message_id_domain: the right-hand side of Message-IDs (default: the sender's
        domain).
    :param mailbox: append messages to this mbox file instead of sending them.
    :param timeout: seconds to wait for the server at each step.
    :param ca_file: a CA bundle to verify the server's certificate with (default: the
        system's).
    :param connections: SMTP connections a batch is spread over, each sending its share of
        the messages one after the other (a server answering in 10 ms takes 100 messages a
        second through one connection).
    """

    host: str = "localhost"
    port: int = 25
    tls: str = "none"
    username: str | None = None
    password: str | None = None
    from_address: str = DEFAULT_MBOX_SENDER
    message_id_domain: str = "localhost"
    mailbox: Path | None = None
    timeout: float = 30.0
    ca_file: str | None = None
    connections: int = DEFAULT_CONNECTIONS

    def __repr__(self) -> str:  # the password never reaches a log line
        secret = "***" if self.password else None
        return (
            f"EmailSettings(host={self.host!r}, port={self.port}, tls={self.tls!r}, "
            f"username={self.username!r}, password={secret!r}, "
            f"from_address={self.from_address!r}, mailbox={self.mailbox!r})"
        )

    @property
    def sender(self) -> str:
        """The bare address of ``from_address`` (the SMTP envelope sender)."""
        return parseaddr(self.from_address)[1]

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, channel: str = "email", extra: Sequence[str] = ()
    ) -> EmailSettings:
        """Check and read a channel's table.

        :param extra: further keys the calling channel accepts (and reads itself).
        :raises ConfigError: an unknown key, a missing ``from_address`` (SMTP mode), a bad
            value, or a password to be sent unencrypted to another machine.
        """
        read = ChannelSettings(channel, config, (*EMAIL_KEYS, *extra))
        mbox = read.text("mailbox")
        tls = read.choice("tls", "none", TLS_MODES)
        host = read.text("host", "localhost") or "localhost"
        sender = read.text("from_address", None if mbox is None else DEFAULT_MBOX_SENDER)
        if sender is None:
            raise ConfigError(
                f"the {channel!r} channel needs from_address (e.g. 'GRC <grc@example.com>'), "
                "or mailbox to write to a local file"
            )
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise ConfigError(f"the {channel!r} channel's from_address must be an e-mail address")
        username = read.text("username")
        password = read.text("password")
        if (username is None) != (password is None):
            raise ConfigError(f"the {channel!r} channel needs both username and password, or none")
        if username is not None and tls == "none" and not _is_loopback(host) and mbox is None:
            raise ConfigError(
                f"the {channel!r} channel would send its password unencrypted to {host}; "
                "set tls = 'starttls' or 'ssl'"
            )
        return cls(
            host=host,
            port=read.integer("port", _DEFAULT_PORTS[tls], minimum=1, maximum=65535),
            tls=tls,
            username=username,
            password=password,
            from_address=sender,
            message_id_domain=read.text("message_id_domain") or address.rpartition("@")[2],
            mailbox=Path(mbox).expanduser() if mbox else None,
            timeout=read.number("timeout", 30.0, minimum=0.1),
            ca_file=read.text("ca_file"),
            connections=read.integer(
                "connections", DEFAULT_CONNECTIONS, minimum=1, maximum=MAX_CONNECTIONS
            ),
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- building messages -------------------------------------------------------------------------


def usable_address(address: str | None) -> str | None:
    """``address`` when it can be put in a ``To`` header, else ``None``.

    Refuses what would break the header (line breaks, a second address) rather than trying
    to repair it: a bad address is the user's record to fix.
    """
    if not address:
        return None
    address = address.strip()
    if any(c.isspace() or c in ',;<>"' for c in address) or address.count("@") != 1:
        return None
    local, _, domain = address.partition("@")
    if not local or "." not in domain.strip("."):
        return None
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError):
        return None
    return address


def _one_line(text: str) -> str:
    # A header cannot hold line breaks (header injection); the subject is one line.
    return " ".join(text.split())


@dataclass(frozen=True)
class Envelope:
    """One message ready to go: what a transport sends.

    :param delivery_id: the delivery it belongs to.
    :param to: the recipient's bare address (already checked with :func:`usable_address`).
    :param message: the e-mail.
    :param message_id: its Message-ID.
    """

    delivery_id: int
    to: str
    message: Message
    message_id: str


def build_email(
    message: OutgoingMessage,
    settings: EmailSettings,
    to: str,
    *,
    text: str | None = None,
    html: str | None = None,
) -> Envelope:
    """The e-mail for ``message``: ``multipart/alternative`` (text, then HTML) when it has
    HTML, plain text otherwise.

    Built with the classic ``email.mime`` classes rather than ``EmailMessage``: the latter's
    header parsing costs about 2 ms a message, which alone would cap a worker below 500
    e-mails a second.  Every header is encoded here (RFC 2047), so the message is plain
    ASCII and any SMTP server accepts it.

    :param to: the recipient's address.
    :param text: the text body, if not ``message.text``.
    :param html: the HTML body, if not ``message.html``.
    """
    message_id = message_id_for(message.delivery_id, settings.message_id_domain)
    plain = MIMEText(text if text is not None else message.text, "plain", _UTF8)
    body_html = html if html is not None else message.html
    email: Message = plain
    if body_html:
        # "=_" never occurs in a quoted-printable body (its "=" is written "=3D"), so the
        # boundary needs no search through the parts (the generator's default does one).
        email = MIMEMultipart("alternative", boundary=f"=_grc_{secrets.token_hex(12)}")
        email.attach(plain)
        email.attach(MIMEText(body_html, "html", _UTF8))
    email["Subject"] = Header(_one_line(message.subject) or "(GRC)", "utf-8").encode()
    email["From"] = _encoded_address(settings.from_address)
    email["To"] = formataddr((_one_line(message.recipient.name), to), "utf-8")
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id
    # RFC 3834: an automatic message, so that vacation responders do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    email["X-GRC-Delivery"] = str(message.delivery_id)
    return Envelope(message.delivery_id, to, email, message_id)


def wire_form(message: Message) -> bytes | None:
    """``message`` as SMTP's ``DATA`` carries it (CRLF line ends, before dot-stuffing), or
    ``None`` when only the standard library's generator can write it.

    The generator costs more than the rest of a message's sending (about 0.25 ms, three
    times that with the connections' threads competing for the interpreter).  The messages
    :func:`build_email` makes need none of its work: every header is encoded already and
    short, and every body is quoted-printable ASCII.  Anything else (a long or non-ASCII
    header, a part that is not text, a nested multipart) gets ``None``.
    """
    lines: list[str] = []
    if not _wire_part(message, lines):
        return None
    if message.is_multipart():
        boundary = message.get_boundary()
        parts = message.get_payload()
        if not boundary or not isinstance(parts, list):
            return None
        lines.append("")
        for part in parts:
            lines.append(f"--{boundary}")
            if not isinstance(part, Message) or part.is_multipart():
                return None
            body = _body_lines(part)
            if body is None or not _wire_part(part, lines):
                return None
            lines += ("", *body)
        lines += (f"--{boundary}--", "")
    else:
        body = _body_lines(message)
        if body is None:
            return None
        lines += ("", *body)
    try:
        return "\r\n".join(lines).encode("ascii")
    except UnicodeEncodeError:
        return None


def _wire_part(part: Message, lines: list[str]) -> bool:
    """Append ``part``'s headers, as they are (already encoded and folded); ``False`` when
    one would need the generator (too long a line, a line break of its own)."""
    for name, value in part.items():
        if not isinstance(value, str):
            return False
        first, *rest = value.split("\n")
        if any(len(more) > _HEADER_LINE or not more.startswith((" ", "\t")) for more in rest):
            return False
        if len(name) + 2 + len(first) <= _HEADER_LINE:
            lines.append(f"{name}: {first}")
        elif len(first) <= _HEADER_LINE:
            # An encoded subject too long to follow its name starts on the next line, as
            # the generator writes it.
            lines += (f"{name}: ", f" {first}")
        else:
            return False
        lines += rest
    return True


def _body_lines(part: Message) -> list[str] | None:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    return payload.replace("\r\n", "\n").split("\n")


#: The longest header line written without the generator (RFC 5322 recommends 78).
_HEADER_LINE = 78


def _quoted_printable() -> Charset:
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable in an mbox file, unlike base64
    return charset


# typeshed types MIMEText's ``_charset`` as ``str``; the stdlib takes a ``Charset`` as well
# (it hands it to ``set_payload``), which is how the body gets quoted-printable.
_UTF8 = cast(str, _quoted_printable())


def _encoded_address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), "utf-8") if name else address


# --- transports --------------------------------------------------------------------------------


class Transport(Protocol):
    """Sends a batch of envelopes; one result per envelope, in order."""

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        """Send ``envelopes``."""
        ...

    def close(self) -> None:
        """Release what is kept between batches (connections)."""
        ...


def make_transport(settings: EmailSettings) -> SmtpTransport | MboxTransport:
    """The mbox transport when ``settings.mailbox`` is set, else SMTP."""
    if settings.mailbox is not None:
        return MboxTransport(settings.mailbox)
    return SmtpTransport(settings)


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}"


class SmtpTransport:
    """Sends a batch through up to ``settings.connections`` SMTP connections at once.

    The batch is cut into contiguous shares, one per connection; each share goes through
    its own connection, one message after the other, in a thread of its own (the time is
    spent waiting for the server).  Every envelope belongs to exactly one share, so it is
    sent once; a connection that fails fails its own share only.

    Connections are kept between batches (at most ``connections`` of them, each for
    :data:`IDLE_SECONDS` of idleness at most): the next batch checks one with ``NOOP``
    instead of opening a new one (TCP, greeting, ``EHLO``, TLS, login).  :meth:`close`
    ends them.

    :param settings: the server, TLS, credentials, sender, timeout and connections.
    """

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        #: Connections opened so far (tests and benchmarks count them).
        self.connections = 0
        self._lock = threading.Lock()
        #: Connections kept for the next batch, with when each was last used (monotonic).
        self._idle: list[tuple[smtplib.SMTP, float]] = []

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        context = None
        if settings.tls != "none":
            context = ssl.create_default_context(cafile=settings.ca_file)
        connection: smtplib.SMTP
        if settings.tls == "ssl":
            connection = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with self._lock:
            self.connections += 1
        try:
            connection.ehlo()
            if settings.tls == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if settings.username is not None and settings.password is not None:
                connection.login(settings.username, settings.password)
        except BaseException:
            connection.close()
            raise
        return connection

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        """Send ``envelopes``: one result per envelope, in order."""
        if not envelopes:
            return []
        count = min(self.settings.connections, -(-len(envelopes) // MESSAGES_PER_CONNECTION))
        if count <= 1:
            return self._send_share(envelopes)
        size = -(-len(envelopes) // count)
        shares = [envelopes[i : i + size] for i in range(0, len(envelopes), size)]
        with ThreadPoolExecutor(len(shares), thread_name_prefix="grc-smtp") as pool:
            return [result for share in pool.map(self._send_share, shares) for result in share]

    def close(self) -> None:
        """End the kept connections (``QUIT``); the transport may still be used after."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            _quit(connection)

    def _take(self) -> smtplib.SMTP:
        """A kept connection that still answers ``NOOP``, else a new one."""
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, used = self._idle.pop()
            if now - used > IDLE_SECONDS:
                _quit(connection)
                continue
            try:
                if connection.noop()[0] == 250:
                    return connection
            except (OSError, smtplib.SMTPException):
                pass
            connection.close()
        return self._connect()

    def _keep(self, connection: smtplib.SMTP) -> None:
        """Keep a connection whose share went through for the next batch (or end it)."""
        with self._lock:
            if len(self._idle) < self.settings.connections:
                self._idle.append((connection, time.monotonic()))
                return
        _quit(connection)

    def _send_share(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        """Send ``envelopes`` through one connection."""
        try:
            connection = self._take()
        except smtplib.SMTPAuthenticationError as exc:
            # Retryable: the fix is in the configuration, and the deliveries should wait
            # for it rather than be parked as dead all at once.
            error = (
                f"the SMTP server {self._where()} refused the credentials of "
                f"{self.settings.username!r}: {_reply(exc.smtp_code, exc.smtp_error)}"
            )
            return [SendResult.failed(e.delivery_id, error, retryable=True) for e in envelopes]
        except smtplib.SMTPNotSupportedError as exc:
            error = f"the SMTP server {self._where()} does not support this: {exc}"
            return [SendResult.failed(e.delivery_id, error, retryable=True) for e in envelopes]
        except (OSError, smtplib.SMTPException) as exc:
            error = f"cannot connect to the SMTP server {self._where()}: {exc}"
            return [SendResult.failed(e.delivery_id, error, retryable=True) for e in envelopes]
        results: list[SendResult] = []
        whole = False
        try:
            for index, envelope in enumerate(envelopes):
                outcome = self._send_one(connection, envelope)
                if outcome is None:  # the connection is gone: the rest waits for a retry
                    error = f"lost the connection to the SMTP server {self._where()}"
                    results += [
                        SendResult.failed(e.delivery_id, error, retryable=True)
                        for e in envelopes[index:]
                    ]
                    break
                results.append(outcome)
            else:
                whole = True
        finally:
            # A refused message (an RSET follows it in smtplib) leaves the connection
            # usable; a broken one, or an exception, ends it.
            if whole:
                self._keep(connection)
            else:
                connection.close()
        return results

    def _send_one(self, connection: smtplib.SMTP, envelope: Envelope) -> SendResult | None:
        """Send one message; ``None`` when the connection broke."""
        ident, mid = envelope.delivery_id, envelope.message_id
        sender, to = self.settings.sender, envelope.to
        data = wire_form(envelope.message) if (sender + to).isascii() else None
        try:
            if data is not None:
                connection.sendmail(sender, [to], data)
            else:  # SMTPUTF8 or a message only the generator writes
                connection.send_message(envelope.message, from_addr=sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(envelope.to, (550, b"refused"))
            # 5xx: this address will never work; 4xx (mailbox busy, greylisting): later.
            return SendResult.failed(
                ident,
                f"the SMTP server refused the recipient {envelope.to}: {_reply(code, text)}",
                retryable=400 <= code < 500,
                message_id=mid,
            )
        except smtplib.SMTPSenderRefused as exc:
            # The sender is configuration: every message would fail alike; retry later.
            return SendResult.failed(
                ident,
                f"the SMTP server refused the sender {self.settings.sender}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                retryable=True,
                message_id=mid,
            )
        except smtplib.SMTPServerDisconnected:
            return None
        except smtplib.SMTPResponseException as exc:  # the message itself (DATA) refused
            return SendResult.failed(
                ident,
                f"the SMTP server refused the message: {_reply(exc.smtp_code, exc.smtp_error)}",
                retryable=not 500 <= exc.smtp_code < 600,
                message_id=mid,
            )
        except OSError:  # a timeout, a reset connection
            return None
        return SendResult.sent(ident, mid)


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


class MboxTransport:
    """Appends messages to a local mbox file (created with its directory if needed, with
    modes ``0600`` and ``0700`` or ``GRC_FILE_MODE``: see :mod:`grc_core.files.modes`).

    The file is locked (``fcntl`` and a dot-lock, as mail programs do) for the whole batch,
    so that several workers may append to it at once.

    :param path: the mbox file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def close(self) -> None:
        """Nothing is kept between batches (the file is opened for each)."""

    def send(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        """Append ``envelopes`` to the file."""
        if not envelopes:
            return []
        try:
            # Created private before the mailbox module opens it (from the umask, 0644):
            # the messages quote exchanges.
            make_private_dirs(self.path.parent)
            create_private_file(self.path)
            box = mailbox.mbox(self.path, create=True)
            try:
                box.lock()
                try:
                    for envelope in envelopes:
                        box.add(envelope.message)
                    box.flush()
                finally:
                    box.unlock()
            finally:
                box.close()
        except (OSError, mailbox.Error, ConfigError) as exc:
            error = f"cannot write to the mailbox {self.path}: {exc}"
            return [SendResult.failed(e.delivery_id, error, retryable=True) for e in envelopes]
        return [SendResult.sent(e.delivery_id, e.message_id) for e in envelopes]
