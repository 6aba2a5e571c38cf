"""Stored text never drives the terminal: control characters are shown escaped
(issue 9, defect 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grc_cli.safe_text import UNSAFE, escape_controls, escape_json
from grc_core.files import samples

from .runner import Grc

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
RED = "\x1b[31m"
RLO = "\u202e"
C1 = "\x9b"  # the one-byte CSI of 8-bit terminals
HOSTILE = f"Zorglub {TITLE}{CLEAR}{RED}rouge{RLO}fdp.exe{C1}1m\r fin"


def _clean(output: str) -> None:
    """No control character other than newlines reaches the output."""
    raw = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(output)})
    assert raw == [], f"raw control characters in the output: {raw}"


@pytest.fixture
def hostile(team: Grc) -> Grc:
    team.ok(
        "exchange", "add", "--subject", "Appel urgent", "--start", "2026-03-02 10:00",
        "--action", "call", "--details", HOSTILE, as_="alice",
    )  # fmt: skip
    return team


def test_exchange_show_escapes_control_characters(hostile):
    shown = hostile.ok("exchange", "show", "1", as_="alice").stdout
    _clean(shown)
    assert "\\x1b]0;pwned\\x07" in shown
    assert "\\x1b[2J\\x1b[31mrouge\\u202efdp.exe\\x9b1m\\x0d fin" in shown


def test_search_and_history_escape_control_characters(hostile):
    found = hostile.ok("search", "zorglub", as_="alice").stdout
    _clean(found)
    assert "\\x1b[2J" in found
    _clean(hostile.ok("history", "user", "alice", as_="alice").stdout)


def test_json_stays_valid_and_exact(hostile):
    result = hostile.ok("--json", "exchange", "show", "1", as_="alice")
    _clean(result.stdout)
    data = json.loads(result.stdout)
    assert data["details"] == HOSTILE
    assert "\\u202e" in result.stdout


def test_errors_escape_what_they_quote(team, tmp_path: Path):
    company = str(team.json("company", "add", "ACME", as_="admin")["id"])
    pdf = tmp_path / "cr.pdf"
    pdf.write_bytes(samples.pdf("Compte rendu"))
    result = team.run(
        "attachment", "add", str(pdf), "--company", company, "--name", f"fac{RLO}fdp.exe",
        as_="alice",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    _clean(result.stderr)
    assert "fac\\u202efdp.exe" in result.stderr
    # An unknown login is quoted back in the error, escaped.
    result = team.run("exchange", "list", as_=f"bob{CLEAR}")
    assert result.exit_code != 0
    _clean(result.output)


def test_names_are_never_read_as_markup(team):
    """Table titles carry names: Rich markup in a name is shown as typed, never parsed (a
    stray closing tag used to be an error)."""
    company = team.json("company", "add", "[/] [bold]Acme[/bold]", as_="admin")["id"]
    team.ok(
        "exchange", "add", "--subject", "Visite", "--start", "2026-03-02 10:00", "--action",
        "meeting", "--company", str(company), as_="alice",
    )  # fmt: skip
    shown = team.ok("history", "company", str(company), as_="alice").stdout
    _clean(shown)
    assert "[/] [bold]Acme[/bold]" in shown


def test_escaping_helpers():
    shown = escape_controls("a\tb\nc\x00\x7f\x85\u2066\u200f")
    assert shown == "a\tb\nc\\x00\\x7f\\x85\\u2066\\u200f"
    document = json.dumps({"k": f"{RLO}{C1}\x7f é"}, ensure_ascii=False)
    escaped = escape_json(document)
    assert UNSAFE.search(escaped) is None
    assert json.loads(escaped) == json.loads(document)
    assert "é" in escaped  # other non-ASCII text stays readable
