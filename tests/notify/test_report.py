"""The report channel: a company's recent history as the recipient may see it, e-mailed."""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from grc_adapters.report import ReportChannel
from grc_adapters.report.plugin import make_report_channel
from grc_core.errors import ConfigError
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.services import exchanges
from grc_core.testing.channel_contract import NotificationChannelContract
from grc_core.timeutil import utcnow

from .conftest import SmtpServer


def recipient_for(user: Any) -> Recipient:
    return Recipient(
        user.id, user.login, user.display_name, f"{user.login}@example.com", None, "Europe/Paris"
    )


@pytest.fixture
def history(session: Session, world) -> dict[str, Any]:
    """At ACME: a shared call, a private note of Alice's, an old meeting; one at Globex."""
    now = utcnow()
    shared = exchanges.create_exchange(
        session,
        world.alice,
        subject="Appel <b>relance</b> & devis",
        start=now - timedelta(days=2),
        action="call",
        company_id=world.acme.id,
    )
    private = exchanges.create_exchange(
        session,
        world.alice,
        subject="Note confidentielle sur le budget",
        start=now - timedelta(days=1),
        action="note",
        company_id=world.acme.id,
        private=True,
    )
    old = exchanges.create_exchange(
        session,
        world.bob,
        subject="Réunion de lancement",
        start=now - timedelta(days=90),
        action="meeting",
        company_id=world.acme.id,
    )
    elsewhere = exchanges.create_exchange(
        session,
        world.bob,
        subject="Chez Globex",
        start=now - timedelta(days=1),
        action="call",
        company_id=world.other.id,
    )
    return {"shared": shared, "private": private, "old": old, "elsewhere": elsewhere}


def report_message(delivery_id: int, recipient: Recipient, about: dict) -> OutgoingMessage:
    return OutgoingMessage(
        delivery_id=delivery_id,
        recipient=recipient,
        subject="[GRC] Rapport ACME",
        text="Voici l'activité récente.",
        about=about,
    )


def smtp_report(server: SmtpServer, **config: object) -> ReportChannel:
    return make_report_channel(
        {"host": server.host, "port": server.port, "from_address": "grc@example.com", **config}
    )


def html_and_text(server: SmtpServer, delivery_id: int) -> tuple[str, str]:
    received = server.recorder.by_delivery(delivery_id)
    plain, html = received.iter_parts()
    return html.get_content(), plain.get_content()


class TestReportChannel(NotificationChannelContract):
    @pytest.fixture
    def channel(self, smtp_server: SmtpServer) -> Iterator[ReportChannel]:
        channel = smtp_report(smtp_server)
        yield channel
        channel.close()

    @pytest.fixture
    def send_session(self, session: Session) -> Session:
        return session

    @pytest.fixture
    def recipient(self, world) -> Recipient:
        return recipient_for(world.bob)

    @pytest.fixture
    def about(self, world) -> dict[str, Any]:
        return {"company_id": world.acme.id}

    @pytest.fixture
    def delivered(self, smtp_server: SmtpServer) -> Callable[[int], int]:
        return smtp_server.recorder.count


def test_the_report_shows_what_the_recipient_may_see_and_nothing_else(
    session: Session, world, history: dict[str, Any], smtp_server: SmtpServer
) -> None:
    channel = smtp_report(smtp_server)
    about = {"company_id": world.acme.id}
    results = channel.send(
        session,
        [
            report_message(1, recipient_for(world.bob), about),
            report_message(2, recipient_for(world.alice), about),
        ],
    )
    assert [r.ok for r in results] == [True, True]
    bob_html, bob_text = html_and_text(smtp_server, 1)
    # Bob sees the shared call (escaped), not Alice's private note, nor old or other ones.
    assert "Appel &lt;b&gt;relance&lt;/b&gt; &amp; devis" in bob_html
    assert "Appel <b>relance</b> & devis" in bob_text
    for text in (bob_html, bob_text):
        assert "Note confidentielle" not in text
        assert "Réunion de lancement" not in text  # older than 30 days
        assert "Chez Globex" not in text
    assert "Voici l&#39;activité récente." in bob_html
    assert "<h1" in bob_html and "ACME</h1>" in bob_html
    # Alice, the private note's author, sees it, marked private.
    alice_html, _ = html_and_text(smtp_server, 2)
    assert "Note confidentielle sur le budget <em>(privé)</em>" in alice_html
    received = smtp_server.recorder.by_delivery(1)
    assert received["Message-ID"] == "<grc-delivery-1@example.com>"
    assert received["Subject"] == "[GRC] Rapport ACME"
    assert smtp_server.recorder.connections == 1


def test_the_company_of_the_exchange_when_about_names_none(
    session: Session, world, history: dict[str, Any], smtp_server: SmtpServer
) -> None:
    [result] = smtp_report(smtp_server).send(
        session,
        [report_message(3, recipient_for(world.bob), {"exchange_id": history["elsewhere"].id})],
    )
    assert result.ok
    html, _ = html_and_text(smtp_server, 3)
    assert "Chez Globex" in html and "Appel &lt;b&gt;" not in html


def test_days_and_limit(
    session: Session, world, history: dict[str, Any], smtp_server: SmtpServer
) -> None:
    channel = smtp_report(smtp_server, days="120", limit=1)
    channel.send(
        session, [report_message(4, recipient_for(world.bob), {"company_id": world.acme.id})]
    )
    html, _ = html_and_text(smtp_server, 4)
    assert "Historique des 120 derniers jours (1 échange(s), les 1 plus récents)" in html
    assert "Appel &lt;b&gt;relance" in html and "Réunion de lancement" not in html


def test_a_message_about_no_company_is_sent_with_its_text_and_no_history(
    session: Session, world, smtp_server: SmtpServer
) -> None:
    results = smtp_report(smtp_server).send(
        session,
        [
            report_message(5, recipient_for(world.bob), {}),
            report_message(6, recipient_for(world.bob), {"company_id": 999_999}),
        ],
    )
    assert [r.ok for r in results] == [True, True]
    for delivery_id in (5, 6):
        html, text = html_and_text(smtp_server, delivery_id)
        assert "Voici l'activité récente." in text
        assert "Aucune société concernée" in html and "Aucune société concernée" in text


def test_a_digest_reports_on_every_company_it_is_about(
    session: Session, world, history: dict[str, Any], smtp_server: SmtpServer
) -> None:
    from grc_core.notify.channels import digest_about

    about = digest_about(
        "hourly:2026030210",
        [
            (1, {"exchange_id": history["shared"].id, "company_id": world.acme.id}),
            (2, {"exchange_id": history["elsewhere"].id, "company_id": world.other.id}),
            (3, {"exchange_id": history["shared"].id, "company_id": world.acme.id}),
        ],
    )
    [result] = smtp_report(smtp_server).send(
        session, [report_message(9, recipient_for(world.bob), about)]
    )
    assert result.ok, result
    html, text = html_and_text(smtp_server, 9)
    assert html.count("<h1") == 2 and "ACME" in html and "Globex" in html
    assert "Chez Globex" in text and "Appel <b>relance</b> & devis" in text
    assert "Note confidentielle" not in html + text  # Alice's private note: not Bob's to see


def test_an_empty_history(session: Session, world, smtp_server: SmtpServer) -> None:
    smtp_report(smtp_server).send(
        session, [report_message(7, recipient_for(world.bob), {"company_id": world.other.id})]
    )
    html, text = html_and_text(smtp_server, 7)
    assert "Aucun échange sur la période." in html
    assert "Aucun échange sur la période." in text


def test_a_report_into_a_mailbox(
    session: Session, world, history: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "reports.mbox"
    channel = make_report_channel({"mailbox": str(path), "days": 7})
    [result] = channel.send(
        session, [report_message(8, recipient_for(world.bob), {"company_id": world.acme.id})]
    )
    assert result.ok
    box = mailbox.mbox(path)
    try:
        [received] = list(box)
        assert received["Message-ID"] == "<grc-delivery-8@localhost>"
    finally:
        box.close()


@pytest.mark.parametrize(
    ("config", "error"),
    [
        (
            {"mailbox": "/tmp/r.mbox", "limit": 500},
            "the 'report' channel's limit must be an integer from 1 to 200",
        ),
        (
            {"mailbox": "/tmp/r.mbox", "days": 0},
            "the 'report' channel's days must be an integer from 1",
        ),
        ({"mailbox": "/tmp/r.mbox", "colour": "x"}, "the 'report' channel has no setting 'colour'"),
        ({"host": "smtp.example.com"}, "the 'report' channel needs from_address"),
    ],
)
def test_configuration_errors(config: dict, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_report_channel(config)
    assert str(caught.value).startswith(error)
