"""``grc rules``: add (checked), list, show, enable, disable, delete and the dry run."""

from __future__ import annotations

import re

import pytest

from .notifying import crm, record
from .runner import Grc

SUBJECT = "RDV chez {{ company.name }} : {{ exchange.subject }}"
BODY = "Bonjour {{ recipient.name }},\n{{ actor.name }} a noté un RDV le {{ exchange.start }}.\n"


@pytest.fixture
def world(team: Grc) -> Grc:
    return crm(team)


def add_meeting_rule(grc: Grc, *extra: str) -> dict:
    return grc.json(
        "rules", "add", "RDV clients", "--on", "exchange.created",
        "--when", "exchange.action = 'meeting' and company.status = 'client'",
        "--to", "company_owner", "--to", "users:alice", "--channel", "email,inbox",
        "--subject", SUBJECT, "--body", BODY, *extra, as_="admin",
    )  # fmt: skip


def test_rules_add_list_show_enable_disable_delete(world, tmp_path):
    rule = add_meeting_rule(world)
    assert rule["name"] == "RDV clients" and rule["enabled"] and not rule["escalation"]
    assert rule["triggers"] == ["exchange.created"]
    assert rule["recipients"]["users"] == ["alice"]
    assert rule["recipients"]["company_owner"] and not rule["recipients"]["assignees"]
    assert rule["channels"] == ["email", "inbox"]
    assert (rule["subject_template"], rule["body_template"]) == (SUBJECT, BODY)
    condition = tmp_path / "late.rule"
    condition.write_text(
        "# a to-do two days late\nexchange.action = 'todo'\n  and exchange.end < now() - 2d\n",
        encoding="utf-8",
    )
    late = world.json(
        "rules", "add", "Retards", "--escalation", "--when-file", str(condition),
        "--to", "assignees", as_="admin",
    )  # fmt: skip
    assert (late["escalation"], late["triggers"], late["channels"]) == (True, [], ["inbox"])
    assert late["condition"].startswith("# a to-do")
    assert [r["name"] for r in world.json("rules", "list")] == ["RDV clients", "Retards"]
    table = world.ok("rules", "list").stdout
    assert "escalation (periodic sweep)" in table and "users:alice; company_owner" in table
    assert world.json("rules", "show", "RDV clients") == rule
    assert world.json("rules", "show", str(late["id"]))["name"] == "Retards"  # by id too
    assert "Bonjour {{ recipient.name }}" in world.ok("rules", "show", "RDV clients").stdout
    assert world.json("rules", "disable", "RDV clients", as_="admin")["enabled"] is False
    assert world.json("rules", "show", "RDV clients")["enabled"] is False
    assert world.json("rules", "enable", "RDV clients", as_="admin")["enabled"] is True
    assert "needs an administrator" in world.fails(4, "rules", "disable", "Retards", as_="bob")
    assert "needs an administrator" in world.fails(
        4, "rules", "delete", "Retards", "--yes", as_="bob"
    )
    world.run("rules", "delete", "Retards", as_="admin", input="n\n")  # answered no: kept
    assert len(world.json("rules", "list")) == 2
    assert world.json("rules", "delete", "Retards", "--yes", as_="admin")["deleted"] == "Retards"
    assert [r["name"] for r in world.json("rules", "list")] == ["RDV clients"]
    assert "no notification rule 'Retards'" in world.fails(3, "rules", "show", "Retards")


def test_rules_add_refuses_mistakes_in_one_line(world, tmp_path):
    condition = tmp_path / "broken.rule"
    condition.write_text("exchange.action = 'meeting' and\n  (exchange.subject", encoding="utf-8")
    message = world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.created", "--when-file", str(condition),
        "--to", "author", as_="admin",
    )  # fmt: skip
    assert re.fullmatch(
        r"line 2, column \d+: expected '\)', found the end of the condition", message
    )
    message = world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.created", "--when", "exchange.nope = 1",
        "--to", "author", as_="admin",
    )  # fmt: skip
    assert message.startswith("line 1, column 1: ") and "exchange.nope" in message
    message = world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.created", "--to", "author",
        "--subject", "{{ company.nom }}", as_="admin",
    )  # fmt: skip
    assert message == "line 1: company has no field 'nom'; its fields are: id, name, owner, status"
    message = world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.created", "--to", "author",
        "--body", "{{ ''.__class__.__mro__ }}", as_="admin",
    )  # fmt: skip
    assert message.startswith("line 1: ")
    assert "unknown event kind" in world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.eaten", "--to", "author", as_="admin"
    )
    assert "unknown channel(s) fax" in world.fails(
        2, "rules", "add", "cassée", "--on", "exchange.created", "--to", "author",
        "--channel", "fax", as_="admin",
    )  # fmt: skip
    assert "'boss' is not a recipient" in world.usage_error(
        "rules", "add", "cassée", "--on", "exchange.created", "--to", "boss", as_="admin"
    )
    assert world.fails(
        3, "rules", "add", "cassée", "--on", "exchange.created", "--to", "users:zoe", as_="admin"
    )
    assert "--on" in world.usage_error(
        "rules", "add", "cassée", "--on", "exchange.created", "--escalation", "--to", "author",
        as_="admin",
    )  # fmt: skip
    assert "needs a condition" in world.fails(
        2, "rules", "add", "cassée", "--escalation", "--to", "assignees", as_="admin"
    )
    assert "needs an administrator" in world.fails(
        4, "rules", "add", "cassée", "--on", "exchange.created", "--to", "author", as_="bob"
    )
    assert world.json("rules", "list") == []  # nothing was saved
    add_meeting_rule(world)
    assert "already exists" in world.fails(
        5, "rules", "add", "RDV clients", "--on", "exchange.created", "--to", "author", as_="admin"
    )


def _event_of(grc: Grc, exchange_id: int) -> int:
    events = grc.json("notify", "events", "--kind", "exchange.created", as_="admin")
    return next(e["id"] for e in events if e["entity_id"] == exchange_id)


def test_rules_test_says_whether_it_fires_and_why_not(world):
    add_meeting_rule(world)
    meeting = record(world, "bob")
    call = record(world, "bob", action="call", subject="Appel de suivi")
    dry = world.json("rules", "test", "RDV clients", "--event", str(_event_of(world, meeting)),
                     as_="admin")  # fmt: skip
    assert dry["fires"] is True
    assert dry["recipients"] == ["alice", "carol"]
    assert dry["subject"] == "RDV chez ACME : Visite annuelle"
    assert dry["body"].startswith("Bonjour Alice,\nBob a noté un RDV le 2026-06-01 10:00.")
    dry = world.json("rules", "test", "RDV clients", "--event", str(_event_of(world, call)),
                     as_="admin")  # fmt: skip
    assert dry["fires"] is False
    assert any("the condition is false" in r and "'call'" in r for r in dry["reasons"])
    shown = world.ok("rules", "test", "RDV clients", "--event", str(_event_of(world, call)),
                     as_="admin").stdout  # fmt: skip
    assert re.search(r"Fires\s+no", shown) and "exchange.action is 'call'" in shown
    world.ok("rules", "disable", "RDV clients", as_="admin")
    dry = world.json("rules", "test", "RDV clients", "--event", str(_event_of(world, meeting)),
                     as_="admin")  # fmt: skip
    assert (dry["fires"], dry["reasons"][0]) == (False, "the rule is disabled")
    # Nothing was sent or recorded by the dry runs.
    assert world.json("notify", "events", "--pending", as_="admin") != []
    assert "no event 999" in world.fails(
        3, "rules", "test", "RDV clients", "--event", "999", as_="admin"
    )
    assert "needs an administrator" in world.fails(
        4, "rules", "test", "RDV clients", "--event", "1", as_="bob"
    )
    assert "needs an administrator" in world.fails(4, "notify", "events", as_="bob")
