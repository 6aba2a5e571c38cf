"""Column mappings of ``grc import exchanges``: another CRM's export → the import's fields.

``generic`` is the import's own field names (:data:`~grc_core.services.bulk.FILE_FIELDS`).
``sage`` reads a Sage CRM communications export (the ``Communication`` table joined with the
company, the person and the user): its columns, action codes and statuses become GRC's
fields and picklist codes by the tables below.  Each mapping turns the fields of one line
into the generic fields; the file resolver does the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from grc_core.errors import ValidationError
from grc_core.services.bulk import FILE_FIELDS, ImportLineError

T = TypeVar("T")

#: Sage CRM column (compared without case) → generic field.  ``Pers_FirstName`` and
#: ``Pers_LastName`` together name the contact, within the company.
SAGE_COLUMNS: dict[str, str] = {
    "comm_communicationid": "uuid",
    "comm_subject": "subject",
    "comm_note": "details",
    "comm_datetime": "start",
    "comm_todatetime": "end",
    "comm_action": "action",
    "comm_status": "status",
    "comm_private": "private",
    "comm_createddate": "created_at",
    "comp_name": "company",
    "user_logon": "author",
}
_SAGE_CONTACT = ("pers_firstname", "pers_lastname")

#: Sage CRM action code → (GRC action, GRC medium or None).  The direction (In/Out) has no
#: field in GRC: both become the same action.
SAGE_ACTIONS: dict[str, tuple[str, str | None]] = {
    "PhoneOut": ("call", "phone"),
    "PhoneIn": ("call", "phone"),
    "EmailOut": ("email", "email"),
    "EmailIn": ("email", "email"),
    "LetterOut": ("letter", "letter"),
    "LetterIn": ("letter", "letter"),
    "Meeting": ("meeting", "on_site"),
    "ToDo": ("todo", None),
}

#: Sage CRM status code → GRC status (Sage spells the last one both ways).
SAGE_STATUSES: dict[str, str] = {
    "Pending": "planned",
    "InProgress": "in_progress",
    "Complete": "done",
    "Cancelled": "cancelled",
    "Canceled": "cancelled",
}

#: Namespace of the UUIDs derived from Sage's ``Comm_CommunicationId``: the same
#: communication gets the same UUID on every run, so a rerun imports nothing twice.
SAGE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:grc:import:sage-crm:communication")


@dataclass(frozen=True)
class ColumnMapping:
    """One mapping: checks a CSV header, turns a line's fields into generic fields."""

    name: str
    check_header: Callable[[Sequence[str]], None]
    fields: Callable[[int, Mapping[str, object]], dict[str, object]]


def _generic_header(names: Sequence[str]) -> None:
    for name in names:
        if name not in FILE_FIELDS:
            raise ImportLineError(
                1, name or "(empty)", f"unknown field; the fields are {', '.join(FILE_FIELDS)}"
            )


def _generic_fields(line: int, fields: Mapping[str, object]) -> dict[str, object]:
    return dict(fields)


def _sage_header(names: Sequence[str]) -> None:
    # An export holds many more columns than these: the others are ignored, but one that
    # names none of the required fields is surely not a communications export.
    lowered = {name.lower() for name in names}
    for column in ("comm_subject", "comm_datetime", "comm_action"):
        if column not in lowered:
            raise ImportLineError(1, column, "missing: not a Sage CRM communications export?")


def sage_uuid(communication_id: str) -> uuid.UUID:
    """The UUID an import gives Sage CRM communication ``communication_id``."""
    return uuid.uuid5(SAGE_NAMESPACE, communication_id.strip())


def _sage_fields(line: int, fields: Mapping[str, object]) -> dict[str, object]:
    row = {str(k).strip().lower(): v for k, v in fields.items()}
    out: dict[str, object] = {}
    for column, name in SAGE_COLUMNS.items():
        value = row.get(column)
        if value is not None and str(value).strip():
            out[name] = value.strip() if isinstance(value, str) else value
    if "uuid" in out:
        out["uuid"] = str(sage_uuid(str(out["uuid"])))
    if "action" in out:
        out["action"], medium = _sage_value(SAGE_ACTIONS, out["action"], line, "Comm_Action")
        if medium is not None:
            out["medium"] = medium
    if "status" in out:
        out["status"] = _sage_value(SAGE_STATUSES, out["status"], line, "Comm_Status")
    names = [str(row.get(c) or "").strip() for c in _SAGE_CONTACT]
    if any(names):
        out["contacts"] = " ".join(n for n in names if n)
    return out


MAPPINGS: dict[str, ColumnMapping] = {
    "generic": ColumnMapping("generic", _generic_header, _generic_fields),
    "sage": ColumnMapping("sage", _sage_header, _sage_fields),
}


def mapping(name: str) -> ColumnMapping:
    """The mapping called ``name``."""
    try:
        return MAPPINGS[name]
    except KeyError:
        raise ValidationError(
            f"unknown mapping {name!r}; the mappings are {', '.join(MAPPINGS)}", field="mapping"
        ) from None


def _sage_value(table: Mapping[str, T], value: object, line: int, column: str) -> T:
    """GRC's value for a Sage CRM code, or the line refused naming the Sage column."""
    try:
        return table[str(value)]
    except KeyError:
        what = column.removeprefix("Comm_").lower()
        raise ImportLineError(
            line, column, f"unknown Sage CRM {what} {value!r}; mapped: {', '.join(table)}"
        ) from None
