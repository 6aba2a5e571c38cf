"""Where a blob is filed in Nuxeo, and under which names: pure functions, tested on their own.

A Nuxeo document has two names: its **title** (``dc:title``), free text shown to people, and
its **name**, the path segment in ``/default-domain/workspaces/CRM/ACME/…``.  GRC files an
attachment as::

    <root_path>/<company>/<YYYY-MM-DD — subject>/<file name>

from the display hints ``put`` receives (:data:`grc_core.storage.backend.METADATA_KEYS`).
Those come from users, so:

- titles keep accents, quotes and punctuation, but lose control and invisible formatting
  characters (a right-to-left override could disguise ``gnp.exe`` as ``exe.png``);
- names additionally replace the characters that break paths, URLs, NXQL or a desktop
  synchronisation (``/ \\ : * ? " < > | # % &``) with ``-``, and lose leading and trailing
  dots, dashes and spaces (so never ``.`` or ``..``);
- every missing hint has a fallback, and an invalid date is dropped rather than trusted.

The hints only decide where a *new* document is filed: a blob is always found again by its
document uid, never by these names.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date

#: Longest title kept (Nuxeo's dc:title is a string; long ones are unreadable anyway).
MAX_TITLE = 255
#: Longest path segment: well under file-system limits once synchronised to a desktop.
MAX_NAME = 120
NO_COMPANY = "No company"
NO_FILENAME = "attachment"
DATE_SEPARATOR = " — "

_UNSAFE_IN_NAME = re.compile(r'[/\\:*?"<>|#%&]+')
_SPACES = re.compile(r"\s+")


def clean_title(text: str | None) -> str:
    """``text`` without control or invisible formatting characters, spaces collapsed.

    Accents, quotes and punctuation are kept (NFC-normalised): a title is for people.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", str(text))
    # Cc: control characters (NUL, newlines…); Cf: format characters (bidi overrides,
    # zero-width spaces…), which can make a name read differently from what it is.
    kept = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return _shorten(_SPACES.sub(" ", kept).strip(), MAX_TITLE, " ")


def _shorten(text: str, limit: int, strip: str) -> str:
    """``text`` cut to ``limit`` characters, keeping a short extension (``.pdf``)."""
    if len(text) <= limit:
        return text
    stem, dot, ext = text.rpartition(".")
    if dot and stem and 0 < len(ext) <= 10 and " " not in ext:
        return stem[: limit - len(ext) - 1].rstrip(strip) + "." + ext
    return text[:limit].rstrip(strip)


def safe_name(title: str, fallback: str) -> str:
    """A readable Nuxeo path segment for ``title`` (``fallback`` when nothing is left).

    Keeps the extension when it has to shorten a long name.
    """
    name = _UNSAFE_IN_NAME.sub("-", clean_title(title))
    name = _shorten(_SPACES.sub(" ", name).strip(" .-"), MAX_NAME, " .-")
    return name or fallback


def numbered(name: str, n: int) -> str:
    """The ``n``-th candidate for ``name`` when it is taken: ``report (2).pdf``.

    The number goes before the extension so that the file keeps opening with the right
    program once downloaded.
    """
    if n <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 10 and " " not in ext:
        return f"{stem} ({n}).{ext}"
    return f"{name} ({n})"


def candidates(name: str, limit: int) -> Iterator[str]:
    """``name``, ``name (2)``… up to ``limit`` candidates."""
    for n in range(1, limit + 1):
        yield numbered(name, n)


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class Folder:
    """One folder level: its title (shown) and its name (in the path)."""

    title: str
    name: str


@dataclass(frozen=True)
class Layout:
    """Where and how one attachment is filed.

    :param folders: the folders under the root, outermost first (company, then exchange).
    :param file_title: ``dc:title`` and the blob's file name.
    :param file_name: the document's path segment (before disambiguation).
    :param description: ``dc:description``: the exchange subject, then GRC's references.
    :param mime_type: guessed from the file name (the core keeps the sniffed type).
    """

    folders: tuple[Folder, ...]
    file_title: str
    file_name: str
    description: str
    mime_type: str


def layout_for(metadata: Mapping[str, str] | None) -> Layout:
    """The layout of an attachment from ``put``'s display hints (all optional)."""
    hints = {k: v for k, v in (metadata or {}).items() if isinstance(v, str)}
    company = clean_title(hints.get("company")) or NO_COMPANY
    folders = [Folder(company, safe_name(company, NO_COMPANY))]

    subject = clean_title(hints.get("subject"))
    day = _iso_date(hints.get("date"))
    exchange = DATE_SEPARATOR.join(part for part in (day, subject) if part)
    if exchange:
        folders.append(Folder(exchange, safe_name(exchange, day or "exchange")))

    file_title = clean_title(hints.get("filename")) or NO_FILENAME
    references = []
    if exchange_id := clean_title(hints.get("exchange_id")):
        references.append(f"GRC exchange {exchange_id}")
    if author := clean_title(hints.get("author")):
        references.append(f"added by {author}")
    description = "\n".join(part for part in (subject, ", ".join(references)) if part)
    mime_type = mimetypes.guess_type(file_title, strict=False)[0] or "application/octet-stream"
    return Layout(
        folders=tuple(folders),
        file_title=file_title,
        file_name=safe_name(file_title, NO_FILENAME),
        description=description,
        mime_type=mime_type,
    )
