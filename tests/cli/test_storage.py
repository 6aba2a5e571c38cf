"""``grc storage``: verify (and repair), migrate to a second local root, list backends."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grc_core.files import samples

from .runner import Grc

ORPHAN_KEY = "2020/01/0123456789abcdef0123456789abcdef"


@dataclass
class Stored:
    grc: Grc
    files: dict[int, bytes]  # attachment id → content
    company: str
    tmp: Path

    @property
    def root(self) -> Path:
        """The default local root (XDG_DATA_HOME/grc/attachments)."""
        return self.grc.home / "data" / "grc" / "attachments"

    def blobs(self, root: Path | None = None) -> list[Path]:
        base = root or self.root
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def blob_of(self, ident: int) -> Path:
        """The blob file of an attachment, found by its content (keys are not shown)."""
        sha = hashlib.sha256(self.files[ident]).hexdigest()
        for path in self.blobs():
            if hashlib.sha256(path.read_bytes()).hexdigest() == sha:
                return path
        raise AssertionError(f"no blob for attachment {ident}")

    def verify(self, *args: str, as_: str = "admin") -> tuple[int, dict]:
        result = self.grc.run("--json", "storage", "verify", *args, as_=as_)
        assert "Traceback" not in result.output
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def stored(team: Grc, tmp_path: Path) -> Stored:
    company = str(team.json("company", "add", "ACME", as_="admin")["id"])
    contents = [samples.pdf("Compte rendu"), samples.png(), samples.docx("Proposition")]
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for name, data in zip(("cr.pdf", "logo.png", "prop.docx"), contents, strict=True):
        (folder / name).write_bytes(data)
        paths.append(str(folder / name))
    added = team.json("attachment", "add", *paths, "--company", company, as_="alice")
    files = {a["id"]: data for a, data in zip(added, contents, strict=True)}
    return Stored(team, files, company, tmp_path)


def _make_orphan(root: Path, age_hours: float) -> Path:
    orphan = root / ORPHAN_KEY
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crashed upload")
    then = time.time() - age_hours * 3600
    os.utime(orphan, (then, then))
    return orphan


# -- verify --------------------------------------------------------------------------------


def test_verify_a_clean_store(stored):
    code, report = stored.verify()
    assert code == 0
    assert report["ok"] is True
    assert report["checked"] == 3
    assert report["problems"] == []
    text = stored.grc.ok("storage", "verify", as_="admin").stdout
    assert "checked 3 attachments: every blob is present and intact" in text


def test_verify_reports_a_missing_blob(stored):
    ident = next(iter(stored.files))
    stored.blob_of(ident).unlink()
    code, report = stored.verify()
    assert code == 1
    assert report["ok"] is False
    (problem,) = report["problems"]
    assert problem["kind"] == "missing"
    assert problem["attachment_id"] == ident
    assert problem["backend"] == "local"
    assert problem["repairable"] is False
    # As a table for people, with the same exit status; --repair cannot bring data back.
    result = stored.grc.run("storage", "verify", "--repair", as_="admin")
    assert result.exit_code == 1
    assert "missing" in result.stdout
    assert "1 problem (1 missing); 0 repaired" in result.stdout


def test_verify_checks_content_unless_quick(stored):
    ident = next(iter(stored.files))
    blob = stored.blob_of(ident)
    damaged = bytearray(blob.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size, other bytes
    blob.write_bytes(bytes(damaged))
    code, report = stored.verify()
    assert code == 1
    assert [(p["kind"], p["attachment_id"]) for p in report["problems"]] == [("checksum", ident)]
    code, report = stored.verify("--quick")
    assert code == 0, report


def test_verify_finds_and_repairs_orphans_older_than_the_grace(stored):
    orphan = _make_orphan(stored.root, age_hours=2)
    code, report = stored.verify()
    assert code == 1
    (problem,) = report["problems"]
    assert (problem["kind"], problem["key"], problem["repairable"]) == ("orphan", ORPHAN_KEY, True)
    text = stored.grc.run("storage", "verify", as_="admin").stdout
    assert "--repair removes orphans" in text
    # Younger than the grace period: maybe an upload in progress, left alone.
    assert stored.verify("--grace", "3h")[0] == 0
    assert orphan.exists()
    code, report = stored.verify("--repair")
    assert code == 0
    assert report["repaired"] == 1
    assert not orphan.exists()
    assert stored.verify()[0] == 0
    assert len(stored.blobs()) == 3  # the attachments' blobs were not touched


def test_verify_refuses_a_bad_grace(stored):
    assert "not a duration" in stored.grc.usage_error(
        "storage", "verify", "--grace", "soon", as_="admin"
    )


def test_verify_and_migrate_are_for_administrators(stored):
    message = stored.grc.fails(4, "storage", "verify", as_="alice")
    assert "needs an administrator" in message
    stored.grc.fails(4, "storage", "migrate", "--to", "local", as_="alice")
    assert "no acting user" in stored.grc.fails(2, "storage", "verify")


def test_deleting_an_attachment_leaves_a_clean_store(stored):
    ident = next(iter(stored.files))
    stored.grc.ok("attachment", "delete", str(ident), "--yes", as_="alice")
    assert len(stored.blobs()) == 2
    code, report = stored.verify()
    assert (code, report["checked"]) == (0, 2)


# -- migrate -------------------------------------------------------------------------------


def _archive_config(stored: Stored) -> tuple[Path, Path]:
    archive = stored.tmp / "archive"
    config = stored.tmp / "config.toml"
    config.write_text(
        f'[grc.storage.archive]\ntype = "local"\nroot = "{archive.as_posix()}"\n',
        encoding="utf-8",
    )
    return config, archive


def test_migrate_to_a_second_local_root(stored):
    config, archive = _archive_config(stored)
    result = stored.grc.run(
        "--config", str(config), "--json", "storage", "migrate", "--to", "archive", as_="admin"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["moved"] == 3
    assert report["failed"] == []
    assert 'set storage_backend = "archive"' in result.stderr
    # Every blob moved: on the archive root, none left on the old one.
    assert stored.blobs() == []
    assert sorted(p.read_bytes() for p in stored.blobs(archive)) == sorted(stored.files.values())
    listed = stored.grc.json(
        "--config", str(config), "attachment", "list", "--company", stored.company, as_="bob"
    )
    assert {a["backend"] for a in listed} == {"archive"}
    for ident, data in stored.files.items():
        fetched = stored.grc.ok(
            "--config", str(config), "attachment", "fetch", str(ident), "-o", "-", as_="bob"
        )
        assert fetched.stdout_bytes == data
    verified = stored.grc.run("--config", str(config), "--json", "storage", "verify", as_="admin")
    assert verified.exit_code == 0
    assert json.loads(verified.stdout)["checked"] == 3

    # Run again: nothing to move, nothing copied twice.
    again = stored.grc.json(
        "--config", str(config), "storage", "migrate", "--to", "archive", as_="admin"
    )
    assert (again["moved"], again["already_there"], again["failed"]) == (0, 3, [])
    assert len(stored.blobs(archive)) == 3
    text = stored.grc.ok(
        "--config", str(config), "storage", "migrate", "--to", "archive", as_="admin"
    ).stdout
    assert "0 attachments moved to 'archive', 3 already there, 0 failed" in text


def test_migrate_reports_what_it_could_not_move(stored):
    config, archive = _archive_config(stored)
    lost = next(iter(stored.files))
    stored.blob_of(lost).unlink()
    result = stored.grc.run(
        "--config", str(config), "--json", "storage", "migrate", "--to", "archive", as_="admin"
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["moved"] == 2
    assert len(stored.blobs(archive)) == 2
    (failure,) = report["failed"]
    assert failure["attachment_id"] == lost
    assert failure["reason"]
    table = stored.grc.run(
        "--config", str(config), "storage", "migrate", "--to", "archive", as_="admin"
    )
    assert table.exit_code == 1
    assert "Not moved" in table.stdout
    assert "0 attachments moved to 'archive', 2 already there, 1 failed" in table.stdout


def test_migrate_to_an_unknown_backend(stored):
    message = stored.grc.fails(2, "storage", "migrate", "--to", "nowhere", as_="admin")
    assert "no storage backend is named 'nowhere'" in message
    assert len(stored.blobs()) == 3


# -- backends ------------------------------------------------------------------------------


def test_backends_lists_local_as_the_default(grc, tmp_path):
    data = grc.json("storage", "backends")
    assert data["default"] == "local"
    local = next(b for b in data["registered"] if b["name"] == "local")
    assert (local["plugin"], local["available"], local["default"]) == ("local", True, True)
    (configured,) = data["configured"]
    assert configured["name"] == "local"
    assert configured["config"]["root"] == str(tmp_path / "data" / "grc" / "attachments")
    text = grc.ok("storage", "backends").stdout
    assert "local" in text and "default" in text


def test_backends_shows_configured_names_without_secrets(grc, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[grc]\nstorage_backend = "archive"\n'
        '[grc.storage.archive]\ntype = "local"\nroot = "/srv/archive"\n'
        '[grc.storage.ged]\ntype = "cmis"\nurl = "https://ged.example"\nuser = "grc"\n'
        'password = "s3cr3t-value"\n',
        encoding="utf-8",
    )
    result = grc.ok("--config", str(config), "--json", "storage", "backends")
    assert "s3cr3t-value" not in result.output
    data = json.loads(result.stdout)
    assert data["default"] == "archive"
    configured = {c["name"]: c for c in data["configured"]}
    assert configured["archive"]["type"] == "local"
    assert configured["archive"]["default"] is True
    assert configured["ged"]["config"]["password"] == "***"
    assert not any(b["default"] for b in data["registered"])
    assert "s3cr3t-value" not in grc.ok("--config", str(config), "storage", "backends").output
