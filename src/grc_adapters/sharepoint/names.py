"""Readable, SharePoint-safe names for the browsable layout of the SharePoint backend.

Documents are filed as ``<library>/<root_folder>/<company>/<YYYY-MM-DD — subject>/<file name>``
from the display hints ``put`` receives (:data:`grc_core.storage.backend.METADATA_KEYS`).
Those hints come from users, so every one of them goes through :func:`clean_segment` before it
becomes a folder or file name.  A name never decides where a blob is found again (the key is
the file's ``UniqueId``), so cleaning may lose information: it only has to be safe and
readable.

The rules, chosen to be accepted by SharePoint Online *and* by the older servers and sync
clients that refuse more than SharePoint Online does today:

- Unicode is normalised to NFC (a name typed on macOS arrives decomposed);
- control characters and invisible format characters (bidirectional overrides such as
  U+202E, zero-width characters) are removed: they make a name lie about itself;
- the characters SharePoint refuses, ``~ " # % & * : < > ? / \\ { | }``, are replaced by
  their full-width look-alikes (``＃``, ``％``, ``＆``…), so that ``R&D #2`` stays readable
  as ``R＆D ＃2`` instead of becoming ``R_D _2``;
- runs of white space become one space, runs of dots one dot (older servers refuse ``..``),
  and leading or trailing spaces and dots are stripped;
- ``_vti_`` (reserved by SharePoint) is defused, and Windows device names (``CON``,
  ``NUL``…), ``desktop.ini`` and ``forms`` get a trailing ``_``;
- each segment is cut to a maximum length, keeping a file's extension.

Accents and spaces are kept: they are what makes the tree readable in French.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

#: The folder of a company when the attachment has none (a personal note…).
NO_COMPANY = "Sans société"
#: The separator between the date and the subject of an exchange folder.
DATE_SUBJECT_SEPARATOR = " — "
#: Characters SharePoint (or its older versions and sync clients) refuse in a name.
FORBIDDEN = '~"#%&*:<>?/\\{|}'
#: SharePoint Online refuses decoded paths longer than this (folders plus file name).
MAX_PATH_LENGTH = 400

MAX_COMPANY_LENGTH = 80
MAX_FOLDER_LENGTH = 100
MAX_FILE_NAME_LENGTH = 128
#: Extensions longer than this are treated as part of the stem when cutting a name.
MAX_EXTENSION_LENGTH = 16

# Each forbidden ASCII character maps to its full-width form (U+FF01…U+FF5E mirror
# U+0021…U+007E), which SharePoint accepts and a reader recognises.
_FULL_WIDTH = {ord(c): chr(ord(c) + 0xFEE0) for c in FORBIDDEN}
_SPACES = re.compile(r"\s+")
_DOTS = re.compile(r"\.{2,}")
_VTI = re.compile(r"_vti_", re.IGNORECASE)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_MONTH = re.compile(r"(\d{4})/(\d{2})/")
_RESERVED_STEMS = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(10)] + [f"LPT{i}" for i in range(10)]
)
_RESERVED_NAMES = frozenset(["desktop.ini", "forms", ".lock"])


def _strip(text: str) -> str:
    return text.strip(" .")


def _split_extension(name: str) -> tuple[str, str]:
    """``("rapport final", ".pdf")``; no extension when it is long or holds a space."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_LENGTH or " " in extension:
        return name, ""
    return stem, "." + extension


def _cut(name: str, limit: int, *, keep_extension: bool) -> str:
    if len(name) <= limit:
        return name
    stem, extension = _split_extension(name) if keep_extension else (name, "")
    stem = _strip(stem[: max(1, limit - len(extension))])
    return stem + extension


def clean_segment(text: object, limit: int, *, keep_extension: bool = False) -> str:
    """``text`` as one safe, readable folder or file name of at most ``limit`` characters.

    Returns ``""`` when nothing usable is left (the caller then uses its fallback).

    :param text: a display hint from ``put``'s metadata (any value; non-strings give ``""``).
    :param limit: the longest name returned.
    :param keep_extension: cut a long name in its stem, keeping ``.pdf``.
    """
    if not isinstance(text, str):
        return ""
    name = unicodedata.normalize("NFC", text)
    # Cc: control characters (NUL, tabs, newlines…); Cf: invisible format characters
    # (bidirectional overrides, zero-width joiners…).
    name = "".join(
        " " if unicodedata.category(c) == "Cc" and c.isspace() else c
        for c in name
        if unicodedata.category(c) not in ("Cc", "Cf") or c.isspace()
    )
    name = name.translate(_FULL_WIDTH)
    name = _SPACES.sub(" ", name)
    name = _DOTS.sub(".", name)
    name = _VTI.sub("_vti-", name)
    name = _strip(name)
    name = _cut(name, limit, keep_extension=keep_extension)
    if not name:
        return ""
    stem = _split_extension(name)[0]
    if stem.upper() in _RESERVED_STEMS or name.lower() in _RESERVED_NAMES:
        stem, extension = _split_extension(name)
        name = _cut(stem + "_" + extension, limit, keep_extension=True)
    return name


def numbered(name: str, number: int, limit: int = MAX_FILE_NAME_LENGTH) -> str:
    """``name`` with `` (number)`` before its extension, for the ``number``-th homonym.

    ``numbered("devis.pdf", 2)`` is ``"devis (2).pdf"``; ``number`` 1 gives ``name`` itself.
    """
    if number <= 1:
        return name
    stem, extension = _split_extension(name)
    suffix = f" ({number})"
    stem = _strip(stem[: max(1, limit - len(extension) - len(suffix))])
    return f"{stem}{suffix}{extension}"


@dataclass(frozen=True)
class Placement:
    """Where a document is filed, relative to the configured root folder.

    :param folders: the folder names under the root (company, then date and subject).
    :param file_name: the document's name, before any `` (2)`` disambiguation.
    """

    folders: tuple[str, ...]
    file_name: str


def _day(hint: object, key: str, today: date | None) -> str:
    if isinstance(hint, str) and _DAY.fullmatch(hint.strip()):
        try:
            return date.fromisoformat(hint.strip()).isoformat()
        except ValueError:
            pass  # 2026-02-31: fall back like a missing date
    month = _KEY_MONTH.match(key)
    if month:  # keys made by the core start with YYYY/MM/
        return f"{month.group(1)}-{month.group(2)}"
    return (today or datetime.now(UTC).date()).isoformat()


def placement(
    key: str,
    metadata: Mapping[str, str] | None,
    *,
    reserved: tuple[str, ...] = (),
    today: date | None = None,
) -> Placement:
    """The folders and file name of a document, from ``put``'s key and display hints.

    Missing hints fall back to :data:`NO_COMPANY`, the key's month (or today), no subject,
    and the key itself as file name.

    :param key: the core storage key (already checked).
    :param metadata: the display hints; any may be missing or hostile.
    :param reserved: names the company folder must not take (the backend's own technical
        folder); such a name gets a full-width first character.
    :param today: the date used when neither the hints nor the key give one.
    """
    hints = metadata or {}
    company = clean_segment(hints.get("company"), MAX_COMPANY_LENGTH) or NO_COMPANY
    if company.casefold() in {name.casefold() for name in reserved}:
        # A company called like the technical folder would hide its documents in it.
        company = "＿" + company.removeprefix("_")
    day = _day(hints.get("date"), key, today)
    subject = clean_segment(hints.get("subject"), MAX_FOLDER_LENGTH - len(day) - 3)
    folder = f"{day}{DATE_SUBJECT_SEPARATOR}{subject}" if subject else day
    file_name = clean_segment(
        hints.get("filename"), MAX_FILE_NAME_LENGTH, keep_extension=True
    ) or clean_segment(key.replace("/", "-"), MAX_FILE_NAME_LENGTH)
    return Placement((company, folder), file_name)


def fit_path(prefix: str, place: Placement) -> Placement:
    """``place`` shortened so that ``prefix/folders…/file (NNN).ext`` fits SharePoint's limit.

    The file name is cut first, then the subject folder; the company is kept whole when
    possible.  Room is left for a `` (999)`` disambiguation suffix.

    :param prefix: the server-relative path of the root folder (``/sites/crm/Shared
        Documents/CRM``).
    :raises ValueError: even one character per segment would not fit (the configured root
        is too long).
    """
    budget = MAX_PATH_LENGTH - len(prefix) - len(" (999)")
    folders, file_name = list(place.folders), place.file_name

    def used() -> int:
        return sum(len(f) + 1 for f in folders) + 1 + len(file_name)

    if used() > budget:
        room = budget - (used() - len(file_name))
        file_name = _cut(file_name, max(room, 12), keep_extension=True)
    for index in range(len(folders) - 1, -1, -1):
        if used() <= budget:
            break
        room = len(folders[index]) - (used() - budget)
        folders[index] = _strip(folders[index][: max(room, 1)]) or "_"
    if used() > budget:
        raise ValueError(
            f"the root folder path {prefix!r} leaves no room for documents under SharePoint's "
            f"{MAX_PATH_LENGTH}-character path limit"
        )
    return Placement(tuple(folders), file_name)
