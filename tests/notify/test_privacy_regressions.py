"""Regression tests of issue 9's notification defects, each on its exact scenario.

Every test runs the real pipeline (fan-out, worker, the real inbox, task, e-mail, report and
SMS channels) on a committed database, SQLite and PostgreSQL, and then reads everything an
unentitled colleague can read — the exchanges they may see (which every list, history and
search reads through), their inbox, their e-mails and reports, their text messages, the
audit trail as they may read it — and checks that the secret word is in none of it.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from grc_core import Grc
from grc_core.errors import ValidationError
from grc_core.models import Delivery, Event, Exchange, InboxItem
from grc_core.notify import rule_admin, subscriptions
from grc_core.notify.inbox import list_inbox
from grc_core.notify.worker import DeliveryWorker
from grc_core.plugins import Registry
from grc_core.queries.search import search
from grc_core.services import companies, custom_fields, exchanges, opportunities, users
from grc_core.timeutil import utcnow
from grc_core.visibility import visible_exchanges

from .conftest import Gateway

LOGINS = ("alice", "bob", "carol")


class Clock:
    """The workers' clock: starts now (events and subscriptions carry real times)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Office:
    """A committed database with admin, alice, bob and carol (e-mail and phone each), ACME
    with an opportunity and Globex, and every built-in channel for real."""

    def __init__(self, url: str, folder: Path, gateway: Gateway, **task_config: Any) -> None:
        self.grc = Grc.from_url(url)
        self.grc.upgrade()
        self.mbox = folder / "mail.mbox"
        self.gateway = gateway
        self.phones: dict[str, str] = {}
        with self.grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            for number, login in enumerate(LOGINS):
                self.phones[login] = f"+3361000000{number}"
                users.create_user(
                    s, admin, login=login, display_name=login.title(),
                    email=f"{login}@example.fr", phone=self.phones[login],
                )  # fmt: skip
            self.acme = companies.create_company(s, admin, name="ACME", owner="alice").id
            self.globex = companies.create_company(s, admin, name="Globex").id
            self.deal = opportunities.create_opportunity(s, admin, self.acme, title="Renouv").id
        registry = Registry.load()
        mail = {"mailbox": str(self.mbox), "from_address": "grc@example.fr"}
        self.channels = {
            "inbox": registry.notification_channel("inbox", {}),
            "task": registry.notification_channel("task", task_config),
            "email": registry.notification_channel("email", mail),
            "report": registry.notification_channel("report", mail),
            "sms": registry.notification_channel("sms", {"url": gateway.url}),
        }
        self.clock = Clock()
        self.worker = DeliveryWorker(
            self.grc.session, self.channels, clock=self.clock, worker_id="w", seed=1
        )

    def act(self, login: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.grc.acting_as(login) as work:
            result = fn(work.session, work.actor, *args, **kwargs)
            return getattr(result, "id", result)

    def record(self, login: str = "alice", **fields: Any) -> int:
        values = {"start": utcnow(), "action": "call", "company_id": self.acme} | fields
        return int(self.act(login, exchanges.create_exchange, **values))

    def run(self, *, hours: float = 0) -> None:
        """Run the workers, then again once ``hours`` have passed (digests fall due)."""
        self.worker.drain(max_passes=50)
        if hours:
            self.clock.advance(hours=hours)
            self.worker.drain(max_passes=50)

    # --- what a user can read ---------------------------------------------------------------

    def mails_to(self, login: str) -> list[str]:
        if not self.mbox.exists():
            return []
        box = mailbox.mbox(self.mbox, factory=lambda f: BytesParser(policy=policy.default).parse(f))
        texts = []
        try:
            for message in box:
                if f"{login}@example.fr" not in str(message["To"]):
                    continue
                parts = [message["Subject"] or ""]
                for part in message.walk():
                    if part.get_content_maintype() == "text":
                        parts.append(part.get_content())
                texts.append("\n".join(parts))
        finally:
            box.close()
        return texts

    def texts_to(self, login: str) -> list[str]:
        return [
            str(request.json.get("text"))
            for request in self.gateway.requests
            if self.gateway.phone_of(request) == self.phones[login]
        ]

    def inbox_of(self, login: str) -> list[str]:
        with self.grc.acting_as(login, read_only=True) as work:
            return [
                f"{item.title}\n{item.body}"
                for item in list_inbox(work.session, work.actor, limit=200)
            ]

    def readable_by(self, login: str, word: str) -> str:
        """Everything ``login`` can read that mentions ``word`` (or their whole inbox and
        messages), as one text."""
        with self.grc.acting_as(login, read_only=True) as work:
            s, user = work.session, work.actor
            seen = [
                f"{e.subject}\n{e.details}"
                for e in s.scalars(select(Exchange).where(visible_exchanges(user)))
            ]
            seen += [f"{hit.subject}" for hit in search(s, user, word, limit=100)]
            seen += _audit_text(s, user)
        seen += self.inbox_of(login) + self.mails_to(login) + self.texts_to(login)
        return "\n".join(seen)

    def tasks(self) -> list[Exchange]:
        with self.grc.session(read_only=True) as s:
            return list(
                s.scalars(
                    select(Exchange).where(Exchange.origin.is_not(None)).order_by(Exchange.id)
                )
            )

    def deliveries(self) -> list[Delivery]:
        with self.grc.session(read_only=True) as s:
            return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def _audit_text(session: Session, user: Any) -> list[str]:
    """The audit trail as ``user`` may read it (old and new values)."""
    try:
        from grc_core.queries.audit import audit_events
    except ImportError:  # pragma: no cover - the audit API is part of the library
        raise
    page = audit_events(session, user, limit=200)
    return [repr(entry.changes) for entry in page.entries]


@pytest.fixture
def office(fresh_url: str, tmp_path: Path, gateway: Gateway) -> Iterator[Office]:
    o = Office(fresh_url, tmp_path, gateway)
    yield o
    o.grc.dispose()


# --- defect 1: a digest through the task channel published a private exchange ---------------


@pytest.mark.parametrize("path", ["subscription", "rule"])
@pytest.mark.parametrize("digest", ["hourly", "immediate"])
def test_1_a_task_quoting_a_private_exchange_is_private_whatever_the_path(
    office: Office, path: str, digest: str
) -> None:
    if path == "subscription":
        office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["task"])
    else:
        office.act(
            "admin", rule_admin.add_rule, "tâches", triggers=["exchange.created"],
            recipients={"assignees": True}, channels=["task"],
        )  # fmt: skip
    office.act("bob", subscriptions.set_preferences, digest=digest)
    office.record(
        "alice", subject="Narwhalsecret budget", details="Narwhalsecret: 2 M€",
        private=True, assignees=["alice", "bob"],
    )  # fmt: skip
    office.run(hours=2)
    [task] = office.tasks()
    assert "Narwhalsecret" in task.subject + task.details  # it quotes the private exchange
    assert task.private is True and task.author_id == task.assignees[0].id
    assert [u.login for u in task.assignees] == ["bob"]
    assert task.company_id == office.acme  # not a global To-do
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")


@pytest.mark.parametrize("digest", ["hourly", "immediate"])
def test_1_an_escalation_task_quoting_a_private_exchange_is_private(
    office: Office, digest: str
) -> None:
    office.act(
        "admin", rule_admin.add_rule, "relance", escalation=True,
        condition="exchange.private and exchange.action = 'call'",
        recipients={"assignees": True}, channels=["task", "report"],
    )  # fmt: skip
    office.act("bob", subscriptions.set_preferences, digest=digest)
    office.record("alice", subject="Narwhalsecret budget", private=True, assignees=["alice", "bob"])
    office.run(hours=2)
    tasks = office.tasks()
    assert sorted(t.assignees[0].login for t in tasks) == ["alice", "bob"]
    assert all(t.private and "Narwhalsecret" in t.subject + t.details for t in tasks)
    assert any("Narwhalsecret" in mail for mail in office.mails_to("bob"))  # his report
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")


def test_1_a_digest_mixing_shared_and_private_exchanges_makes_a_private_task(
    office: Office,
) -> None:
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["task"])
    office.act("bob", subscriptions.set_preferences, digest="hourly")
    office.record("alice", subject="Visite annuelle")
    office.record("alice", subject="Narwhalsecret", private=True, assignees=["alice", "bob"])
    office.record("alice", subject="Chez Globex", company_id=office.globex)
    office.run(hours=2)
    [task] = office.tasks()
    assert task.subject.startswith("[GRC] Récapitulatif : 2")  # Globex is not followed
    assert task.private is True
    assert task.origin is not None and len(task.origin["exchange_ids"]) == 2
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")


def test_1_a_task_made_from_a_message_written_while_private_stays_private(
    office: Office,
) -> None:
    """The text was rendered while the exchange was private; it was shared before the
    task was made: the task quotes the private text, so it is private."""
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["task"])
    office.act("bob", subscriptions.set_preferences, digest="hourly")
    ident = office.record(
        "alice", subject="Narwhalsecret", private=True, assignees=["alice", "bob"]
    )
    office.run()  # fanned out: the message quotes the private subject
    office.act("alice", exchanges.update_exchange, ident, private=False, subject="Team note")
    office.run(hours=2)
    assert all(t.private for t in office.tasks() if "Narwhalsecret" in t.subject + t.details)
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")


def test_1_a_digest_leaves_out_what_the_recipient_can_no_longer_see(office: Office) -> None:
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["email"])
    office.act("carol", subscriptions.set_preferences, digest="hourly")
    office.record("alice", subject="Visite annuelle")
    hidden = office.record("alice", subject="Bientôt Narwhalsecret")
    office.run()
    office.act("alice", exchanges.update_exchange, hidden, private=True)
    office.run(hours=2)
    [mail] = office.mails_to("carol")
    assert "Récapitulatif : 1" in mail and "Visite annuelle" in mail
    assert "Narwhalsecret" not in mail


def test_1_a_task_message_that_does_not_say_it_is_shared_is_private(
    session: Session, world: Any
) -> None:
    from grc_adapters.task import TaskChannel
    from grc_core.notify.channels import OutgoingMessage, Recipient

    from .conftest import add_delivery

    shared = exchanges.create_exchange(
        session, world.alice, subject="Appel", start=world.at(), action="call",
        company_id=world.acme.id, assignees=[world.alice, world.bob],
    )  # fmt: skip
    message = OutgoingMessage(
        delivery_id=add_delivery(session, world.bob.id, "task"),
        recipient=Recipient.from_user(world.bob),
        subject="Rappel",
        text="…",
        about={"exchange_id": shared.id},  # no "private": it may quote anything (fail closed)
    )
    [result] = TaskChannel().send(session, [message])
    assert result.ok
    task = session.scalars(select(Exchange).where(Exchange.id != shared.id)).one()
    assert task.private is True


# --- defect 2: the private past was sent when an exchange became shared ---------------------


def test_2_a_private_exchange_made_shared_reaches_newcomers_without_its_past(
    office: Office,
) -> None:
    office.act(
        "carol", subscriptions.subscribe, company_id=office.acme,
        channels=["inbox", "email", "sms", "report", "task"],
    )  # fmt: skip
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["inbox", "task"])
    ident = office.record(
        "alice", subject="Narwhalsecret salary of Dupont", private=True,
        assignees=["alice", "bob"],
    )  # fmt: skip
    office.act("alice", exchanges.update_exchange, ident, private=False, subject="Team note")
    office.run()
    [carol_item] = office.inbox_of("carol")
    assert carol_item.startswith("[GRC] Échange partagé avec vous — ACME : Team note")
    assert "→" not in carol_item
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")
    # Bob could see it while it was private: he is told what changed ...
    bob_items = office.inbox_of("bob")
    assert any("objet : Narwhalsecret salary of Dupont → Team note" in i for i in bob_items)
    assert any("privé : oui → non" in i for i in bob_items)
    # ... and his tasks quoting the private past are private.
    for task in office.tasks():
        if "Narwhalsecret" in task.subject + task.details:
            assert task.private and [u.login for u in task.assignees] == ["bob"]


def test_2_events_written_before_audiences_existed_are_judged_the_same(office: Office) -> None:
    """Events pending when a database is upgraded carry no audience: it is rebuilt from the
    exchange as it is and the later events' changes (and, on a reused id, unknown)."""
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    ident = office.record("alice", subject="Narwhalsecret", private=True)
    office.act("alice", exchanges.update_exchange, ident, subject="Narwhalsecret 2")
    office.act("alice", exchanges.update_exchange, ident, private=False, subject="Team note")
    office.act("alice", exchanges.update_exchange, ident, subject="Team note 2")
    with office.grc.session() as s:
        s.execute(update(Event).values(audience=None))
    office.run()
    items = office.inbox_of("carol")
    assert [i.splitlines()[0] for i in items] == [
        "[GRC] Échange modifié — ACME : Team note 2",
        "[GRC] Échange partagé avec vous — ACME : Team note 2",
    ]
    assert "objet : Team note → Team note 2" in items[0]
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")


def test_2_rule_templates_get_no_old_values_for_newcomers(office: Office) -> None:
    office.act(
        "admin", rule_admin.add_rule, "changements", triggers=["exchange.updated"],
        recipients={"users": ["carol", "bob"]}, channels=["inbox"],
        subject_template="{{ event.label }} : {{ exchange.subject }}",
        body_template="{% for name, pair in changes.items() %}{{ name }}={{ pair[0] }}"
        "→{{ pair[1] }};{% endfor %}{{ event.changed|join(',') }}",
    )  # fmt: skip
    ident = office.record(
        "alice", subject="Narwhalsecret", private=True, assignees=["alice", "bob"]
    )
    office.act("alice", exchanges.update_exchange, ident, private=False, subject="Team note")
    office.run()
    [carol_item] = office.inbox_of("carol")
    assert carol_item.startswith("Échange partagé avec vous : Team note")
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")
    [bob_item] = office.inbox_of("bob")
    assert "subject=Narwhalsecret→Team note;" in bob_item


# --- defect 2b: pending events of a deleted private exchange judged on a new one -------------


def test_2b_events_are_judged_on_the_record_they_were_about_not_on_its_id(
    office: Office,
) -> None:
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    secret = office.record("alice", subject="Secret plan Zanzibar", private=True)
    office.act("alice", exchanges.update_exchange, secret, subject="Secret plan Narwhal")
    office.act("alice", exchanges.delete_exchange, secret)
    shared = office.record("bob", subject="Shared call")
    # Ids are no longer reused; an old SQLite database did reuse them: its events about
    # the deleted exchange then named the new one.  Rewrite them so (that is what was
    # stored) and check that fan-out still judges them on the deleted record.
    with office.grc.session() as s:
        s.execute(update(Event).where(Event.entity_id == secret).values(entity_id=shared))
    office.run()
    [item] = office.inbox_of("carol")
    assert item.startswith("[GRC] Nouvel échange — ACME : Shared call")
    text = office.readable_by("carol", "Zanzibar") + office.readable_by("carol", "Narwhal")
    assert "Zanzibar" not in text and "Narwhal" not in text


def test_2b_a_delivery_is_checked_again_on_the_record_it_was_about(office: Office) -> None:
    """Fanned out, then the exchange was deleted and its id given to another record."""
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    office.act("carol", subscriptions.set_preferences, digest="hourly")
    secret = office.record("alice", subject="Shared then Zanzibar")
    office.run()
    [waiting] = [d.id for d in office.deliveries()]  # carol's, due with her digest
    office.act("alice", exchanges.update_exchange, secret, private=True)
    office.act("alice", exchanges.delete_exchange, secret)
    shared = office.record("bob", subject="Shared call")
    with office.grc.session() as s:
        s.execute(update(Event).where(Event.entity_id == secret).values(entity_id=shared))
        for d in s.scalars(select(Delivery)):
            if d.about.get("exchange_id") == secret:
                d.about = dict(d.about) | {"exchange_id": shared}
    office.run(hours=2)
    # (Carol saw "Shared then Zanzibar" while it was shared: the audit trail shows her
    # that creation.  No notification may reach her about it once private.)
    assert not any("Zanzibar" in item for item in office.inbox_of("carol"))
    assert [d.status for d in office.deliveries() if d.id == waiting] == ["skipped"]


# --- defect 2c: a newly assigned user received the text from before they could see it --------


def test_2c_a_newly_assigned_user_gets_no_old_values_and_changes_show_names(
    office: Office,
) -> None:
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    ident = office.record(
        "alice", subject="Dismissal of Dupont", private=True, assignees=["alice", "bob"]
    )
    office.act(
        "alice", exchanges.update_exchange, ident, subject="Team reorganisation",
        assignees=["alice", "bob", "carol"],
    )  # fmt: skip
    office.run()
    [carol_item] = office.inbox_of("carol")
    assert carol_item.startswith("[GRC] Échange partagé avec vous — ACME : Team reorganisation")
    assert "Dismissal" not in office.readable_by("carol", "Dismissal")
    bob_items = "\n".join(office.inbox_of("bob"))
    assert "assignés : Alice, Bob → Alice, Bob, Carol" in bob_items
    assert "assignee_ids" not in bob_items and "[2" not in bob_items


# --- defect 11: a new subscriber received the past -------------------------------------------


def test_11_a_subscription_applies_to_events_after_it(office: Office) -> None:
    office.record("alice", subject="Avant l'abonnement")
    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    office.run()
    assert office.inbox_of("carol") == []
    office.record("alice", subject="Après l'abonnement")
    office.run()
    [item] = office.inbox_of("carol")
    assert "Après l'abonnement" in item


def test_11_a_rule_applies_to_events_after_it(office: Office) -> None:
    office.record("alice", subject="Avant la règle")
    office.act(
        "admin", rule_admin.add_rule, "tout", triggers=["exchange.created"],
        recipients={"users": ["carol"]}, channels=["inbox"],
    )  # fmt: skip
    office.record("alice", subject="Après la règle")
    office.run()
    [item] = office.inbox_of("carol")
    assert "Après la règle" in item


# --- defect 12: system-created records under any administrator configuration ---------------


def test_12_a_task_links_only_what_belongs_to_the_exchanges_company_now(
    office: Office,
) -> None:
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["task"])
    office.act("bob", subscriptions.set_preferences, digest="hourly")
    office.record("alice", subject="Sur le deal", opportunity_ids=[office.deal])
    office.run()
    office.act("admin", opportunities.transfer_opportunity, office.deal, office.globex)
    office.run(hours=2)
    [task] = office.tasks()
    assert (task.company_id, task.opportunities) == (office.acme, [])
    assert {d.status for d in office.deliveries()} == {"sent"}


def test_12_a_task_is_created_although_a_required_custom_field_was_added(
    office: Office,
) -> None:
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["task"])
    office.act(
        "admin", custom_fields.define_field, "source", label="Source", type="text",
        required=True,
    )  # fmt: skip
    office.record("alice", subject="Salon", custom={"source": "salon"})
    office.run()
    [task] = office.tasks()
    assert task.subject.endswith("Salon")
    assert {d.status for d in office.deliveries()} == {"sent"}
    # People still have to fill it in.
    with pytest.raises(ValidationError, match="required custom fields missing: source"):
        office.record("alice", subject="Sans source")


def test_12_a_digest_through_the_report_channel_is_sent(office: Office) -> None:
    office.act("bob", subscriptions.subscribe, company_id=office.acme, channels=["report"])
    office.act("bob", subscriptions.set_preferences, digest="daily")
    office.record("alice", subject="Visite annuelle")
    office.record("alice", subject="Relance", company_id=None)  # a global exchange too
    office.run(hours=30)
    [deliveries] = [{d.status for d in office.deliveries()}]
    assert deliveries == {"sent"}
    [report] = office.mails_to("bob")
    assert "Récapitulatif : 1" in report and "Visite annuelle" in report


def test_12_a_channel_that_cannot_reach_its_user_is_refused_when_chosen(office: Office) -> None:
    with office.grc.acting_as("admin") as work:
        users.create_user(work.session, work.actor, login="dan", display_name="Dan")
    with pytest.raises(ValidationError, match=r"'sms' channel cannot reach 'dan'.*phone"):
        office.act("dan", subscriptions.subscribe, company_id=office.acme, channels=["sms"])
    with pytest.raises(ValidationError, match="'email' channel cannot reach 'dan'"):
        office.act("dan", subscriptions.set_preferences, channels={"*": ["inbox", "email"]})
    with pytest.raises(ValidationError, match="'report' channel cannot reach 'dan'"):
        office.act("dan", subscriptions.subscribe, company_id=office.acme, channels=["report"])
    assert office.act("dan", subscriptions.list_subscriptions) == []
    office.act("dan", subscriptions.subscribe, company_id=office.acme, channels=["inbox", "task"])


# --- defect 3, fan-out half: rules never feed on their own tasks -----------------------------


def test_3_rules_do_not_fire_on_tasks_they_made_even_through_each_other(
    fresh_url: str, tmp_path: Path, gateway: Gateway
) -> None:
    office = Office(fresh_url, tmp_path, gateway, notify_new_tasks=True)
    try:
        for name, login in (("pour bob", "bob"), ("pour carol", "carol")):
            office.act(
                "admin", rule_admin.add_rule, name, triggers=["exchange.created"],
                recipients={"users": [login]}, channels=["task"],
            )  # fmt: skip
        office.record("alice", subject="Origine")
        stats = office.worker.drain(max_passes=50)
        assert stats.events < 50  # drained: it stopped by itself
        # Origine → a task for bob (rule 1) and one for carol (rule 2); bob's task makes
        # one for carol (rule 2) and carol's one for bob (rule 1); then every rule is in
        # the tasks' provenance and nothing fires.
        tasks = office.tasks()
        assert len(tasks) == 4
        assert sorted(t.assignees[0].login for t in tasks) == ["bob", "bob", "carol", "carol"]
        with office.grc.session(read_only=True) as s:
            assert s.scalar(select(func.count()).select_from(InboxItem)) == 0
    finally:
        office.grc.dispose()


def test_3_a_task_records_where_it_comes_from(office: Office) -> None:
    office.act(
        "admin", rule_admin.add_rule, "tâches", triggers=["exchange.created"],
        recipients={"users": ["bob"]}, channels=["task"],
    )  # fmt: skip
    ident = office.record("alice", subject="Origine")
    office.run()
    [task] = office.tasks()
    [delivery] = office.deliveries()
    assert task.origin == {
        "channel": "task",
        "rule_id": delivery.rule_id,
        "event_id": delivery.event_id,
        "exchange_id": ident,
        "delivery_id": delivery.id,
    }


def test_attachment_events_of_a_private_exchange_reach_nobody_unentitled(
    office: Office,
) -> None:
    import io

    from grc_core.services import attachments

    office.act("carol", subscriptions.subscribe, company_id=office.acme, channels=["inbox"])
    office.act(
        "admin", rule_admin.add_rule, "pièces", triggers=["attachment.added", "attachment.deleted"],
        recipients={"users": ["carol"]}, channels=["inbox"],
        body_template="{{ changes }}",
    )  # fmt: skip
    ident = office.record("alice", subject="Privé", private=True)
    backends = office.grc.backends
    from grc_core.files import samples

    pdf = samples.pdf()  # a well-formed PDF: the attachment policy parses it
    with office.grc.acting_as("alice") as work:
        attachment_id = attachments.attach(
            work.session, work.actor, backends, io.BytesIO(pdf), "Narwhalsecret.pdf",
            exchange_id=ident,
        ).id  # fmt: skip
    with office.grc.acting_as("alice") as work:
        attachments.delete_attachment(work.session, work.actor, backends, attachment_id)
    office.run()
    assert office.inbox_of("carol") == []
    assert "Narwhalsecret" not in office.readable_by("carol", "Narwhalsecret")
