"""Fan-out and delivery: who hears of what, privacy twice, retries, leases, escalations."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import func, select, update

from grc_core.errors import ValidationError
from grc_core.models import Delivery, EscalationMark, Event, Preferences
from grc_core.notify import rule_admin, subscriptions
from grc_core.notify.fanout import fan_out
from grc_core.notify.schedule import due
from grc_core.notify.worker import DeliveryWorker, WorkerConfig, list_dead, retry
from grc_core.services import exchanges, users

from .conftest import T0, Recording


def act(team, login, fn, *args, **kwargs):
    with team.grc.acting_as(login) as work:
        return fn(work.session, work.actor, *args, **kwargs)


def new_exchange(team, login="bob", **kw):
    args = {"subject": "Visite annuelle", "start": T0, "action": "meeting", "company_id": team.acme}
    return act(team, login, exchanges.create_exchange, **(args | kw)).id


def worker(team, clock, channel, **config):
    return DeliveryWorker(
        team.grc.session, {channel.name: channel}, config=WorkerConfig(**config), clock=clock,
        worker_id="w1", seed=1,
    )  # fmt: skip


def deliveries(team):
    with team.grc.session(read_only=True) as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_subscriber_is_told_and_the_author_is_not(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    act(team, "bob", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    new_exchange(team, "bob")
    channel = Recording()
    stats = worker(team, clock, channel).drain()
    assert stats.sent == 1
    [message] = channel.sent
    assert message.recipient.login == "alice"
    assert "ACME" in message.subject and "Visite annuelle" in message.subject
    assert message.about["company_id"] == team.acme


def test_event_kinds_and_narrowing_are_respected(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"],
        event_kinds=["exchange.completed"])  # fmt: skip
    act(
        team,
        "carol",
        subscriptions.subscribe,
        company_id=team.acme,
        channels=["email"],
        narrow=True,
    )
    ident = new_exchange(team, opportunity_ids=[team.deal])
    act(team, "bob", exchanges.complete_exchange, ident)
    channel = Recording()
    worker(team, clock, channel).drain()
    # alice only wanted completions; carol narrowed ACME to exclude its opportunities.
    assert [(m.recipient.login, m.about["kind"]) for m in channel.sent] == [
        ("alice", "exchange.completed")
    ]


def test_private_exchanges_reach_only_those_who_may_see_them(team, clock):
    for login in ("alice", "carol"):
        act(team, login, subscriptions.subscribe, company_id=team.acme, channels=["email"])
    new_exchange(team, "bob", private=True, assignees=["bob", "carol"], subject="Négociation")
    channel = Recording()
    worker(team, clock, channel).drain()
    assert [m.recipient.login for m in channel.sent] == ["carol"]


def test_visibility_is_checked_again_just_before_sending(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    ident = new_exchange(team, "bob")
    with team.grc.session() as s:
        fan_out(s, now=clock())
    assert [d.status for d in deliveries(team)] == ["pending"]
    act(team, "bob", exchanges.update_exchange, ident, private=True)  # hidden before sending
    channel = Recording()
    worker(team, clock, channel).drain()
    assert channel.sent == []
    assert [d.status for d in deliveries(team)] == ["skipped"]


def test_fan_out_twice_creates_nothing_twice(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email", "sms"])
    new_exchange(team)
    with team.grc.session() as s:
        assert fan_out(s, now=clock()) >= 1  # with the set-up's own audit events
    with team.grc.session() as s:
        s.execute(update(Event).values(fanned_out=False))  # as if the first pass was lost
        fan_out(s, now=clock())
    assert sorted(d.channel for d in deliveries(team)) == ["email", "sms"]


def test_failures_are_retried_with_back_off_then_parked_and_retried_by_hand(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    new_exchange(team)
    channel = Recording()
    channel.fail_with = ("421 try again later", True)
    w = worker(team, clock, channel, max_attempts=3, backoff_base=timedelta(minutes=1))
    w.drain()
    [d] = deliveries(team)
    assert (d.status, d.attempts, d.last_error) == ("pending", 1, "421 try again later")
    assert d.due_at > clock()  # waiting for its back-off
    assert w.drain().claimed == 0  # not due yet
    for _ in range(2):
        clock.advance(hours=1)
        w.drain()
    [d] = deliveries(team)
    assert (d.status, d.attempts) == ("dead", 3)
    with team.grc.acting_as("admin") as work:
        assert [x.id for x in list_dead(work.session, work.actor)] == [d.id]
        assert retry(work.session, work.actor, [d.id], now=clock()) == 1
    channel.fail_with = None
    clock.advance(seconds=1)
    w.drain()
    assert [x.status for x in deliveries(team)] == ["sent"] and len(channel.sent) == 1


def test_a_refused_recipient_is_parked_at_once(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    new_exchange(team)
    channel = Recording()
    channel.fail_with = ("550 no such mailbox", False)
    worker(team, clock, channel).drain()
    assert [(d.status, d.attempts) for d in deliveries(team)] == [("dead", 1)]


def test_a_dead_workers_lease_expires_a_live_workers_does_not(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    new_exchange(team)
    channel = Recording()
    config = {"lease": timedelta(seconds=60)}
    dead = DeliveryWorker(team.grc.session, {"email": channel}, config=WorkerConfig(**config),
                          clock=clock, worker_id="dead")  # fmt: skip
    with team.grc.session() as s:
        fan_out(s, now=clock())
    assert len(dead.claim()) == 1  # ...and it dies before sending
    other = DeliveryWorker(team.grc.session, {"email": channel}, config=WorkerConfig(**config),
                           clock=clock, worker_id="other")  # fmt: skip
    assert other.claim() == []  # the lease still holds
    clock.advance(seconds=45)
    dead.renew()  # a live worker's heartbeat keeps it
    clock.advance(seconds=45)
    assert other.claim() == []
    clock.advance(seconds=61)  # no heartbeat any more: the lease lapses
    assert len(other.claim()) == 1


def test_rules_fire_on_their_condition_and_explain_a_dry_run(team, clock):
    with team.grc.acting_as("admin") as work:
        rule = rule_admin.add_rule(
            work.session, work.actor, "RDV clients",
            triggers=["exchange.created"],
            condition="exchange.action = 'meeting' and company.name = 'ACME'",
            recipients={"company_owner": True}, channels=["email"],
            subject_template="RDV chez {{ company.name }} : {{ exchange.subject }}",
            body_template="Bonjour {{ recipient.name }}, {{ actor.name }} a noté un RDV.",
        )  # fmt: skip
    new_exchange(team, "bob")
    call = new_exchange(team, "bob", action="call")
    channel = Recording()
    worker(team, clock, channel).drain()
    [message] = channel.sent
    assert message.recipient.login == "carol"  # ACME's owner
    assert message.subject == "RDV chez ACME : Visite annuelle"
    assert message.text == "Bonjour Carol, Bob a noté un RDV."
    with team.grc.session(read_only=True) as s:
        event = s.scalar(
            select(Event).where(Event.entity_id == call, Event.kind == "exchange.created")
        )
        dry = rule_admin.test_rule(s, rule.name, event.id, now=clock())
    assert not dry.fires
    assert any("condition is false" in r for r in dry.reasons)


def test_a_bad_condition_is_refused_with_its_position(team):
    with team.grc.acting_as("admin") as work, pytest.raises(ValidationError) as err:
        rule_admin.add_rule(
            work.session, work.actor, "cassée", triggers=["exchange.created"],
            condition="exchange.action = 'todo' and\n  exchange.nope > 3",
            recipients={"author": True},
        )  # fmt: skip
    assert getattr(err.value, "line", None) == 2


def test_escalations_notify_each_record_once(team, clock):
    with team.grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, "To-do en retard", escalation=True,
            condition="exchange.action = 'todo' and exchange.status != 'done' "
            "and exchange.end < now() - 2d",
            recipients={"assignees": True}, channels=["email"],
        )  # fmt: skip
    late = new_exchange(
        team, "bob", action="todo", subject="Rappeler", start=T0 - timedelta(days=5)
    )
    new_exchange(team, "bob", action="todo", subject="Récent", start=T0 - timedelta(days=1))
    channel = Recording()
    w = worker(team, clock, channel)
    w.drain()
    w.drain()
    clock.advance(hours=3)
    w.drain()
    assert [(m.recipient.login, m.about["exchange_id"]) for m in channel.sent] == [("bob", late)]
    with team.grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(EscalationMark)) == 1


def test_quiet_hours_and_digests_set_the_due_time():
    prefs = Preferences(user_id=1, channels={}, timezone="Europe/Paris", digest="immediate")
    assert due(prefs, T0) == (T0, None)  # 11:00 in Paris
    prefs.quiet_start, prefs.quiet_end = time(22, 0), time(7, 0)
    night = T0.replace(hour=21)  # 23:00 in Paris
    at, _ = due(prefs, night)
    assert at == T0.replace(hour=5) + timedelta(days=1)  # 07:00 in Paris the next day
    prefs.digest = "hourly"
    assert due(prefs, T0) == (T0.replace(hour=10), "hourly:2026050412")
    prefs.digest, prefs.quiet_start, prefs.quiet_end = "daily", None, None
    assert due(prefs, T0) == (T0.replace(hour=6) + timedelta(days=1), "daily:20260505")


def test_digests_are_sent_as_one_message(team, clock):
    act(team, "alice", subscriptions.subscribe, company_id=team.acme, channels=["email"])
    act(team, "alice", subscriptions.set_preferences, digest="hourly")
    for i in range(3):
        new_exchange(team, subject=f"Échange {i}")
    channel = Recording()
    w = worker(team, clock, channel)
    w.drain()
    assert channel.sent == []
    clock.advance(hours=1)
    w.drain()
    [digest] = channel.sent
    assert digest.subject.startswith("[GRC] Récapitulatif : 3")
    assert all(f"Échange {i}" in digest.text for i in range(3))
    assert {d.status for d in deliveries(team)} == {"sent"}


def test_subscriptions_are_validated_and_listed(team):
    with pytest.raises(ValidationError, match="unknown event kind"):
        act(
            team,
            "alice",
            subscriptions.subscribe,
            company_id=team.acme,
            event_kinds=["exchange.eaten"],
        )
    with pytest.raises(ValidationError, match="exactly one"):
        act(team, "alice", subscriptions.subscribe)
    sub = act(team, "alice", subscriptions.subscribe, opportunity_id=team.deal)
    assert [s.id for s in act(team, "alice", subscriptions.list_subscriptions)] == [sub.id]
    act(team, "alice", subscriptions.unsubscribe, sub.id)
    assert act(team, "alice", subscriptions.list_subscriptions) == []
    with team.grc.session() as s:
        assert users.get_user(s, "alice").active


def test_a_subscriber_who_may_not_see_gets_nothing_on_any_channel(team, clock):
    from grc_core.models import Exchange, InboxItem
    from grc_core.plugins import Registry

    registry = Registry.load()
    channels = {name: registry.notification_channel(name, {}) for name in ("inbox", "task")}
    channels["email"] = Recording("email")
    channels["sms"] = Recording("sms")
    act(team, "alice", subscriptions.subscribe, company_id=team.acme,
        channels=["email", "sms", "inbox", "task"])  # fmt: skip
    with team.grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, "tout", triggers=list(subscriptions.EVENT_KINDS),
            recipients={"users": ["alice"], "subscribers": True},
            channels=["email", "sms", "inbox", "task"],
        )  # fmt: skip
    ident = new_exchange(team, "bob", subject="Bientôt confidentiel")
    act(team, "bob", exchanges.update_exchange, ident, private=True, subject="Confidentiel")
    act(team, "bob", exchanges.complete_exchange, ident)
    act(team, "bob", exchanges.delete_exchange, ident)
    DeliveryWorker(team.grc.session, channels, clock=clock, worker_id="w").drain()
    assert channels["email"].sent == [] and channels["sms"].sent == []
    with team.grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 0
        assert s.scalar(select(func.count()).select_from(Exchange)) == 0  # no task either
    # The same events on a shared exchange do reach her, on every channel.
    new_exchange(team, "bob", subject="Partagé")
    DeliveryWorker(team.grc.session, channels, clock=clock, worker_id="w").drain()
    assert len(channels["email"].sent) == 1 and len(channels["sms"].sent) == 1
    with team.grc.session(read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(InboxItem)) == 1
