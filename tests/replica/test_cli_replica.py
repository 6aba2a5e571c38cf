"""The command line with ``GRC_READ_URL``: a command shows what it recorded (from the
primary), and listing commands, each a new process, read the replica."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from grc_cli.main import cli
from grc_core.facade import Grc

from .cluster import Replicated
from .test_replica import grc_login, replay_paused


def test_the_cli_records_on_the_primary_and_lists_from_the_replica(
    replicated: Replicated, people: dict[str, int], tmp_path: Path
) -> None:
    with Grc.from_url(replicated.primary_url) as grc:
        alice, bob = grc_login(grc, people["alice"]), grc_login(grc, people["bob"])
    runner = CliRunner(
        env={
            "GRC_DATABASE_URL": replicated.primary_url,
            "GRC_READ_URL": replicated.replica_url,
            "GRC_CONFIG": None,
            "GRC_USER": None,
            "NO_COLOR": "1",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
    )

    def grc_json(*args: str) -> Any:
        result = runner.invoke(cli, ["--json", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    company = str(people["acme"])
    with replay_paused(replicated):
        made = grc_json(
            "--as", alice, "exchange", "add", "--subject", "Visite atelier",
            "--start", "2026-03-02T10:00", "--action", "meeting", "--company", company,
        )  # fmt: skip
        assert made["subject"] == "Visite atelier"  # shown from the session that wrote it
        listed = grc_json("--as", bob, "history", "company", company)
        assert made["id"] not in [e["id"] for e in listed["entries"]]  # the paused replica
    listed = grc_json("--as", bob, "history", "company", company)
    assert made["id"] in [e["id"] for e in listed["entries"]]
