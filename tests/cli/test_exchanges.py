"""``grc exchange``: record, show, update, complete, delete and list."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from .runner import Grc


@dataclass
class World:
    grc: Grc
    acme: str
    globex: str
    contact: str
    deal1: str
    deal2: str
    other_deal: str

    def add(self, *args: str, as_: str = "alice", **defaults: str) -> dict:
        """Record an exchange; options not given get a sensible default."""
        options = {"--subject": "Appel", "--start": "2026-03-02T10:00", "--action": "call"}
        options.update({f"--{k.replace('_', '-')}": v for k, v in defaults.items()})
        flat = [part for pair in options.items() for part in pair]
        return self.grc.json("exchange", "add", *flat, *args, as_=as_)


@pytest.fixture
def world(team: Grc) -> World:
    def new_id(*args: str) -> str:
        return str(team.json(*args, as_="admin")["id"])

    acme = new_id("company", "add", "ACME", "--status", "client")
    globex = new_id("company", "add", "Globex")
    team.ok("category", "add", "commercial", "--fr", "Commercial", as_="admin")
    team.ok("category", "add", "relance", "--fr", "Relance", "--parent", "commercial", as_="admin")
    team.ok("category", "add", "support", "--fr", "Support", as_="admin")
    team.ok(
        "field",
        "add",
        "priority",
        "--label",
        "Priorité",
        "--type",
        "choice",
        "--choice",
        "low",
        "--choice",
        "high",
        as_="admin",
    )
    team.ok("field", "add", "budget", "--label", "Budget", "--type", "decimal", as_="admin")
    team.ok("field", "add", "remark", "--label", "Remarque", "--type", "text", as_="admin")
    return World(
        grc=team,
        acme=acme,
        globex=globex,
        contact=new_id("contact", "add", acme, "--last-name", "Durand", "--first-name", "Élise"),
        deal1=new_id("opportunity", "add", acme, "--title", "Renouvellement"),
        deal2=new_id("opportunity", "add", acme, "--title", "Extension"),
        other_deal=new_id("opportunity", "add", globex, "--title", "Pilote"),
    )


def test_add_with_every_option(world, tmp_path):
    details = tmp_path / "details.txt"
    details.write_text("Compte rendu :\nle client signe en avril.", encoding="utf-8")
    key = str(uuid.uuid4())
    ex = world.add(
        "--opportunity",
        world.deal1,
        "--opportunity",
        world.deal2,
        "--contact",
        world.contact,
        "--assign",
        "alice",
        "--assign",
        "bob",
        "--field",
        "priority=high",
        "--field",
        "budget=1250,50",
        "--private",
        subject="Rendez-vous annuel",
        start="2026-03-02T10:30",
        end="2026-03-02T12:00",
        action="meeting",
        status="in_progress",
        medium="on_site",
        category="relance",
        details_file=str(details),
        company=world.acme,
        uuid=key,
    )
    assert ex["uuid"] == key
    assert ex["subject"] == "Rendez-vous annuel"
    # Typed without a zone: read in Europe/Paris (UTC+1 in March), shown in it too.
    assert (ex["start"], ex["end"]) == ("2026-03-02T10:30:00+01:00", "2026-03-02T12:00:00+01:00")
    assert (ex["action"], ex["status"], ex["medium"], ex["category"]) == (
        "meeting",
        "in_progress",
        "on_site",
        "relance",
    )
    assert ex["company"] == {"id": int(world.acme), "name": "ACME"}
    assert [o["title"] for o in ex["opportunities"]] == ["Renouvellement", "Extension"]
    assert [c["name"] for c in ex["contacts"]] == ["Élise Durand"]
    assert ex["author"] == {"id": 2, "name": "Alice", "login": "alice"}
    assert (ex["assignees"], ex["private"]) == (["alice", "bob"], True)
    assert ex["custom"] == {"budget": "1250.5", "priority": "high"}
    assert ex["details"] == "Compte rendu :\nle client signe en avril."

    # Same UUID again: the first exchange comes back, nothing new is recorded.
    again = world.add(subject="Autre chose", uuid=key)
    assert again["id"] == ex["id"]
    assert "already used" in world.grc.fails(
        5,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        "--uuid",
        key,
        as_="bob",
    )


def test_show_by_id_or_uuid_in_the_chosen_zone(world):
    ex = world.add("--field", "remark=à [rappeler]", company=world.acme)
    by_uuid = world.grc.json("--tz", "UTC", "exchange", "show", ex["uuid"], as_="bob")
    assert by_uuid["id"] == ex["id"]
    assert by_uuid["start"] == "2026-03-02T09:00:00+00:00"
    human = world.grc.ok("exchange", "show", str(ex["id"]), as_="bob").stdout
    assert "2026-03-02 10:00 CET" in human
    assert "ACME" in human
    # Data is never read as Rich markup.
    assert "à [rappeler]" in human
    assert world.grc.fails(3, "exchange", "show", "12345", as_="bob") == (
        "no exchange 12345 visible to 'bob'"
    )
    assert "neither an exchange id nor a UUID" in world.grc.fails(
        3, "exchange", "show", "not-a-uuid", as_="bob"
    )


def test_update(world):
    ex = world.add(
        "--field",
        "priority=low",
        "--contact",
        world.contact,
        company=world.acme,
        medium="phone",
        category="support",
    )
    ident = str(ex["id"])
    changed = world.grc.json(
        "exchange",
        "update",
        ident,
        "--subject",
        "Appel de relance",
        "--start",
        "2026-03-03T14:00",
        "--end",
        "2026-03-03T14:30",
        "--clear-medium",
        "--category",
        "commercial",
        "--opportunity",
        world.deal2,
        "--assign",
        "carol",
        "--field",
        "priority=",
        "--field",
        "budget=10",
        "--details",
        "Nouveau texte",
        "--private",
        as_="alice",
    )
    assert changed["subject"] == "Appel de relance"
    assert (changed["start"], changed["end"]) == (
        "2026-03-03T14:00:00+01:00",
        "2026-03-03T14:30:00+01:00",
    )
    assert (changed["medium"], changed["category"]) == (None, "commercial")
    assert [o["id"] for o in changed["opportunities"]] == [int(world.deal2)]
    assert [c["id"] for c in changed["contacts"]] == [int(world.contact)]
    assert changed["assignees"] == ["carol"]
    assert changed["custom"] == {"budget": "10"}
    assert (changed["details"], changed["private"]) == ("Nouveau texte", True)

    shared = world.grc.json("exchange", "update", ident, "--shared", "--global", as_="carol")
    assert (shared["private"], shared["company"], shared["opportunities"]) == (False, None, [])
    assert shared["contacts"] == []

    assert "nothing to change" in world.grc.usage_error("exchange", "update", ident, as_="carol")
    assert "--medium and --clear-medium cannot be used together" in world.grc.usage_error(
        "exchange", "update", ident, "--medium", "phone", "--clear-medium", as_="carol"
    )
    # Bob is neither author, assignee nor administrator.
    assert "only the author, the assigned users or an administrator" in world.grc.fails(
        4, "exchange", "update", ident, "--subject", "Pirate", as_="bob"
    )


def test_complete(world):
    ex = world.add()
    done = world.grc.json("exchange", "complete", str(ex["id"]), as_="alice")
    assert (done["status"], done["closed"]) == ("done", True)
    cancelled = world.grc.json(
        "exchange", "complete", ex["uuid"], "--status", "cancelled", as_="admin"
    )
    assert cancelled["status"] == "cancelled"
    assert "does not close an exchange; accepted: done, cancelled" in world.grc.fails(
        2, "exchange", "complete", str(ex["id"]), "--status", "planned", as_="alice"
    )


def test_delete_asks_for_confirmation(world):
    ex = world.add(subject="À supprimer")
    ident = str(ex["id"])
    refused = world.grc.run("exchange", "delete", ident, as_="alice", input="n\n")
    assert refused.exit_code == 1
    assert "Delete exchange" in refused.stderr
    world.grc.ok("exchange", "show", ident, as_="alice")

    deleted = world.grc.run("--json", "exchange", "delete", ident, as_="alice", input="y\n")
    assert deleted.exit_code == 0, deleted.output
    assert '"deleted"' in deleted.stdout
    world.grc.fails(3, "exchange", "show", ident, as_="alice")

    other = world.add()
    result = world.grc.ok("exchange", "delete", str(other["id"]), "--yes", as_="alice")
    assert f"deleted exchange {other['id']}" in result.stderr
    assert result.stdout == ""
    assert world.grc.json("exchange", "list", as_="alice") == []


def test_list_filters(world):
    g = world.grc
    call = world.add(
        "--opportunity",
        world.deal1,
        "--field",
        "budget=500",
        "--field",
        "remark=Client très satisfait",
        subject="Appel ACME",
        company=world.acme,
        category="relance",
        medium="phone",
        start="2026-03-02T09:00",
    )
    meeting = world.add(
        "--assign",
        "bob",
        "--field",
        "budget=1500",
        subject="RDV Globex",
        company=world.globex,
        action="meeting",
        category="support",
        start="2026-03-05T15:00",
        status="done",
    )
    note = world.add(
        "--private", subject="Note globale", action="note", as_="carol", start="2026-03-10T08:00"
    )

    def subjects(*args: str, as_: str = "admin") -> list[str]:
        return [row["subject"] for row in g.json("exchange", "list", *args, as_=as_)]

    assert subjects() == ["Note globale", "RDV Globex", "Appel ACME"]
    assert subjects("--company", world.acme) == ["Appel ACME"]
    assert subjects("--global") == ["Note globale"]
    assert subjects("--action", "meeting", "--action", "note") == ["Note globale", "RDV Globex"]
    assert subjects("--status", "done") == ["RDV Globex"]
    assert subjects("--medium", "phone") == ["Appel ACME"]
    assert subjects("--category", "commercial") == ["Appel ACME"]  # relance is below it
    assert subjects("--author", "carol") == ["Note globale"]
    assert subjects("--assignee", "bob") == ["RDV Globex"]
    assert subjects("--private") == ["Note globale"]
    assert subjects("--shared") == ["RDV Globex", "Appel ACME"]
    assert subjects("--since", "2026-03-05", "--until", "2026-03-06") == ["RDV Globex"]
    assert subjects("--field", "budget>=1000") == ["RDV Globex"]
    assert subjects("--field", "budget<1000") == ["Appel ACME"]
    assert subjects("--field", "budget!=500") == ["RDV Globex"]
    assert subjects("--field", "budget=500") == ["Appel ACME"]
    assert subjects("--field", "remark~SATISF") == ["Appel ACME"]
    assert subjects("--field", "budget>0", "--field", "budget<=500") == ["Appel ACME"]
    assert subjects("--limit", "1") == ["Note globale"]

    # The private note is invisible to those it does not concern.
    assert subjects(as_="alice") == ["RDV Globex", "Appel ACME"]
    assert g.fails(3, "exchange", "show", str(note["id"]), as_="bob") == (
        f"no exchange {note['id']} visible to 'bob'"
    )
    assert g.json("exchange", "show", str(note["id"]), as_="admin")["private"] is True

    human = g.ok("exchange", "list", as_="bob").stdout
    assert "Appel ACME" in human
    assert "Renouvellement" in human
    assert "2026-03-05 15:00" in human
    assert "Note globale" not in human
    assert {call["id"], meeting["id"]} == {r["id"] for r in g.json("exchange", "list", as_="bob")}

    assert "'budget': expected one of CODE=VALUE" in g.usage_error(
        "exchange", "list", "--field", "budget", as_="bob"
    )
    assert "0 is not in the range 1<=x<=1000" in g.usage_error(
        "exchange", "list", "--limit", "0", as_="bob"
    )
    assert "unknown custom field 'colour'" in g.fails(
        2, "exchange", "list", "--field", "colour=red", as_="bob"
    )


def test_errors_are_one_line_with_their_exit_code(world):
    g = world.grc
    assert "unknown action 'visit'" in g.fails(
        2,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "visit",
        as_="alice",
    )
    assert "is before start" in g.fails(
        2,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--end",
        "2026-03-02T09:00",
        "--action",
        "call",
        as_="alice",
    )
    assert "is not a date-time" in g.fails(
        2,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "mardi",
        "--action",
        "call",
        as_="alice",
    )
    assert "belongs to company" in g.fails(
        2,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        "--company",
        world.acme,
        "--opportunity",
        world.other_deal,
        as_="alice",
    )
    assert "'urgent' is not a choice of 'priority'" in g.fails(
        2,
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        "--field",
        "priority=urgent",
        as_="alice",
    )
    assert g.fails(2, "exchange", "list") == "no acting user: pass --as LOGIN or set GRC_USER"
    assert "--details and --details-file cannot be used together" in g.usage_error(
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        "--details",
        "a",
        "--details-file",
        "-",
        as_="alice",
    )
    assert "is not CODE=VALUE" in g.usage_error(
        "exchange",
        "add",
        "--subject",
        "X",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        "--field",
        "priority",
        as_="alice",
    )
    assert "Missing option '--subject'" in g.usage_error(
        "exchange", "add", "--start", "2026-03-02T10:00", "--action", "call", as_="alice"
    )
