"""Option types for what people type: sizes (``20MB``) and durations (``1h``).

Sizes use binary units, as the attachment policy and its messages do: ``1KB`` is 1024 bytes,
``1MB`` 1024 KB, ``1GB`` 1024 MB.  Durations are a number and a unit (``s``, ``m``, ``h``,
``d``), or several of them (``1h30m``).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import IO

import click

SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_SIZE = re.compile(r"^\s*(?P<number>\d+(?:[.,]\d+)?)\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(?P<number>\d+(?:\.\d+)?)(?P<unit>[a-z]?)", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"20MB"`` → 20971520; a bare number is bytes.  Raises :class:`ValueError`."""
    match = _SIZE.match(text)
    unit = (match["unit"] if match else "").lower() or "b"
    if match is None or unit not in SIZE_UNITS:
        raise ValueError(f"{text!r} is not a size; write e.g. 512B, 100KB, 20MB or 1.5GB")
    # A comma is the French decimal separator: "1,5MB" is 1.5 MB.
    number = float(match["number"].replace(",", "."))
    if not math.isfinite(number * SIZE_UNITS[unit]):
        raise ValueError(f"{text[:40]!r} is too large a size; write e.g. 20MB or 1.5GB")
    return math.floor(number * SIZE_UNITS[unit])


#: The longest duration accepted: a grace period or an age is subtracted from now, and
#: now minus two thousand years is before the year 1 (a date-time's OverflowError).
LONGEST_DURATION = timedelta(days=100 * 365)


def parse_duration(text: str) -> timedelta:
    """``"1h"``, ``"90s"``, ``"1h30m"``, ``"2d"``; a bare number is seconds; at most
    :data:`LONGEST_DURATION`."""
    try:
        duration = _duration(text)
    except OverflowError:  # beyond timedelta's 999,999,999 days
        duration = None
    if duration is None or duration > LONGEST_DURATION:
        raise ValueError(f"{text[:40]!r} is too long a duration; write e.g. 1h or 2d")
    return duration


def _duration(text: str) -> timedelta:
    compact = text.strip().replace(" ", "")
    if compact and compact.replace(".", "", 1).isdigit():
        return timedelta(seconds=float(compact))
    seconds = 0.0
    position = 0
    for match in _DURATION_PART.finditer(compact):
        unit = match["unit"].lower()
        if match.start() != position or unit not in DURATION_UNITS:
            break
        seconds += float(match["number"]) * DURATION_UNITS[unit]
        position = match.end()
    if not compact or position != len(compact):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 15m, 1h, 2d or 1h30m")
    return timedelta(seconds=seconds)


class SizeType(click.ParamType[int, object]):
    """A size in bytes, typed with a unit: ``B``, ``KB``, ``MB`` or ``GB`` (binary)."""

    name = "size"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class DurationType(click.ParamType[timedelta, object]):
    """A duration typed with a unit: ``s``, ``m``, ``h`` or ``d``."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeType()
DURATION = DurationType()


def read_text(file: IO[str], option: str) -> str:
    """The content of a text file given to ``option`` (``--details-file``…), refused with a
    usage error when it is not UTF-8 text (a PDF given by mistake)."""
    try:
        return file.read()
    except UnicodeDecodeError as exc:
        name = getattr(file, "name", "the file")
        raise click.BadParameter(
            f"{name!r} is not UTF-8 text (byte {exc.start} cannot be read); give a text file",
            param_hint=f"'{option}'",
        ) from None
