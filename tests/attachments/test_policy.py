"""The attachment policy: names, sizes, sniffed types, containers, macros and scanners."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from grc_core.errors import (
    AttachmentRefused,
    FileInfected,
    FileTooLarge,
    PermissionDenied,
    ValidationError,
)
from grc_core.files import samples
from grc_core.models import Attachment, Event
from grc_core.plugins import Registry, ScanVerdict, hookimpl
from grc_core.services import attachments, exchanges

MB = 1024 * 1024


@pytest.fixture
def exchange(world, session):
    return exchanges.create_exchange(
        session, world.alice, subject="Visite", start=world.at(), action="meeting",
        company_id=world.acme.id,
    )  # fmt: skip


def attach(world, backends, data: bytes | io.RawIOBase, name: str, exchange_id: int, **kw):
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    return attachments.attach(
        world.session, world.alice, backends, stream, name, exchange_id=exchange_id, **kw
    )


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


GENUINE = {
    "devis.pdf": samples.pdf,
    "logo.png": samples.png,
    "photo.jpg": jpeg,
    "proposition.docx": samples.docx,
    "chiffrage.xlsx": samples.xlsx,
    "présentation.pptx": samples.pptx,
    "réunion.odt": samples.odt,
}
EXPECTED_MIME = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
}


@pytest.mark.parametrize("name", sorted(GENUINE))
def test_genuine_files_are_recognised_and_stored(world, session, backends, exchange, name):
    data = GENUINE[name]()
    att = attach(world, backends, data, name, exchange.id)
    assert att.mime_type == EXPECTED_MIME[att.extension]
    assert att.filename == name and att.size == len(data)
    import hashlib

    assert att.sha256 == hashlib.sha256(data).hexdigest()
    with backends.get(att.backend).open(att.storage_key) as fh:
        assert fh.read() == data
    assert att.storage_key == att.core_key and name not in att.storage_key


def elf_bytes() -> bytes:
    return Path("/bin/true").read_bytes()[:16384]


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "why"),
    [
        ("facture.pdf", elf_bytes, "the content is application/x-.*, not what .pdf promises"),
        ("photo.jpg", zip_bytes, "the content is application/zip, not what .jpg promises"),
        ("facture.pdf.exe", samples.pdf, r"double extension \(\.pdf\.exe\)"),
        ("photo.exe.jpg", jpeg, r"double extension \(\.exe\.jpg\)"),
        ("../../x.pdf", samples.pdf, "path separator"),
        ("..x.pdf", samples.pdf, "'..'"),
        ("fac\x00ture.pdf", samples.pdf, "NUL byte"),
        ("fac\u202etxt.pdf", samples.pdf, "bidirectional character U\\+202E"),
        ("rapport\x07.pdf", samples.pdf, "control character U\\+0007"),
        ("x" * 250 + ".pdf", samples.pdf, "longer than"),
        ("script.sh", samples.pdf, r"\.sh files are not accepted; accepted: \.pdf"),
        ("sans-extension", samples.pdf, "no extension"),
        ("CON.pdf", samples.pdf, "reserved device name"),
        ("devis.docx", samples.odt, "the content is .*opendocument.text, not what .docx promises"),
        ("note.odt", samples.docx, "the content is .*wordprocessingml"),
    ],
)
def test_refusals_say_why(world, session, backends, exchange, name, make, why):
    with pytest.raises(AttachmentRefused, match=why):
        attach(world, backends, make(), name, exchange.id)
    assert session.scalars(select(Attachment)).all() == []
    assert list(backends.default.iter_blobs()) == []


def test_docx_with_macros_is_refused_and_docm_needs_permission(world, session, backends, exchange):
    with pytest.raises(AttachmentRefused, match="contains macros"):
        attach(world, backends, samples.docx(macros=True), "offre.docx", exchange.id)
    attachments.set_policy(session, world.admin, allowed_extensions=["pdf", "docx", "docm"])
    with pytest.raises(AttachmentRefused, match="macro-enabled documents are refused"):
        attach(world, backends, samples.docx(macros=True), "offre.docm", exchange.id)
    attachments.set_policy(session, world.admin, allow_macros=True)
    att = attach(world, backends, samples.docx(macros=True), "offre.docm", exchange.id)
    assert att.extension == "docm"


def test_decompression_bomb_is_refused_without_extracting(world, session, backends, exchange):
    attachments.set_policy(session, world.admin, zip_max_uncompressed=2 * MB, zip_max_entries=50)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("_rels/.rels", "<Relationships/>")
        archive.writestr("word/document.xml", "<w/>")
        archive.writestr("word/media/zeros.bin", b"\0" * (3 * MB))
    assert len(bomb.getvalue()) < 64 * 1024  # it is small until expanded
    with pytest.raises(AttachmentRefused, match=r"rule archive_bomb: .* inflates more than 100"):
        attach(world, backends, bomb.getvalue(), "bombe.docx", exchange.id)
    attachments.set_policy(session, world.admin, zip_max_ratio=10_000)
    with pytest.raises(AttachmentRefused, match=r"rule archive_bomb: .* inflates past 2,097,152"):
        attach(world, backends, bomb.getvalue(), "bombe.docx", exchange.id)
    crowded = io.BytesIO()
    with zipfile.ZipFile(crowded, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w/>")
        for i in range(60):
            archive.writestr(f"word/n{i}.xml", "<x/>")
    with pytest.raises(AttachmentRefused, match="holds 62 entries; at most 50"):
        attach(world, backends, crowded.getvalue(), "foule.docx", exchange.id)


class CountingStream(io.RawIOBase):
    """A PDF of ``size`` bytes, generated as it is read; counts what was read."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0
        self.head = samples.pdf()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        chunk = bytearray(b" " * n)
        if self.pos < len(self.head):
            part = self.head[self.pos : self.pos + n]
            chunk[: len(part)] = part
        buffer[:n] = chunk
        self.pos += n
        return n


def test_twenty_megabytes_accepted_one_more_byte_refused_mid_stream(
    world, session, backends, exchange
):
    limit = 20 * MB
    assert attachments.get_policy(session).max_size == limit
    att = attach(world, backends, io.BufferedReader(CountingStream(limit)), "gros.pdf", exchange.id)
    assert att.size == limit
    with pytest.raises(FileTooLarge, match="larger than the 20,971,520-byte limit"):
        attach(
            world, backends, io.BufferedReader(CountingStream(limit + 1)), "trop.pdf", exchange.id
        )
    # Refused as the limit was crossed: a 200 MB upload is not read to its end.
    huge = CountingStream(200 * MB)
    with pytest.raises(FileTooLarge):
        attach(world, backends, huge, "enorme.pdf", exchange.id)
    assert huge.pos <= limit + 2 * MB
    assert [b.size for b in backends.default.iter_blobs()] == [limit]


EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class EicarScan:
    def __init__(self) -> None:
        self.tail = b""
        self.found = False
        self.closed = False

    def feed(self, chunk: bytes) -> None:
        window = self.tail + chunk  # the signature may straddle two chunks
        self.found = self.found or EICAR in window
        self.tail = window[-len(EICAR) :]

    def finish(self) -> ScanVerdict:
        return ScanVerdict(False, "Eicar-Test-Signature") if self.found else ScanVerdict(True)

    def close(self) -> None:
        self.closed = True


class EicarScanner:
    name = "eicar-test"

    def __init__(self) -> None:
        self.scans: list[EicarScan] = []

    def start(self) -> EicarScan:
        self.scans.append(EicarScan())
        return self.scans[-1]


class ScannerPlugin:
    def __init__(self) -> None:
        self.scanner = EicarScanner()

    @hookimpl
    def grc_register_scanners(self, register) -> None:
        register("eicar-test", self.scanner)


def test_scanner_plugin_refuses_eicar_before_storage(world, session, backends, exchange):
    plugin = ScannerPlugin()
    scanners = Registry.load(autoload=False, plugins=[plugin]).scanners()
    assert scanners == [plugin.scanner]
    infected = io.BufferedReader(CountingStream(3 * MB))
    data = bytearray(infected.read())
    cut = 1024 * 1024 - 20  # straddles the first chunk boundary
    data[cut : cut + len(EICAR)] = EICAR
    with pytest.raises(
        FileInfected,
        match="rule antivirus: the eicar-test scanner refused the file: Eicar-Test-Signature",
    ):
        attach(world, backends, bytes(data), "virus.pdf", exchange.id, scanners=scanners)
    assert list(backends.default.iter_blobs()) == []
    clean = attach(world, backends, samples.pdf(), "sain.pdf", exchange.id, scanners=scanners)
    assert clean.id is not None
    assert all(scan.closed for scan in plugin.scanner.scans)


def test_attaching_writes_an_event_and_respects_visibility(world, session, backends):
    private = exchanges.create_exchange(
        session, world.alice, subject="Privé", start=world.at(), action="note", private=True,
        company_id=world.acme.id, assignees=["bob"],
    )  # fmt: skip
    att = attach(world, backends, samples.pdf(), "secret.pdf", private.id)
    event = session.scalars(select(Event).where(Event.kind == "attachment.added")).one()
    assert event.entity_id == att.id and event.company_id == world.acme.id
    assert event.changes["exchange_id"] == [None, private.id]
    from grc_core.errors import AttachmentNotFound, ExchangeNotFound

    with pytest.raises(AttachmentNotFound):
        attachments.open_attachment(session, world.carol, backends, att.id)
    assert attachments.list_attachments(session, world.carol, exchange_id=private.id) == []
    _, stream = attachments.open_attachment(session, world.bob, backends, att.id)
    with stream:
        assert stream.read(5) == b"%PDF-"
    with pytest.raises(ExchangeNotFound):
        attachments.attach(
            session, world.carol, backends, io.BytesIO(samples.pdf()), "x.pdf",
            exchange_id=private.id,
        )  # fmt: skip
    shared = exchanges.create_exchange(
        session, world.alice, subject="Partagé", start=world.at(), action="note"
    )
    with pytest.raises(PermissionDenied):
        attachments.attach(
            session, world.carol, backends, io.BytesIO(samples.pdf()), "x.pdf",
            exchange_id=shared.id,
        )  # fmt: skip


def test_company_and_opportunity_attachments(world, session, backends):
    a = attachments.attach(
        session, world.carol, backends, io.BytesIO(samples.png()), "logo.png",
        company_id=world.acme.id,
    )  # fmt: skip
    b = attachments.attach(
        session, world.carol, backends, io.BytesIO(samples.pdf()), "offre.pdf",
        opportunity_id=world.deal1.id,
    )  # fmt: skip
    assert a.owner == ("company", world.acme.id) and b.owner == ("opportunity", world.deal1.id)
    assert [
        x.id for x in attachments.list_attachments(session, world.bob, company_id=world.acme.id)
    ] == [a.id]
    with pytest.raises(ValidationError, match="exactly one"):
        attachments.attach(
            session, world.carol, backends, io.BytesIO(b""), "x.pdf",
            company_id=world.acme.id, opportunity_id=world.deal1.id,
        )  # fmt: skip


def test_policy_is_administered(world, session):
    with pytest.raises(PermissionDenied):
        attachments.set_policy(session, world.alice, max_size=1)
    with pytest.raises(ValidationError, match="cannot be verified"):
        attachments.set_policy(session, world.admin, allowed_extensions=["pdf", "exe"])
    with pytest.raises(ValidationError, match="positive integer"):
        attachments.set_policy(session, world.admin, max_size=0)
    policy = attachments.set_policy(session, world.admin, allowed_extensions=[".PDF", "png"])
    assert policy.allowed_extensions == ["pdf", "png"]
