"""Settings: a TOML file, overridden by ``GRC_*`` environment variables, then by options.

Precedence, lowest first: built-in defaults, the configuration file (``--config``,
``$GRC_CONFIG``, or ``$XDG_CONFIG_HOME/grc/config.toml`` when it exists), environment
variables, explicit overrides (command-line options).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from grc_core.errors import ConfigError
from grc_core.timeutil import DEFAULT_TIMEZONE, zone


def default_config_path() -> Path:
    """Where the configuration file is looked for when none is named."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "grc" / "config.toml"


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'grc' / 'grc.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """Validated settings.

    :param database_url: SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).
    :param timezone: IANA zone date-times are shown and typed in.
    :param language: ``fr`` or ``en``, for picklist and category labels.
    :param user: default acting login for the command line.
    """

    database_url: str = ""
    timezone: str = DEFAULT_TIMEZONE
    language: str = "fr"
    user: str | None = None

    def __post_init__(self) -> None:
        zone(self.timezone)
        if self.language not in ("fr", "en"):
            raise ConfigError(f"language {self.language!r} is not supported; accepted: fr, en")
        if not self.database_url:
            object.__setattr__(self, "database_url", default_database_url())


#: Settings keys and their environment variables.
ENV_VARS = {f.name: f"GRC_{f.name.upper()}" for f in fields(Settings)}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    section = data.get("grc", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [grc] must be a table")
    known = set(ENV_VARS)
    unknown = sorted(k for k in section if k not in known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(sorted(known))}"
        )
    for key, value in section.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, got {type(value).__name__}")
    return dict(section)


def load_settings(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> Settings:
    """Build :class:`Settings` from the file, the environment and ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is None and env.get("GRC_CONFIG"):
        config_file = env["GRC_CONFIG"]
    if config_file is not None:
        values.update(_from_file(Path(config_file)))
    elif default_config_path().exists():
        values.update(_from_file(default_config_path()))
    for key, var in ENV_VARS.items():
        if env.get(var):
            values[key] = env[var]
    for key, value in (overrides or {}).items():
        if key not in ENV_VARS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
    return replace(Settings(), **values) if values else Settings()
