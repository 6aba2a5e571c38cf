"""``grc exchange update --if-version N``: a stale version is a conflict (exit 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.runner import Grc
from grc_cli.failures import ExitCode


@pytest.fixture
def grc(fresh_url: str, tmp_path: Path) -> Grc:
    runner = Grc(fresh_url, tmp_path)
    runner.ok("db", "upgrade")
    runner.ok("user", "add", "admin", "--name", "Admin", "--admin")
    runner.ok("user", "add", "alice", "--name", "Alice", as_="admin")
    return runner


def test_if_version_refuses_a_stale_update_and_changes_nothing(grc):
    added = grc.json(
        "exchange",
        "add",
        "--subject",
        "Appel",
        "--start",
        "2026-03-02T10:00",
        "--action",
        "call",
        as_="alice",
    )
    ident = str(added["id"])
    assert added["version"] == 1
    updated = grc.json(
        "exchange", "update", ident, "--subject", "Deux", "--if-version", "1", as_="alice"
    )
    assert updated["version"] == 2
    message = grc.fails(
        ExitCode.CONFLICT,
        "exchange",
        "update",
        ident,
        "--subject",
        "Trois",
        "--if-version",
        "1",
        as_="alice",
    )
    assert f"exchange {ident}" in message and "version 2" in message and "reload" in message
    shown = grc.json("exchange", "show", ident, as_="alice")
    assert (shown["subject"], shown["version"]) == ("Deux", 2)
    # Without --if-version the update applies to whatever is current.
    assert grc.json("exchange", "update", ident, "--subject", "Trois", as_="alice")["version"] == 3
    assert "--if-version" in grc.usage_error("exchange", "update", ident, "--if-version", "0")
