"""What a file really is: libmagic on its first bytes, then a look inside zip containers.

Office Open XML (docx, xlsx, pptx) and OpenDocument (odt, ods, odp) files are zip archives;
libmagic alone may only say "zip", so their central directory is read (never extracted) to
tell them apart, to bound their declared uncompressed size and entry count (decompression
bombs), and to find macros.
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import magic

from grc_core.errors import AttachmentRefused

#: How many leading bytes libmagic sees; Office formats need at least 4096.
SNIFF_BYTES = 8192
_MEMBER_READ_LIMIT = 64 * 1024

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
}


@dataclass(frozen=True)
class ContainerLimits:
    """Bounds on what a zip-based document may declare."""

    max_entries: int
    max_uncompressed: int
    allow_macros: bool


def check_content(file: BinaryIO, head: bytes, extension: str, limits: ContainerLimits) -> str:
    """Check that the spooled, seekable ``file`` is what ``extension`` says; return its MIME.

    :raises AttachmentRefused: the content does not match, is a bomb, or carries macros that
        the policy refuses.
    """
    file_type = FILE_TYPES.get(extension)
    if file_type is None:
        raise AttachmentRefused(f"GRC cannot verify .{extension} files", field="filename")
    sniffed = sniff_mime(head)
    if sniffed not in file_type.sniffed:
        raise AttachmentRefused(
            f"the content is {sniffed}, not what .{extension} promises ({file_type.mime})",
            field="content",
        )
    if file_type.container is not None:
        _check_container(file, extension, file_type, limits)
    return file_type.mime


def _check_container(
    file: BinaryIO, extension: str, ftype: FileType, limits: ContainerLimits
) -> None:
    try:
        file.seek(0)
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AttachmentRefused(
            f"the .{extension} file is not a readable zip container ({exc})", field="content"
        ) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_entries:
            raise AttachmentRefused(
                f"the .{extension} file holds {len(entries)} entries; at most "
                f"{limits.max_entries} are accepted (possible decompression bomb)",
                field="content",
            )
        declared = sum(e.file_size for e in entries)
        if declared > limits.max_uncompressed:
            raise AttachmentRefused(
                f"the .{extension} file would expand to {declared:,} bytes; at most "
                f"{limits.max_uncompressed:,} are accepted (possible decompression bomb)",
                field="content",
            )
        names = {e.filename for e in entries}
        if ftype.container == "ooxml":
            if "[Content_Types].xml" not in names or ftype.main_part not in names:
                raise AttachmentRefused(
                    f"the content is not a .{extension} document (no {ftype.main_part})",
                    field="content",
                )
            content_types = _read_member(archive, "[Content_Types].xml")
            has_macros = any(n.lower().endswith("vbaproject.bin") for n in names) or (
                b"macroEnabled" in content_types
            )
        else:
            if "mimetype" not in names or _read_member(archive, "mimetype").strip() != (
                (ftype.odf_mimetype or "").encode()
            ):
                raise AttachmentRefused(
                    f"the content is not a .{extension} document (wrong ODF mimetype)",
                    field="content",
                )
            has_macros = any(n.startswith(("Basic/", "Scripts/")) for n in names)
        if has_macros and not ftype.macros:
            raise AttachmentRefused(
                f"the .{extension} file contains macros, which its extension does not announce",
                field="content",
            )
        if has_macros and not limits.allow_macros:
            raise AttachmentRefused(
                "macro-enabled documents are refused; an administrator can allow them",
                field="content",
            )


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    # Bounded read: a member's declared size can lie, its real content is never trusted.
    with archive.open(name) as fh:
        return fh.read(_MEMBER_READ_LIMIT)
