"""``grc import exchanges``: --dry-run's report, the reject file, resuming a stopped import
and a Sage CRM communications export (on SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from grc_core.models import Exchange, User
from grc_core.queries import history
from grc_core.services import bulk
from grc_core.services.import_mappings import sage_uuid
from importing.test_import_command import Crm

HEADER = "uuid,subject,start,action,author,company\n"


@pytest.fixture
def crm(fresh_url: str, tmp_path: Path) -> Iterator[Crm]:
    world = Crm(fresh_url, tmp_path)
    yield world
    world.lib.dispose()


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=k + 1)) for k in range(n)]


def test_dry_run_reports_every_bad_line_by_number_and_writes_nothing(crm: Crm) -> None:
    u = ids(5)
    path = crm.file(
        "mixed.csv",
        HEADER + f"{u[0]},Appel,2025-11-04T09:00Z,call,alice,ACME\n"
        f"{u[1]},Appel,2025-11-04T09:00Z,call,alice,Nope\n"
        f"{u[2]},Appel,2025-11-04T09:00Z,call,alice,\n"
        f"{u[3]},Appel,le 4 novembre,call,alice,ACME\n"
        f"{u[4]},Appel,2025-11-04T09:00Z,fax\n",
    )
    result = crm.cli.run("import", "exchanges", path, "--dry-run", as_="admin")
    assert result.exit_code == 2, result.output
    report = [line for line in result.stdout.splitlines() if line.startswith("refused: ")]
    assert [line.split(",")[0] for line in report] == [
        "refused: line 3",
        "refused: line 5",
        "refused: line 6",
    ]
    assert "field company: no company" in report[0]
    assert "field start:" in report[1]
    assert "field *: 4 values" in report[2]
    assert result.stderr.startswith("error: line 3, field company: no company")
    assert "3 lines refused in all; nothing written" in result.stderr
    assert crm.count() == 0
    # A clean file: what would be imported, and nothing written either.
    clean = crm.file("clean.csv", HEADER + f"{u[0]},Appel,2025-11-04T09:00Z,call,alice,ACME\n")
    out = crm.cli.ok("import", "exchanges", clean, "--dry-run", as_="admin").stdout
    assert out.strip() == "checked: 1 exchanges would be imported"
    assert crm.count() == 0
    # Once imported, a dry run counts it as skipped; --check is the old spelling.
    crm.cli.ok("import", "exchanges", clean, as_="admin")
    data = crm.cli.json("import", clean, "--check", as_="admin")
    assert (data["would_import"], data["skipped"], data["refused"]) == (0, 1, 0)
    assert crm.count() == 1


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_reject_file_holds_the_bad_lines_and_the_good_ones_are_imported(crm: Crm) -> None:
    u = ids(6)
    lines = [
        f"{u[0]},Appel 1,2025-11-04T09:00Z,call,alice,ACME",
        f"{u[1]},Appel 2,2025-11-04T09:00Z,call,zoe,ACME",
        f"{u[2]},Appel 3,2025-11-05T09:00Z,call,bob,",
        f"{u[3]},Appel 4,2025-11-06T09:00Z",
        f"{u[4]},Appel 5,2025-11-07T09:00Z,meeting,alice,Globex",
        f"{u[0]},Appel 1 bis,2025-11-04T09:00Z,call,alice,ACME",
    ]
    path = crm.file("calls.csv", HEADER + "\n".join(lines) + "\n")
    rejects = crm.home / "rejects.csv"
    data = crm.cli.json(
        "import", "exchanges", path, "--reject", str(rejects), "--batch-size", "2", as_="admin"
    )
    assert (data["imported"], data["skipped"], data["refused"]) == (3, 0, 3)
    rows = read_csv(rejects)
    assert rows[0] == ["uuid", "subject", "start", "action", "author", "company", "error"]
    assert [r[:-1] for r in rows[1:]] == [
        lines[1].split(","),
        lines[3].split(","),
        lines[5].split(","),
    ]
    assert rows[1][-1] == "line 3, field author: no user with login 'zoe'"
    assert rows[2][-1] == "line 5, field *: 3 values for the header's 6 fields"
    assert rows[3][-1] == f"line 7, field uuid: uuid {u[0]} was already given on line 2"
    with crm.lib.session(read_only=True) as s:
        assert sorted(str(x) for x in s.scalars(select(Exchange.uuid))) == sorted(
            [u[0], u[2], u[4]]
        )
    # The same command again imports nothing twice, and the reject file is the same.
    again = crm.cli.json("import", "exchanges", path, "--reject", str(rejects), as_="admin")
    assert (again["imported"], again["skipped"], again["refused"]) == (0, 3, 3)
    assert read_csv(rejects) == rows
    assert crm.count() == 3


def test_reject_file_of_json_lines_holds_the_objects_with_an_error_key(crm: Crm) -> None:
    u = ids(3)
    good = {"uuid": u[0], "subject": "Relance", "start": "2025-10-01T08:00:00+02:00",
            "action": "call", "author": "bob"}  # fmt: skip
    bad = {**good, "uuid": u[1], "action": "fax"}
    path = crm.file(
        "calls.jsonl", "\n".join([json.dumps(good), json.dumps(bad), "[1, 2]", "{oops"]) + "\n"
    )
    rejects = crm.home / "rejects.jsonl"
    out = crm.cli.ok("import", path, "--reject", str(rejects), as_="admin").stdout
    assert out.strip() == f"imported 1 exchanges; 3 lines refused, written to {rejects}"
    written = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert written == [
        {**bad, "error": "line 2, field action: unknown or retired action 'fax'"},
        {"text": "[1, 2]", "error": "line 3, field *: each line must be a JSON object"},
        {"text": "{oops", "error": written[2]["error"]},
    ]
    assert written[2]["error"].startswith("line 4, field *: not JSON")
    assert crm.count() == 1


def test_an_import_stopped_after_a_batch_keeps_it_and_resumes(
    crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    u = ids(5)
    path = crm.file(
        "calls.csv",
        HEADER + "".join(f"{u[n]},Appel {n},2025-11-0{n + 1}T09:00Z,call,alice,ACME\n"
                         for n in range(5)),
    )  # fmt: skip
    rejects = str(crm.home / "rejects.csv")
    insert = bulk._insert_batch
    calls = []

    def failing(*args: Any, **kwargs: Any) -> list[int]:
        calls.append(1)
        if len(calls) == 2:  # the database goes away during the second batch
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return insert(*args, **kwargs)

    monkeypatch.setattr(bulk, "_insert_batch", failing)
    result = crm.cli.run(
        "import", "exchanges", path, "--reject", rejects, "--batch-size", "2", as_="admin"
    )
    assert result.exit_code != 0
    assert "the import stopped after 2 exchanges" in result.stderr
    assert "run the same command again to resume" in result.stderr
    assert crm.count() == 2
    monkeypatch.setattr(bulk, "_insert_batch", insert)
    data = crm.cli.json("import", "exchanges", path, "--reject", rejects, as_="admin")
    assert (data["imported"], data["skipped"], data["refused"]) == (3, 2, 0)
    assert crm.count() == 5
    # Without --reject the import stays all or nothing.
    more = crm.file(
        "more.csv",
        HEADER + "".join(f"{uuid.uuid4()},Suite {n},2025-12-0{n + 1}T09:00Z,call,bob,ACME\n"
                         for n in range(5)),
    )  # fmt: skip
    calls.clear()
    monkeypatch.setattr(bulk, "_insert_batch", failing)
    result = crm.cli.run("import", "exchanges", more, "--batch-size", "2", as_="admin")
    assert result.exit_code != 0
    assert "nothing of this import is kept" in result.stderr
    assert crm.count() == 5


SAGE = (
    "Comm_CommunicationId,Comm_Action,Comm_Status,Comm_Priority,Comm_DateTime,"
    "Comm_ToDateTime,Comm_Subject,Comm_Note,Comm_Private,Comp_Name,Pers_FirstName,"
    "Pers_LastName,User_Logon\n"
    "1001,PhoneOut,Complete,Normal,2025-11-03 10:30:00,2025-11-03 10:45:00,Relance devis,"
    "Rappeler en janvier,,ACME,Élise,Durand,alice\n"
    "1002,EmailIn,Pending,High,2025-11-04 08:00:00,,Demande de tarifs,,Y,Globex,,,bob\n"
    "1003,Meeting,Cancelled,Normal,2025-11-05 14:00:00,2025-11-05 15:00:00,Visite,,,"
    "ACME,,,alice\n"
    "1004,Fax,Complete,Normal,2025-11-06 09:00:00,,Télécopie,,,ACME,,,alice\n"
    "1005,ToDo,InProgress,Low,2025-11-07 09:00:00,,Préparer l'offre,,,,,,bob\n"
)


def test_a_sage_crm_export_imports_with_actions_statuses_companies_and_dates(crm: Crm) -> None:
    path = crm.file("sage.csv", SAGE)
    rejects = crm.home / "rejects.csv"
    out = crm.cli.ok(
        "import", "exchanges", path, "--mapping", "sage", "--reject", str(rejects), as_="admin"
    ).stdout
    assert out.strip() == f"imported 4 exchanges; 1 lines refused, written to {rejects}"
    [_, rejected] = read_csv(rejects)
    assert rejected[0] == "1004"
    assert rejected[-1].startswith("line 5, field Comm_Action: unknown Sage CRM action 'Fax'")
    with crm.lib.session(read_only=True) as s:
        admin = s.scalar(select(User).where(User.login == "admin"))
        entries = {e.uuid: e for e in history.global_history(s, admin, limit=10).entries}
        acme = history.company_history(s, admin, crm.acme, limit=10).entries
        contacts = {str(x.uuid): len(x.contacts) for x in s.scalars(select(Exchange)).all()}
    call = entries.get(sage_uuid("1001")) or next(e for e in acme if e.uuid == sage_uuid("1001"))
    assert (call.action, call.status, call.medium, call.company, call.author) == (
        "call", "done", "phone", "ACME", "Alice"
    )  # fmt: skip
    # Date-times without an offset are in the command's zone (Europe/Paris by default).
    assert call.start_at == datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
    assert call.end_at == datetime(2025, 11, 3, 9, 45, tzinfo=UTC)
    assert call.details == "Rappeler en janvier"
    assert contacts[str(sage_uuid("1001"))] == 1
    meeting = next(e for e in acme if e.uuid == sage_uuid("1003"))
    assert (meeting.action, meeting.status, meeting.medium) == ("meeting", "cancelled", "on_site")
    todo = entries[sage_uuid("1005")]
    assert (todo.action, todo.status, todo.company) == ("todo", "in_progress", None)
    with crm.lib.session(read_only=True) as s:
        email = s.scalar(select(Exchange).where(Exchange.uuid == sage_uuid("1002")))
        assert email is not None and email.private and email.company.name == "Globex"
        assert email.status.code == "planned" and email.action.code == "email"
    # The communication ids make the import idempotent: a rerun imports nothing.
    again = crm.cli.json("import", path, "--mapping", "sage", "--reject", str(rejects), as_="admin")
    assert (again["imported"], again["skipped"], again["refused"]) == (0, 4, 1)
    assert crm.count() == 4
