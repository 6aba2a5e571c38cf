"""Ids typed by people or sent by clients: ASCII digits only.

``str.isdigit`` also accepts superscripts and other scripts' digits, which ``int`` refuses,
and ``int`` refuses strings of more than 4,300 digits: checking here keeps both from turning a
typing mistake into a crash.  Whether the number is in range is the services' check (they
answer "out of range" for what no id column can hold).
"""

from __future__ import annotations

#: Longer numbers are not converted at all (Python's own limit is 4,300 digits).
MAX_ID_DIGITS = 4000


def parse_id(text: str) -> int | None:
    """The number ``text`` spells, or ``None`` when it is not a plain ASCII number."""
    if 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
