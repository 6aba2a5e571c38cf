"""The example channel passes GRC's notification-channel contract suite, against a local
HTTP server that records what it receives."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from grc_example_channel.channel import WebhookChannel
from grc_example_channel.plugin import make_webhook_channel

from grc_core.errors import ConfigError
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.testing.channel_contract import NotificationChannelContract


class Gateway:
    """A webhook receiver on 127.0.0.1: counts the posts of each delivery."""

    def __init__(self) -> None:
        self.posts: Counter[int] = Counter()
        self.answer = 200
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                json.loads(body)  # the channel posts JSON
                key = self.headers["Idempotency-Key"]
                if gateway.answer == 200:
                    gateway.posts[int(key.removeprefix("grc-delivery-"))] += 1
                self.send_response(gateway.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, delivery_id: int) -> int:
        return self.posts[delivery_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gateway = Gateway()
    yield gateway
    gateway.close()


class TestExampleWebhookChannel(NotificationChannelContract):
    """Every test of the contract, run on the example channel."""

    @pytest.fixture
    def channel(self, gateway: Gateway) -> Iterator[WebhookChannel]:
        channel = make_webhook_channel({"url": gateway.url, "token": "t0ken"})
        yield channel
        channel.close()

    @pytest.fixture
    def delivered(self, gateway: Gateway):  # noqa: ANN201 - a function of a delivery id
        return gateway.count


def test_a_client_error_is_final_and_a_server_error_is_retried(gateway: Gateway) -> None:
    channel = make_webhook_channel({"url": gateway.url})
    who = Recipient(user_id=1, login="alice", name="Alice", email="a@example.com", phone=None)
    message = OutgoingMessage(delivery_id=7, recipient=who, subject="s", text="t")
    gateway.answer = 404
    [result] = channel.send(None, [message])
    assert not result.ok and result.retryable is False and result.message_id == "grc-delivery-7"
    gateway.answer = 503
    [result] = channel.send(None, [message])
    assert not result.ok and result.retryable is True


def test_the_factory_refuses_a_bad_url() -> None:
    with pytest.raises(ConfigError, match="must start with https://"):
        make_webhook_channel({"url": "ftp://example.com"})
