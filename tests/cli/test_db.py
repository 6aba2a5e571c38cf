"""``grc db``: migrating and inspecting the schema."""

from __future__ import annotations

from grc_core import schema


def test_current_then_upgrade(unmigrated):
    before = unmigrated.json("db", "current")
    assert before["current"] is None
    assert before["head"] == schema.head_revision()
    assert before["up_to_date"] is False

    result = unmigrated.ok("db", "upgrade")
    assert f"database at revision {schema.head_revision()}" in result.stderr
    assert "Head revision" in result.stdout

    after = unmigrated.json("db", "current")
    assert after["current"] == after["head"] == schema.head_revision()
    assert after["up_to_date"] is True


def test_upgrade_twice_is_harmless(grc):
    assert grc.json("db", "upgrade")["up_to_date"] is True
