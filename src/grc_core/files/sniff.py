"""What a file really is: libmagic on its first bytes, then a check of the whole content.

libmagic's verdict on the first bytes must match the extension (rule ``content_type``);
then each kind is read in full by what understands it: Office Open XML and OpenDocument
packages are inflated entry by entry (:mod:`grc_core.files.archive`) and searched for macros
by content, PDFs are parsed (:mod:`grc_core.files.pdf`), images decoded and walked to their
end (:mod:`grc_core.files.images`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import BinaryIO

import magic

from grc_core.files.archive import ArchiveLimits, inspect_package
from grc_core.files.images import check_image
from grc_core.files.names import PROGRAM_EXTENSIONS
from grc_core.files.pdf import check_pdf
from grc_core.files.rules import refusal

#: How many leading bytes libmagic sees; Office formats need at least 4096.
SNIFF_BYTES = 8192

_local = threading.local()


def _magic() -> magic.Magic:
    # A magic.Magic handle must not be shared between threads.
    handle = getattr(_local, "magic", None)
    if handle is None:
        handle = _local.magic = magic.Magic(mime=True)
    return handle


def sniff_mime(head: bytes) -> str:
    """The MIME type libmagic reads from a file's first bytes."""
    return str(_magic().from_buffer(head))


@dataclass(frozen=True)
class FileType:
    """An accepted extension: the MIME types libmagic may report, and container checks.

    :param container: ``ooxml`` or ``odf`` when the file is a zip to inspect.
    :param main_part: the entry an OOXML package of this kind must hold.
    :param odf_mimetype: the content of an ODF package's ``mimetype`` entry.
    :param macros: True for the macro-enabled kinds (docm, xlsm, pptm).
    """

    mime: str
    sniffed: frozenset[str]
    container: str | None = None
    main_part: str | None = None
    odf_mimetype: str | None = None
    macros: bool = False


def _ooxml(mime: str, main_part: str, plain: str | None = None) -> FileType:
    # libmagic names OOXML packages by their part names only, so a macro-enabled document
    # sniffs as its plain sibling (``plain``); the container check tells them apart.
    sniffed = {mime, plain or mime, "application/zip", "application/octet-stream"}
    return FileType(mime, frozenset(sniffed), "ooxml", main_part, macros=plain is not None)


def _odf(mime: str) -> FileType:
    return FileType(mime, frozenset({mime, "application/zip"}), "odf", odf_mimetype=mime)


_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

#: Every extension GRC can verify.  The policy allows a subset of these.
FILE_TYPES: dict[str, FileType] = {
    "pdf": FileType("application/pdf", frozenset({"application/pdf"})),
    "jpg": FileType("image/jpeg", frozenset({"image/jpeg"})),
    "jpeg": FileType("image/jpeg", frozenset({"image/jpeg"})),
    "png": FileType("image/png", frozenset({"image/png"})),
    "gif": FileType("image/gif", frozenset({"image/gif"})),
    "txt": FileType("text/plain", frozenset({"text/plain"})),
    "csv": FileType("text/csv", frozenset({"text/csv", "text/plain", "application/csv"})),
    "eml": FileType("message/rfc822", frozenset({"message/rfc822", "text/plain"})),
    "docx": _ooxml(_DOCX, "word/document.xml"),
    "xlsx": _ooxml(_XLSX, "xl/workbook.xml"),
    "pptx": _ooxml(_PPTX, "ppt/presentation.xml"),
    "docm": _ooxml("application/vnd.ms-word.document.macroEnabled.12", "word/document.xml", _DOCX),
    "xlsm": _ooxml("application/vnd.ms-excel.sheet.macroEnabled.12", "xl/workbook.xml", _XLSX),
    "pptm": _ooxml(
        "application/vnd.ms-powerpoint.presentation.macroEnabled.12", "ppt/presentation.xml", _PPTX
    ),
    "odt": _odf("application/vnd.oasis.opendocument.text"),
    "ods": _odf("application/vnd.oasis.opendocument.spreadsheet"),
    "odp": _odf("application/vnd.oasis.opendocument.presentation"),
    # Plain zip archives: not in the default list; when an administrator allows them, every
    # entry is inflated and checked like a document's.
    "zip": FileType("application/zip", frozenset({"application/zip"}), "zip"),
}

#: Entry names that are programs or scripts (or macro-enabled documents): refused inside a
#: plain zip archive.
_PROGRAMS = PROGRAM_EXTENSIONS | {"docm", "xlsm", "pptm"}


@dataclass(frozen=True)
class ContentLimits:
    """The policy's settings that the content checks apply."""

    max_entries: int
    max_uncompressed: int
    allow_macros: bool
    max_ratio: int = 100
    allow_nested: bool = False
    allow_active_pdf: bool = False
    max_image_pixels: int = 50_000_000

    @property
    def archive(self) -> ArchiveLimits:
        """The budgets of :func:`~grc_core.files.archive.inspect_package`."""
        return ArchiveLimits(
            self.max_entries, self.max_uncompressed, self.max_ratio, self.allow_nested
        )


#: The former name, kept for callers written against it.
ContainerLimits = ContentLimits

_IMAGE_KINDS = {"image/jpeg": "jpeg", "image/png": "png", "image/gif": "gif"}
#: Content types that mean code or controls inside an OOXML package.
_ACTIVE_CONTENT_TYPES = ("macroenabled", "vbaproject", "vbadata", "activex", "macrosheet")


def check_content(
    file: BinaryIO,
    head: bytes,
    extension: str,
    limits: ContentLimits,
    *,
    size: int | None = None,
    strip_to: BinaryIO | None = None,
) -> str:
    """Check that the spooled, seekable ``file`` is what ``extension`` says; return its MIME.

    PDFs are parsed, images decoded and walked to their end, Office and OpenDocument
    packages inflated entry by entry (see :mod:`grc_core.files.archive`).

    :param size: the file's size (measured from ``file`` when not given).
    :param strip_to: for an image, a file to write a copy without metadata into.
    :raises AttachmentRefused: naming the rule that refused the file.
    """
    file_type = FILE_TYPES.get(extension)
    if file_type is None:
        raise refusal("extension", f"GRC cannot verify .{extension} files", field="filename")
    if size is None:
        size = file.seek(0, 2)
    sniffed = sniff_mime(head)
    if sniffed not in file_type.sniffed:
        raise refusal(
            "content_type",
            f"the content is {sniffed}, not what .{extension} promises ({file_type.mime})",
        )
    if file_type.container is not None:
        _check_package(file, size, extension, file_type, limits)
    elif file_type.mime == "application/pdf":
        check_pdf(file, allow_active=limits.allow_active_pdf)
    elif file_type.mime in _IMAGE_KINDS:
        check_image(
            file,
            size,
            _IMAGE_KINDS[file_type.mime],
            max_pixels=limits.max_image_pixels,
            strip_to=strip_to,
        )
    return file_type.mime


def _check_package(
    file: BinaryIO, size: int, extension: str, ftype: FileType, limits: ContentLimits
) -> None:
    keep = frozenset(
        {"ooxml": {"[Content_Types].xml"}, "odf": {"mimetype"}}.get(ftype.container or "", set())
    )
    found = inspect_package(file, size, limits.archive, keep)
    names = set(found.names)
    signs: list[str] = [f"an OLE2 compound file ({name})" for name in found.ole]
    if ftype.container == "zip":
        for name in found.names:
            if name.rsplit("/", 1)[-1].rpartition(".")[2].lower() in _PROGRAMS:
                raise refusal("archive_names", f"the entry {name!r} is a program or a script")
        if signs and not limits.allow_macros:
            raise refusal(
                "macros",
                f"the archive holds {signs[0]}, which may carry macros; an administrator can "
                "allow them",
            )
        return
    if ftype.container == "ooxml":
        if "[Content_Types].xml" not in names or ftype.main_part not in names:
            raise refusal(
                "content_type", f"the content is not a .{extension} document (no {ftype.main_part})"
            )
        for content_type in _content_types(found.kept.get("[Content_Types].xml", b"")):
            if any(marker in content_type.lower() for marker in _ACTIVE_CONTENT_TYPES):
                signs.append(f"the content type {content_type}")
        signs += [
            f"the part {name}"
            for name in found.names
            if name.lower().endswith("vbaproject.bin") or "activex/" in name.lower()
        ]
    else:
        if found.kept.get("mimetype", b"").strip() != (ftype.odf_mimetype or "").encode():
            raise refusal(
                "content_type", f"the content is not a .{extension} document (wrong ODF mimetype)"
            )
        signs += [f"the folder {n.split('/')[0]}/" for n in found.names if n.startswith(_ODF_CODE)]
    if signs and not ftype.macros:
        raise refusal(
            "macros",
            f"the .{extension} file contains macros or active content ({signs[0]}), which its "
            "extension does not announce",
        )
    if signs and not limits.allow_macros:
        raise refusal(
            "macros",
            f"macro-enabled documents are refused ({signs[0]}); an administrator can allow them",
        )


_ODF_CODE = ("Basic/", "Scripts/")


def _content_types(xml: bytes) -> list[str]:
    """Every content type declared in ``[Content_Types].xml``, parsed in full.

    A document type declaration is refused: OOXML has none, and entities are how XML bombs
    and external references get in.
    """
    from xml.parsers import expat

    found: list[str] = []
    parser = expat.ParserCreate()

    def start(_name: str, attributes: dict[str, str]) -> None:
        if "ContentType" in attributes:
            found.append(attributes["ContentType"])

    def doctype(*_args: object) -> None:
        raise refusal("archive_integrity", "[Content_Types].xml declares a DOCTYPE")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise refusal(
            "archive_integrity", f"[Content_Types].xml is not well-formed XML ({exc})"
        ) from None
    return found
