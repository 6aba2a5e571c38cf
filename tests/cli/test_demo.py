"""``grc demo``: a fresh SQLite database with the French sample."""

from __future__ import annotations

import json
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
    assert "10 exchanges (1 private, 1 global, 6 closed)" in stdout
    assert "2 clients, 2 prospects, 2 suspects" in stdout
    assert f"grc --db sqlite:///{folder / 'grc-demo.sqlite3'} exchange list --as mmartin" in stdout
    assert "[5/6] exchanges" in stderr


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
    assert data["summary"]["exchanges"] == len(data["exchanges"]) == 10
    assert Path(data["database"]).is_file()
    assert data["database_url"].startswith("sqlite:///")
