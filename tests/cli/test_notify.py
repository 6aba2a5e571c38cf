"""``grc notify`` (workers, dead deliveries, retries) and ``grc inbox``."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .notifying import UNCONFIGURED, closed_port, crm, deliveries, read_mbox, record
from .runner import Grc, cli_env


@pytest.fixture
def world(team: Grc) -> Grc:
    return crm(team)


def run_once(grc: Grc, *args: str, **env: str) -> dict:
    result = grc.ok("--json", "notify", "run-once", *args, **env)
    return json.loads(result.stdout) | {"stderr": result.stderr}


def test_run_once_delivers_to_the_inbox_and_inbox_reads_it(world):
    world.ok("subscribe", "--company", "1", "--channel", "inbox", as_="alice")
    record(world, "bob", subject="Visite annuelle")
    record(world, "bob", subject="Appel de suivi", action="call")
    stats = run_once(world)
    # The channels never configured are named once, in one warning; the inbox needs none.
    warnings = [line for line in stats["stderr"].splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, warnings
    named = re.findall(r"'(\w+)'", warnings[0])
    assert set(UNCONFIGURED) <= set(named) and "inbox" not in named
    assert "not configured, their deliveries wait" in warnings[0]
    assert (stats["events"], stats["sent"], stats["dead"]) == (2, 2, 0)
    box = world.json("inbox", as_="alice")
    assert box["unread"] == 2
    titles = [item["title"] for item in box["items"]]
    assert titles == [
        "[GRC] Nouvel échange — ACME : Appel de suivi",
        "[GRC] Nouvel échange — ACME : Visite annuelle",
    ]
    newest, oldest = box["items"]
    assert oldest["about"]["company_id"] == 1 and oldest["unread"]
    assert "Bonjour Alice" in oldest["body"]
    shown = world.ok("inbox", as_="alice").stdout
    assert "Inbox of alice: 2 unread alerts" in shown and "Visite annuelle" in shown
    # A second pass finds nothing new: one delivery per event, recipient and channel.
    assert run_once(world)["sent"] == 0
    assert len(world.json("inbox", as_="alice")["items"]) == 2
    # Reading.
    assert world.json("inbox", "read", str(oldest["id"]), as_="alice") == {"marked": 1, "unread": 1}
    unread = world.json("inbox", "--unread", as_="alice")
    assert [i["id"] for i in unread["items"]] == [newest["id"]]
    assert "Inbox of alice: 1 unread alert" in world.ok("inbox", as_="alice").stdout
    assert world.fails(3, "inbox", "read", str(newest["id"]), as_="bob")  # not bob's
    assert "no inbox item 999" in world.fails(3, "inbox", "read", "999", as_="alice")
    assert "--all" in world.usage_error("inbox", "read", as_="alice")
    assert world.json("inbox", "read", "--all", as_="alice") == {"marked": 1, "unread": 0}
    assert world.json("inbox", "--unread", as_="alice") == {"unread": 0, "items": []}
    assert world.json("inbox", "--limit", "1", as_="alice")["items"][0]["id"] == newest["id"]
    assert world.json("inbox", as_="bob") == {"unread": 0, "items": []}
    assert "nothing to show" in world.ok("inbox", as_="bob").stderr


def test_private_exchanges_reach_nobody_who_may_not_see_them(world):
    for login in ("alice", "carol"):
        world.ok("subscribe", "--company", "1", "--channel", "inbox", as_=login)
    record(world, "bob", "--private", "--assign", "bob", "--assign", "carol", subject="Marge")
    assert run_once(world)["sent"] == 1
    assert world.json("inbox", as_="alice")["items"] == []
    assert [i["title"] for i in world.json("inbox", as_="carol")["items"]] == [
        "[GRC] Nouvel échange — ACME : Marge"
    ]


@pytest.mark.parametrize("how", ["toml", "env"])
def test_email_goes_to_an_mbox_file(world, tmp_path, how):
    mbox = tmp_path / "out" / "grc.mbox"
    world.ok("subscribe", "--company", "1", "--channel", "email", as_="alice")
    record(world, "bob", subject="Visite annuelle")
    if how == "toml":
        config = tmp_path / "grc.toml"
        config.write_text(
            f'[grc.channels.email]\nmailbox = "{mbox}"\nfrom_address = "GRC <grc@example.org>"\n',
            encoding="utf-8",
        )
        stats = run_once(world, "--config", str(config))
    else:
        stats = run_once(
            world,
            GRC_CHANNEL__EMAIL__MAILBOX=str(mbox),
            GRC_CHANNEL__EMAIL__FROM_ADDRESS="GRC <grc@example.org>",
        )
    assert "channel 'email'" not in stats["stderr"]  # configured: no warning
    assert stats["sent"] == 1
    [row] = deliveries(world)
    [message] = read_mbox(mbox)
    assert message["Subject"] == "[GRC] Nouvel échange — ACME : Visite annuelle"
    assert message["From"] == "GRC <grc@example.org>"
    assert message["To"] == "Alice <alice@example.fr>"
    assert message["Message-ID"] == f"<grc-delivery-{row['id']}@example.org>"
    assert message["X-GRC-Delivery"] == str(row["id"])
    assert "Bonjour Alice" in message["body"] and "Objet : Visite annuelle" in message["body"]
    assert (row["status"], row["message_id"]) == ("sent", message["Message-ID"])


def test_an_unconfigured_channel_waits_while_the_inbox_is_delivered(world):
    world.ok("subscribe", "--company", "1", "--channel", "inbox,email", as_="alice")
    record(world, "bob")
    stats = run_once(world)
    assert "'email'" in stats["stderr"] and "not configured" in stats["stderr"]
    assert (stats["sent"], stats["retried"], stats["dead"]) == (1, 1, 0)
    email = next(d for d in deliveries(world) if d["channel"] == "email")
    assert email["status"] == "pending" and "needs from_address" in email["last_error"]
    assert world.json("notify", "dead", as_="admin") == []
    assert world.json("inbox", as_="alice")["unread"] == 1


def test_dead_deliveries_are_listed_and_retried_by_hand(world, tmp_path):
    world.ok("subscribe", "--company", "1", "--channel", "email", as_="alice")
    record(world, "bob")
    port = closed_port()
    smtp = {
        "GRC_CHANNEL__EMAIL__HOST": "127.0.0.1",
        "GRC_CHANNEL__EMAIL__PORT": str(port),
        "GRC_CHANNEL__EMAIL__FROM_ADDRESS": "grc@example.org",
        "GRC_CHANNEL__EMAIL__TIMEOUT": "2",
    }
    stats = run_once(world, "--max-attempts", "1", **smtp)
    assert (stats["sent"], stats["dead"]) == (0, 1)
    [dead] = world.json("notify", "dead", as_="admin")
    assert dead["recipient"] == "alice" and dead["channel"] == "email"
    assert dead["attempts"] == 1
    assert f"cannot connect to the SMTP server 127.0.0.1:{port}" in dead["last_error"]
    assert "notify retry" in world.ok("notify", "dead", as_="admin").stdout
    assert "needs an administrator" in world.fails(4, "notify", "dead", as_="alice")
    assert "needs an administrator" in world.fails(4, "notify", "retry", str(dead["id"]), as_="bob")
    assert "no delivery 999" in world.fails(3, "notify", "retry", "999", as_="admin")
    assert world.json("notify", "retry", str(dead["id"]), as_="admin") == {"retried": [dead["id"]]}
    assert world.json("notify", "dead", as_="admin") == []
    assert "only dead deliveries" in world.fails(5, "notify", "retry", str(dead["id"]), as_="admin")
    # The configuration fixed (a mailbox file instead of the server), the retry goes through.
    mbox = tmp_path / "grc.mbox"
    stats = run_once(world, GRC_CHANNEL__EMAIL__MAILBOX=str(mbox), **smtp)
    assert stats["sent"] == 1
    [message] = read_mbox(mbox)
    assert message["Message-ID"] == f"<grc-delivery-{dead['id']}@example.org>"
    [row] = deliveries(world)
    assert (row["status"], row["attempts"]) == ("sent", 1)


def test_run_once_prints_a_summary_for_people(world):
    world.ok("subscribe", "--company", "1", "--channel", "inbox", as_="alice")
    record(world, "bob")
    out = world.ok("notify", "run-once").stdout
    assert out.strip() == (
        "1 event fanned out, 0 escalated, 1 delivery claimed: 1 sent, 0 to retry, 0 dead, "
        "0 skipped (no longer visible)"
    )


# --- the long-running worker --------------------------------------------------------------


def _grc_executable() -> str:
    path = Path(sys.executable).with_name("grc")
    assert path.is_file(), f"no grc entry point next to {sys.executable}"
    return str(path)


def _read_until(proc: subprocess.Popen[bytes], pattern: str, timeout: float) -> str:
    """What the worker wrote on stderr until ``pattern`` (fails after ``timeout`` seconds).

    Reads the pipe's file descriptor itself: a buffered ``readline`` would take more than
    a line out of the pipe, and ``select`` would then wait for data already read.
    """
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{pattern!r} never came; stderr so far:\n{seen.decode()}"
        if selector.select(left):
            chunk = os.read(fd, 65536)
            assert chunk, f"the worker exited ({proc.poll()}):\n{seen.decode()}"
            seen += chunk
    selector.close()
    return seen.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_notify_work_stops_gracefully_on_a_signal(world, tmp_path, signum):
    world.ok("subscribe", "--company", "1", "--channel", "inbox", as_="alice")
    record(world, "bob")
    env = {k: v for k, v in os.environ.items() if k not in cli_env(tmp_path)}
    env |= {k: v for k, v in cli_env(tmp_path).items() if v is not None}
    assert world.url is not None
    proc = subprocess.Popen(
        [_grc_executable(), "--db", world.url, "notify", "work", "--idle", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=env,
    )
    try:
        started = _read_until(proc, "started", timeout=20)
        deadline = time.monotonic() + 20
        while not world.json("inbox", as_="alice")["items"]:  # the worker delivers it
            assert time.monotonic() < deadline, "the worker delivered nothing"
            time.sleep(0.1)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        stdout, stderr = out.decode(), started + err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert f"{signal.Signals(signum).name} received: stopped after the current pass" in stderr
    assert "Traceback" not in stderr
    assert re.fullmatch(
        r"worker \S+ stopped: 1 event fanned out, 0 escalated, 1 delivery claimed: 1 sent, "
        r"0 to retry, 0 dead, 0 skipped \(no longer visible\)\n",
        stdout,
    ), stdout
