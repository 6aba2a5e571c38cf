"""The ``sms`` channel: one HTTP request per message to a configurable SMS gateway.

Gateways differ in everything but HTTP, so the request is configured: the URL and the body
are templates rendered in the same sandbox as message templates, with these values:

====================  ============================================================
``phone``             the recipient's number, spaces, dots, dashes and brackets removed
``text``              the message text, cut to ``max_length`` characters
``subject``           the message subject
``delivery_id``       the delivery's number
``message_id``        ``grc-delivery-N``, also sent as the ``Idempotency-Key`` header
====================  ============================================================

The answer decides the result: 2xx delivered; 408, 429 and 5xx retryable (the gateway is
busy or broken); other 4xx not retryable (the request itself is wrong); 3xx not retryable
(redirects are not followed: fix the URL).  A timeout or a refused connection is
retryable, and the rest of the batch waits for the next attempt instead of timing out
message after message.
"""

from __future__ import annotations

import http.client
import re
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grc_core.errors import ConfigError
from grc_core.notify.channels import ChannelSettings, OutgoingMessage, SendResult
from grc_core.notify.templates import TemplateError, render_text

SMS_KEYS = (
    "url",
    "method",
    "body",
    "content_type",
    "auth_header",
    "auth_secret",
    "timeout",
    "max_length",
    "ca_file",
)
DEFAULT_BODY = '{"to": {{ phone|tojson }}, "text": {{ text|tojson }}}'
METHODS = ("post", "put", "get")
_PHONE_NOISE = re.compile(r"[\s.\-()]")
_PHONE = re.compile(r"\+?[0-9]{3,20}")
#: How much of a gateway's error answer is kept in the delivery's error.
_ERROR_EXCERPT = 200


@dataclass(frozen=True)
class SmsSettings:
    """How to reach the gateway.

    :param url: the URL template (``https://gw.example.com/send`` or
        ``https://gw/send?to={{ phone|urlencode }}``).
    :param method: ``POST``, ``PUT`` or ``GET`` (``GET`` sends no body).
    :param body: the body template (JSON by default).
    :param content_type: the body's ``Content-Type``.
    :param auth_header: the header carrying the credential (``Authorization``).
    :param auth_secret: its value (``Bearer …``, a secret: never shown).
    :param timeout: seconds to wait for the gateway.
    :param max_length: the longest text sent; longer texts are cut with ``…``.
    :param ca_file: a CA bundle to verify an HTTPS gateway with.
    """

    url: str
    method: str = "POST"
    body: str = DEFAULT_BODY
    content_type: str = "application/json"
    auth_header: str = "Authorization"
    auth_secret: str | None = None
    timeout: float = 10.0
    max_length: int = 640
    ca_file: str | None = None

    def __repr__(self) -> str:  # the secret never reaches a log line
        return (
            f"SmsSettings(url={self.url!r}, method={self.method!r}, "
            f"auth_secret={'***' if self.auth_secret else None!r})"
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmsSettings:
        """Check and read the ``[grc.channels.sms]`` table.

        :raises ConfigError: an unknown, missing or malformed setting, or a template the
            sandbox refuses.
        """
        read = ChannelSettings("sms", config, SMS_KEYS)
        url = read.text("url", required=True) or ""
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError("the 'sms' channel's url must start with http:// or https://")
        header = read.text("auth_header", "Authorization") or "Authorization"
        if not re.fullmatch(r"[A-Za-z0-9-]+", header):
            raise ConfigError("the 'sms' channel's auth_header must be a header name")
        settings = cls(
            url=url,
            method=read.choice("method", "post", METHODS).upper(),
            body=read.text("body", DEFAULT_BODY) or DEFAULT_BODY,
            content_type=read.text("content_type", "application/json") or "application/json",
            auth_header=header,
            auth_secret=read.text("auth_secret"),
            timeout=read.number("timeout", 10.0, minimum=0.1),
            max_length=read.integer("max_length", 640, minimum=1, maximum=10_000),
            ca_file=read.text("ca_file"),
        )
        # A template the sandbox refuses is a configuration error now, not a dead delivery
        # at the first message.
        sample = {
            "phone": "+33600000000",
            "text": "test",
            "subject": "test",
            "delivery_id": 1,
            "message_id": "grc-delivery-1",
        }
        for key, template in (("url", settings.url), ("body", settings.body)):
            try:
                render_text(template, sample)
            except TemplateError as exc:
                raise ConfigError(f"the 'sms' channel's {key} template: {exc}") from None
        return settings


def normalise_phone(phone: str | None) -> str | None:
    """``phone`` without spaces, dots, dashes and brackets, or ``None`` when that is not a
    phone number."""
    if not phone:
        return None
    compact = _PHONE_NOISE.sub("", phone)
    return compact if _PHONE.fullmatch(compact) else None


class _Unreachable(Exception):
    """The gateway could not be reached (refused, timed out, reset)."""


class SmsChannel:
    """Sends each message as one HTTP request to the gateway; external (the session is
    ignored), with an ``Idempotency-Key`` header that gateways may use to drop re-sends.

    :param settings: see :class:`SmsSettings`.
    """

    name = "sms"

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self._connection: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int | None] | None = None

    def _scrub(self, text: str) -> str:
        secret = self.settings.auth_secret
        return text.replace(secret, "***") if secret else text

    def _connection_for(self, url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        origin = (url.scheme, url.hostname or "", url.port)
        if self._connection is not None and origin == self._origin:
            return self._connection  # kept alive across the batch when the gateway allows
        self._drop()
        if url.scheme == "https":
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                origin[1], origin[2], timeout=self.settings.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(
                origin[1], origin[2], timeout=self.settings.timeout
            )
        self._connection, self._origin = connection, origin
        return connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._origin = None

    def send(self, session: Any, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send ``messages``, one request each; see the module documentation."""
        results: list[SendResult] = []
        try:
            for index, message in enumerate(messages):
                try:
                    results.append(self._send_one(message))
                except _Unreachable as exc:
                    error = self._scrub(f"the SMS gateway is unreachable: {exc}")
                    results += [
                        SendResult.failed(m.delivery_id, error, retryable=True)
                        for m in messages[index:]
                    ]
                    break
        finally:
            self._drop()  # one batch, one connection; nothing is held between batches
        return results

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        ident = message.delivery_id
        key = f"grc-delivery-{ident}"
        phone = normalise_phone(message.recipient.phone)
        if phone is None:
            error = f"user {message.recipient.login!r} has no usable phone number"
            return SendResult.failed(ident, error, retryable=False)
        text = message.text
        if len(text) > self.settings.max_length:
            text = text[: self.settings.max_length - 1] + "…"
        values = {
            "phone": phone,
            "text": text,
            "subject": message.subject,
            "delivery_id": ident,
            "message_id": key,
        }
        try:
            url = urllib.parse.urlsplit(render_text(self.settings.url, values))
            body = render_text(self.settings.body, values).encode()
        except TemplateError as exc:
            return SendResult.failed(ident, f"the SMS request template: {exc}", retryable=False)
        headers = {
            "User-Agent": "grc-exchanges",
            "Idempotency-Key": key,
        }
        if self.settings.method != "GET":
            headers["Content-Type"] = self.settings.content_type
        else:
            body = b""
        if self.settings.auth_secret:
            headers[self.settings.auth_header] = self.settings.auth_secret
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        status, answer = self._request(url, target, body, headers)
        return self._result(ident, key, status, answer)

    def _request(
        self,
        url: urllib.parse.SplitResult,
        target: str,
        body: bytes,
        headers: dict[str, str],
    ) -> tuple[int, str]:
        connection = self._connection_for(url)
        for attempt in (1, 2):
            try:
                connection.request(self.settings.method, target, body=body or None, headers=headers)
                response = connection.getresponse()
                answer = response.read(64 * 1024).decode("utf-8", "replace")
                if response.will_close:
                    self._drop()
                return response.status, answer
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the gateway closed meanwhile: one fresh try.
                self._drop()
                if attempt == 2:
                    raise _Unreachable("the connection was closed") from None
                connection = self._connection_for(url)
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                raise _Unreachable(f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, ident: int, key: str, status: int, answer: str) -> SendResult:
        if 200 <= status < 300:
            return SendResult.sent(ident, key)
        excerpt = self._scrub(" ".join(answer.split())[:_ERROR_EXCERPT])
        error = f"the SMS gateway answered {status}" + (f": {excerpt}" if excerpt else "")
        retryable = status in (408, 429) or status >= 500
        return SendResult.failed(ident, error, retryable=retryable, message_id=key)

    def close(self) -> None:
        """Close the connection, if one is open (harmless twice)."""
        self._drop()
