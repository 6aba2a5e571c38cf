"""Where a blob goes in the repository, and what it is called: pure functions, no I/O.

The layout is meant for people browsing the GED, so names are readable (accents, spaces and
case kept) but safe: a name never contains a character CMIS servers refuse, never ends with
a dot or a space (Alfresco's ``cm:name`` constraint), never starts with a dot (Alfresco hides
such files from most clients by default), and never holds a control or invisible formatting
character (a bidi override would make ``exe.pdf`` look like ``fdp.exe``).  A company whose
name is the backend's own index folder (:data:`INDEX_FOLDER`) is filed under another name.
The values come from users through :data:`~grc_core.storage.backend.METADATA_KEYS`; they
only ever choose a *display* location, never where a blob is found again (the returned key
does).

Layout under the configured root::

    <root>/<company>/<YYYY-MM-DD — subject>/<file name>
    <root>/<company>/<YYYY-MM-DD>/<file name>            no subject
    <root>/<company>/<subject>/<file name>               no date (opportunities)
    <root>/<company>/<file name>                         neither (company attachments)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime

#: What replaces each character that CMIS servers (Alfresco's ``cm:name``, SharePoint and
#: Windows file names behind some connectors) refuse.  Look-alikes keep names readable:
#: ``Échéance / relance`` becomes ``Échéance - relance``.
_REPLACEMENTS = {
    '"': "'",
    "/": "-",
    "\\": "-",
    "|": "-",
    ":": "-",
    "*": "_",
    "?": "_",
    "<": "_",
    ">": "_",
}
#: Unicode categories dropped from names: controls, format characters (bidi overrides,
#: zero-width joiners, soft hyphens), surrogates, private use and unassigned code points.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

#: The longest folder or document name produced.  CMIS sets no limit, but Alfresco Share,
#: WebDAV/CIFS mounts and synchronisation tools break on very long names.
MAX_NAME_LENGTH = 120
#: Extensions longer than this are not kept apart when a name is shortened.
_MAX_EXTENSION = 16

#: Fallbacks when a hint is missing or cleans down to nothing.
NO_COMPANY = "No company"
NO_FILENAME = "attachment"

#: The folder, directly under the root, holding one small index document per stored key.
#: Not a dot-name: Alfresco marks ``.*`` nodes hidden, and hidden nodes may vanish from
#: CMIS listings and lookups.
INDEX_FOLDER = "_grc-index"

#: How the core key is written into ``cmis:description`` (parsed back by :func:`key_in`).
_KEY_LINE = "GRC key: "
_KEY_PATTERN = re.compile(r"^GRC key: ([A-Za-z0-9._/-]+)[ \t]*$", re.MULTILINE)
#: The longest subject kept in a description.
_MAX_DESCRIPTION_SUBJECT = 1000


def safe_name(text: str | None, fallback: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """``text`` made into a folder or document name every CMIS server accepts.

    NFC-normalised (so that ``é`` typed on a Mac and on Windows is one name), forbidden
    characters replaced by look-alikes, invisible characters dropped, runs of white space
    collapsed, leading dots and spaces and trailing dots and spaces removed, and shortened
    to ``max_length`` characters keeping a short extension.  ``fallback`` when nothing is
    left.
    """
    if not text:
        return fallback
    cleaned = []
    for char in unicodedata.normalize("NFC", str(text)):
        if char in _REPLACEMENTS:
            cleaned.append(_REPLACEMENTS[char])
        elif char.isspace():  # tabs and new lines (Cc) become spaces rather than vanish
            cleaned.append(" ")
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            continue
        else:
            cleaned.append(char)
    name = _trim(" ".join("".join(cleaned).split()))
    if len(name) > max_length:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= _MAX_EXTENSION:
            name = _trim(stem[: max_length - len(extension) - 1]) + "." + extension
        else:
            name = name[:max_length]
        name = _trim(name)
    return name or fallback


def _trim(name: str) -> str:
    # Leading dots hide the name in Alfresco; trailing dots and spaces are refused by
    # Alfresco and silently stripped by Windows clients.
    return name.lstrip(". ").rstrip(". ")


def parse_date(value: str | None) -> date | None:
    """The date of an ISO ``YYYY-MM-DD`` (or ISO date-time) hint, ``None`` if unusable."""
    if not value:
        return None
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


@dataclass(frozen=True)
class Placement:
    """Where a new document goes: folder names below the root, and the wanted file name."""

    folders: tuple[str, ...]
    filename: str


def placement(metadata: Mapping[str, str] | None) -> Placement:
    """The browsable location of a blob from ``put``'s display hints (see module doc)."""
    hints = metadata or {}
    company = safe_name(hints.get("company"), NO_COMPANY)
    if company.casefold() == INDEX_FOLDER.casefold():  # never mixed with the index
        company += " (company)"
    day = parse_date(hints.get("date"))
    subject = safe_name(hints.get("subject"), "")
    if day is not None and subject:
        second: str | None = safe_name(f"{day.isoformat()} — {subject}", day.isoformat())
    elif day is not None:
        second = day.isoformat()
    elif subject:
        second = subject
    else:
        second = None
    folders = (company,) if second is None else (company, second)
    return Placement(folders, safe_name(hints.get("filename"), NO_FILENAME))


def candidate_names(filename: str, limit: int) -> Iterator[str]:
    """``facture.pdf``, then ``facture (2).pdf``, ``facture (3).pdf``… (``limit`` names).

    Same-named documents are never overwritten: the first free candidate is used.
    """
    yield filename
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION:
        stem, extension = filename, ""
    for number in range(2, limit + 1):
        suffix = f" ({number})"
        base = stem[: MAX_NAME_LENGTH - len(suffix) - len(extension) - 1].rstrip(". ")
        yield f"{base}{suffix}.{extension}" if extension else f"{base}{suffix}"


def description(metadata: Mapping[str, str] | None, key: str) -> str:
    """The ``cmis:description`` of a stored document.

    The exchange subject first (what a person browsing wants to read), then the CRM
    references, then the core storage key on a line of its own, which :func:`key_in` reads
    back so that deleting the document also frees its index entry.
    """
    hints = metadata or {}
    lines = []
    subject = " ".join(str(hints.get("subject") or "").split())
    subject = "".join(c for c in subject if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    if subject:
        lines.append(subject[:_MAX_DESCRIPTION_SUBJECT])
    references = []
    for label, field in (("exchange", "exchange_id"), ("author", "author")):
        value = " ".join(str(hints.get(field) or "").split())
        value = "".join(c for c in value if unicodedata.category(c) not in _DROPPED_CATEGORIES)
        if value:
            references.append(f"{label} {value[:200]}")
    if references:
        lines.append("GRC " + ", ".join(references))
    lines.append(_KEY_LINE + key)
    return "\n".join(lines)


def key_in(text: object) -> str | None:
    """The core key written by :func:`description`, or ``None`` (not ours, or edited)."""
    if not isinstance(text, str):
        return None
    found = _KEY_PATTERN.findall(text)
    # Our line is the last one; a subject cannot forge it because it is written first.
    return found[-1] if found else None


def index_location(key: str) -> Placement:
    """Where the index entry of the (already checked) core ``key`` lives.

    ``2026/03/<hex>`` → folders ``("_grc-index", "2026", "03")``, name ``<hex>``: key
    segments are ``A-Z a-z 0-9 . _ -`` only (:func:`grc_core.storage.keys.check_key`), so
    they are valid CMIS names as they are.
    """
    *parents, leaf = key.split("/")
    return Placement((INDEX_FOLDER, *parents), leaf)
