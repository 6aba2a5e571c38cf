"""Images: decoded whole with Pillow, walked to their end marker, optionally stripped.

Three checks, and one transformation:

- **image_integrity** — Pillow decodes every pixel (a JPEG at 1/8 scale, which still reads
  every entropy-coded byte, so memory stays small); a truncated or corrupt image is refused,
  and so is one with more pixels than the policy allows (decompression bombs), checked
  from the header before anything is decoded.
- **image_polyglot** — the file's structure is walked segment by segment (JPEG markers, PNG
  chunks, GIF blocks) to the image's end (EOI, IEND, trailer); any byte after it is refused,
  since that is where a ZIP, a script or an HTML page hides in a "polyglot" that is also a
  valid image.  The one exception is the Multi-Picture Format of phone cameras: further
  complete JPEG images after the first, each walked the same way.
- **image_metadata** — when stripping is asked for, the same walk writes a copy without the
  segments that carry EXIF (GPS position, camera serial), XMP, IPTC and comments.  Nothing
  is decoded and re-encoded: the pixels are the original bytes, so the copy is lossless.  A
  JPEG's EXIF orientation is kept (as a minimal EXIF block holding only it) so that photos
  still show the right way up; colour profiles are kept.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from grc_core.errors import AttachmentRefused
from grc_core.files.rules import refusal

_BLOCK = 1024 * 1024
#: JPEG application segments kept when stripping: JFIF, ICC profile (APP2 "ICC_PROFILE"),
#: Adobe (APP14, needed to read CMYK colours).
_JPEG_KEEP_APP = {0xE0, 0xEE}
_PNG_METADATA = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_GIF_KEEP_APPS = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}


class _Reader:
    """Sequential reads over the spooled file, with a position (no whole-file buffer)."""

    def __init__(self, file: BinaryIO, size: int, out: BinaryIO | None) -> None:
        self.file = file
        self.size = size
        self.out = out
        file.seek(0)
        self.pos = 0

    def read(self, n: int, *, copy: bool = True) -> bytes:
        data = self.file.read(n)
        if len(data) != n:
            raise _Truncated
        self.pos += n
        if copy and self.out is not None:
            self.out.write(data)
        return data

    def skip(self, n: int, *, copy: bool) -> None:
        if self.pos + n > self.size:
            raise _Truncated
        if copy and self.out is not None:
            while n:
                self.read(min(n, _BLOCK))
                n -= min(n, _BLOCK)
            return
        self.file.seek(n, 1)
        self.pos += n

    def write(self, data: bytes) -> None:
        if self.out is not None:
            self.out.write(data)


class _Truncated(Exception):
    pass


def _polyglot(kind: str, end: int, size: int) -> AttachmentRefused:
    return refusal(
        "image_polyglot",
        f"{size - end:,} bytes follow the end of the {kind} image (at byte {end:,}); data "
        "after an image is how polyglot files hide another format",
    )


def check_image(
    file: BinaryIO,
    size: int,
    kind: str,
    *,
    max_pixels: int,
    strip_to: BinaryIO | None = None,
) -> None:
    """Check the image in ``file`` (``kind``: jpeg, png or gif); strip it into ``strip_to``.

    :raises AttachmentRefused: rules image_integrity or image_polyglot.
    """
    _decode(file, kind, max_pixels)
    orientation = _orientation(file) if (strip_to is not None and kind == "jpeg") else 1
    walk: Callable[[_Reader, int], int] = {"jpeg": _walk_jpeg, "png": _walk_png, "gif": _walk_gif}[
        kind
    ]
    reader = _Reader(file, size, strip_to)
    try:
        end = walk(reader, orientation)
        if kind == "jpeg":
            # Multi-Picture Format: phones store further complete JPEGs after the first.
            # They are walked (never copied: the stripped photo keeps the main image only).
            reader.out = None
            while end < size:
                if file.read(2) != b"\xff\xd8":
                    break
                file.seek(end)
                reader.pos = end
                end = _walk_jpeg(reader, 1)
    except _Truncated:
        raise refusal("image_integrity", f"the {kind} image is cut short") from None
    except ValueError as exc:
        raise refusal("image_integrity", f"the {kind} image is damaged ({exc})") from None
    if end < size:
        raise _polyglot(kind, end, size)


def _decode(file: BinaryIO, kind: str, max_pixels: int) -> None:
    from PIL import Image

    file.seek(0)
    try:
        with Image.open(file, formats=[kind.upper()]) as image:
            width, height = image.size
            frames = getattr(image, "n_frames", 1)
            if width * height * frames > max_pixels:
                raise refusal(
                    "image_integrity",
                    f"the image has {width}×{height} pixels"
                    f"{f' in {frames} frames' if frames > 1 else ''}; at most "
                    f"{max_pixels:,} are accepted (possible decompression bomb)",
                )
            if kind == "jpeg":
                # 1/8 scale: the whole entropy-coded data is still read and decoded.
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            for frame in range(frames):
                image.seek(frame)
                image.load()
    except AttachmentRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise refusal("image_integrity", f"the image is a decompression bomb ({exc})") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError… on bad data
        raise refusal(
            "image_integrity", f"the {kind} image does not decode ({exc or type(exc).__name__})"
        ) from None


def _orientation(file: BinaryIO) -> int:
    from PIL import Image

    file.seek(0)
    try:
        with Image.open(file) as image:
            value = image.getexif().get(0x0112, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _minimal_exif(orientation: int) -> bytes:
    """An APP1 segment holding only the orientation (big-endian TIFF, one IFD entry)."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00\x00\x00\x00"
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


# --- JPEG -----------------------------------------------------------------------------------


def _walk_jpeg(reader: _Reader, orientation: int) -> int:
    """Walk a JPEG from SOI to EOI; return the offset after EOI."""
    if reader.read(2) != b"\xff\xd8":
        raise ValueError("no start-of-image marker")
    wrote_orientation = orientation == 1
    while True:
        marker = _next_marker(reader)
        if marker == 0xD9:  # EOI
            reader.write(b"\xff\xd9")
            return reader.pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            reader.write(bytes((0xFF, marker)))
            continue
        length_bytes = reader.read(2, copy=False)
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            raise ValueError(f"segment {marker:#04x} has length {length}")
        keep = _keep_jpeg_segment(reader, marker, length)
        if not wrote_orientation and (marker >= 0xC0 and marker not in _APPS):
            # The first non-APP segment: the place for the orientation (after JFIF/ICC).
            reader.write(_minimal_exif(orientation))
            wrote_orientation = True
        if keep:
            reader.write(bytes((0xFF, marker)) + length_bytes)
        reader.skip(length - 2, copy=keep)
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next marker
            _copy_scan(reader)


_APPS = set(range(0xE0, 0xF0)) | {0xFE}


def _keep_jpeg_segment(reader: _Reader, marker: int, length: int) -> bool:
    if marker not in _APPS:
        return True
    if marker in _JPEG_KEEP_APP:
        return True
    if marker == 0xE2:  # APP2: keep the ICC profile, drop MPF (it indexes dropped images)
        here = reader.file.tell()
        ident = reader.file.read(min(12, length - 2))
        reader.file.seek(here)
        return ident.startswith(b"ICC_PROFILE")
    return False  # EXIF/XMP (APP1), IPTC (APP13), comments, vendor segments


def _next_marker(reader: _Reader) -> int:
    byte = reader.read(1, copy=False)
    if byte != b"\xff":
        raise ValueError(f"expected a marker at byte {reader.pos - 1:,}")
    while True:
        (marker,) = reader.read(1, copy=False)
        if marker != 0xFF:  # 0xFF fill bytes may pad before a marker
            return marker


def _copy_scan(reader: _Reader) -> None:
    """Pass the entropy-coded data after SOS; stop before the next real marker."""
    file = reader.file
    while True:
        start = reader.pos
        file.seek(start)
        block = file.read(_BLOCK)
        found = -1
        index = block.find(b"\xff")
        while 0 <= index < len(block) - 1:
            following = block[index + 1]
            # FF00 is a stuffed byte, FFD0-FFD7 restart markers, FFFF fill: all scan data.
            if not (following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF):
                found = index
                break
            index = block.find(b"\xff", index + 1)
        if found >= 0:
            reader.write(block[:found])
            reader.pos = start + found
            file.seek(reader.pos)
            return
        if len(block) < _BLOCK:
            raise _Truncated  # the file ends inside the scan: no EOI
        consumed = len(block) - 1 if block.endswith(b"\xff") else len(block)
        reader.write(block[:consumed])
        reader.pos = start + consumed


# --- PNG ------------------------------------------------------------------------------------


def _walk_png(reader: _Reader, _orientation: int) -> int:
    if reader.read(8) != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    while True:
        header = reader.read(8, copy=False)
        length, tag = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            raise ValueError("chunk length out of range")
        keep = tag not in _PNG_METADATA
        if keep:
            reader.write(header)
        reader.skip(length + 4, copy=keep)  # data and CRC (checked by Pillow's decode)
        if tag == b"IEND":
            return reader.pos


# --- GIF ------------------------------------------------------------------------------------


def _walk_gif(reader: _Reader, _orientation: int) -> int:
    header = reader.read(13)
    if header[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError("no GIF signature")
    if header[10] & 0x80:
        reader.skip(3 * (2 ** ((header[10] & 0x07) + 1)), copy=True)
    while True:
        (introducer,) = reader.read(1, copy=False)
        if introducer == 0x3B:  # trailer
            reader.write(b"\x3b")
            return reader.pos
        if introducer == 0x2C:  # image descriptor
            descriptor = reader.read(9, copy=False)
            reader.write(b"\x2c" + descriptor)
            if descriptor[8] & 0x80:
                reader.skip(3 * (2 ** ((descriptor[8] & 0x07) + 1)), copy=True)
            reader.read(1)  # LZW minimum code size
            _sub_blocks(reader, copy=True)
        elif introducer == 0x21:  # extension
            (label,) = reader.read(1, copy=False)
            keep = True
            first = b""
            if label == 0xFE:  # comment
                keep = False
            elif label == 0xFF:  # application: keep looping animations, drop XMP and others
                (size,) = reader.read(1, copy=False)
                first = bytes((size,)) + reader.read(size, copy=False)
                keep = first[1:12] in _GIF_KEEP_APPS
            if keep:
                reader.write(bytes((0x21, label)) + first)
            _sub_blocks(reader, copy=keep)
        else:
            raise ValueError(f"unknown GIF block {introducer:#04x}")


def _sub_blocks(reader: _Reader, *, copy: bool) -> None:
    while True:
        (size,) = reader.read(1, copy=copy)
        if size == 0:
            return
        reader.skip(size, copy=copy)
