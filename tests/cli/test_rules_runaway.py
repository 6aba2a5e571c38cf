"""Issue 9, defect 3 through the command line: no chain reaction, runaway rules parked."""

from __future__ import annotations

import pytest

from .notifying import UNCONFIGURED, crm, deliveries, record
from .runner import Grc


@pytest.fixture
def world(team: Grc) -> Grc:
    return crm(team)


def run_once(grc: Grc, *options: str) -> dict:
    env = {f"GRC_CHANNEL__{name.upper()}__URL": None for name in UNCONFIGURED}
    return grc.json("notify", "run-once", *options, **env)


def test_the_issue_escalation_creates_one_task(world: Grc) -> None:
    world.ok(
        "rules", "add", "X", "--escalation",
        "--when", "exchange.action = 'todo' and exchange.private",
        "--to", "assignees", "--channel", "task", as_="admin",
    )  # fmt: skip
    todo = record(world, "alice", "--private", "--assign", "bob", action="todo", subject="Relance")
    stats = run_once(world)
    assert stats["escalated"] == 1 and stats["sent"] == 1 and stats["parked"] == 0
    run_once(world)
    tasks = world.json("exchange", "list", as_="bob")
    assert sorted(e["id"] for e in tasks) == [todo, todo + 1], tasks  # the to-do and one task
    assert [d["channel"] for d in deliveries(world)] == ["task"]


def test_a_runaway_rule_is_parked_listed_and_resumed(world: Grc) -> None:
    world.ok(
        "rules", "add", "Tout", "--on", "exchange.created", "--to", "users:alice,carol",
        "--channel", "inbox", as_="admin",
    )  # fmt: skip
    for n in range(3):
        record(world, "bob", subject=f"Visite {n}")
    env = {f"GRC_CHANNEL__{name.upper()}__URL": None for name in UNCONFIGURED}
    summary = world.ok("notify", "run-once", "--rule-limit", "4", **env).stdout
    assert " 0 sent" in summary and "1 runaway rule parked (see grc rules list)" in summary
    [rule] = world.json("rules", "list", as_="admin")
    assert rule["parked_at"] and rule["parked_reason"].startswith("6 deliveries within one hour")
    listing = world.ok("rules", "list", as_="admin").stdout
    assert "PARKED" in listing
    alerts = str(world.json("inbox", as_="admin"))
    assert "Tout" in alerts and "grc rules unpark Tout" in alerts
    assert "Visite" not in str(world.json("inbox", as_="alice"))  # skipped, never delivered

    record(world, "bob", subject="Encore")
    assert run_once(world, "--rule-limit", "4")["sent"] == 0  # parked: fires no more

    assert "administrator" in world.fails(4, "rules", "unpark", "Tout", as_="alice")
    shown = world.json("rules", "unpark", "Tout", as_="admin")
    assert shown["parked_at"] is None
    assert "not parked" in world.fails(5, "rules", "unpark", "Tout", as_="admin")
    record(world, "bob", subject="Après")
    assert run_once(world, "--rule-limit", "4")["sent"] == 2
