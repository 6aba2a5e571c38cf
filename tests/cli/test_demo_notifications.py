"""``grc demo`` shows a subscription and rules at work: inbox alerts, e-mails, a dry run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .notifying import read_mbox
from .runner import Grc

MEETING = "Rendez-vous de présentation de l'extension"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One demo run: its folder, stdout and stderr."""
    home = tmp_path_factory.mktemp("demo-home")
    folder = home / "demo"
    result = Grc(None, home).ok("demo", "--dir", str(folder))
    return folder, result.stdout, result.stderr


def test_the_demo_shows_notifications(demo):
    folder, stdout, stderr = demo
    assert "[5/9] notifications: a colleague follows a company" in stderr
    assert "[9/9] notifications delivered" in stderr
    # The demo configures the channels it uses: no warning about them (one may say that no
    # virus scanner is active, on a machine without ClamAV).
    warnings = [line for line in stderr.splitlines() if line.startswith("warning")]
    assert [line for line in warnings if "virus scanner" not in line] == []
    assert "Notifications: mmartin follows Boulangeries Martin SA" in stdout
    assert "escalated to cpetit: [GRC] En retard : Préparer la démonstration" in stdout
    assert "mmartin was told nothing of the private note" in stdout
    # Six alerts about exchanges and attachments, one about Jean Girard joining the company.
    inbox = stdout[stdout.index("Inbox of mmartin: 7 unread alerts") :]
    inbox = inbox[: inbox.index("times in")]
    assert f"[GRC] RDV chez Boulangeries Martin SA : {MEETING}"[:60] in inbox
    assert "Note interne" not in inbox
    mbox = folder / "mailbox.mbox"
    assert f"E-mails written to {mbox}: 2" in stdout
    assert f"Subject: [GRC] RDV chez Boulangeries Martin SA : {MEETING}" in stdout
    assert "From: GRC démo <grc@exemple.fr>" in stdout
    assert "To: Marie Martin <marie.martin@exemple.fr>" in stdout
    assert re.search(r"Message-ID: <grc-delivery-\d+@exemple\.fr>", stdout)
    # The first exchange's creation event (users and companies were recorded before it).
    [event_id] = re.findall(r"Dry run of rule 'RDV clients' on event (\d+)", stdout)
    dry = stdout[stdout.index(f"Dry run of rule 'RDV clients' on event {event_id}") :]
    assert re.search(r"Fires\s+no", dry) and "exchange.action is 'call'" in dry
    # The existing sections are unchanged.
    assert "11 exchanges (1 private, 1 global, 7 closed), 5 attachments" in stdout
    assert f"rules test 'RDV clients' --event {event_id} --as admin" in stdout


def test_the_demo_mailbox_and_inboxes_are_real(demo, tmp_path):
    folder, stdout, _ = demo
    messages = read_mbox(folder / "mailbox.mbox")
    assert [(m["To"], m["Subject"]) for m in messages] == [
        (
            "Marie Martin <marie.martin@exemple.fr>",
            f"[GRC] RDV chez Boulangeries Martin SA : {MEETING}",
        ),
        (
            "Camille Petit <camille.petit@exemple.fr>",
            "[GRC] En retard : Préparer la démonstration de traçabilité (Fromagerie des Alpes)",
        ),
    ]
    assert f"Message-ID: {messages[0]['Message-ID']}" in stdout
    grc = Grc(f"sqlite:///{folder / 'grc-demo.sqlite3'}", tmp_path)
    assert grc.json("inbox", as_="mmartin")["unread"] == 7
    assert [s["follows"] for s in grc.json("subscriptions", as_="mmartin")] == [
        "company 1: Boulangeries Martin SA"
    ]
    rules = grc.json("rules", "list")
    assert [(r["name"], r["escalation"]) for r in rules] == [
        ("RDV clients", False),
        ("To-do en retard", True),
    ]
    # Everything due was delivered: another pass has nothing to do.
    stats = grc.json("notify", "run-once", GRC_CHANNEL__EMAIL__MAILBOX=str(tmp_path / "x.mbox"))
    assert (stats["events"], stats["claimed"]) == (0, 0)


def test_demo_json_has_the_notifications(bare, tmp_path):
    data = json.loads(bare.ok("--json", "demo", "--dir", str(tmp_path / "d")).stdout)
    notes = data["notifications"]
    assert notes["inbox"]["user"] == "mmartin" and notes["inbox"]["unread"] == 7
    assert notes["mailbox"]["count"] == 2
    assert notes["mailbox"]["first"]["message_id"].startswith("<grc-delivery-")
    assert notes["dry_run"]["fires"] is False
    assert notes["deliveries"]["now"]["sent"] == 8
    assert notes["deliveries"]["later"]["escalated"] == 1
    assert notes["private_note_notified"] is False
    assert data["summary"]["exchanges"] == 11
