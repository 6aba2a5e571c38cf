"""Rules never feed on their own output, and a runaway rule is parked (issue 9, defect 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from grc_adapters.task.channel import TaskChannel
from grc_core.errors import Conflict, PermissionDenied
from grc_core.models import Delivery, Event, Exchange, InboxItem, Rule
from grc_core.notify import rule_admin, runaway
from grc_core.notify.runaway import RunawayLimit
from grc_core.notify.worker import DeliveryWorker, WorkerConfig
from grc_core.services import exchanges

from .conftest import T0, Recording


def act(team, login, fn, *args, **kwargs):
    with team.grc.acting_as(login) as work:
        return fn(work.session, work.actor, *args, **kwargs)


def worker(team, clock, *channels, limit=None):
    return DeliveryWorker(
        team.grc.session, {c.name: c for c in channels},
        config=WorkerConfig(rule_limit=limit or RunawayLimit()), clock=clock, worker_id="w1",
    )  # fmt: skip


def count(team, model, *where):
    with team.grc.session(read_only=True) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def rule_named(team, name):
    with team.grc.session(read_only=True) as s:
        return s.scalar(select(Rule).where(Rule.name == name))


def test_the_issue_escalation_makes_one_task_per_origin(team, clock):
    # grc rules add X --escalation --when "exchange.action = 'todo' and exchange.private"
    #   --to assignees --channel task; one private to-do assigned to bob; grc notify run-once
    with team.grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, "X", escalation=True,
            condition="exchange.action = 'todo' and exchange.private",
            recipients={"assignees": True}, channels=["task"],
        )  # fmt: skip
    todo = act(
        team, "alice", exchanges.create_exchange, subject="Relancer Dupont", start=T0,
        action="todo", private=True, assignees=["bob"], company_id=team.acme,
    ).id  # fmt: skip
    # A low limit: without the origin guard the chain would stop there, not at one task.
    w = worker(team, clock, TaskChannel(), limit=RunawayLimit(max_deliveries=20))
    w.drain()
    clock.advance(days=2)
    w.drain()

    with team.grc.session(read_only=True) as s:
        tasks = list(s.scalars(select(Exchange).where(Exchange.origin.is_not(None))))
        assert len(tasks) == 1, [t.subject for t in tasks]
        [task] = tasks
        assert task.origin["exchange_id"] == todo
        assert task.origin["rule_id"] == s.scalar(select(Rule.id).where(Rule.name == "X"))
        assert task.private and [u.login for u in task.assignees] == ["bob"]
        assert s.scalar(select(func.count()).select_from(Exchange)) == 2
    assert rule_named(team, "X").parked_at is None  # stopped by the guard, not by the limit


def test_a_second_rule_does_not_restart_the_chain(team, clock):
    with team.grc.acting_as("admin") as work:
        for name in ("X", "Y"):
            rule_admin.add_rule(
                work.session, work.actor, name, escalation=True,
                condition="exchange.action = 'todo' and exchange.private",
                recipients={"assignees": True}, channels=["task"],
            )  # fmt: skip
    act(
        team, "alice", exchanges.create_exchange, subject="Relancer", start=T0,
        action="todo", private=True, assignees=["bob"],
    )  # fmt: skip
    w = worker(team, clock, TaskChannel(), limit=RunawayLimit(max_deliveries=20))
    for _ in range(3):
        w.drain()
        clock.advance(hours=1)
    # X and Y each escalate the to-do (2 tasks); each escalates the other's task once
    # (2 more); then every task was made by both rules: the chain ends.
    assert count(team, Exchange, Exchange.origin.is_not(None)) == 4
    assert rule_named(team, "X").parked_at is None and rule_named(team, "Y").parked_at is None


def broad_rule(team, name="Tout"):
    with team.grc.acting_as("admin") as work:
        rule_admin.add_rule(
            work.session, work.actor, name, triggers=["exchange.created"],
            recipients={"users": ["alice", "carol"]}, channels=["email"],
        )  # fmt: skip


def record(team, n, login="bob"):
    for i in range(n):
        act(
            team, login, exchanges.create_exchange, subject=f"Visite {i}", start=T0,
            action="meeting", company_id=team.acme,
        )  # fmt: skip


def test_a_runaway_rule_is_parked_and_the_administrators_are_told(team, clock, caplog):
    broad_rule(team)
    channel = Recording()
    w = worker(team, clock, channel, limit=RunawayLimit(max_deliveries=10))
    record(team, 3)
    w.run_once()  # 6 deliveries: under the limit
    assert len(channel.sent) == 6
    record(team, 3)
    w.run_once()  # 12: over it
    assert len(channel.sent) == 6  # parked before the second pass delivered anything

    rule = rule_named(team, "Tout")
    assert rule.parked_at == clock()
    assert rule.parked_reason.startswith("12 deliveries within one hour (the limit is 10")
    with team.grc.session(read_only=True) as s:
        statuses = dict(
            s.execute(
                select(Delivery.status, func.count())
                .where(Delivery.rule_id == rule.id)
                .group_by(Delivery.status)
            ).all()
        )
        assert statuses == {"sent": 6, "skipped": 6}
        [alert] = s.scalars(select(InboxItem)).all()  # admin is the only administrator
        assert "Tout" in alert.title and "12 deliveries" in alert.body
        assert alert.about["rule_id"] == rule.id
        [parking] = s.scalars(select(Event).where(Event.entity_type == "rule")).all()[-1:]
        assert parking.actor_id is None and parking.changes["parked_reason"][1]
    assert any("parked by the safety limit" in r.getMessage() for r in caplog.records)

    # Parked: no more deliveries for it, however much happens.
    record(team, 5)
    for _ in range(3):
        w.run_once()
        clock.advance(minutes=5)
    assert count(team, Delivery, Delivery.rule_id == rule.id) == 12
    assert len(channel.sent) == 6
    assert count(team, InboxItem) == 1  # told once


def test_an_administrator_resumes_a_parked_rule_and_its_count_restarts(team, clock):
    broad_rule(team)
    channel = Recording()
    w = worker(team, clock, channel, limit=RunawayLimit(max_deliveries=4))
    record(team, 3)
    w.run_once()
    assert rule_named(team, "Tout").parked_at is not None
    with pytest.raises(PermissionDenied):
        act(team, "alice", runaway.unpark, "Tout")

    clock.advance(minutes=10)
    act(team, "admin", runaway.unpark, "Tout", now=clock())
    with pytest.raises(Conflict, match="not parked"):
        act(team, "admin", runaway.unpark, "Tout", now=clock())
    record(team, 1)
    w.run_once()  # 2 new deliveries: within the limit since the rule was resumed
    assert rule_named(team, "Tout").parked_at is None
    assert len(channel.sent) == 2
    record(team, 2)
    w.run_once()  # 6 since resumed: parked again
    assert rule_named(team, "Tout").parked_at is not None
    assert len(channel.sent) == 2


def test_deliveries_older_than_the_window_do_not_count(team, clock):
    broad_rule(team)
    channel = Recording()
    w = worker(
        team, clock, channel, limit=RunawayLimit(max_deliveries=4, window=timedelta(hours=1))
    )
    for _ in range(4):
        record(team, 1)
        w.run_once()  # 2 deliveries an hour: never more than 4 within one hour
        clock.advance(minutes=45)
    assert rule_named(team, "Tout").parked_at is None
    assert len(channel.sent) == 8


def test_the_limit_refuses_nonsense():
    with pytest.raises(ValueError, match="at least 1"):
        RunawayLimit(max_deliveries=0)
    with pytest.raises(ValueError, match="positive"):
        RunawayLimit(window=timedelta(0))
