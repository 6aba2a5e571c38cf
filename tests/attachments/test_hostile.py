"""Hostile files refused by a named rule, genuine ones stored unchanged — on both databases.

Every refusal must name its rule on one line and leave nothing behind: no row, no blob, no
temporary file in the spool folder.
"""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import hostile
import pytest
from PIL import Image
from sqlalchemy import func, select

from grc_core.errors import AttachmentRefused, FileInfected
from grc_core.files.rules import RULE_NAMES, describe_rules, rule_of
from grc_core.models import Attachment
from grc_core.plugins import ScanVerdict
from grc_core.services import attachments, exchanges
from grc_core.testing.scanners import EicarScanner


@functools.cache
def made(name: str) -> bytes:
    """Each file is made once per run (the bombs take a second)."""
    for case in hostile.HOSTILE:
        if case.name == name:
            return case.make()
    return hostile.GENUINE[name]()


@pytest.fixture
def exchange(world, session):
    return exchanges.create_exchange(
        session, world.alice, subject="Visite", start=world.at(), action="meeting",
        company_id=world.acme.id,
    )  # fmt: skip


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


def attach(world, backends, exchange, spool, name: str, data: bytes, **kw):
    return attachments.attach(
        world.session, world.alice, backends, io.BytesIO(data), name,
        exchange_id=exchange.id, spool_dir=spool, **kw,
    )  # fmt: skip


def read_back(world, backends, attachment) -> bytes:
    _, stream = attachments.open_attachment(world.session, world.alice, backends, attachment.id)
    with stream:
        return stream.read()


def stored_state(world, backends) -> tuple[int, list[Path]]:
    """The attachment rows and the blob files, to compare before and after a refusal."""
    world.session.flush()
    rows = world.session.scalar(select(func.count()).select_from(Attachment))
    root = Path(backends.default.root)
    return rows, sorted(p for p in root.rglob("*") if p.is_file())


def refused(world, backends, exchange, spool, name: str, data: bytes, **kw) -> AttachmentRefused:
    """Attach a file that must be refused; check the refusal and that nothing was stored."""
    before = stored_state(world, backends)
    with pytest.raises(AttachmentRefused) as caught:
        attach(world, backends, exchange, spool, name, data, **kw)
    message = str(caught.value)
    assert "\n" not in message
    rule = rule_of(caught.value)
    assert rule in RULE_NAMES
    assert message.startswith(f"refused by rule {rule}: ")
    assert stored_state(world, backends) == before  # no row, no blob
    assert list(spool.iterdir()) == []  # no temporary file
    return caught.value


@pytest.mark.parametrize("name", list(hostile.GENUINE))
def test_genuine_documents_are_stored_unchanged(world, backends, exchange, spool, name):
    data = made(name)
    stored = attach(world, backends, exchange, spool, name, data)
    assert read_back(world, backends, stored) == data
    assert stored.size == len(data)
    assert list(spool.iterdir()) == []


@pytest.mark.parametrize("case", hostile.HOSTILE, ids=lambda c: c.name)
def test_hostile_file_is_refused_by_its_rule(world, backends, exchange, spool, case):
    error = refused(world, backends, exchange, spool, case.name, made(case.name))
    assert rule_of(error) == case.rule, str(error)


def test_eicar_is_refused_when_scanning_is_required_and_no_scanner_is_active(
    world, session, backends, exchange, spool
):
    # The default: scanning optional, and the file is stored — what the policy shows.
    attachments.set_policy(session, world.admin, scanning="required")
    error = refused(world, backends, exchange, spool, "note.txt", hostile.EICAR_TXT)
    assert isinstance(error, FileInfected)
    assert rule_of(error) == "antivirus"
    assert "no virus scanner is active" in str(error)
    # A scanner that finds it.
    error = refused(
        world, backends, exchange, spool, "note.txt", hostile.EICAR_TXT, scanners=[EicarScanner()]
    )
    assert "Eicar-Test-Signature" in str(error)
    # Scanning off: the scanner is not even started.
    attachments.set_policy(session, world.admin, scanning="off")
    scanner = EicarScanner()
    attach(world, backends, exchange, spool, "note.txt", hostile.EICAR_TXT, scanners=[scanner])
    assert scanner.started == 0


class BrokenScan:
    def __init__(self, where: str) -> None:
        self.where = where
        self.closed = False

    def feed(self, chunk: bytes) -> None:
        if self.where == "feed":
            raise ConnectionRefusedError("daemon down")

    def finish(self) -> ScanVerdict:
        raise TimeoutError("no answer")

    def close(self) -> None:
        self.closed = True


class BrokenScanner:
    name = "broken"

    def __init__(self, where: str) -> None:
        self.where = where
        self.scans: list[BrokenScan] = []

    def start(self) -> BrokenScan:
        if self.where == "start":
            raise RuntimeError("misconfigured")
        self.scans.append(BrokenScan(self.where))
        return self.scans[-1]


@pytest.mark.parametrize("where", ["start", "feed", "finish"])
def test_a_scanner_that_fails_refuses_the_file(world, backends, exchange, spool, where):
    scanner = BrokenScanner(where)
    error = refused(
        world, backends, exchange, spool, "devis.pdf", made("devis.pdf"), scanners=[scanner]
    )
    assert "virus scanner unavailable (broken:" in str(error)
    assert all(scan.closed for scan in scanner.scans)


def test_policy_settings_relax_their_rules(world, session, backends, exchange, spool):
    attachments.set_policy(session, world.admin, allow_active_pdf=True)
    attach(world, backends, exchange, spool, "a.pdf", made("open-action.pdf"))
    attachments.set_policy(session, world.admin, max_image_pixels=1000)
    error = refused(world, backends, exchange, spool, "p.jpg", made("photo.jpg"))
    assert rule_of(error) == "image_integrity"
    assert "at most 1,000 are accepted" in str(error)


def test_nested_archives_allowed_are_inflated_within_the_budget(
    world, session, backends, exchange, spool
):
    attachments.set_policy(
        session, world.admin, allow_nested_archives=True, zip_max_ratio=1_000_000
    )
    error = refused(world, backends, exchange, spool, "n.docx", made("nested.docx"))
    assert rule_of(error) == "archive_bomb"
    assert "inflates past 209,715,200 bytes" in str(error)
    assert "word/embeddings/package.zip/zeros.bin" in str(error)
    # A harmless nested package (a spreadsheet embedded in a document) is accepted.
    inner = made("devis.xlsx")
    package = hostile.rezip(
        made("compte-rendu.docx"),
        lambda entries: [*entries, hostile.Entry("word/embeddings/sheet.xlsx", inner)],
    )
    attach(world, backends, exchange, spool, "rapport.docx", package)


def test_the_absolute_budget_counts_inflated_bytes(world, session, backends, exchange, spool):
    attachments.set_policy(
        session, world.admin, zip_max_ratio=1_000_000, zip_max_uncompressed=50 * hostile.MIB
    )
    error = refused(world, backends, exchange, spool, "l.docx", made("lying-size.docx"))
    assert "inflates past 52,428,800 bytes" in str(error)


def _exif(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_photos_from_the_mobile_app_lose_their_location(world, session, backends, exchange, spool):
    original = made("photo.jpg")
    assert 0x8825 in _exif(original)  # GPS
    assert b"Rue de la Paix" in original  # XMP
    kept = attach(world, backends, exchange, spool, "photo.jpg", original)
    assert read_back(world, backends, kept) == original  # not from the app: unchanged
    stripped = attach(world, backends, exchange, spool, "photo.jpg", original, origin="mobile")
    data = read_back(world, backends, stripped)
    assert _exif(data) == {0x0112: 6}  # only the orientation is left
    assert b"Rue de la Paix" not in data and b"PhoneMaker" not in data
    assert _pixels(data) == _pixels(original)  # lossless: the same decoded pixels
    assert stripped.size == len(data) < len(original)
    assert stripped.sha256 != kept.sha256
    # PNG and GIF too, under "always"; "never" keeps everything, even from the app.
    attachments.set_policy(session, world.admin, strip_image_metadata="always")
    png = attach(world, backends, exchange, spool, "plan.png", made("plan.png"))
    png_data = read_back(world, backends, png)
    assert b"eXIf" in made("plan.png") and b"eXIf" not in png_data
    assert _pixels(png_data) == _pixels(made("plan.png"))
    gif = read_back(
        world, backends, attach(world, backends, exchange, spool, "l.gif", made("logo.gif"))
    )
    assert b"made here" in made("logo.gif") and b"made here" not in gif
    with Image.open(io.BytesIO(gif)) as image:
        assert image.n_frames == 3
    attachments.set_policy(session, world.admin, strip_image_metadata="never")
    same = attach(world, backends, exchange, spool, "photo.jpg", original, origin="mobile")
    assert read_back(world, backends, same) == original
    assert list(spool.iterdir()) == []


def test_phone_multi_picture_jpegs_are_not_polyglots(world, backends, exchange, spool):
    # Phones store further complete JPEGs (depth maps, gain maps) after the first one.
    data = made("photo.jpg") + hostile.photo(size=(16, 12), gps=False)
    stored = attach(world, backends, exchange, spool, "mpf.jpg", data)
    assert read_back(world, backends, stored) == data
    error = refused(world, backends, exchange, spool, "mpf.jpg", data + b"<script>")
    assert rule_of(error) == "image_polyglot"


def test_every_rule_is_listed_with_its_settings(world, session):
    policy = attachments.get_policy(session)
    rules = describe_rules(policy, [])
    assert [r["rule"] for r in rules] == [
        "file_name", "extension", "size", "antivirus", "content_type", "archive_bomb",
        "archive_integrity", "archive_names", "archive_nested", "macros", "pdf_structure",
        "pdf_active_content", "image_integrity", "image_polyglot", "image_metadata",
    ]  # fmt: skip
    by_name = {r["rule"]: r for r in rules}
    assert by_name["antivirus"]["scanning"] == "optional"
    assert "no virus scanner is active" in by_name["antivirus"]["warning"]
    assert by_name["archive_bomb"]["zip_max_ratio"] == 100
    assert by_name["image_metadata"]["strip_image_metadata"] == "mobile"
    assert describe_rules(policy, ["clamav"])[3]["warning"] is None


def test_policy_settings_are_validated(world, session):
    from grc_core.errors import ValidationError

    with pytest.raises(ValidationError, match="scanning must be one of required"):
        attachments.set_policy(session, world.admin, scanning="sometimes")
    with pytest.raises(ValidationError, match="strip_image_metadata must be one of"):
        attachments.set_policy(session, world.admin, strip_image_metadata="yes")
    with pytest.raises(ValidationError, match="zip_max_ratio must be a positive integer"):
        attachments.set_policy(session, world.admin, zip_max_ratio=0)


def test_plain_zip_archives_when_allowed_are_inflated_and_checked(
    world, session, backends, exchange, spool
):
    def archive(*entries: tuple[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
            for name, data in entries:
                target.writestr(name, data)
        return buffer.getvalue()

    genuine = archive(("devis.pdf", made("devis.pdf")), ("photos/plan.png", made("plan.png")))
    error = refused(world, backends, exchange, spool, "dossier.zip", genuine)
    assert rule_of(error) == "extension"  # not in the default list
    allowed = attachments.get_policy(session).allowed_extensions
    attachments.set_policy(session, world.admin, allowed_extensions=[*allowed, "zip"])
    stored = attach(world, backends, exchange, spool, "dossier.zip", genuine)
    assert read_back(world, backends, stored) == genuine
    cases = {
        "archive_names": archive(("lisez-moi.txt", b"x"), ("outils/setup.EXE", b"MZ")),
        "archive_nested": archive(("cr.docx", made("compte-rendu.docx"))),
        "macros": archive(("ancien.doc", hostile.OLE2 + bytes(600))),
        "archive_bomb": hostile.raw_zip(
            [
                hostile.Entry(
                    "zeros.bin",
                    b"",
                    raw=hostile.zeros_deflated(8 * hostile.MIB),
                    crc=0,
                    declared_size=0,
                )
            ]
        ),
    }
    for rule, data in cases.items():
        assert rule_of(refused(world, backends, exchange, spool, "x.zip", data)) == rule
