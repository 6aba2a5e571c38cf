"""Reliability under fire: killed workers lose nothing; concurrent workers never double up."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import threading
import time
import traceback
from collections import Counter
from datetime import timedelta
from pathlib import Path

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
KILLS = 12


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping, in arrival order, the Message-ID and envelope sender of
    every message it accepts; it answers each after ``delay`` seconds (a slow server, so
    that the run lasts long enough for every kill to land while there is work)."""

    def __init__(self, delay: float) -> None:
        self.received: list[tuple[str, str]] = []
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                with self.lock:
                    self.received.append((line.split(":", 1)[1].strip(), envelope.mail_from))
                break
        await asyncio.sleep(self.delay)
        return "250 OK"

    def count(self, sender: str) -> int:
        with self.lock:
            return sum(1 for _, who in self.received if who == sender)


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


def email_channel(port: int, sender: str = "grc@example.fr"):
    config = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from_address": f"GRC <{sender}>",
        "message_id_domain": "example.fr",
    }
    return Registry.load().notification_channel("email", config)


def fork_worker(url: str, port: int, sender: str, errors: Path, config: WorkerConfig) -> int:
    """A worker process sending as ``sender``; whatever stops it but a kill is written to
    ``errors`` and makes it exit with status 1."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            grc = Grc.from_url(url)
            channel = email_channel(port, sender)
            DeliveryWorker(grc.session, {"email": channel}, config=config).work(
                threading.Event(), idle=0.05
            )
            errors.write_text("the worker returned before it was killed")
            code = 1
        except BaseException:
            errors.write_text(traceback.format_exc())
            code = 1
        os._exit(code)
    return pid


def killed_by_sigkill(pid: int, errors: Path) -> None:
    """Reap ``pid`` and check that the kill is what ended it."""
    _, status = os.waitpid(pid, 0)
    if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
        detail = errors.read_text() if errors.exists() else ""
        raise AssertionError(f"worker {pid} ended by itself (status {status}): {detail}")


def test_killed_workers_lose_no_email_and_duplicates_share_a_message_id(team, tmp_path):
    mailbox = Mailbox(delay=0.002)
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    config = WorkerConfig(lease=timedelta(seconds=1), batch=25)
    rng = random.Random(6)
    killed: dict[str, int] = {}  # sender -> messages the server had from it when it died
    try:
        ids = queue(team, EMAILS)
        url = team.grc.settings.database_url
        team.grc.dispose()  # no pooled connection may cross a fork
        for number in range(KILLS):
            sender = f"worker-{number}@example.fr"
            errors = tmp_path / f"worker-{number}.err"
            pid = fork_worker(url, port, sender, errors, config)
            # Killed once the server has accepted some of its messages, mid-batch (between
            # 1 and batch - 5 messages into one), so that the kill lands between sending and
            # acknowledging: every kill does work, and leaves work to redo.
            target = rng.randrange(0, 2) * config.batch + rng.randint(1, config.batch - 5)
            deadline = time.monotonic() + 30
            while mailbox.count(sender) < target:
                if os.waitpid(pid, os.WNOHANG) != (0, 0):
                    raise AssertionError(f"{sender} ended by itself: {errors.read_text()}")
                assert time.monotonic() < deadline, f"{sender} sent {mailbox.count(sender)} in 30 s"
                time.sleep(0.001)
            time.sleep(rng.uniform(0, mailbox.delay))
            os.kill(pid, signal.SIGKILL)
            killed_by_sigkill(pid, errors)
            killed[sender] = mailbox.count(sender)
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
    copies: dict[str, list[str]] = {}
    for message_id, sender in mailbox.received:
        copies.setdefault(message_id, []).append(sender)
    assert set(copies) == expected  # every delivery arrived, nothing else did
    assert set(recorded.values()) == expected  # each row knows its Message-ID

    # The kills were spread over the run: each killed worker had done work, and work was
    # left for the finisher after the last one.
    assert all(count >= 1 for count in killed.values()), killed
    assert mailbox.count("grc@example.fr") > 0
    # A message is sent again only when its sender was killed before acknowledging it: every
    # copy but the last comes from a killed worker, at most one batch per kill…
    redone: Counter[str] = Counter()
    for message_id, senders in copies.items():
        assert all(sender in killed for sender in senders[:-1]), (message_id, senders)
        redone.update(senders[:-1])
    assert all(redone[sender] <= config.batch for sender in killed), redone
    # …and the kills landed inside that window: the messages of a killed worker's unfinished
    # batch (those past its last whole batch) were all sent again.
    for sender, count in killed.items():
        assert redone[sender] >= count % config.batch, (sender, count, redone[sender])
    mid_batch = [sender for sender, count in killed.items() if count % config.batch]
    assert len(mid_batch) >= KILLS // 2, killed
    assert sum(redone.values()) > 0


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
