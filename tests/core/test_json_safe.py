"""Event values as JSON: what ``json_safe`` turns into what, and that it copies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from uuid import UUID

from grc_core.services.events import json_safe


class Colour(Enum):
    RED = "red"


class Key(StrEnum):
    NAME = "name"


def test_domain_values_become_json_values_at_any_depth():
    key = UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "plain": ["a", 1, 2.5, True, None],
        "when": [datetime(2026, 3, 2, 9, 0, tzinfo=UTC), date(2026, 3, 2)],
        "money": (Decimal("150012.50"), key),
        "colour": Colour.RED,
        Key.NAME: {"nested": {3: Colour.RED, "set": {3, 1, 2}}},
    }
    assert json_safe(value) == {
        "plain": ["a", 1, 2.5, True, None],
        "when": ["2026-03-02T09:00:00+00:00", "2026-03-02"],
        "money": ["150012.50", str(key)],
        "colour": "red",
        "name": {"nested": {"3": "red", "set": [1, 2, 3]}},
    }
    # Keys are plain strings, an enum's member included.
    assert all(type(k) is str for k in json_safe({Key.NAME: 1, 2: 3}))


def test_containers_are_new_so_later_changes_do_not_leak_in():
    inner = [1, 2]
    outer = {"items": inner, "more": {"x": inner}}
    safe = json_safe(outer)
    inner.append(3)
    assert safe == {"items": [1, 2], "more": {"x": [1, 2]}}
    assert safe is not outer and safe["items"] is not inner
