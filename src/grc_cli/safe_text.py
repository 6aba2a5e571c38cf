"""Stored text made safe for a terminal: control characters are shown, never obeyed.

Subjects, details, names and error messages come from users.  Written raw, ``ESC ]0;… BEL``
retitles the terminal, ``ESC [2J`` clears it, a carriage return overwrites the line and a
right-to-left override (U+202E) makes ``exe.pdf`` read as ``fdp.exe``.  Everything ``grc``
writes goes through one of these functions at the output boundary (the Rich consoles, the
JSON encoder, the error printer), so such characters appear escaped: ``\\x1b``, ``\\u202e``.

Newlines and tabs are layout, not controls, and are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

#: C0 controls but tab and newline, DEL, C1 controls, the bidirectional formatting
#: characters (embeddings, overrides, isolates, marks) and the Unicode line separators.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\u202e``)."""
    return UNSAFE.sub(_escaped, text)


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_json(document: str) -> str:
    """A JSON document with the control characters ``json.dumps`` leaves raw escaped.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but not DEL, C1 controls or
    bidirectional overrides.  Outside strings a JSON document holds only ASCII punctuation,
    digits, letters and whitespace, so every match is inside a string, where ``\\uXXXX`` is
    the same character: the document stays valid and decodes to the same data.
    """
    return UNSAFE.sub(_json_escaped, document)


class SafeConsole(Console):
    """A Rich console that escapes control characters in what it renders.

    The renderers already escape the data they put in tables (so columns are measured on
    what is shown); this is the guarantee for any text that reaches the console another way.
    Rich's own control sequences (colours, cursor moves) are segments of their own and are
    left alone.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        """The segments of ``renderable``, text segments escaped."""
        return _safe_segments(super().render(renderable, options))


def _safe_segments(segments: Iterable[Segment]) -> Iterator[Segment]:
    for segment in segments:
        if segment.control or not UNSAFE.search(segment.text):
            yield segment
        else:
            yield Segment(escape_controls(segment.text), segment.style)


def safe(value: Any) -> str:
    """``str(value)`` with control characters escaped."""
    return escape_controls(str(value))
