"""Ids typed by people: plain ASCII numbers of at most 18 digits, anything else is not an id."""

from __future__ import annotations

import pytest

from grc_core.ids import parse_id


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("042", 42), ("9" * 18, int("9" * 18))])
def test_plain_numbers_are_ids(text: str, expected: int):
    assert parse_id(text) == expected


@pytest.mark.parametrize("text", ["", "9" * 19, "9" * 5000, "²", "١٢", "-1", "1.0", " 1", "abc"])
def test_anything_else_is_not_an_id(text: str):
    assert parse_id(text) is None
