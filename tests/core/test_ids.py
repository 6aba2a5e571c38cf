"""Ids typed by people: plain ASCII numbers (range checks are the services'), nothing else."""

from __future__ import annotations

import pytest

from grc_core.ids import parse_id


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("042", 42), ("9" * 20, int("9" * 20))])
def test_plain_numbers_are_ids(text: str, expected: int):
    assert parse_id(text) == expected


@pytest.mark.parametrize("text", ["", "9" * 5000, "²", "١٢", "-1", "1.0", " 1", "abc"])
def test_anything_else_is_not_an_id(text: str):
    assert parse_id(text) is None
