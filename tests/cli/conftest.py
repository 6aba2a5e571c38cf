"""Fixtures of the command-line tests: a ``grc`` runner bound to a fresh, migrated database."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runner import Grc


@pytest.fixture
def bare(tmp_path: Path) -> Grc:
    """A runner that passes no --db."""
    return Grc(None, tmp_path)


@pytest.fixture
def unmigrated(fresh_url: str, tmp_path: Path) -> Grc:
    """A runner on a fresh database that was never migrated."""
    return Grc(fresh_url, tmp_path)


@pytest.fixture
def grc(fresh_url: str, tmp_path: Path) -> Grc:
    """A runner on a fresh database, migrated through ``grc db upgrade``."""
    runner = Grc(fresh_url, tmp_path)
    runner.ok("db", "upgrade")
    return runner


@pytest.fixture
def team(grc: Grc) -> Grc:
    """The database with an administrator (``admin``) and three users."""
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    for login in ("alice", "bob", "carol"):
        grc.ok("user", "add", login, "--name", login.title(), as_="admin")
    return grc
