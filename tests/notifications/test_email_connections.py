"""The e-mail channel spreads a batch over several SMTP connections to a slow server: every
message arrives once, each connection carries several messages, results stay per delivery."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import insert, select

from grc_adapters.email import EmailChannel
from grc_adapters.email.plugin import make_email_channel
from grc_adapters.email.transport import MESSAGES_PER_CONNECTION, SmtpTransport
from grc_core.models import Delivery, DeliveryStatus, User
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.timeutil import utcnow

from .conftest import Team

ALICE = Recipient(1, "alice", "Alice Martin", "alice@example.com", None)
#: The time the sink takes to accept each message (a busy relay, a virus scanner).
DELAY = 0.02


@dataclass
class SlowSink:
    """An aiosmtpd handler taking :data:`DELAY` per message, recording who sent what."""

    deliveries: list[str] = field(default_factory=list)
    #: The client connection (its address) each message came through.
    peers: list[Any] = field(default_factory=list)
    busy: int = 0
    most_busy: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        await asyncio.sleep(DELAY)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.busy -= 1
            self.deliveries.append(str(message["X-GRC-Delivery"]))
            self.peers.append(session.peer)
        return "250 Message accepted"

    def count(self, delivery_id: int) -> int:
        return self.deliveries.count(str(delivery_id))


@pytest.fixture
def sink() -> Iterator[tuple[SlowSink, int]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = SlowSink()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def channel(port: int, connections: int) -> EmailChannel:
    return make_email_channel(
        {
            "host": "127.0.0.1",
            "port": port,
            "from_address": "GRC <grc@example.com>",
            "timeout": 10,
            "connections": connections,
        }
    )


def messages(first: int, count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(delivery_id=i, recipient=ALICE, subject=f"Sujet {i}", text=f"Texte {i}")
        for i in range(first, first + count)
    ]


def test_a_batch_goes_through_several_connections_each_message_once(
    sink: tuple[SlowSink, int],
) -> None:
    handler, port = sink
    email_channel = channel(port, connections=4)
    began = time.perf_counter()
    results = email_channel.send(None, messages(1, 40))
    elapsed = time.perf_counter() - began
    assert [r.delivery_id for r in results] == list(range(1, 41))  # in order, one each
    assert all(r.ok for r in results)
    assert sorted(handler.deliveries, key=int) == [str(i) for i in range(1, 41)]
    # Four connections, each reused for its share of ten messages.
    per_connection = {peer: handler.peers.count(peer) for peer in set(handler.peers)}
    assert sorted(per_connection.values()) == [10, 10, 10, 10]
    assert isinstance(email_channel.transport, SmtpTransport)
    assert email_channel.transport.connections == 4
    assert handler.most_busy > 1  # the server had several messages in hand at once
    assert elapsed < 40 * DELAY  # one connection would take at least this long


def test_a_small_batch_opens_one_connection(sink: tuple[SlowSink, int]) -> None:
    handler, port = sink
    email_channel = channel(port, connections=8)
    assert all(r.ok for r in email_channel.send(None, messages(1, MESSAGES_PER_CONNECTION)))
    assert len(set(handler.peers)) == 1
    assert handler.most_busy == 1


def test_a_broken_connection_fails_its_own_share_only(
    sink: tuple[SlowSink, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, port = sink
    email_channel = channel(port, connections=3)
    real = SmtpTransport._send_one

    def breaking(self: SmtpTransport, connection: Any, envelope: Any) -> Any:
        if envelope.delivery_id == 15:  # the middle share loses its connection here
            connection.close()
        return real(self, connection, envelope)

    monkeypatch.setattr(SmtpTransport, "_send_one", breaking)
    results = email_channel.send(None, messages(1, 30))
    failed = [r.delivery_id for r in results if not r.ok]
    assert failed == list(range(15, 21))  # the rest of the share 11-20
    assert all(r.retryable for r in results if not r.ok)
    assert sorted(map(int, handler.deliveries)) == [*range(1, 15), *range(21, 31)]
    assert all(handler.count(i) == 1 for i in range(1, 15))


def test_the_worker_delivers_every_message_once_through_several_connections(
    team: Team, sink: tuple[SlowSink, int]
) -> None:
    handler, port = sink
    now = utcnow()
    with team.grc.session() as s:
        alice = s.scalar(select(User.id).where(User.login == "alice"))
        s.execute(
            insert(Delivery.__table__),
            [
                {
                    "dedupe_key": f"pool:{i}",
                    "user_id": alice,
                    "channel": "email",
                    "status": "pending",
                    "due_at": now,
                    "attempts": 0,
                    "subject": f"Relance {i}",
                    "body": "Bonjour,\n\nMerci de votre retour.",
                    "about": {},
                    "created_at": now,
                }
                for i in range(60)
            ],
        )
    email_channel = channel(port, connections=4)
    worker = DeliveryWorker(team.grc.session, {"email": email_channel}, config=WorkerConfig())
    stats = worker.drain()
    assert stats.sent == 60
    with team.grc.session(read_only=True) as s:
        rows = s.execute(select(Delivery.id, Delivery.status)).all()
    assert {status for _, status in rows} == {DeliveryStatus.SENT}
    assert sorted(map(int, handler.deliveries)) == sorted(ident for ident, _ in rows)
    assert len(set(handler.peers)) == 4
