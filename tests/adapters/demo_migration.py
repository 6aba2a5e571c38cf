"""`grc storage migrate --to <GED>` on the demo's attachments, through the command line.

Shared by each adapter's tests: run `grc demo` in a fresh folder (SQLite and local disk),
configure the GED against its test server in a TOML file, migrate, then verify every
attachment on the GED by checksum with `grc storage verify`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import create_engine, text

from grc_cli.demo_data import TEAM
from grc_cli.main import cli


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def migrate_demo(tmp_path: Path, name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Migrate the demo's attachments to ``name``; return what the commands reported."""
    runner = CliRunner(env={"NO_COLOR": "1", "GRC_CONFIG": None, "GRC_DATABASE_URL": None})
    folder = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--dir", str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    database = next(folder.glob("*.sqlite3"))
    lines = [
        "[grc]",
        f'database_url = "sqlite:///{database}"',
        "[grc.storage.local]",
        f"root = {_toml(folder / 'attachments')}",
        f"[grc.storage.{name}]",
        *(f"{key} = {_toml(value)}" for key, value in settings.items()),
    ]
    config = tmp_path / "grc.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    admin = TEAM[0].login
    base = ["--config", str(config), "--as", admin]
    migrated = runner.invoke(cli, [*base, "storage", "migrate", "--to", name])
    assert migrated.exit_code == 0, migrated.output
    verified = runner.invoke(cli, [*base, "--json", "storage", "verify", "--grace", "0s"])
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        backends = [row[0] for row in conn.execute(text("SELECT backend FROM attachments"))]
    engine.dispose()
    return {
        "summary": migrated.stdout + migrated.stderr,
        "verify_exit": verified.exit_code,
        "verify": json.loads(verified.stdout) if verified.stdout.strip() else None,
        "backends": backends,
        "local_files": [p for p in (folder / "attachments").rglob("*") if p.is_file()],
    }
