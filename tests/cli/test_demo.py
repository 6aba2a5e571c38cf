"""``grc demo``: a fresh SQLite database with the French sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .runner import Grc

SUBJECTS = (
    "Appel de suivi du contrat de maintenance",
    "Rendez-vous de présentation de l'extension",
    "Envoi du devis signé par courrier",
    "Note interne : marge de négociation",
    "Relance par e-mail de la proposition",
    "Préparer la démonstration de traçabilité",
    "Compte rendu du comité commercial mensuel",
    "Échéance de la période d'essai du logiciel de traçabilité",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One demo run for the module: its folder, stdout and stderr."""
    home = tmp_path_factory.mktemp("demo-home")
    folder = home / "demo"
    result = Grc(None, home).ok("demo", "--dir", str(folder))
    return folder, result.stdout, result.stderr


def test_demo_creates_a_database_and_shows_the_sample(demo):
    folder, stdout, stderr = demo
    assert (folder / "grc-demo.sqlite3").is_file()
    for subject in SUBJECTS:
        assert subject in stdout
    assert "Boulangeries Martin SA" in stdout
    assert "(global)" in stdout
    assert "private" in stdout
    assert "11 exchanges (1 private, 1 global, 7 closed)" in stdout
    assert "2 clients, 2 prospects, 2 suspects" in stdout
    assert f"grc --db sqlite:///{folder / 'grc-demo.sqlite3'} exchange list --as mmartin" in stdout
    assert "[6/9] exchanges" in stderr


def test_the_demo_database_can_be_explored(demo, tmp_path):
    folder, _, _ = demo
    grc = Grc(f"sqlite:///{folder / 'grc-demo.sqlite3'}", tmp_path)
    seen_by_admin = grc.json("exchange", "list", as_="admin")
    assert {row["action"] for row in seen_by_admin} == {
        "call",
        "meeting",
        "letter",
        "note",
        "email",
        "todo",
        "report",
    }
    private = [row for row in seen_by_admin if row["private"]]
    assert [row["subject"] for row in private] == ["Note interne : marge de négociation"]
    assert private[0]["subject"] not in [
        row["subject"] for row in grc.json("exchange", "list", as_="mmartin")
    ]
    assert any(len(row["opportunities"]) == 2 for row in seen_by_admin)
    assert any(row["company"] is None for row in seen_by_admin)
    assert any(row["contacts"] for row in seen_by_admin)
    assert any(row["custom"] for row in seen_by_admin)
    completed = grc.json(
        "exchange", "list", "--field", "priorite=haute", "--status", "done", as_="admin"
    )
    assert [row["subject"] for row in completed] == [SUBJECTS[0]]
    assert grc.json("db", "current")["up_to_date"] is True
    assert len(grc.json("category", "list")) == 8


def test_demo_refuses_a_folder_that_is_not_empty(bare, tmp_path):
    folder = tmp_path / "used"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious", encoding="utf-8")
    assert "is not an empty folder" in bare.fails(2, "demo", "--dir", str(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_demo_json(bare, tmp_path):
    data = json.loads(bare.ok("--json", "demo", "--dir", str(tmp_path / "d")).stdout)
    assert data["summary"]["exchanges"] == len(data["exchanges"]) == 11
    assert Path(data["database"]).is_file()
    assert data["database_url"].startswith("sqlite:///")
    timeline = data["timeline"]
    assert timeline["company"]["name"] == "Boulangeries Martin SA"
    assert [e["subject"] for e in timeline["entries"]] == TIMELINE
    assert timeline["next_cursor"] is None
    assert data["search"]["query"] == "echeance"
    [hit] = data["search"]["hits"]
    assert hit["subject"] == SUBJECTS[-1]
    assert "[Échéance]" in hit["snippet"]


#: The history of the company with the most exchanges, newest first: its own three and,
#: last, the one recorded with Jean Girard at the cheese dairy before he joined it.
TIMELINE = [
    "Rendez-vous de présentation de l'extension",
    "Note interne : marge de négociation",
    "Appel de suivi du contrat de maintenance",
    "Échéance de la période d'essai du logiciel de traçabilité",
]


def _section(stdout: str, title: str) -> list[str]:
    """The lines of the table titled ``title`` in the demo's output, up to its caption."""
    lines = stdout.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(title))
    end = next(n for n in range(start, len(lines)) if lines[n].startswith("times in"))
    return lines[start : end + 1]


def test_demo_shows_a_company_timeline(demo):
    _, stdout, stderr = demo
    assert "[8/9] a contact changes employer" in stderr
    section = _section(stdout, "History of Boulangeries Martin SA (company 1), as 'admin' sees it")
    rows = [line for line in section if any(subject in line for subject in TIMELINE)]
    assert [next(s for s in TIMELINE if s in row) for row in rows] == TIMELINE
    assert "Fromagerie des Alpes" in rows[-1]  # linked through the contact only
    assert "private" in rows[1]
    assert "Transports Lefèvre" not in "\n".join(section)
    assert "Jean Girard left Fromagerie des Alpes for Boulangeries Martin SA" in stdout
    assert "history company 1 --as mmartin" in stdout


def test_demo_shows_an_accent_free_search(demo):
    _, stdout, _ = demo
    section = _section(stdout, "Quick search for 'echeance' (typed without accents)")
    rows = [line for line in section if "Fromagerie des Alpes" in line]
    assert len(rows) == 1
    assert "Échéance de la période" in rows[0]
    assert "[Échéance]" not in stdout  # highlighted, not bracketed
    assert "search 'contrat maint' --as mmartin" in stdout


def test_the_demo_timeline_is_the_history_command(demo, tmp_path):
    folder, _, _ = demo
    grc = Grc(f"sqlite:///{folder / 'grc-demo.sqlite3'}", tmp_path)
    entries = grc.json("history", "company", "1", as_="admin")["entries"]
    assert [e["subject"] for e in entries] == TIMELINE
    # mmartin may not see jdupont's private note.
    mine = grc.json("history", "company", "1", as_="mmartin")["entries"]
    assert [e["subject"] for e in mine] == [TIMELINE[0], *TIMELINE[2:]]
    assert [h["subject"] for h in grc.json("search", "echeance", as_="mmartin")] == [SUBJECTS[-1]]


def test_the_default_folder_is_reused_run_after_run(tmp_path, monkeypatch):
    import tempfile

    from grc_cli.commands import demo as command

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = command.fresh_folder(None)
    assert first == tmp_path / "grc-demo"
    (first / command.DATABASE_NAME).write_bytes(b"")
    (first / command.ATTACHMENTS_DIR).mkdir()
    (first / command.ATTACHMENTS_DIR / "blob").write_bytes(b"x")
    # The next demo replaces the previous one's folder: one folder, however many runs.
    assert command.fresh_folder(None) == first
    assert list(first.iterdir()) == []
    # A folder of that name holding anything else is left alone.
    (first / command.DATABASE_NAME).write_bytes(b"")
    (first / "notes.txt").write_text("mine", encoding="utf-8")
    assert command.fresh_folder(None) == tmp_path / "grc-demo-2"
    assert (first / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_suggested_commands_name_grc_so_that_a_fresh_shell_finds_it(monkeypatch):
    import shutil
    import sys

    from grc_cli.commands import demo as command

    script = Path(sys.executable).parent / "grc"
    assert script.is_file()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert command.grc_command() == str(script.absolute())
    monkeypatch.setattr(shutil, "which", lambda name: str(script))
    assert command.grc_command() == "grc"


def test_demo_output_says_how_to_run_grc_when_it_is_not_on_the_path(bare, tmp_path):
    out = bare.ok("demo", "--dir", str(tmp_path / "d"), PATH="/usr/bin:/bin", COLUMNS="80").stdout
    # One line, never folded, however narrow the terminal: the command in it can be copied.
    [note] = [line for line in out.splitlines() if "grc is not on this shell's PATH" in line]
    assert re.search(r"run `\. \S+/bin/activate` first", note), note
    lines = [line.strip() for line in out.splitlines() if " --db sqlite:///" in line]
    assert lines and all(line.split()[0].endswith("/grc") or "=" in line for line in lines)
