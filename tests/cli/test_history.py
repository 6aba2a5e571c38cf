"""``grc history``, ``grc contact move`` and ``grc opportunity transfer``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grc_core.facade import Grc as Facade
from grc_core.files import samples
from grc_core.queries import history

from .runner import Grc


@dataclass
class World:
    grc: Grc
    acme: str
    globex: str
    deal: str
    pilot: str
    durand: str
    ids: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, subject: str, start: str, *args: str, as_: str = "alice") -> int:
        ex = self.grc.json(
            "exchange", "add", "--subject", subject, "--start", start, *args, as_=as_
        )
        self.ids[key] = ex["id"]
        return ex["id"]

    def history(self, *args: str, as_: str = "admin") -> dict:
        return self.grc.json("history", *args, as_=as_)

    def subjects(self, *args: str, as_: str = "admin") -> list[str]:
        return [e["subject"] for e in self.history(*args, as_=as_)["entries"]]


@pytest.fixture
def world(team: Grc) -> World:
    """ACME and Globex; a contact and a deal at Globex that will move to ACME; 8 exchanges."""

    def new_id(*args: str) -> str:
        return str(team.json(*args, as_="admin")["id"])

    acme = new_id("company", "add", "ACME", "--status", "client")
    globex = new_id("company", "add", "Globex")
    team.ok("category", "add", "commercial", "--fr", "Commercial", as_="admin")
    team.ok("category", "add", "relance", "--fr", "Relance", "--parent", "commercial", as_="admin")
    team.ok("category", "add", "support", "--fr", "Support", as_="admin")
    team.ok("field", "add", "budget", "--label", "Budget", "--type", "decimal", as_="admin")
    w = World(
        grc=team,
        acme=acme,
        globex=globex,
        deal=new_id("opportunity", "add", acme, "--title", "Renouvellement"),
        pilot=new_id("opportunity", "add", globex, "--title", "Pilote"),
        durand=new_id("contact", "add", globex, "--last-name", "Durand", "--first-name", "Élise"),
    )
    w.add(
        "call",
        "Appel ACME",
        "2026-03-02T09:00",
        *("--action", "call", "--company", acme, "--category", "relance", "--medium", "phone"),
        *("--status", "done", "--field", "budget=500"),
    )
    w.add(
        "meeting",
        "Rendez-vous ACME",
        "2026-03-03T14:00",
        *("--action", "meeting", "--company", acme, "--opportunity", w.deal),
        *("--category", "commercial", "--assign", "alice", "--assign", "bob"),
    )
    w.add(
        "secret",
        "Note privée ACME",
        "2026-03-04T18:00",
        *("--action", "note", "--company", acme, "--opportunity", w.deal, "--private"),
        *("--assign", "bob"),
    )
    w.add(
        "via_deal",
        "Pilote Globex",
        "2026-03-05T10:00",
        *("--action", "call", "--company", globex, "--opportunity", w.pilot),
        as_="bob",
    )
    w.add(
        "via_contact",
        "Courriel à Élise",
        "2026-03-06T11:00",
        *("--action", "email", "--company", globex, "--contact", w.durand, "--category", "support"),
        as_="bob",
    )
    w.add(
        "via_both",
        "Pilote avec Élise",
        "2026-03-07T15:00",
        *("--action", "meeting", "--company", globex, "--opportunity", w.pilot),
        *("--contact", w.durand),
        as_="bob",
    )
    w.add("globex_only", "Globex seul", "2026-03-08T09:30", "--action", "call", "--company", globex)
    w.add(
        "global",
        "Comité commercial",
        "2026-03-09T17:00",
        *("--action", "report", "--assign", "carol"),
        as_="admin",
    )
    return w


ACME_OWN = ["Note privée ACME", "Rendez-vous ACME", "Appel ACME"]
GLOBEX_OWN = ["Globex seul", "Pilote avec Élise", "Courriel à Élise", "Pilote Globex"]


def test_each_scope(world):
    assert world.subjects("company", world.acme) == ACME_OWN
    assert world.subjects("company", world.globex) == GLOBEX_OWN
    assert world.subjects("opportunity", world.deal) == ["Note privée ACME", "Rendez-vous ACME"]
    assert world.subjects("opportunity", world.pilot) == ["Pilote avec Élise", "Pilote Globex"]
    # Recorded or assigned: bob recorded the Globex ones and is assigned two ACME ones.
    assert world.subjects("user", "bob") == [
        "Pilote avec Élise",
        "Courriel à Élise",
        "Pilote Globex",
        "Note privée ACME",
        "Rendez-vous ACME",
    ]
    assert world.subjects("user", "carol") == ["Comité commercial"]
    assert world.subjects("global") == ["Comité commercial"]

    entry = world.history("company", world.acme)["entries"][-1]
    assert entry["id"] == world.ids["call"]
    assert entry["start"] == "2026-03-02T09:00:00+01:00"
    assert (entry["action"], entry["status"], entry["medium"], entry["category"]) == (
        "call",
        "done",
        "phone",
        "relance",
    )
    assert entry["company"] == {"id": int(world.acme), "name": "ACME"}
    assert entry["assignees"] == ["alice"]
    assert entry["private"] is False


def test_readable_table(world):
    result = world.grc.ok("history", "company", world.acme, "--tz", "UTC", as_="admin")
    out = result.stdout
    assert "History of ACME (company" in out
    for column in ("Start", "Action", "Subject", "Company", "Status", "Private", "Assigned to"):
        assert column in out
    # The date in the chosen zone, the action and status by their label.
    line = next(row for row in out.splitlines() if "Rendez-vous ACME" in row)
    assert "2026-03-03 13:00" in line
    assert "alice, bob" in line
    secret = next(row for row in out.splitlines() if "Note privée ACME" in row)
    assert "private" in secret
    assert "times in UTC" in out
    assert result.stderr == ""  # a single page: no cursor to print


def test_unknown_scope_is_not_found(world):
    assert world.grc.fails(3, "history", "company", "999", as_="admin") == "no company 999"
    assert "999" in world.grc.fails(3, "history", "opportunity", "999", as_="admin")
    assert "nobody" in world.grc.fails(3, "history", "user", "nobody", as_="admin")
    assert "no acting user" in world.grc.fails(2, "history", "global")


def test_filters(world, tmp_path: Path):
    png = tmp_path / "photo.png"
    png.write_bytes(samples.png())
    world.grc.ok(
        "attachment", "add", str(png), "--exchange", str(world.ids["meeting"]), as_="alice"
    )
    acme = ("company", world.acme)

    def subjects(*args: str) -> list[str]:
        return world.subjects(*acme, *args)

    assert subjects("--action", "call") == ["Appel ACME"]
    assert subjects("--action", "call", "--action", "note") == ["Note privée ACME", "Appel ACME"]
    assert subjects("--status", "done") == ["Appel ACME"]
    assert subjects("--medium", "phone") == ["Appel ACME"]
    assert subjects("--category", "commercial") == ["Rendez-vous ACME", "Appel ACME"]
    assert subjects("--category", "relance") == ["Appel ACME"]
    assert subjects("--since", "2026-03-03", "--until", "2026-03-04") == ["Rendez-vous ACME"]
    assert subjects("--assignee", "bob") == ["Note privée ACME", "Rendez-vous ACME"]
    assert subjects("--private") == ["Note privée ACME"]
    assert subjects("--shared") == ["Rendez-vous ACME", "Appel ACME"]
    assert subjects("--with-attachments") == ["Rendez-vous ACME"]
    assert subjects("--without-attachments") == ["Note privée ACME", "Appel ACME"]
    assert subjects("--field", "budget>=100") == ["Appel ACME"]
    assert subjects("--field", "budget<100") == []
    assert subjects("--shared", "--assignee", "bob") == ["Rendez-vous ACME"]
    assert world.subjects("company", world.globex, "--author", "alice") == ["Globex seul"]
    assert world.subjects("user", "bob", "--category", "support") == ["Courriel à Élise"]
    assert world.subjects("global", "--action", "call") == []
    # The same options on exchange list, where they come from.
    listed = world.grc.json("exchange", "list", "--with-attachments", as_="admin")
    assert [row["subject"] for row in listed] == ["Rendez-vous ACME"]

    assert "unknown custom field 'colour'" in world.grc.fails(
        2, "history", *acme, "--field", "colour=red", as_="admin"
    )
    assert "expected one of CODE=VALUE" in world.grc.usage_error(
        "history", *acme, "--field", "budget", as_="admin"
    )


def test_private_exchange_invisible_to_a_third_user(world):
    secret = world.ids["secret"]
    for scope in (("company", world.acme), ("opportunity", world.deal), ("user", "bob")):
        assert secret in [e["id"] for e in world.history(*scope, as_="bob")["entries"]]
        assert secret in [e["id"] for e in world.history(*scope, as_="alice")["entries"]]
        seen = [e["id"] for e in world.history(*scope, as_="carol")["entries"]]
        assert secret not in seen
        assert seen  # carol sees the shared ones
    table = world.grc.ok("history", "company", world.acme, as_="carol").stdout
    assert "Rendez-vous ACME" in table
    assert "Note privée" not in table


def _walk(world: World, *args: str, limit: int) -> tuple[list[int], int]:
    """Follow next_cursor page by page; the ids seen and the number of pages."""
    ids: list[int] = []
    cursor: list[str] = []
    pages = 0
    while True:
        page = world.history(*args, "--limit", str(limit), *cursor)
        pages += 1
        assert len(page["entries"]) <= limit
        ids += [e["id"] for e in page["entries"]]
        if page["next_cursor"] is None:
            return ids, pages
        cursor = ["--cursor", page["next_cursor"]]


def test_json_pages_and_cursors(world):
    whole = [e["id"] for e in world.history("user", "bob")["entries"]]
    assert len(whole) == 5
    first = world.history("user", "bob", "--limit", "2")
    assert [e["id"] for e in first["entries"]] == whole[:2]
    assert isinstance(first["next_cursor"], str)
    for limit in (1, 2, 3):
        ids, pages = _walk(world, "user", "bob", limit=limit)
        assert ids == whole  # every exchange once, in order
        assert pages == -(-len(whole) // limit)
    last = world.history("user", "bob", "--limit", "5")
    assert last["next_cursor"] is None

    # Table mode: the next cursor goes to stderr, ready to paste.
    result = world.grc.ok("history", "user", "bob", "--limit", "2", as_="admin")
    hint, line = result.stderr.splitlines()
    assert "--all prints every page" in hint
    token = line.removeprefix("next page: --cursor ")
    assert token != line
    following = world.grc.ok(
        "history", "user", "bob", "--limit", "2", "--cursor", token, as_="admin"
    )
    assert "Courriel à Élise" in result.stdout
    assert "Pilote Globex" not in result.stdout
    assert "Pilote Globex" in following.stdout
    assert "Note privée ACME" in following.stdout
    assert "Courriel à Élise" not in following.stdout


def test_cursor_walk_while_an_exchange_arrives(world):
    page = world.history("company", world.globex, "--limit", "2")
    world.add(
        "newer",
        "Arrivé entre deux pages",
        "2026-03-20T10:00",
        *("--action", "call", "--company", world.globex),
    )
    world.add(
        "older",
        "Ancien, saisi en retard",
        "2026-01-15T10:00",
        *("--action", "call", "--company", world.globex),
    )
    rest = world.history("company", world.globex, "--limit", "2", "--cursor", page["next_cursor"])
    seen = [e["subject"] for e in page["entries"] + rest["entries"]]
    assert seen == GLOBEX_OWN  # no duplicate, no gap; the newer one is for the next reading
    tail = world.history("company", world.globex, "--limit", "2", "--cursor", rest["next_cursor"])
    assert [e["subject"] for e in tail["entries"]] == ["Ancien, saisi en retard"]


def test_all_walks_every_page(world):
    whole = world.history("user", "bob")
    streamed = world.history("user", "bob", "--all", "--limit", "2")
    assert streamed == whole  # same JSON, every entry once, next_cursor null
    assert streamed["next_cursor"] is None
    empty = world.history("global", "--all", "--action", "meeting")
    assert empty == {"entries": [], "next_cursor": None}

    result = world.grc.ok("history", "user", "bob", "--all", "--limit", "2", as_="admin")
    for subject in ("Pilote avec Élise", "Courriel à Élise", "Pilote Globex", "Rendez-vous ACME"):
        assert result.stdout.count(subject) == 1
    assert result.stdout.count("Assigned to") == 1  # one header, pages follow it
    assert result.stdout.count("History of") == 1
    assert "5 exchanges, 3 page(s) of 2" in result.stderr
    assert "--cursor" not in result.stderr

    # --all may start from a cursor.
    first = world.history("user", "bob", "--limit", "3")
    rest = world.history("user", "bob", "--all", "--limit", "1", "--cursor", first["next_cursor"])
    assert first["entries"] + rest["entries"] == whole["entries"]


def _tampered(cursor: str) -> str:
    body, tag = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["i"] += 1000
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{forged}.{tag}"


def test_bad_cursor_exits_2(world):
    cursor = world.history("company", world.acme, "--limit", "1")["next_cursor"]
    company = ("history", "company", world.acme)
    assert world.grc.fails(2, *company, "--cursor", "nonsense", as_="admin") == (
        "malformed cursor: pass back the next_cursor of a previous page"
    )
    assert world.grc.fails(2, *company, "--cursor", _tampered(cursor), as_="admin") == (
        "this cursor was not issued by this installation, or its signing key has been "
        "rotated since (bad signature): start again from the first page"
    )
    # A genuine cursor, replayed on another query, filter or reader.
    other = "this cursor belongs to another query, filter or user"
    assert world.grc.fails(2, *company, "--cursor", cursor, "--shared", as_="admin") == other
    assert world.grc.fails(2, *company, "--cursor", cursor, as_="bob") == other
    assert (
        world.grc.fails(2, "history", "company", world.globex, "--cursor", cursor, as_="admin")
        == other
    )
    assert world.grc.fails(2, *company, "--cursor", "nonsense", "--all", as_="admin").startswith(
        "malformed cursor"
    )
    assert world.grc.fails(2, *company, "--limit", "0", as_="admin") == (
        "limit must be between 1 and 200, got 0"
    )
    # The right cursor still works.
    assert world.subjects(*company[1:], "--limit", "1", "--cursor", cursor) == ["Rendez-vous ACME"]


def test_moved_contact_and_transferred_opportunity_join_the_history(world):
    g = world.grc
    moved = g.run("--json", "contact", "move", world.durand, world.acme, as_="alice")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["company_id"] == int(world.acme)
    assert f"now works at company {world.acme} (ACME)" in moved.stderr
    assert world.subjects("company", world.acme) == [
        "Pilote avec Élise",
        "Courriel à Élise",
        *ACME_OWN,
    ]
    # The deal is the administrator's (who opened it): theirs to transfer.
    transferred = g.json("opportunity", "transfer", world.pilot, world.acme, as_="admin")
    assert transferred["company"] == {"id": int(world.acme), "name": "ACME"}
    acme = world.history("company", world.acme)["entries"]
    assert [e["subject"] for e in acme] == [
        "Pilote avec Élise",
        "Courriel à Élise",
        "Pilote Globex",
        *ACME_OWN,
    ]
    # Linked through both the contact and the deal, it is there once.
    assert [e["id"] for e in acme].count(world.ids["via_both"]) == 1
    # They keep their own company, and so stay in Globex's history too.
    assert acme[0]["company"] == {"id": int(world.globex), "name": "Globex"}
    assert world.subjects("company", world.globex) == GLOBEX_OWN
    # Moving again to where it is changes nothing.
    assert g.json("contact", "move", world.durand, world.acme, as_="alice")["company_id"] == int(
        world.acme
    )
    assert world.subjects("opportunity", world.pilot) == ["Pilote avec Élise", "Pilote Globex"]

    assert g.fails(3, "contact", "move", world.durand, "999", as_="alice") == "no company 999"
    assert g.fails(3, "contact", "move", "999", world.acme, as_="alice") == "no contact 999"
    assert "999" in g.fails(3, "opportunity", "transfer", "999", world.acme, as_="alice")
    assert "no acting user" in g.fails(2, "opportunity", "transfer", world.pilot, world.globex)
    assert "'alice' is not" in g.fails(
        4, "opportunity", "transfer", world.pilot, world.globex, as_="alice"
    )
    human = g.ok("opportunity", "transfer", world.pilot, world.globex, as_="admin")
    assert f"now belongs to company {world.globex} (Globex)" in human.stderr
    assert "Pilote" in human.stdout
    assert "Pilote Globex" not in world.subjects("company", world.acme)


def test_cli_and_library_cursors_are_the_same(world):
    """A page read by a host without a filter continues on the command line, and back."""
    with Facade.from_url(world.grc.url) as grc, grc.acting_as("admin", read_only=True) as work:
        page = history.company_history(work.session, work.actor, int(world.globex), limit=2)
        cli = world.history("company", world.globex, "--limit", "2")
        assert cli["next_cursor"] == page.next_cursor
        assert cli["entries"][-1]["id"] == page.entries[-1].id
        rest = world.history("company", world.globex, "--cursor", page.next_cursor)
        assert [e["subject"] for e in rest["entries"]] == GLOBEX_OWN[2:]
