"""``grc storage check NAME`` reports each step and its outcome."""

from __future__ import annotations

import json


def test_storage_check_reports_each_step(team, tmp_path):
    root = str(tmp_path / "blobs")
    result = team.run("storage", "check", "local", as_="admin", GRC_STORAGE__LOCAL__ROOT=root)
    assert result.exit_code == 0, result.stderr
    for step in ("connect", "write a probe", "read it back and verify", "delete it"):
        assert step in result.stderr
    data = json.loads(
        team.ok(
            "--json", "storage", "check", "local", as_="admin", GRC_STORAGE__LOCAL__ROOT=root
        ).stdout
    )
    assert data["ok"] is True and len(data["steps"]) == 5


def test_storage_check_of_an_unknown_backend_fails(team):
    result = team.run("storage", "check", "nowhere", as_="admin")
    assert result.exit_code == 1
    assert "FAILED" in result.stderr and "nowhere" in result.stderr


def test_storage_check_needs_an_administrator(team):
    assert "administrator" in team.fails(4, "storage", "check", "local", as_="alice")
