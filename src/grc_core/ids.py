"""Ids typed by people or sent by clients: ASCII digits only, and few enough to be an id.

``str.isdigit`` also accepts superscripts and other scripts' digits, which ``int`` refuses,
and ``int`` refuses strings of more than 4,300 digits: checking here keeps both from turning a
typing mistake into a crash.
"""

from __future__ import annotations

#: Ids are 64-bit integers at most (PostgreSQL's and SQLite's largest): 18 digits always fit.
MAX_ID_DIGITS = 18


def parse_id(text: str) -> int | None:
    """The id ``text`` spells, or ``None`` when it is not a plain number that could be one."""
    if 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
