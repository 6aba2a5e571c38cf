"""The main listings at 80 and 120 columns: snapshots, and the subject always whole.

The snapshots live in ``tests/cli/snapshots/``; after a deliberate change of layout,
``GRC_UPDATE_SNAPSHOTS=1 pytest tests/cli/test_table_widths.py`` rewrites them (then read
the diff).  Alerts carry the time they arrived: their dates and times are masked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .runner import Grc

SNAPSHOTS = Path(__file__).parent / "snapshots"

#: Long on purpose: at 80 columns it must wrap, never be cut.
FIRST_SUBJECT = "Appel de suivi du contrat de maintenance des fours de la boutique de Lyon"
SUBJECTS = (
    FIRST_SUBJECT,
    "Rendez-vous de présentation de l'extension du logiciel de traçabilité",
    "Note interne : marge de négociation",
    "Comité commercial mensuel",
)


@pytest.fixture
def shop(team: Grc) -> Grc:
    """A company with two long-titled deals, four exchanges (one private, one global)."""
    team.ok("company", "add", "Boulangeries Martin SA", "--owner", "alice", as_="admin")
    for title in ("Renouvellement du contrat de maintenance", "Équipement de 12 points de vente"):
        team.ok("opportunity", "add", "1", "--title", title, as_="alice")
    add = ("exchange", "add", "--company", "1")
    team.ok(
        *add, "--subject", SUBJECTS[1], "--start", "2026-03-03T14:00", "--action", "meeting",
        "--opportunity", "1", "--opportunity", "2", "--assign", "alice", "--assign", "bob",
        as_="alice",
    )  # fmt: skip
    team.ok(
        *add, "--subject", SUBJECTS[2], "--start", "2026-03-02T18:00", "--action", "note",
        "--private", "--status", "done",
        as_="alice",
    )  # fmt: skip
    team.ok(
        *add, "--subject", FIRST_SUBJECT, "--start", "2026-03-04T09:30", "--action", "call",
        "--opportunity", "1", "--details", "Échéance du contrat en juin",
        as_="alice",
    )  # fmt: skip
    team.ok(
        "exchange", "add", "--subject", SUBJECTS[3], "--start", "2026-03-01T17:00",
        "--action", "report", "--status", "done",
        as_="admin",
    )  # fmt: skip
    return team


def render(grc: Grc, width: int, *args: str, as_: str = "admin") -> str:
    """What ``grc ARGS`` prints at ``width`` columns, trailing blanks removed."""
    out = grc.ok(*args, as_=as_, COLUMNS=str(width)).stdout
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n"


def matches_snapshot(name: str, shown: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("GRC_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(shown, encoding="utf-8")
    assert shown == path.read_text(encoding="utf-8"), f"{name} differs from its snapshot"


def column_cells(shown: str, header: str) -> list[str]:
    """The cells of column ``header`` in a table: each row's lines under the header, joined
    (a row starts where the first column, the id, has a value)."""
    lines = shown.splitlines()
    rule = next(n for n, line in enumerate(lines) if set(line.strip()) == {"─"})
    # The header lines: from the blank line under the title down to the rule.
    top = max(n for n in range(rule) if not lines[n].strip()) + 1
    headers = lines[top:rule]
    heading = next(line for line in headers if re.search(rf"\b{re.escape(header)}\b", line))
    start = heading.index(header)
    # The column ends where the next header starts, on any header line.
    ends = [
        m.start()
        for line in headers
        for m in re.finditer(r"(?<=\s)\S", line)
        if m.start() > start + len(header)
    ]
    end = min(ends, default=None)
    cells: list[list[str]] = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        if line[:6].strip():
            cells.append([])
        part = line[start:end].strip()
        if part and cells:
            cells[-1].append(part)
    return [" ".join(parts) for parts in cells]


@pytest.mark.parametrize("width", [80, 120])
def test_exchange_list_snapshot(shop: Grc, width: int):
    shown = render(shop, width, "exchange", "list")
    matches_snapshot(f"exchange-list-{width}", shown)
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= width
    subjects = column_cells(shown, "Subject")
    assert subjects[0] == FIRST_SUBJECT
    assert sorted(s.removesuffix(" (private)") for s in subjects) == sorted(SUBJECTS)
    assert "Note interne : marge de négociation (private)" in subjects
    assert "--wide shows every column" in shown


@pytest.mark.parametrize("width", [80, 120])
def test_history_snapshot(shop: Grc, width: int):
    shown = render(shop, width, "history", "company", "1")
    matches_snapshot(f"history-company-{width}", shown)
    assert "…" not in shown
    assert column_cells(shown, "Subject")[0] == FIRST_SUBJECT
    assert max(len(line) for line in shown.splitlines()) <= width


@pytest.mark.parametrize("width", [80, 120])
def test_search_snapshot(shop: Grc, width: int):
    shown = render(shop, width, "search", "maintenance")
    # Each database cuts its extracts its own way.
    database = "postgresql" if (shop.url or "").startswith("postgresql") else "sqlite"
    matches_snapshot(f"search-{width}-{database}", shown)
    assert max(len(line) for line in shown.splitlines()) <= width
    # A rank is a position (1 is the best), never the database's raw relevance.
    assert [cell for cell in column_cells(shown, "Rank")] == ["1"]
    assert column_cells(shown, "Subject")[0].startswith(FIRST_SUBJECT)


@pytest.mark.parametrize("width", [80, 120])
def test_inbox_snapshot(shop: Grc, width: int):
    shop.ok("subscribe", "--company", "1", "--channel", "inbox", as_="bob")
    shop.ok(
        "exchange", "add", "--company", "1", "--subject", "Livraison des nouveaux fours",
        "--start", "2026-03-05T08:00", "--action", "call",
        as_="alice",
    )  # fmt: skip
    shop.ok("notify", "run-once")
    shown = render(shop, width, "inbox", as_="bob")
    masked = re.sub(r"\d{2}:\d{2}", "HH:MM", re.sub(r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD", shown))
    matches_snapshot(f"inbox-{width}", masked)
    assert max(len(line) for line in shown.splitlines()) <= width
    # The state of an alert is a labelled column (or line), never an unnamed "new".
    assert "State" in shown and "unread" in shown
    titles = column_cells(shown, "Title")
    assert titles[0].startswith("[GRC] Nouvel échange — Boulangeries Martin SA : Livraison")


def test_wide_shows_every_column_at_any_width(shop: Grc):
    narrow = render(shop, 80, "exchange", "list")
    wide = render(shop, 80, "exchange", "list", "--wide")
    for header in ("Opportunities", "Private", "Assigned to"):
        assert header not in narrow
    for header in ("Action", "Subject", "Company", "Opportunities", "Status", "Private"):
        assert header in wide
    assert "--wide shows every column" not in wide
    # Pipes and wide terminals get every column without asking.
    assert "Assigned to" in render(shop, 200, "exchange", "list")


def test_the_demo_first_table_shows_whole_subjects_at_80_columns(bare: Grc, tmp_path: Path):
    from .test_demo import SUBJECTS as DEMO_SUBJECTS

    out = bare.ok("demo", "--dir", str(tmp_path / "d"), COLUMNS="80").stdout
    first = out.split("times in", 1)[0]
    subjects = [s.removesuffix(" (private)") for s in column_cells(first, "Subject")]
    for subject in DEMO_SUBJECTS:
        assert subject in subjects
    assert max(len(line.rstrip()) for line in first.splitlines()) <= 80
    # The suggested commands are never folded: each is one line, whole, up to the end.
    tail = out.split("Explore it further:\n", 1)[1].splitlines()
    for line in tail:
        assert line.endswith(":") or (line.startswith("  ") and " --db sqlite:///" in line), line
    assert len([line for line in tail if " --db " in line]) >= 10
    assert any(line.endswith("search 'contrat maint' --as mmartin") for line in tail)
