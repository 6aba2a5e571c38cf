"""Genuine documents made by real libraries, and hostile variants of them made in code.

Nothing here is malware: EICAR is the antivirus test string, the "macros" are OLE2 magic
numbers followed by filler, the "bombs" are runs of zeros.  Each hostile case names the rule
that must refuse it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from grc_core.testing.scanners import EICAR

MIB = 1024 * 1024
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# --- genuine documents ----------------------------------------------------------------------


def docx() -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Compte rendu", level=1)
    document.add_paragraph("Visite chez ACME : renouvellement du contrat.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Produit", "Quantité", "Prix"])
    sheet.append(["Licence", 12, 99.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pptx() -> bytes:
    import pptx as python_pptx

    presentation = python_pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[0])
    slide.shapes.title.text = "Proposition"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def odt() -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    document.text.addElement(P(text="Réunion de lancement"))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def ods() -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Devis")
    row = TableRow()
    cell = TableCell()
    cell.addElement(P(text="42"))
    row.addElement(cell)
    table.addElement(row)
    document.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf() -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.drawString(72, 760, "Devis n° 2026-042")
    page.showPage()
    page.drawString(72, 760, "Conditions générales")
    page.save()
    return buffer.getvalue()


def photo(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), gps: bool = True, orientation: int = 6
) -> bytes:
    """A photo like a phone's: EXIF with GPS position, orientation, camera and XMP."""
    image = Image.new("RGB", size)
    image.putdata([((x * 7) % 256, (y * 5) % 256, (x + y) % 256) for y in range(size[1])
                   for x in range(size[0])])  # fmt: skip
    exif = image.getexif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.6), 3: "E", 4: (2.0, 17.0, 40.2)}
    buffer = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        options["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">Rue de la Paix</x:xmpmeta>'
        options["quality"] = 90
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gif() -> bytes:
    frames = [
        Image.new("RGB", (16, 16), color) for color in ((200, 0, 0), (0, 200, 0), (0, 0, 200))
    ]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], loop=0, comment=b"made here"
    )
    return buffer.getvalue()


GENUINE: dict[str, Callable[[], bytes]] = {
    "compte-rendu.docx": docx,
    "devis.xlsx": xlsx,
    "support.pptx": pptx,
    "réunion.odt": odt,
    "chiffrage.ods": ods,
    "devis.pdf": pdf,
    "photo.jpg": photo,
    "plan.png": lambda: photo("PNG"),
    "logo.gif": gif,
}


# --- raw zips, to lie in their headers ------------------------------------------------------


@dataclass
class Entry:
    """One zip entry, written as given (sizes, CRC, flags and method may lie)."""

    name: str
    data: bytes
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0
    crc: int | None = None
    declared_size: int | None = None
    raw: bytes | None = None  # compressed bytes as stored (default: data compressed)

    def stored(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.method == zipfile.ZIP_DEFLATED:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            return packer.compress(self.data) + packer.flush()
        return self.data


def raw_zip(entries: list[Entry]) -> bytes:
    """A zip file written by hand, so that each header says what the test wants."""
    out = bytearray()
    central = bytearray()
    for entry in entries:
        body = entry.stored()
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.declared_size is None else entry.declared_size
        name = entry.name.encode()
        offset = len(out)
        out += struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, entry.flags, entry.method, 0, 0x21,
            crc, len(body), size, len(name), 0,
        ) + name + body  # fmt: skip
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, entry.flags, entry.method, 0, 0x21,
            crc, len(body), size, len(name), 0, 0, 0, 0, 0, offset,
        ) + name  # fmt: skip
    start = len(out)
    out += central
    out += struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), start, 0
    )
    return bytes(out)


def entries_of(package: bytes) -> list[Entry]:
    """The entries of a genuine package, to rewrite with a change."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return [
            Entry(info.filename, archive.read(info), info.compress_type)
            for info in archive.infolist()
        ]


def rezip(package: bytes, change: Callable[[list[Entry]], list[Entry]]) -> bytes:
    return raw_zip(change(entries_of(package)))


def _replace(entries: list[Entry], name: str, **changes: object) -> list[Entry]:
    for entry in entries:
        if entry.name == name:
            for key, value in changes.items():
                setattr(entry, key, value)
            return entries
    raise AssertionError(f"no entry {name}")


def zeros_deflated(size: int) -> bytes:
    """``size`` zero bytes, deflated, without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MIB)
    out = bytearray()
    for _ in range(size // MIB):
        out += packer.compress(block)
    return bytes(out + packer.flush())


def _lying_bomb(entries: list[Entry]) -> list[Entry]:
    # The entry declares 1,024 bytes (and the CRC of 1,024 zeros) but inflates to 300 MiB.
    return _replace(
        entries,
        "word/document.xml",
        raw=zeros_deflated(300 * MIB),
        data=bytes(1024),
        declared_size=1024,
    )


def _nested_bomb(entries: list[Entry]) -> list[Entry]:
    inner = raw_zip([Entry("zeros.bin", b"", raw=zeros_deflated(300 * MIB), crc=0,
                           declared_size=300 * MIB)])  # fmt: skip
    return [*entries, Entry("word/embeddings/package.zip", inner, zipfile.ZIP_STORED)]


def _renamed_vba(entries: list[Entry]) -> list[Entry]:
    return [*entries, Entry("xl/a.bin", OLE2 + bytes(504) + b"Attribute VB_Name")]


def _padded_macro_type(entries: list[Entry]) -> list[Entry]:
    for entry in entries:
        if entry.name == "[Content_Types].xml":
            text = entry.data.decode()
            padding = "<!--" + " " * (70 * 1024) + "-->"
            override = (
                '<Override PartName="/xl/media/a.dat" '
                'ContentType="application/vnd.ms-office.vbaProject"/>'
            )
            entry.data = text.replace("</Types>", padding + override + "</Types>").encode()
    return entries


def _activex(entries: list[Entry]) -> list[Entry]:
    return [*entries, Entry("word/activeX/activeX1.xml", b"<ax:ocx/>")]


def _odf_basic(entries: list[Entry]) -> list[Entry]:
    return [*entries, Entry("Basic/Standard/Module1.xml", b"<script:module/>")]


def _bad_crc(name: str) -> Callable[[list[Entry]], list[Entry]]:
    def change(entries: list[Entry]) -> list[Entry]:
        for entry in entries:
            if entry.name == name:
                entry.crc = zlib.crc32(entry.data) ^ 0xFFFF
        return entries

    return change


def _flag(name: str, **changes: object) -> Callable[[list[Entry]], list[Entry]]:
    return lambda entries: _replace(entries, name, **changes)


def _corrupt_deflate(entries: list[Entry]) -> list[Entry]:
    entry = next(e for e in entries if e.name == "word/document.xml")
    entry.method = zipfile.ZIP_DEFLATED
    entry.raw = b"\xff\xff\xff" + entry.stored()[3:]
    return entries


def _shifted_directory(package: bytes) -> bytes:
    """The end record claims the central directory starts 100 bytes later than it does."""
    at = package.rindex(b"PK\x05\x06")
    offset = int.from_bytes(package[at + 16 : at + 20], "little")
    return package[: at + 16] + (offset + 100).to_bytes(4, "little") + package[at + 20 :]


def _named(name: str) -> Callable[[list[Entry]], list[Entry]]:
    return lambda entries: [*entries, Entry(name, b"x")]


def _pdf_with(change: Callable[[object], None]) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf())))
    change(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _pdf_open_action_js() -> bytes:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    def change(writer: object) -> None:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('bonjour')"),
            }
        )
        writer._root_object[NameObject("/OpenAction")] = action  # type: ignore[attr-defined]

    return _pdf_with(change)


def _pdf_launch_on_page() -> bytes:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    def change(writer: object) -> None:
        launch = DictionaryObject(
            {
                NameObject("/S"): NameObject("/Launch"),
                NameObject("/F"): TextStringObject("calc.exe"),
            }
        )
        page = writer.pages[0]  # type: ignore[attr-defined]
        page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): launch})

    return _pdf_with(change)


def _pdf_document_js() -> bytes:
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    def change(writer: object) -> None:
        script = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert(1);"),
            }
        )
        tree = DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("a"), script])}
        )
        names = DictionaryObject({NameObject("/JavaScript"): tree})
        writer._root_object[NameObject("/Names")] = names  # type: ignore[attr-defined]

    return _pdf_with(change)


def _pdf_embedded_file() -> bytes:
    return _pdf_with(
        lambda writer: writer.add_attachment("facture.exe", b"MZ fake")  # type: ignore[attr-defined]
    )


def _pdf_xfa() -> bytes:
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject

    def change(writer: object) -> None:
        writer._root_object[NameObject("/AcroForm")] = DictionaryObject(  # type: ignore[attr-defined]
            {NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): ArrayObject()}
        )

    return _pdf_with(change)


def _pdf_rich_media() -> bytes:
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject

    def change(writer: object) -> None:
        annotation = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Annot"),
                NameObject("/Subtype"): NameObject("/RichMedia"),
            }
        )
        page = writer.pages[0]  # type: ignore[attr-defined]
        page[NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])  # type: ignore[attr-defined]

    return _pdf_with(change)


def _zip_payload() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


def _jpeg_then_zip() -> bytes:
    return photo() + _zip_payload()


def _png_then_html() -> bytes:
    return photo("PNG") + b"<html><script>alert(1)</script></html>"


def _gif_then_data() -> bytes:
    return gif() + b"PK\x03\x04 hidden"


def _pixel_bomb() -> bytes:
    # A PNG declaring 30,000 × 30,000 pixels in a few hundred bytes.
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    packer = zlib.compressobj(9)
    raw = packer.compress(bytes(30_001)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Case:
    """A hostile file and the rule that must refuse it."""

    name: str
    make: Callable[[], bytes]
    rule: str
    slow: bool = False


_DOC = "word/document.xml"
_BROKEN = "archive_integrity"
HOSTILE: list[Case] = [
    Case("only-magic.pdf", lambda: b"%PDF-", "pdf_structure"),
    Case("cut.pdf", lambda: pdf()[:-400], "pdf_structure"),
    Case("then-zip.pdf", lambda: pdf() + _zip_payload(), "pdf_structure"),
    Case("open-action.pdf", _pdf_open_action_js, "pdf_active_content"),
    Case("document-js.pdf", _pdf_document_js, "pdf_active_content"),
    Case("launch.pdf", _pdf_launch_on_page, "pdf_active_content"),
    Case("embedded.pdf", _pdf_embedded_file, "pdf_active_content"),
    Case("xfa.pdf", _pdf_xfa, "pdf_active_content"),
    Case("rich-media.pdf", _pdf_rich_media, "pdf_active_content"),
    Case("polyglot.jpg", _jpeg_then_zip, "image_polyglot"),
    Case("polyglot.png", _png_then_html, "image_polyglot"),
    Case("polyglot.gif", _gif_then_data, "image_polyglot"),
    Case("cut.jpg", lambda: photo()[:-200], "image_integrity"),
    Case("bomb.png", _pixel_bomb, "image_integrity"),
    Case("lying-size.docx", lambda: rezip(docx(), _lying_bomb), "archive_bomb", slow=True),
    Case("nested.docx", lambda: rezip(docx(), _nested_bomb), "archive_nested", slow=True),
    Case("renamed-vba.xlsx", lambda: rezip(xlsx(), _renamed_vba), "macros"),
    Case("padded-type.xlsx", lambda: rezip(xlsx(), _padded_macro_type), "macros"),
    Case("activex.docx", lambda: rezip(docx(), _activex), "macros"),
    Case("basic.odt", lambda: rezip(odt(), _odf_basic), "macros"),
    Case("bad-crc.docx", lambda: rezip(docx(), _bad_crc("[Content_Types].xml")), _BROKEN),
    Case("bad-mimetype.odt", lambda: rezip(odt(), _bad_crc("mimetype")), _BROKEN),
    Case("encrypted.docx", lambda: rezip(docx(), _flag(_DOC, flags=1)), _BROKEN),
    Case("method-99.docx", lambda: rezip(docx(), _flag(_DOC, method=99)), _BROKEN),
    Case("method-12.docx", lambda: rezip(docx(), _flag(_DOC, method=12)), _BROKEN),
    Case("deflate.docx", lambda: rezip(docx(), _corrupt_deflate), _BROKEN),
    Case("traversal.docx", lambda: rezip(docx(), _named("../../etc/cron.d/x")), "archive_names"),
    Case("absolute.docx", lambda: rezip(docx(), _named("/etc/passwd")), "archive_names"),
    Case("duplicate.docx", lambda: rezip(docx(), _named("word/document.xml")), "archive_names"),
    Case("shifted-directory.odt", lambda: _shifted_directory(odt()), _BROKEN),
]  # fmt: skip

EICAR_TXT = b"Bonjour,\n" + EICAR + b"\n"
