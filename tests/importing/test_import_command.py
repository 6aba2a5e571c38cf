"""``grc import``: exchanges from CSV and JSON Lines, on SQLite and PostgreSQL.

Imported exchanges must read exactly as created ones (histories, search), a bad line must
be refused by number and field with nothing written, and a file imported twice must not
import anything twice.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cli.runner import Grc  # tests/cli (tests/ is the root of the test packages)
from grc_core import Grc as Library
from grc_core.models import Event, Exchange, User
from grc_core.queries import history
from grc_core.queries.search import search
from grc_core.services import companies, exchanges, opportunities, users

START = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
HEADER = "uuid,subject,details,start,end,action,author,assignees,company,company_ref,contacts,opportunity_refs,private\n"  # noqa: E501


class Crm:
    """A migrated database with a small team, companies, a contact and an opportunity."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home
        self.cli = Grc(url, home)
        self.lib = Library.from_url(url)
        self.lib.upgrade()
        with self.lib.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            users.create_user(s, admin, login="alice", display_name="Alice")
            users.create_user(s, admin, login="bob", display_name="Bob", external_ref="EMP-2")
            acme = companies.create_company(s, admin, name="ACME", external_ref="C-1")
            companies.create_company(s, admin, name="Globex")
            companies.create_company(s, admin, name="Twin")
            companies.create_company(s, admin, name="Twin")
            companies.create_contact(
                s, admin, acme.id, first_name="Élise", last_name="Durand", external_ref="P-1"
            )
            opportunities.create_opportunity(
                s, admin, acme.id, title="Renouvellement", external_ref="O-1"
            )
            self.acme = acme.id

    def file(self, name: str, text: str) -> str:
        path = self.home / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def count(self) -> int:
        with self.lib.session(read_only=True) as s:
            return s.scalar(select(func.count()).select_from(Exchange)) or 0


@pytest.fixture
def crm(fresh_url: str, tmp_path: Path) -> Iterator[Crm]:
    world = Crm(fresh_url, tmp_path)
    yield world
    world.lib.dispose()


def entry_fields(entry: history.TimelineEntry) -> dict[str, object]:
    fields = dataclasses.asdict(entry)
    del fields["id"], fields["uuid"]
    return fields


def test_imported_exchanges_read_exactly_as_created_ones(crm: Crm) -> None:
    with crm.lib.session() as s:
        admin = s.scalar(select(User).where(User.login == "admin"))
        contact = companies.list_contacts(s, crm.acme)[0].id
        deal = opportunities.list_opportunities(s, crm.acme)[0].id
        exchanges.create_exchange(
            s, admin, subject="Visite annuelle", details="Révision des tarifs pour 2026",
            start=START, end=START.replace(hour=11), action="meeting", status="done",
            company_id=crm.acme, contact_ids=[contact], opportunity_ids=[deal],
            assignees=["alice", "bob"],
        )  # fmt: skip
    path = crm.file(
        "history.csv",
        HEADER + ",Visite annuelle,Révision des tarifs pour 2026,2025-11-03T10:30:00+01:00,"
        "2025-11-03T12:30+01:00,meeting,admin,alice;bob,ACME,,Élise Durand,O-1,false\n"
        ",Appel de courtoisie,,2025-11-04T09:00:00Z,,call,alice,,,C-1,,,1\n"
        ",Séminaire interne,,2025-11-05 14:00,,meeting,bob,,,,,,no\n",
    )
    out = crm.cli.ok("import", path, as_="admin").stdout
    assert out.strip() == "imported 3 exchanges"
    with crm.lib.session(read_only=True) as s:
        admin = s.scalar(select(User).where(User.login == "admin"))
        alice = s.scalar(select(User).where(User.login == "alice"))
        page = history.company_history(s, admin, crm.acme, limit=10).entries
        created, imported = sorted(
            (e for e in page if e.subject == "Visite annuelle"), key=lambda e: e.id
        )
        assert entry_fields(imported) == entry_fields(created)
        assert len(page) == 3  # and the private call of alice, by reference
        deal = opportunities.list_opportunities(s, crm.acme)[0].id
        assert len(history.opportunity_history(s, admin, deal, limit=10).entries) == 2
        bob_id = s.scalar(select(User.id).where(User.login == "bob"))
        assert [e.subject for e in history.user_history(s, admin, bob_id, limit=10).entries] == [
            "Séminaire interne", "Visite annuelle", "Visite annuelle"
        ]  # fmt: skip
        [seminar] = history.global_history(s, admin, limit=10).entries
        # A date-time without an offset is in the command's zone (Europe/Paris by default).
        assert seminar.start_at == datetime(2025, 11, 5, 13, 0, tzinfo=UTC)
        hits = search(s, admin, "tarifs durand")
        assert sorted(h.entry.id for h in hits) == [created.id, imported.id]
        # The private call is alice's (author): hidden from bob's search, shown to her.
        assert [h.entry.subject for h in search(s, alice, "courtoisie")] == ["Appel de courtoisie"]
        bob = s.get(User, bob_id)
        assert search(s, bob, "courtoisie") == []
        kinds = s.scalars(select(Event.kind).where(Event.kind == "exchange.imported")).all()
        assert len(kinds) == 1


def test_the_same_file_twice_imports_nothing_twice(crm: Crm) -> None:
    ids = [str(uuid.UUID(int=n)) for n in range(1, 8)]
    lines = [
        {"uuid": ids[n], "subject": f"Relance {n}", "start": f"2025-10-0{n + 1}T08:00:00+02:00",
         "action": "call", "author_ref": "EMP-2", "company_ref": "C-1",
         "contact_refs": ["P-1"], "assignees": ["alice", "bob"]}
        for n in range(7)
    ]  # fmt: skip
    path = crm.file("calls.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n\n")
    first = crm.cli.json("import", path, "--batch-size", "3", as_="admin")
    assert (first["imported"], first["skipped"]) == (7, 0)
    again = crm.cli.json("import", path, as_="admin")
    assert (again["imported"], again["skipped"]) == (0, 7)
    # A longer file: only its new lines are imported.
    more = {**lines[0], "uuid": str(uuid.UUID(int=99)), "subject": "Relance finale"}
    longer = crm.file("more.jsonl", "\n".join(json.dumps(x) for x in [*lines, more]))
    assert crm.cli.ok("import", longer, as_="admin").stdout.strip() == (
        "imported 1 exchanges; 7 already imported, skipped"
    )
    assert crm.count() == 8
    with crm.lib.session(read_only=True) as s:
        admin = s.scalar(select(User).where(User.login == "admin"))
        assert len(search(s, admin, "relance", limit=50)) == 8


BAD_LINES = [
    ("colour\nred\n", "line 1, field colour: unknown field"),
    (",Appel,,2025-11-04T09:00Z,,call,alice,,Nope,,,,\n", "line 3, field company: no company"),
    (",Appel,,2025-11-04T09:00Z,,call,alice,,Twin,,,,\n", "line 3, field company: several"),
    (",Appel,,le 4 novembre,,call,alice,,,,,,\n", "line 3, field start: 'le 4 novembre' is not"),
    (",Appel,,2025-11-04T09:00Z,,fax,alice,,,,,,\n", "line 3, field action: unknown or retired"),
    (",Appel,,2025-11-04T09:00Z,,call,zoe,,,,,,\n", "line 3, field author: no user with login"),
    (",,,2025-11-04T09:00Z,,call,alice,,,,,,\n", "line 3, field subject: required"),
    ("x,Appel,,2025-11-04T09:00Z,,call,alice,,,,,,\n", "line 3, field uuid: 'x' is not a UUID"),
    (",Appel,,2025-11-04T09:00Z,,call,alice,,,,,,maybe\n", "line 3, field private: 'maybe'"),
    (",Appel,,2025-11-04T09:00Z,,call,alice,,,,Élise Durand,,\n", "line 3, field contacts:"),
    (",Appel,,2025-11-04T09:00Z,,call,alice,,Globex,,,O-1,\n", "line 3, field opportunities:"),
    (
        ",Appel,,2025-11-04T09:00Z,2025-11-03T09:00Z,call,alice,,,,,,\n",
        "line 3, field end: end is before start",
    ),
    (",Appel,,2025-11-04T09:00Z,,call\n", "line 3, field *: 6 values for the header's 13"),
]


def test_bad_lines_are_refused_by_line_and_field_and_nothing_is_written(crm: Crm) -> None:
    good = ",Bon appel,,2025-11-04T09:00Z,,call,alice,,,,,,\n"
    for bad, message in BAD_LINES:
        text = bad if bad.startswith("colour") else HEADER + good + bad
        path = crm.file("bad.csv", text)
        # Batches of one: the good line was written before the bad one was read.
        error = crm.cli.fails(2, "import", path, "--batch-size", "1", as_="admin")
        assert error.startswith(message), (bad, error)
        assert crm.count() == 0, bad
    # A uuid given twice in one file names both lines.
    twice = str(uuid.uuid4())
    path = crm.file("twice.csv", HEADER + f"{twice}{good}" + f"{twice}{good}")
    error = crm.cli.fails(2, "import", path, as_="admin")
    assert error == f"line 3, field uuid: uuid {twice} was already given on line 2"
    # JSON Lines: a line that is not an object, by its number (blank lines count).
    path = crm.file("bad.jsonl", '{"subject": "x"}\n\n[1, 2]\n')
    assert crm.cli.fails(2, "import", path, "--check", as_="admin").startswith(
        "line 1, field start: required"
    )
    path = crm.file("bad2.jsonl", "\n\n[1, 2]\n")
    assert crm.cli.fails(2, "import", path, as_="admin") == (
        "line 3, field *: each line must be a JSON object"
    )
    # A spreadsheet's export in Windows-1252 rather than UTF-8.
    latin = crm.home / "latin.csv"
    latin.write_bytes(
        (HEADER + good + ",Réunion,,2025-11-04T09:00Z,,call,alice,,,,,,\n").encode("cp1252")
    )
    assert crm.cli.fails(2, "import", str(latin), as_="admin") == (
        "line 3, field *: not UTF-8 text (byte 0xe9): save the file as UTF-8"
    )
    assert crm.count() == 0


def test_check_writes_nothing_and_only_administrators_import(crm: Crm) -> None:
    path = crm.file("one.csv", HEADER + ",Appel,,2025-11-04T09:00Z,,call,alice,,,,,,\n")
    out = crm.cli.ok("import", path, "--check", as_="admin").stdout
    assert out.strip() == "checked: 1 exchanges would be imported"
    assert crm.count() == 0
    assert "administrator" in crm.cli.fails(4, "import", path, as_="alice")
    assert crm.count() == 0
    # A spreadsheet's export: semicolons, a byte-order mark, Windows line ends.
    semicolons = crm.file(
        "fr.csv", "\ufeffsubject;start;action;author\r\nAppel;2025-11-04 10:00;call;bob\r\n"
    )
    crm.cli.ok("import", semicolons, "--delimiter", ";", as_="admin")
    assert crm.count() == 1


def every(page_of, *args: object) -> list[history.TimelineEntry]:
    """Every entry of a history, page after page."""
    entries, cursor = [], None
    while True:
        page = page_of(*args, limit=100, cursor=cursor)
        entries += page.entries
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def test_large_batches_take_the_bulk_path_and_read_the_same(crm: Crm) -> None:
    # 150 exchanges: PostgreSQL receives the rows by COPY (from 100 rows on), SQLite by
    # executemany; the histories, the links and the search index must not tell.
    ids = [uuid.uuid4() for _ in range(150)]
    lines = [
        {"uuid": str(ids[n]), "subject": f"Suivi chantier {n}", "details": "Réunion de phase",
         "start": f"2025-09-01T{8 + n % 10:02d}:{n % 60:02d}:00+02:00", "action": "meeting",
         "author": "alice", "assignee_refs": ["EMP-2"], "company": "ACME",
         "contacts": ["Élise Durand"], "opportunities": ["Renouvellement"],
         "private": n % 3 == 0}
        for n in range(150)
    ]  # fmt: skip
    path = crm.file("big.jsonl", "\n".join(json.dumps(line) for line in lines))
    assert crm.cli.json("import", path, as_="admin")["imported"] == 150
    with crm.lib.session() as s:
        admin = s.scalar(select(User).where(User.login == "admin"))
        carol = users.create_user(s, admin, login="carol", display_name="Carol")
        entries = every(history.company_history, s, admin, crm.acme)
        assert sorted(str(e.uuid) for e in entries) == sorted(map(str, ids))
        assert {(e.author, e.assignees, e.company) for e in entries} == {
            ("Alice", ("bob",), "ACME")
        }
        deal = opportunities.list_opportunities(s, crm.acme)[0].id
        assert len(every(history.opportunity_history, s, admin, deal)) == 150
        bob = s.scalar(select(User.id).where(User.login == "bob"))
        assert len(every(history.user_history, s, admin, bob)) == 150
        assert len(every(history.company_history, s, carol, crm.acme)) == 100  # not private
        found = search(s, admin, "chantier durand", limit=100)
        assert len(found) == 100 and all(h.entry.subject.startswith("Suivi") for h in found)
        assert len(search(s, admin, "chantier 149")) == 1
        s.rollback()
