"""The SMS channel against a local HTTP gateway (http.server on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

import pytest

from grc_adapters.sms import SmsChannel, SmsSettings
from grc_adapters.sms.channel import normalise_phone
from grc_adapters.sms.plugin import make_sms_channel
from grc_core.errors import ConfigError
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.testing.channel_contract import NotificationChannelContract

from .conftest import Gateway, free_port

ALICE = Recipient(1, "alice", "Alice Martin", "alice@example.com", "+33 6 12 34 56 78")


def message(delivery_id: int, recipient: Recipient = ALICE, **fields: object) -> OutgoingMessage:
    values: dict = {"subject": "Relance", "text": f"Texte {delivery_id}"}
    values.update(fields)
    return OutgoingMessage(delivery_id=delivery_id, recipient=recipient, **values)


class TestSmsChannel(NotificationChannelContract):
    @pytest.fixture
    def channel(self, gateway: Gateway) -> Iterator[SmsChannel]:
        channel = make_sms_channel({"url": gateway.url, "auth_secret": "Bearer t0ken"})
        yield channel
        channel.close()

    @pytest.fixture
    def delivered(self, gateway: Gateway) -> Callable[[int], int]:
        return gateway.count


def test_the_default_request_is_a_json_post_with_auth_and_idempotency_key(
    gateway: Gateway,
) -> None:
    channel = make_sms_channel({"url": gateway.url, "auth_secret": "Bearer t0ken"})
    [result] = channel.send(None, [message(12, text='Réunion "demain" à 10h\nSalle B')])
    assert result.ok and result.message_id == "grc-delivery-12"
    [request] = gateway.requests
    assert request.method == "POST"
    assert request.path == "/api/send"
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "grc-delivery-12"
    assert request.json == {"to": "+33612345678", "text": 'Réunion "demain" à 10h\nSalle B'}


def test_a_configured_method_body_content_type_and_header(gateway: Gateway) -> None:
    channel = make_sms_channel(
        {
            "url": gateway.url,
            "method": "put",
            "content_type": "application/x-www-form-urlencoded",
            "body": "to={{ phone|urlencode }}&msg={{ text|urlencode }}&ref={{ delivery_id }}",
            "auth_header": "X-Api-Key",
            "auth_secret": "k3y",
        }
    )
    [result] = channel.send(None, [message(3, text="a & b = c")])
    assert result.ok
    [request] = gateway.requests
    assert request.method == "PUT"
    assert request.headers["X-Api-Key"] == "k3y"
    assert "Authorization" not in request.headers
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request.body.decode()) == {
        "to": ["+33612345678"],
        "msg": ["a & b = c"],
        "ref": ["3"],
    }


def test_a_get_gateway_takes_its_values_in_the_url(gateway: Gateway) -> None:
    channel = make_sms_channel(
        {
            "url": gateway.url + "?to={{ phone|urlencode }}&text={{ text|urlencode }}",
            "method": "GET",
        }
    )
    [result] = channel.send(None, [message(4, text="Bonjour à vous")])
    assert result.ok
    [request] = gateway.requests
    assert request.method == "GET"
    assert request.body == b""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
    assert query == {"to": ["+33612345678"], "text": ["Bonjour à vous"]}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_status_mapping(gateway: Gateway, status: int, retryable: bool) -> None:
    failing = Recipient(2, "bob", "Bob", None, "+33 6 00 00 00 00")
    gateway.statuses["+33600000000"] = status
    channel = make_sms_channel({"url": gateway.url, "auth_secret": "Bearer t0ken"})
    first, failed, last = channel.send(None, [message(1), message(2, failing), message(3)])
    assert first.ok and last.ok
    assert not failed.ok and failed.retryable is retryable
    assert failed.error == f'the SMS gateway answered {status}: {{"status": {status}, "id": 2}}'
    assert len(gateway.requests) == 3


def test_a_redirect_is_not_followed(gateway: Gateway) -> None:
    gateway.statuses["+33612345678"] = 302
    [result] = make_sms_channel({"url": gateway.url}).send(None, [message(1)])
    assert not result.ok and result.retryable is False
    assert len(gateway.requests) == 1


def test_a_recipient_without_phone_is_not_retryable(gateway: Gateway) -> None:
    nobody = Recipient(5, "carol", "Carol", "carol@example.com", None)
    garbage = Recipient(6, "dave", "Dave", None, "call me maybe")
    results = make_sms_channel({"url": gateway.url}).send(
        None, [message(1, nobody), message(2, garbage)]
    )
    assert [(r.ok, r.retryable, r.error) for r in results] == [
        (False, False, "user 'carol' has no usable phone number"),
        (False, False, "user 'dave' has no usable phone number"),
    ]
    assert gateway.requests == []


def test_long_texts_are_cut(gateway: Gateway) -> None:
    channel = make_sms_channel({"url": gateway.url, "max_length": 20})
    channel.send(None, [message(1, text="x" * 100)])
    assert gateway.requests[0].json["text"] == "x" * 19 + "…"


def test_an_unreachable_gateway_fails_the_batch_retryably_at_once() -> None:
    channel = make_sms_channel({"url": f"http://127.0.0.1:{free_port()}/send", "timeout": 2})
    results = channel.send(None, [message(1), message(2), message(3)])
    assert [(r.ok, r.retryable) for r in results] == [(False, True)] * 3
    assert (results[0].error or "").startswith("the SMS gateway is unreachable: ")


def test_a_gateway_that_does_not_answer_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/send"
        channel = make_sms_channel({"url": url, "timeout": 0.3})
        started = time.monotonic()
        results = channel.send(None, [message(1), message(2)])
        # One timeout for the batch, not one per message.
        assert time.monotonic() - started < 2
        assert [(r.ok, r.retryable) for r in results] == [(False, True), (False, True)]
        assert "timed out" in (results[0].error or "")
    finally:
        for conn in held:
            conn.close()
        listener.close()


def test_one_connection_is_kept_alive_for_a_batch(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.client

    opened: list[object] = []
    real_connect = http.client.HTTPConnection.connect

    def counting_connect(self: http.client.HTTPConnection) -> None:
        opened.append(self)
        real_connect(self)

    monkeypatch.setattr(http.client.HTTPConnection, "connect", counting_connect)
    results = make_sms_channel({"url": gateway.url}).send(None, [message(i) for i in range(5)])
    assert all(r.ok for r in results)
    assert len(gateway.requests) == 5
    assert len(opened) == 1


def test_the_secret_never_appears_in_an_error(gateway: Gateway) -> None:
    gateway.echo_auth = True  # a gateway that repeats the credential in its error answer
    gateway.statuses["+33612345678"] = 401
    channel = make_sms_channel({"url": gateway.url, "auth_secret": "Bearer t0ken"})
    [result] = channel.send(None, [message(1)])
    assert result.error == ('the SMS gateway answered 401: {"status": 401, "id": 1, "auth": "***"}')


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({}, "the 'sms' channel needs the setting url"),
        ({"url": "ftp://gw/send"}, "the 'sms' channel's url must start with http:// or https://"),
        (
            {"url": "http://gw/send", "method": "DELETE"},
            "the 'sms' channel's method must be one of",
        ),
        ({"url": "http://gw/send", "auth_header": "X: y"}, "the 'sms' channel's auth_header must"),
        (
            {"url": "http://gw/send", "body": "{{ phone.__class__ }}"},
            "the 'sms' channel's body template: line 1: access to '__class__'",
        ),
        (
            {"url": "http://gw/send", "body": "{% if %}"},
            "the 'sms' channel's body template: line 1",
        ),
        ({"url": "http://gw/send", "timeout": "soon"}, "the 'sms' channel's timeout must be"),
    ],
)
def test_configuration_errors(config: dict, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_sms_channel(config)
    assert str(caught.value).startswith(error)


def test_the_secret_is_not_in_the_repr() -> None:
    settings = SmsSettings.from_config({"url": "https://gw/send", "auth_secret": "Bearer xyz"})
    assert "xyz" not in repr(settings)


@pytest.mark.parametrize(
    ("phone", "normalised"),
    [
        ("+33 6 12 34 56 78", "+33612345678"),
        ("06.12.34.56.78", "0612345678"),
        ("(555) 123-4567", "5551234567"),
        ("", None),
        (None, None),
        ("+33 6 12 34 56 78 ext. 2", None),
        ("12", None),
    ],
)
def test_normalise_phone(phone: str | None, normalised: str | None) -> None:
    assert normalise_phone(phone) == normalised


def test_json_body_escapes_awkward_text(gateway: Gateway) -> None:
    text = '"}, "to": "+999", "x": {"'
    make_sms_channel({"url": gateway.url}).send(None, [message(1, text=text)])
    assert json.loads(gateway.requests[0].body) == {"to": "+33612345678", "text": text}
