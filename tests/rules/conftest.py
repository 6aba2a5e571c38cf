"""Fixtures of the rule language tests: a catalogue without a database, custom fields in one."""

from __future__ import annotations

import pytest

from grc_core.models import FieldType, PicklistKind
from grc_core.rules import Catalogue, CustomFieldInfo
from grc_core.services import custom_fields

#: The custom fields every rule test uses: one of each type.
CUSTOM_FIELDS = [
    ("ref", FieldType.TEXT, None),
    ("seats", FieldType.INTEGER, None),
    ("budget", FieldType.DECIMAL, None),
    ("due", FieldType.DATE, None),
    ("urgent", FieldType.BOOLEAN, None),
    ("channel", FieldType.CHOICE, ("web", "salon", "tel")),
]

#: The seeded picklists (migration 0001).
SEED_CODES = {
    PicklistKind.ACTION: frozenset(
        {"todo", "call", "letter", "note", "meeting", "report", "email"}
    ),
    PicklistKind.STATUS: frozenset({"planned", "in_progress", "done", "cancelled"}),
    PicklistKind.MEDIUM: frozenset({"phone", "on_site", "video", "email", "letter"}),
    PicklistKind.STAGE: frozenset(
        {"prospecting", "qualification", "proposal", "negotiation", "won", "lost"}
    ),
}


@pytest.fixture
def catalogue() -> Catalogue:
    """A catalogue built without a database (ids are made up: no SQL is run with it)."""
    infos = [
        CustomFieldInfo(id=index, code=code, type=ftype, choices=choices)
        for index, (code, ftype, choices) in enumerate(CUSTOM_FIELDS, start=1)
    ]
    return Catalogue(infos, picklists=SEED_CODES, categories=frozenset({"commercial", "support"}))


@pytest.fixture
def fields(world, session):
    """The custom fields of :data:`CUSTOM_FIELDS`, defined in the test's database."""
    for code, ftype, choices in CUSTOM_FIELDS:
        custom_fields.define_field(
            session,
            world.admin,
            code,
            label=code.title(),
            type=ftype,
            choices=list(choices) if choices else None,
        )
