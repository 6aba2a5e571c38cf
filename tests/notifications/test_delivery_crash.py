"""Reliability under fire: killed workers lose nothing; concurrent workers never double up."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from grc_core import Grc
from grc_core.models import Delivery, User
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.plugins import Registry
from grc_core.timeutil import utcnow

from .conftest import Recording

EMAILS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping the Message-ID of every message it accepts."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                with self.lock:
                    self.ids.append(line.split(":", 1)[1].strip())
                break
        return "250 OK"


def queue(team, count: int) -> list[int]:
    """``count`` pending e-mail deliveries to alice, due now."""
    now = utcnow()
    with team.grc.session() as s:
        alice = s.scalar(select(User.id).where(User.login == "alice"))
        rows = [
            {"dedupe_key": f"load:{i}", "user_id": alice, "channel": "email", "status": "pending",
             "due_at": now, "attempts": 0, "subject": f"Message {i}", "body": "Bonjour",
             "about": {}, "created_at": now}
            for i in range(count)
        ]  # fmt: skip
        s.execute(insert(Delivery.__table__), rows)
        return list(s.scalars(select(Delivery.id).order_by(Delivery.id)))


def email_channel(port: int):
    config = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from_address": "GRC <grc@example.fr>",
        "message_id_domain": "example.fr",
    }
    return Registry.load().notification_channel("email", config)


def test_killed_workers_lose_no_email_and_duplicates_share_a_message_id(team):
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ids = queue(team, EMAILS)
        url = team.grc.settings.database_url
        team.grc.dispose()  # no pooled connection may cross a fork
        config = WorkerConfig(lease=timedelta(seconds=1), batch=25)
        rng = random.Random(6)
        kills = 0
        for _ in range(15):
            pid = os.fork()
            if pid == 0:  # a worker process, killed at a random moment
                code = 0
                try:
                    grc = Grc.from_url(url)
                    DeliveryWorker(grc.session, {"email": email_channel(port)}, config=config).work(
                        threading.Event(), idle=0.05
                    )
                except BaseException:
                    code = 1
                os._exit(code)
            time.sleep(rng.uniform(0.05, 0.6))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            kills += 1
        time.sleep(1.2)  # the last victim's leases lapse
        grc = Grc.from_url(url)
        finisher = DeliveryWorker(grc.session, {"email": email_channel(port)}, config=config)
        finisher.drain()
        with grc.session(read_only=True) as s:
            statuses = Counter(s.scalars(select(Delivery.status)))
            recorded = dict(s.execute(select(Delivery.id, Delivery.message_id)).all())
        grc.dispose()
    finally:
        controller.stop()

    assert statuses == {"sent": EMAILS}  # none lost
    expected = {f"<grc-delivery-{i}@example.fr>" for i in ids}
    received = Counter(mailbox.ids)
    assert set(received) == expected  # every delivery arrived, nothing else did
    assert set(recorded.values()) == expected  # each row knows its Message-ID
    duplicates = sum(n - 1 for n in received.values())
    # A duplicate can only be a message sent but not yet acknowledged when its worker was
    # killed: at most one batch per kill, and it carries the same Message-ID.
    assert duplicates <= kills * config.batch


@pytest.mark.parametrize("fresh_url", ["postgresql"], indirect=True)
def test_four_concurrent_workers_deliver_each_notification_once(team):
    count = 10_000
    ids = queue(team, count)
    channel = Recording("email")
    workers = [
        DeliveryWorker(team.grc.session, {"email": channel}, worker_id=f"w{i}",
                       config=WorkerConfig(batch=100))
        for i in range(4)
    ]  # fmt: skip
    errors: list[BaseException] = []

    def run(w: DeliveryWorker) -> None:
        try:
            w.drain(max_passes=10_000)
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent = Counter(m.delivery_id for m in channel.sent)
    assert set(sent) == set(ids)
    assert max(sent.values()) == 1  # exactly once
    with team.grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).where(Delivery.status == "sent")) == count
