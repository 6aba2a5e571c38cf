"""``grc demo`` attaches genuine documents, kept in the demo's own folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .runner import Grc

DOCUMENTS = {
    "compte-rendu-comite-commercial.pdf": "application/pdf",
    "presentation-extension.pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ),
    "logo-boulangeries-martin.png": "image/png",
    "proposition-12-points-de-vente.docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    "devis-suivi-de-flotte.xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """One demo run: its folder, the home the runner used, stdout and stderr."""
    home = tmp_path_factory.mktemp("demo-home")
    folder = home / "demo"
    result = Grc(None, home).ok("demo", "--dir", str(folder))
    return folder, home, result.stdout, result.stderr


def test_the_demo_shows_its_documents_and_a_clean_storage_check(demo):
    _, _, stdout, stderr = demo
    assert "[7/9] attachments" in stderr
    assert "Attached documents" in stdout
    for name in DOCUMENTS:
        assert name in stdout
    assert "company 1: Boulangeries Martin SA" in stdout
    assert "exchange 10: Compte rendu du comité commercial mensuel" in stdout
    assert "11 exchanges (1 private, 1 global, 7 closed), 5 attachments" in stdout
    assert (
        "storage verify: checked 5 attachments: every blob is present and intact, no orphan"
        in stdout
    )


def test_the_documents_stay_in_the_demo_folder(demo):
    folder, home, stdout, _ = demo
    root = folder / "attachments"
    blobs = [p for p in root.rglob("*") if p.is_file()]
    assert len(blobs) == 5
    # Nothing went to the data folder the local backend uses by default.
    assert not (home / "data" / "grc" / "attachments").exists()
    assert f"Attachments: {root}" in stdout
    # grc named as a fresh shell finds it: by its full path when it is not on the PATH.
    assert re.search(
        rf"GRC_STORAGE__LOCAL__ROOT={re.escape(str(root))} \S*grc "
        rf"--db sqlite:///{re.escape(str(folder / 'grc-demo.sqlite3'))} "
        r"attachment list --exchange 10 --as admin",
        stdout,
    )


def test_the_printed_commands_reach_the_documents(demo, tmp_path):
    folder, _, _, _ = demo
    grc = Grc(f"sqlite:///{folder / 'grc-demo.sqlite3'}", tmp_path)
    root = {"GRC_STORAGE__LOCAL__ROOT": str(folder / "attachments")}
    (report,) = grc.json("attachment", "list", "--exchange", "10", as_="admin", **root)
    assert report["name"] == "compte-rendu-comite-commercial.pdf"
    pdf = grc.ok("attachment", "fetch", str(report["id"]), "-o", "-", as_="admin", **root)
    assert pdf.stdout_bytes.startswith(b"%PDF-")
    assert len(pdf.stdout_bytes) == report["size"]
    verified = grc.run("--json", "storage", "verify", as_="admin", **root)
    assert verified.exit_code == 0
    assert json.loads(verified.stdout)["checked"] == 5
    # Without the variable the default root is empty: every blob is reported missing.
    missing = grc.run("--json", "storage", "verify", as_="admin")
    assert missing.exit_code == 1
    kinds = {p["kind"] for p in json.loads(missing.stdout)["problems"]}
    assert kinds == {"missing"}


def test_demo_json_lists_the_documents(tmp_path):
    data = json.loads(Grc(None, tmp_path).ok("--json", "demo", "--dir", str(tmp_path / "d")).stdout)
    assert {a["name"]: a["mime_type"] for a in data["attachments"]} == DOCUMENTS
    assert {a["owner"]["kind"] for a in data["attachments"]} == {
        "exchange",
        "company",
        "opportunity",
    }
    assert data["summary"]["attachments"] == 5
    assert data["storage_verify"]["ok"] is True
    assert data["attachments_root"] == str((tmp_path / "d" / "attachments").resolve())
