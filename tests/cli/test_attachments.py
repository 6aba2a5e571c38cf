"""``grc attachment``: add, list, fetch, delete and the policy, on genuine documents."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from grc_core.files import samples

from .runner import Grc

GENUINE = {
    "compte-rendu.pdf": (samples.pdf, "application/pdf"),
    "logo.png": (samples.png, "image/png"),
    "proposition.docx": (
        samples.docx,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "devis.xlsx": (
        samples.xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "support.pptx": (
        samples.pptx,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    "note.odt": (samples.odt, "application/vnd.oasis.opendocument.text"),
}


@dataclass
class World:
    grc: Grc
    folder: Path
    company: str
    opportunity: str
    shared: str
    private: str

    @property
    def blobs(self) -> Path:
        """The local backend's default root: the data folder (XDG_DATA_HOME/grc/attachments)."""
        return self.grc.home / "data" / "grc" / "attachments"

    def blob_files(self) -> list[Path]:
        return sorted(p for p in self.blobs.rglob("*") if p.is_file())

    def write(self, name: str, content: bytes) -> str:
        path = self.folder / name
        path.write_bytes(content)
        return str(path)

    def attach(self, *args: str, as_: str = "alice") -> list[dict]:
        return self.grc.json("attachment", "add", *args, as_=as_)


@pytest.fixture
def world(team: Grc, tmp_path: Path) -> World:
    def new_id(*args: str, as_: str = "admin") -> str:
        return str(team.json(*args, as_=as_)["id"])

    company = new_id("company", "add", "ACME", "--status", "client")
    exchange = ("exchange", "add", "--company", company, "--start", "2026-03-02T10:00")
    folder = tmp_path / "files"
    folder.mkdir()
    return World(
        grc=team,
        folder=folder,
        company=company,
        opportunity=new_id("opportunity", "add", company, "--title", "Renouvellement"),
        shared=new_id(*exchange, "--subject", "Visite", "--action", "meeting", as_="alice"),
        private=new_id(
            *exchange,
            "--subject",
            "Marge",
            "--action",
            "note",
            "--private",
            "--assign",
            "bob",
            as_="alice",
        ),
    )


def test_attach_genuine_files_and_list_them(world):
    contents = {name: make() for name, (make, _) in GENUINE.items()}
    paths = [world.write(name, data) for name, data in contents.items()]
    added = world.attach(*paths, "--exchange", world.shared)
    assert [a["name"] for a in added] == list(GENUINE)
    for a in added:
        data = contents[a["name"]]
        assert a["mime_type"] == GENUINE[a["name"]][1]
        assert a["size"] == len(data)
        assert a["sha256"] == hashlib.sha256(data).hexdigest()
        assert a["backend"] == "local"
        assert a["owner"] == {"kind": "exchange", "id": int(world.shared)}
        assert a["author"]["login"] == "alice"
    listed = world.grc.json("attachment", "list", "--exchange", world.shared, as_="bob")
    assert [a["id"] for a in listed] == [a["id"] for a in added]
    # Stored under the data folder by default, one blob per file, content unchanged.
    blobs = world.blob_files()
    assert len(blobs) == len(GENUINE)
    assert sorted(p.read_bytes() for p in blobs) == sorted(contents.values())

    table = world.grc.ok("attachment", "list", "--exchange", world.shared, as_="bob").stdout
    for a in added:
        assert a["name"] in table
        assert a["sha256"][:12] in table
        assert a["sha256"] not in table  # tables show the short form


def test_company_and_opportunity_attachments_are_kept_apart(world):
    logo = world.write("scan.png", samples.png())
    (on_company,) = world.attach(logo, "--company", world.company, "--name", "logo ACME.png")
    pdf = world.write("p.pdf", samples.pdf("Proposition"))
    (on_deal,) = world.attach(pdf, "--opportunity", world.opportunity, as_="bob")
    assert on_company["name"] == "logo ACME.png"
    assert on_company["owner"] == {"kind": "company", "id": int(world.company)}
    by_company = world.grc.json("attachment", "list", "--company", world.company, as_="carol")
    by_deal = world.grc.json("attachment", "list", "--opportunity", world.opportunity, as_="carol")
    assert [a["id"] for a in by_company] == [on_company["id"]]
    assert [a["id"] for a in by_deal] == [on_deal["id"]]
    assert world.grc.json("attachment", "list", "--exchange", world.shared, as_="carol") == []
    result = world.grc.ok("attachment", "list", "--exchange", world.shared, as_="carol")
    assert result.stdout == ""
    assert "no attachments" in result.stderr


def test_attach_from_stdin_needs_a_name(world):
    data = samples.png()
    message = world.grc.usage_error(
        "attachment", "add", "-", "--company", world.company, as_="alice", input=data
    )
    assert "needs --name" in message
    (added,) = world.grc.json(
        "attachment",
        "add",
        "-",
        "--company",
        world.company,
        "--name",
        "from-stdin.png",
        as_="alice",
        input=data,
    )
    assert added["size"] == len(data)
    assert added["sha256"] == hashlib.sha256(data).hexdigest()


def test_exactly_one_owner_is_required(world):
    pdf = world.write("a.pdf", samples.pdf())
    assert "exactly one of" in world.grc.usage_error("attachment", "add", pdf, as_="alice")
    assert "exactly one of" in world.grc.usage_error(
        "attachment", "list", "--company", world.company, "--exchange", world.shared, as_="alice"
    )
    assert "give a single FILE" in world.grc.usage_error(
        "attachment", "add", pdf, pdf, "--company", world.company, "--name", "x.pdf", as_="alice"
    )


def test_unknown_or_invisible_owner_is_not_found(world):
    assert "999" in world.grc.fails(3, "attachment", "list", "--exchange", "999", as_="alice")
    world.grc.fails(3, "attachment", "list", "--company", "999", as_="alice")
    world.grc.fails(3, "attachment", "list", "--exchange", world.private, as_="carol")
    pdf = world.write("a.pdf", samples.pdf())
    world.grc.fails(3, "attachment", "add", pdf, "--exchange", world.private, as_="carol")
    assert world.blob_files() == []


# -- fetch ---------------------------------------------------------------------------------


@pytest.fixture
def attached(world) -> tuple[World, dict, bytes]:
    data = samples.docx("Proposition commerciale")
    (added,) = world.attach(world.write("proposition.docx", data), "--exchange", world.shared)
    return world, added, data


def test_fetch_to_a_file_and_to_stdout(attached, tmp_path):
    world, added, data = attached
    ident = str(added["id"])
    target = tmp_path / "out" / "copie.docx"
    target.parent.mkdir()
    result = world.grc.ok("attachment", "fetch", ident, "-o", str(target), as_="bob")
    assert target.read_bytes() == data
    assert str(target) in result.stderr
    assert result.stdout == ""
    # Nothing but the target in its folder: the partial file was renamed, not copied.
    assert [p.name for p in target.parent.iterdir()] == ["copie.docx"]

    piped = world.grc.ok("attachment", "fetch", ident, "-o", "-", as_="bob")
    assert piped.stdout_bytes == data

    info = world.grc.json("attachment", "fetch", ident, "-o", str(tmp_path / "j.docx"), as_="bob")
    assert info["fetched"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["fetched"]["path"] == str(tmp_path / "j.docx")


def test_fetch_defaults_to_the_name_in_the_current_folder(attached, tmp_path, monkeypatch):
    world, added, data = attached
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    world.grc.ok("attachment", "fetch", str(added["id"]), as_="alice")
    assert (here / "proposition.docx").read_bytes() == data
    # Into a folder given with -o, under the attachment's name as well.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    world.grc.ok("attachment", "fetch", str(added["id"]), "-o", str(elsewhere), as_="alice")
    assert (elsewhere / "proposition.docx").read_bytes() == data


def test_fetch_never_overwrites_without_force(attached, tmp_path):
    world, added, data = attached
    target = tmp_path / "existing.docx"
    target.write_bytes(b"precious")
    message = world.grc.fails(
        5, "attachment", "fetch", str(added["id"]), "-o", str(target), as_="alice"
    )
    assert "already exists" in message and "--force" in message
    assert target.read_bytes() == b"precious"
    world.grc.ok("attachment", "fetch", str(added["id"]), "-o", str(target), "--force", as_="alice")
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".grc-fetch-")) == []


def test_fetch_refuses_damaged_content(attached, tmp_path):
    world, added, data = attached
    (blob,) = world.blob_files()
    damaged = bytearray(data)
    damaged[-1] ^= 0xFF
    blob.write_bytes(bytes(damaged))
    target = tmp_path / "out.docx"
    message = world.grc.fails(
        1, "attachment", "fetch", str(added["id"]), "-o", str(target), as_="alice"
    )
    assert "does not match" in message and "nothing was written" in message
    assert not target.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".grc-fetch-")] == []


def test_a_private_exchange_attachment_is_hidden_from_others(world, tmp_path):
    data = samples.pdf("Marge")
    (added,) = world.attach(world.write("marge.pdf", data), "--exchange", world.private)
    ident = str(added["id"])
    target = tmp_path / "leak.pdf"
    message = world.grc.fails(3, "attachment", "fetch", ident, "-o", str(target), as_="carol")
    assert f"no attachment {ident}" in message
    assert world.grc.fails(3, "attachment", "fetch", ident, "-o", "-", as_="carol") == message
    world.grc.fails(3, "attachment", "list", "--exchange", world.private, as_="carol")
    assert not target.exists()
    # The assignee and an administrator may read it.
    assert world.grc.ok("attachment", "fetch", ident, "-o", "-", as_="bob").stdout_bytes == data
    assert world.grc.ok("attachment", "fetch", ident, "-o", "-", as_="admin").stdout_bytes == data


def test_fetch_unknown_attachment(world):
    world.grc.fails(3, "attachment", "fetch", "4242", "-o", "-", as_="alice")


# -- refusals ------------------------------------------------------------------------------


def test_a_pdf_that_is_not_a_pdf_is_refused(world):
    # The Python interpreter is an ELF executable on Linux: a real one, renamed.
    elf = Path(sys.executable).resolve().read_bytes()[:65536]
    assert elf.startswith(b"\x7fELF")
    path = world.write("facture.pdf", elf)
    message = world.grc.fails(2, "attachment", "add", path, "--exchange", world.shared, as_="alice")
    assert message.startswith("facture.pdf: ")
    assert "not what .pdf promises" in message
    assert world.grc.json("attachment", "list", "--exchange", world.shared, as_="alice") == []
    assert world.blob_files() == []


def test_refused_names_say_why(world):
    path = world.write("facture.pdf.exe", b"MZ")
    message = world.grc.fails(2, "attachment", "add", path, "--exchange", world.shared, as_="alice")
    assert "double extension" in message or "not accepted" in message


def test_a_refusal_keeps_the_files_attached_before_it(world):
    good = world.write("good.pdf", samples.pdf())
    bad = world.write("bad.pdf", b"this is plain text, not a PDF" * 20)
    later = world.write("later.png", samples.png())
    result = world.grc.run(
        "--json", "attachment", "add", good, bad, later, "--exchange", world.shared, as_="alice"
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    attached = json.loads(result.stdout)
    assert [a["name"] for a in attached] == ["good.pdf"]
    assert line.startswith("error: bad.pdf: ")
    assert f"attached before it: good.pdf (attachment {attached[0]['id']})" in line
    assert line.endswith("not attached: bad.pdf, later.png")
    listed = world.grc.json("attachment", "list", "--exchange", world.shared, as_="alice")
    assert [a["name"] for a in listed] == ["good.pdf"]
    assert len(world.blob_files()) == 1


def test_policy_limits_the_size(world):
    shown = world.grc.json("attachment", "policy", "show")
    assert shown["max_size"] == 20 * 1024 * 1024
    assert "pdf" in shown["allowed_extensions"]
    changed = world.grc.json("attachment", "policy", "set", "--max-size", "1KB", as_="admin")
    assert changed["max_size"] == 1024
    assert changed["allowed_extensions"] == shown["allowed_extensions"]  # untouched
    big = samples.pdf("x" * 1500)
    assert len(big) > 1024
    path = world.write("gros.pdf", big)
    message = world.grc.fails(2, "attachment", "add", path, "--exchange", world.shared, as_="alice")
    assert "larger than the 1,024-byte limit" in message
    assert world.blob_files() == []
    small = world.write("petit.pdf", samples.pdf("ok"))
    world.attach(small, "--exchange", world.shared)
    assert "1.0 KB (1,024 bytes)" in world.grc.ok("attachment", "policy", "show").stdout


def test_policy_set_every_option(world):
    policy = world.grc.json(
        "attachment",
        "policy",
        "set",
        "--extensions",
        " pdf, .PNG ,docx",
        "--allow-macros",
        "--zip-max-entries",
        "50",
        "--zip-max-uncompressed",
        "1.5 MB",
        as_="admin",
    )
    assert {k: policy[k] for k in list(policy)[:5]} == {
        "max_size": 20 * 1024 * 1024,
        "allowed_extensions": ["docx", "pdf", "png"],
        "allow_macros": True,
        "zip_max_entries": 50,
        "zip_max_uncompressed": 1572864,
    }
    assert [r["rule"] for r in policy["rules"]][:3] == ["file_name", "extension", "size"]
    assert (
        world.grc.json("attachment", "policy", "set", "--no-macros", as_="admin")["allow_macros"]
        is False
    )
    path = world.write("devis.xlsx", samples.xlsx())
    message = world.grc.fails(2, "attachment", "add", path, "--exchange", world.shared, as_="alice")
    assert ".xlsx files are not accepted" in message


def test_policy_set_is_for_administrators_and_checks_its_input(world):
    message = world.grc.fails(4, "attachment", "policy", "set", "--max-size", "1MB", as_="alice")
    assert "needs an administrator" in message
    assert "not a size" in world.grc.usage_error(
        "attachment", "policy", "set", "--max-size", "12XB", as_="admin"
    )
    assert "nothing to change" in world.grc.usage_error("attachment", "policy", "set", as_="admin")
    message = world.grc.fails(
        2, "attachment", "policy", "set", "--extensions", "pdf,exe", as_="admin"
    )
    assert "exe" in message
    assert world.grc.json("attachment", "policy", "show")["max_size"] == 20 * 1024 * 1024


# -- delete --------------------------------------------------------------------------------


def test_delete_asks_then_removes_the_row_and_the_blob(attached):
    world, added, _ = attached
    ident = str(added["id"])
    refused = world.grc.run("attachment", "delete", ident, as_="alice", input="n\n")
    assert refused.exit_code == 1
    assert len(world.blob_files()) == 1
    world.grc.fails(4, "attachment", "delete", ident, "--yes", as_="carol")
    deleted = world.grc.json("attachment", "delete", ident, "--yes", as_="alice")
    assert deleted["deleted"]["id"] == added["id"]
    assert world.blob_files() == []
    world.grc.fails(3, "attachment", "fetch", ident, "-o", "-", as_="alice")
    assert world.grc.json("attachment", "list", "--exchange", world.shared, as_="alice") == []


def test_add_needs_an_acting_user(world):
    pdf = world.write("a.pdf", samples.pdf())
    message = world.grc.fails(2, "attachment", "add", pdf, "--company", world.company)
    assert "no acting user" in message
    assert not os.path.exists(world.blobs) or world.blob_files() == []
