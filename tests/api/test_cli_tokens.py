"""``grc token`` and ``grc serve``'s refusals, through the command line."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.api.conftest import _client
from tests.cli.runner import Grc

from grc_api import create_app
from grc_core.facade import Grc as Facade
from grc_core.models import ApiToken


@pytest.fixture
def team(fresh_url: str, tmp_path: Path) -> Grc:
    """A migrated database with an administrator and two users, driven through ``grc``."""
    runner = Grc(fresh_url, tmp_path)
    runner.ok("db", "upgrade")
    runner.ok("user", "add", "admin", "--name", "Admin", "--admin")
    for login in ("alice", "bob"):
        runner.ok("user", "add", login, "--name", login.title(), as_="admin")
    return runner


def call_me(url: str, token: str) -> int:
    grc = Facade.from_url(url)
    try:
        with _client(create_app(grc)) as client:
            return client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code
    finally:
        grc.dispose()


def test_a_token_is_printed_once_stored_hashed_and_works_until_revoked(team: Grc):
    created = team.ok("token", "create", "alice", "--name", "phone", as_="alice")
    secret = created.stdout.strip()
    assert secret.startswith("grc_") and len(secret) > 40
    assert "shown only this once" in created.stderr
    grc = Facade.from_url(team.url)
    with grc.session() as s:
        stored = s.scalars(select(ApiToken)).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (stored.prefix, stored.name, stored.token_hash)
    grc.dispose()
    assert call_me(team.url, secret) == 200

    listed = team.json("token", "list", as_="alice")
    assert [t["state"] for t in listed] == ["active"]
    assert secret not in team.ok("token", "list", as_="alice").stdout
    assert team.json("token", "list", "--all", as_="admin")[0]["user"] == "alice"

    team.ok("token", "revoke", str(listed[0]["id"]), as_="alice")
    assert call_me(team.url, secret) == 401
    assert team.json("token", "list", as_="alice")[0]["state"] == "revoked"


def test_tokens_expire(team: Grc):
    data = team.json("token", "create", "bob", "--expires", "1h", as_="admin")
    assert data["expires_at"] and data["token"].startswith("grc_")
    assert call_me(team.url, data["token"]) == 200
    assert "past" in team.fails(2, "token", "create", "bob", "--expires", "2020-01-01", as_="admin")
    assert "duration" in team.fails(2, "token", "create", "bob", "--expires", "soon", as_="admin")


def test_only_administrators_create_tokens_for_others(team: Grc):
    message = team.fails(4, "token", "create", "bob", as_="alice")
    assert "administrator" in message
    assert team.fails(3, "token", "revoke", "999", as_="alice")


def test_serve_says_which_extra_to_install(team: Grc, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fastapi" else real(name, *a)
    )
    message = team.fails(2, "serve")
    assert "pip install 'grc-exchanges[server]'" in message and "fastapi" in message


def test_serve_refuses_several_workers_on_sqlite(team: Grc):
    if not team.url.startswith("sqlite"):
        return  # several workers are what PostgreSQL is for
    assert "PostgreSQL" in team.fails(2, "serve", "--workers", "4")


def test_a_tokens_last_use_is_recorded(team: Grc):
    secret = team.ok("token", "create", "alice", as_="alice").stdout.strip()
    assert team.json("token", "list", as_="alice")[0]["last_used_at"] is None
    assert call_me(team.url, secret) == 200
    assert team.json("token", "list", as_="alice")[0]["last_used_at"] is not None
