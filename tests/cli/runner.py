"""A ``grc`` runner for the tests: in-process, isolated from the developer's settings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from grc_cli.main import cli


def cli_env(home: Path) -> dict[str, str | None]:
    """An environment free of the developer's GRC settings, colours and terminal width."""
    return {
        "NO_COLOR": "1",
        "COLUMNS": "250",
        "GRC_DATABASE_URL": None,
        "GRC_USER": None,
        "GRC_READ_URL": None,
        "GRC_CONFIG": None,
        "GRC_TIMEZONE": None,
        "GRC_LANGUAGE": None,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        # Storage settings too: a developer's GRC_STORAGE__LOCAL__ROOT must not receive
        # the tests' attachments (the local root defaults to XDG_DATA_HOME/grc/attachments).
        "GRC_STORAGE_BACKEND": None,
        **{
            name: None for name in os.environ if name.startswith(("GRC_STORAGE__", "GRC_CHANNEL__"))
        },
    }


class Grc:
    """Runs ``grc --db URL [--as LOGIN] ARGS…`` in-process and checks the outcome."""

    def __init__(self, url: str | None, home: Path) -> None:
        self.url = url
        self.home = home
        self.runner = CliRunner(env=cli_env(home))

    def run(
        self, *args: str, as_: str | None = None, input: str | None = None, **env: str | None
    ) -> Result:
        prefix = ["--db", self.url] if self.url else []
        if as_ is not None:
            prefix += ["--as", as_]
        return self.runner.invoke(
            cli, [*prefix, *args], input=input, env=env or None, catch_exceptions=False
        )

    def ok(self, *args: str, **kwargs: Any) -> Result:
        result = self.run(*args, **kwargs)
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}{result.stdout}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok("--json", *args, **kwargs).stdout)

    def fails(self, code: int, *args: str, **kwargs: Any) -> str:
        """Run a command that must fail with ``code``; return its one-line error message."""
        result = self.run(*args, **kwargs)
        assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), lines[0]
        return lines[0].removeprefix("error: ")

    def usage_error(self, *args: str, **kwargs: Any) -> str:
        """Run a command click refuses (exit 2 with its usage text); return stderr."""
        result = self.run(*args, **kwargs)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        return result.stderr
