"""Company name filters fold case, accents and ligatures the same way on both databases."""

from __future__ import annotations

import pytest

from grc_core.services import companies


@pytest.fixture
def names(world, session):
    for name in ("Société Générale Électricité", "Cœur de Lion SARL", "100% Bio_Shop"):
        companies.create_company(session, world.admin, name=name)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("generale", ["Société Générale Électricité"]),
        ("GÉNÉRALE", ["Société Générale Électricité"]),
        ("électricité", ["Société Générale Électricité"]),
        ("ELECTRICITE", ["Société Générale Électricité"]),
        ("société générale", ["Société Générale Électricité"]),
        ("coeur", ["Cœur de Lion SARL"]),
        ("CŒUR", ["Cœur de Lion SARL"]),
        ("100%", ["100% Bio_Shop"]),  # LIKE wildcards are plain characters
        ("bi__shop", []),  # "_" is not "any character"
        ("générales", []),
    ],
)
def test_name_filter_folds_like_search(session, names, typed, expected):
    found = [c.name for c in companies.list_companies(session, name=typed)]
    assert found == expected
