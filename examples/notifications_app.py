"""Notifications from Python: subscriptions, preferences, a rule, a worker, the inbox.

A host application that wants colleagues told of what happens, without the ``grc`` command:

- a colleague follows a company, with the channels and the time zone they chose;
- the administrator adds a rule (every meeting recorded for a client is reported to the
  company's owner), tries it on an event, then lets it run;
- channels are built from the installed plugins and the configuration;
- a delivery worker fans the events out and delivers what is due, as ``grc notify work`` does;
- each colleague reads their inbox.

Run it with ``python examples/notifications_app.py [DATABASE_URL]``
(default: ``sqlite:///notifications-app.sqlite3``).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time

from grc_core import Grc
from grc_core.notify import inbox, rule_admin, subscriptions
from grc_core.notify.worker import DeliveryWorker, RunStats, WorkerConfig
from grc_core.services import companies, exchanges, users


@dataclass(frozen=True)
class Report:
    """What happened, for a person to read or a test to check."""

    dry_run_fires: bool
    dry_run_recipients: list[str]
    stats: RunStats
    inboxes: dict[str, list[str]]


# --8<-- [start:setup]
def set_up(grc: Grc) -> int:
    """Users, a client company owned by Alice, and Bob following it."""
    with grc.session() as session:
        if users.list_users(session):
            return companies.list_companies(session, name="ACME")[0].id
        admin = users.create_user(session, None, login="admin", display_name="Admin", is_admin=True)
        staff = (("alice", "Alice Martin"), ("bob", "Bob Durand"), ("chloe", "Chloé Petit"))
        for login, name in staff:
            users.create_user(session, admin, login=login, display_name=name)
        acme = companies.create_company(session, admin, name="ACME", owner="alice")
        company_id = acme.id
    with grc.acting_as("bob") as work:
        # Bob follows ACME: new and completed exchanges, in his on-screen inbox.
        subscriptions.subscribe(
            work.session,
            work.actor,
            company_id=company_id,
            event_kinds=["exchange.created", "exchange.completed"],
            channels=["inbox"],
            available_channels=grc.registry.notification_channel_names(),
        )
        # And he does not want to be disturbed at night (his zone, not the server's).
        subscriptions.set_preferences(
            work.session,
            work.actor,
            timezone="Europe/Paris",
            quiet_hours=(time(22, 0), time(7, 0)),
        )
    return company_id


# --8<-- [end:setup]
# --8<-- [start:rule]
def add_meeting_rule(grc: Grc) -> None:
    """The administrator's rule: a meeting with a client is reported to the company's owner."""
    with grc.acting_as("admin") as work:
        if any(rule.name == "Client meetings" for rule in rule_admin.list_rules(work.session)):
            return
        rule_admin.add_rule(
            work.session,
            work.actor,
            "Client meetings",
            triggers=["exchange.created"],
            condition="exchange.action = 'meeting' and company.status = 'client'",
            recipients={"company_owner": True},
            channels=["inbox"],
            subject_template="Meeting with {{ company.name }}: {{ exchange.subject }}",
            available_channels=grc.registry.notification_channel_names(),
        )


# --8<-- [end:rule]
# --8<-- [start:record]
def record_meeting(grc: Grc, company_id: int, start: datetime) -> int:
    """Chloé records a meeting; the company became a client first (Alice owns it).

    The actor of a change is never notified of it: Alice hears of the status change only
    if someone else makes it, Bob and Alice hear of Chloé's meeting.
    """
    with grc.acting_as("alice") as work:
        companies.set_company_status(work.session, work.actor, company_id, "client")
    with grc.acting_as("chloe") as work:
        meeting = exchanges.create_exchange(
            work.session,
            work.actor,
            uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"example/meeting/{start.isoformat()}"),
            company_id=company_id,
            subject="Yearly review",
            action="meeting",
            start=start,
        )
        return meeting.id


# --8<-- [end:record]
# --8<-- [start:dry-run]
def try_rule(grc: Grc, exchange_id: int) -> rule_admin.DryRun:
    """Would the rule fire on the meeting's creation event?  Nothing is sent."""
    from sqlalchemy import select

    from grc_core.models import Event

    with grc.acting_as("admin", read_only=True) as work:
        event_id = work.session.scalar(
            select(Event.id).where(
                Event.entity_type == "exchange",
                Event.entity_id == exchange_id,
                Event.kind == "exchange.created",
            )
        )
        assert event_id is not None
        return rule_admin.test_rule(work.session, "Client meetings", event_id, actor=work.actor)


# --8<-- [end:dry-run]
# --8<-- [start:worker]
def deliver(grc: Grc, now: datetime) -> RunStats:
    """Build the channels from the plugins and the configuration, then run a worker until
    nothing is due (a service would call ``worker.work(stop_event)`` instead)."""
    channels = {
        name: grc.registry.notification_channel(name, grc.settings.channel_config(name))
        for name in ("inbox",)
    }
    worker = DeliveryWorker(
        grc.session, channels, config=WorkerConfig(max_attempts=5), clock=lambda: now
    )
    try:
        return worker.drain()
    finally:
        for channel in channels.values():
            channel.close()


# --8<-- [end:worker]
# --8<-- [start:inbox]
def read_inbox(grc: Grc, login: str) -> list[str]:
    """The titles in ``login``'s inbox, newest first; marks them read."""
    with grc.acting_as(login) as work:
        items = inbox.list_inbox(work.session, work.actor)
        inbox.mark_read(work.session, work.actor, "all")
        return [item.title for item in items]


# --8<-- [end:inbox]


def main(url: str) -> Report:
    """Run every step on the database at ``url``."""
    with Grc.from_url(url) as grc:
        grc.upgrade()
        company_id = set_up(grc)
        add_meeting_rule(grc)
        # 10:00 in Paris: outside Bob's quiet hours, so nothing waits for the morning.
        start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        exchange_id = record_meeting(grc, company_id, start)
        dry = try_rule(grc, exchange_id)
        stats = deliver(grc, start)
        inboxes = {login: read_inbox(grc, login) for login in ("alice", "bob")}
    return Report(dry.fires, dry.recipients, stats, inboxes)


if __name__ == "__main__":
    report = main(sys.argv[1] if len(sys.argv) > 1 else "sqlite:///notifications-app.sqlite3")
    print(f"worker: {report.stats}")
    for login, subjects in report.inboxes.items():
        print(f"{login}: {subjects}")
