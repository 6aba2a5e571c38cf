"""Zip packages (Office Open XML, OpenDocument) inspected by inflating every entry.

The sizes a zip declares are never trusted: each entry's compressed bytes are located from
its local header, inflated as a stream (64 KiB at a time, so memory stays flat whatever the
file's size) and counted against a budget — absolute, over the whole package, and as a ratio
for each large entry.  What the inflated bytes turn out to be is checked as they go by:

- an OLE2 compound file (``D0 CF 11 E0 A1 B1 1A E1``: VBA projects, embedded OLE objects,
  ActiveX binaries) under whatever name it hides;
- a nested archive (zip, gzip, 7z, rar, xz, bzip2, cab), refused unless the policy allows
  them, in which case it is spooled to an anonymous temporary file and inspected the same
  way with the same budget;
- the declared size and CRC-32, which must match what was inflated.

A damaged package never raises anything but :class:`~grc_core.errors.AttachmentRefused`
naming its rule: encrypted entries, compression methods other than stored and deflate, CRC
errors, corrupt deflate data, local headers that disagree with the central directory,
entries overlapping each other.
"""

from __future__ import annotations

import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from grc_core.errors import AttachmentRefused
from grc_core.files.rules import refusal

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Leading bytes of archive formats that must not hide inside a document.
ARCHIVE_MAGICS = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"MSCF", "cab"),
)
_READ = 64 * 1024
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
#: A large entry may inflate at most ``max_ratio`` times its compressed size; small ones are
#: exempt (a few KiB of repetitive XML legitimately compresses very well).
RATIO_FLOOR = 1024 * 1024
#: Entries kept in memory for the format checks, and how large they may be.
KEPT_LIMIT = 8 * 1024 * 1024
_MAX_DEPTH = 2
_DRIVE = re.compile(r"^[A-Za-z]:")
#: What zipfile raises on a damaged central directory.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """The budgets and permissions of the policy that apply to packages."""

    max_entries: int
    max_uncompressed: int
    max_ratio: int
    allow_nested: bool


@dataclass
class Inspection:
    """What inflating a package found.

    :param names: entry names, in central-directory order.
    :param kept: the inflated content of the entries asked for (format checks).
    :param ole: entries that are OLE2 compound files (a nested archive's are prefixed).
    :param inflated: bytes inflated in all.
    """

    names: list[str] = field(default_factory=list)
    kept: dict[str, bytes] = field(default_factory=dict)
    ole: list[str] = field(default_factory=list)
    inflated: int = 0


def inspect_package(
    file: BinaryIO, size: int, limits: ArchiveLimits, keep: frozenset[str] = frozenset()
) -> Inspection:
    """Inflate every entry of the zip ``file`` (seekable, ``size`` bytes) within the budgets.

    :param keep: names of entries whose inflated content is returned (capped).
    :raises AttachmentRefused: rules archive_bomb, archive_integrity, archive_names or
        archive_nested.
    """
    result = Inspection()
    _inspect(file, size, limits, keep, result, prefix="", depth=0)
    return result


def _inspect(
    file: BinaryIO,
    size: int,
    limits: ArchiveLimits,
    keep: frozenset[str],
    result: Inspection,
    *,
    prefix: str,
    depth: int,
) -> None:
    where = f" (in {prefix.rstrip('/')})" if prefix else ""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            directory_start = getattr(archive, "start_dir", size)
    except AttachmentRefused:
        raise
    except _ZIP_ERRORS as exc:
        raise refusal(
            "archive_integrity", f"the package is not a readable zip{where} ({exc})"
        ) from None
    if len(infos) > limits.max_entries:
        raise refusal(
            "archive_bomb",
            f"the package holds {len(infos):,} entries{where}; at most "
            f"{limits.max_entries:,} are accepted",
        )
    _check_names(infos, where)
    result.names.extend(prefix + info.orig_filename for info in infos)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    bounds = [i.header_offset for i in ordered[1:]] + [directory_start]
    for info, bound in zip(ordered, bounds, strict=True):
        _inflate_entry(file, size, info, bound, limits, keep, result, prefix, depth, where)


def _check_names(infos: list[zipfile.ZipInfo], where: str) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.orig_filename
        why = None
        if not name or "\x00" in name:
            why = "an empty name or a NUL byte"
        elif name.startswith(("/", "\\")) or _DRIVE.match(name):
            why = "an absolute path"
        elif "\\" in name:
            why = "a backslash"
        elif ".." in name.split("/"):
            why = "'..' (path traversal)"
        elif name.casefold() in seen:
            why = "a duplicate (another entry has the same name)"
        if why:
            raise refusal("archive_names", f"the entry {name!r}{where} has {why}")
        seen.add(name.casefold())


def _inflate_entry(
    file: BinaryIO,
    size: int,
    info: zipfile.ZipInfo,
    bound: int,
    limits: ArchiveLimits,
    keep: frozenset[str],
    result: Inspection,
    prefix: str,
    depth: int,
    where: str,
) -> None:
    name = info.orig_filename
    label = f"{prefix}{name}"

    def damaged(why: str) -> AttachmentRefused:
        return refusal("archive_integrity", f"the entry {label!r} {why}")

    if info.flag_bits & 0x41 or info.compress_type == 99:
        raise damaged("is encrypted; encrypted documents cannot be inspected")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise damaged(
            f"uses compression method {info.compress_type}; only stored and deflate are read"
        )
    # zipfile shifts every offset by where the end record says the directory starts: a
    # lying end record puts entries before the file's start or past its end.
    if not 0 <= info.header_offset < size:
        raise damaged("is placed outside the file by the central directory")
    file.seek(info.header_offset)
    header = file.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise damaged("has no local header")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != b"PK\x03\x04":
        raise damaged("has no local header where the central directory points")
    name_length, extra_length = fields[9], fields[10]
    local_name = file.read(name_length)
    encoding = "utf-8" if fields[2] & 0x800 else "cp437"
    if local_name.decode(encoding, errors="replace") != name:
        raise damaged("has a local name that differs from the central directory's")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    end = start + info.compress_size
    if end > bound or end > size:
        raise damaged("overlaps the next entry or runs past the end of the file")

    sink = _EntrySink(label, info, limits, keep, result, depth)
    file.seek(start)
    remaining = info.compress_size
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    try:
        while remaining:
            piece = file.read(min(_READ, remaining))
            if not piece:
                raise damaged("is cut short")
            remaining -= len(piece)
            if inflater is None:
                sink.write(piece)
                continue
            data = inflater.decompress(piece, _READ)
            sink.write(data)
            while inflater.unconsumed_tail:
                sink.write(inflater.decompress(inflater.unconsumed_tail, _READ))
        if inflater is not None:
            sink.write(inflater.flush())
            if not inflater.eof:
                raise damaged("has deflate data that ends before its stream does")
            if inflater.unused_data:
                raise damaged("has bytes after its deflate stream (a lying compressed size)")
    except zlib.error as exc:
        sink.discard()
        raise damaged(f"has corrupt deflate data ({exc})") from None
    except BaseException:
        sink.discard()
        raise
    sink.finish(damaged, file, size, limits, keep, prefix)


class _EntrySink:
    """Receives an entry's inflated bytes: budgets, CRC, magic numbers, kept content."""

    def __init__(
        self,
        label: str,
        info: zipfile.ZipInfo,
        limits: ArchiveLimits,
        keep: frozenset[str],
        result: Inspection,
        depth: int,
    ) -> None:
        self.label = label
        self.info = info
        self.limits = limits
        self.result = result
        self.depth = depth
        self.count = 0
        self.crc = 0
        self.head = b""
        self.kept: bytearray | None = bytearray() if label in keep else None
        self.nested: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.count += len(data)
        self.result.inflated += len(data)
        if self.result.inflated > self.limits.max_uncompressed:
            raise refusal(
                "archive_bomb",
                f"the package inflates past {self.limits.max_uncompressed:,} bytes "
                f"(at the entry {self.label!r}, whatever its headers declare)",
            )
        ratio_base = max(self.info.compress_size, 1)
        if self.count > RATIO_FLOOR and self.count > self.limits.max_ratio * ratio_base:
            raise refusal(
                "archive_bomb",
                f"the entry {self.label!r} inflates more than {self.limits.max_ratio} times "
                f"its compressed size ({ratio_base:,} bytes)",
            )
        self.crc = zlib.crc32(data, self.crc)
        if len(self.head) < 8:
            before = self.head  # every byte written so far (fewer than 8)
            self.head += data[: 8 - len(self.head)]
            if len(self.head) >= 8:
                self._classify(before)
        if self.kept is not None:
            if len(self.kept) + len(data) > KEPT_LIMIT:
                raise refusal(
                    "archive_bomb", f"the entry {self.label!r} is larger than {KEPT_LIMIT:,} bytes"
                )
            self.kept += data
        if self.nested is not None:
            self.nested.write(data)

    def _classify(self, before: bytes) -> None:
        """Look at the entry's first bytes once; ``before``: bytes already written."""
        if self.head == OLE2_MAGIC:
            self.result.ole.append(self.label)
            return
        for magic, kind in ARCHIVE_MAGICS:
            if len(self.head) >= len(magic) and self.head.startswith(magic):
                if not self.limits.allow_nested:
                    raise refusal(
                        "archive_nested",
                        f"the entry {self.label!r} is a {kind} archive; archives inside "
                        "documents and archives are refused unless the policy allows them",
                    )
                if kind != "zip" or self.depth + 1 >= _MAX_DEPTH:
                    raise refusal(
                        "archive_nested",
                        f"the entry {self.label!r} is a {kind} archive that cannot be "
                        "inspected (only zip, one level deep)",
                    )
                self.nested = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish
                self.nested.write(before)
                return

    def discard(self) -> None:
        if self.nested is not None:
            self.nested.close()
            self.nested = None

    def finish(
        self,
        damaged: Callable[[str], AttachmentRefused],
        file: BinaryIO,
        size: int,
        limits: ArchiveLimits,
        keep: frozenset[str],
        prefix: str,
    ) -> None:
        try:
            if 0 < self.count < 8:
                self._classify(self.head)
            if self.count != self.info.file_size:
                raise damaged(
                    f"declares {self.info.file_size:,} bytes but inflates to {self.count:,}"
                )
            if self.crc != self.info.CRC:
                raise damaged("fails its CRC-32 check")
            if self.kept is not None:
                self.result.kept[self.label] = bytes(self.kept)
            if self.nested is not None:
                self.nested.flush()
                _inspect(
                    self.nested,
                    self.count,
                    limits,
                    frozenset(),
                    self.result,
                    prefix=f"{self.label}/",
                    depth=self.depth + 1,
                )
        finally:
            self.discard()
