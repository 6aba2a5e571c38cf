"""The value types of the rule language and the helpers both evaluators share.

Everything that decides *what a comparison means* lives here once, so that the Python
evaluator and the SQL compiler cannot drift apart: the ASCII case folding of ``contains``,
the limits on numbers and durations, and how a value is shown in an explanation.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


class Type(enum.StrEnum):
    """The type of a field or of a constant."""

    TEXT = "text"  # free text: every comparison, ``contains``
    CODE = "code"  # a picklist, status, category or choice code, or a user login
    NUMBER = "number"  # integers and decimals alike (compared exactly, as Decimal)
    DATE = "date"
    DATETIME = "date-time"
    BOOLEAN = "boolean"
    DURATION = "duration"  # only as the right-hand side of ``+`` and ``-``


#: How a type is named in messages ("cannot compare exchange.subject (text) with a number").
ARTICLE: dict[Type, str] = {
    Type.TEXT: "a text",
    Type.CODE: "a code",
    Type.NUMBER: "a number",
    Type.DATE: "a date",
    Type.DATETIME: "a date-time",
    Type.BOOLEAN: "a boolean",
    Type.DURATION: "a duration",
}

#: Numbers carry at most this many significant digits.  SQLite compares decimals as binary
#: floating point, which is exact for 15 significant digits and not beyond; the limit keeps
#: the Python and SQL answers identical.
MAX_DIGITS = 15

#: The longest duration a condition may add or subtract (about a century): enough for any
#: business rule, and far from the calendar's ends (no overflow when added to now()).
MAX_DURATION = timedelta(days=36_600)

#: Seconds in each duration unit.  No months or years: they have no fixed length.
DURATION_UNITS: dict[str, int] = {"w": 7 * 86_400, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case the ASCII letters A-Z only.

    This is what SQLite's built-in ``lower()`` does; PostgreSQL's ``lower()`` folds every
    Unicode letter, so the SQL side uses ``translate()`` there (see
    :mod:`grc_core.rules.sql`).  ``É`` therefore matches only ``É``, on both databases.
    """
    return text.translate(_ASCII_LOWER)


def midnight(day: date) -> datetime:
    """The first instant of ``day`` in UTC: how a date compares with a date-time."""
    return datetime.combine(day, time(0), UTC)


def parse_duration(text: str) -> timedelta:
    """``"2d"``, ``"1w3d"``, ``"90m"``… as a :class:`timedelta` (the lexer checked the form).

    :raises OverflowError: the duration does not fit a :class:`timedelta` (or its digits do
        not fit Python's ``int()``), e.g. ``99999999999d``.
    """
    seconds = 0
    number = ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            if len(number) > _MAX_DURATION_DIGITS:
                raise OverflowError(f"{text} is too long a duration")
            seconds += int(number) * DURATION_UNITS[char]
            number = ""
    return timedelta(seconds=seconds)


#: More digits than any duration a :class:`timedelta` holds (999,999,999 days in seconds).
_MAX_DURATION_DIGITS = 20


def format_duration(delta: timedelta) -> str:
    """A duration in the language's own notation (``2d3h``; ``-1h`` when negative)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in DURATION_UNITS.items():
        if unit == "w":
            continue  # weeks are written as days: "14d" reads better than "2w"
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def significant_digits(number: Decimal) -> int:
    """How many significant digits ``number`` has (trailing zeros of the fraction aside)."""
    if number.is_zero():
        return 1
    digits = number.normalize().as_tuple().digits
    return len(digits)


def show(value: Any) -> str:
    """A value as an explanation shows it: strings quoted, date-times in ISO form."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple | list):
        present = [v for v in value if v is not None]
        return "[" + ", ".join(show(v) for v in present) + "]" if present else "empty"
    return repr(value)
