"""Settings: a TOML file, overridden by ``GRC_*`` environment variables, then by options.

Precedence, lowest first: built-in defaults, the configuration file (``--config``,
``$GRC_CONFIG``, or ``$XDG_CONFIG_HOME/grc/config.toml`` when it exists), environment
variables, explicit overrides (command-line options).

Storage backends are configured in ``[grc.storage.<name>]`` tables; an environment variable
``GRC_STORAGE__<NAME>__<KEY>`` (double underscores, ``-`` in a name written ``_``) overrides
one value, so that secrets can stay out of the file.  ``GRC_STORAGE__NEXTCLOUD_ARCHIVE__…``
sets a value of the table ``[grc.storage.nextcloud-archive]`` when the file has it (never a
second backend ``nextcloud_archive``).

Which keys a table may hold is known only to the plugin that provides the backend or the
channel: :func:`grc_core.backends.check_configuration` checks the tables against the
installed plugins (unknown tables and keys are errors that list the known ones).

Notification channels are configured the same way, in ``[grc.channels.<name>]`` tables, and
``GRC_CHANNEL__<NAME>__<KEY>`` overrides one value (``GRC_CHANNEL__EMAIL__PASSWORD``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from grc_core.errors import ConfigError
from grc_core.timeutil import DEFAULT_TIMEZONE, zone


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "grc"


def default_config_path() -> Path:
    """Where the configuration file is looked for when none is named."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "grc" / "config.toml"


def default_database_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    return f"sqlite:///{_data_home() / 'grc.sqlite3'}"


def default_storage_root() -> Path:
    """Where the local disk backend keeps attachments unless configured otherwise."""
    return _data_home() / "attachments"


#: A backend's configuration: plain TOML values.
BackendConfig = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class Settings:
    """Validated settings.

    :param database_url: SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).
    :param timezone: IANA zone date-times are shown and typed in.
    :param language: ``fr`` or ``en``, for picklist and category labels.
    :param user: default acting login for the command line.
    :param storage_backend: the backend new attachments go to (default ``local``).
    :param storage: each backend's configuration, by backend name.
    :param channels: each notification channel's configuration, by channel name.
    :param read_url: optional URL of a PostgreSQL streaming replica of ``database_url``;
        read-only sessions are served by it (see :class:`grc_core.facade.Grc`).
    """

    database_url: str = ""
    read_url: str = ""
    timezone: str = DEFAULT_TIMEZONE
    language: str = "fr"
    user: str | None = None
    storage_backend: str = "local"
    storage: dict[str, BackendConfig] = field(default_factory=dict)
    channels: dict[str, BackendConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        zone(self.timezone)
        if self.language not in ("fr", "en"):
            raise ConfigError(f"language {self.language!r} is not supported; accepted: fr, en")
        if not self.database_url:
            object.__setattr__(self, "database_url", default_database_url())
        elif self.database_url != default_database_url():
            _check_sqlite_folder(self.database_url)
        if not self.storage_backend:
            raise ConfigError("storage_backend cannot be empty; e.g. 'local'")

    def backend_config(self, name: str) -> BackendConfig:
        """The configuration of backend ``name`` (the local root defaults to the data dir)."""
        config = dict(_table(self.storage, name))
        if name == "local" and config.get("type", "local") == "local":
            config.setdefault("root", str(default_storage_root()))
        return config

    def channel_config(self, name: str) -> BackendConfig:
        """The configuration of notification channel ``name`` (empty when not configured)."""
        return dict(_table(self.channels, name))


def _check_sqlite_folder(url: str) -> None:
    """A SQLite file in a folder that does not exist is a mistyped path: refuse it rather
    than create the folders and an empty database there.  (The default database's folder,
    in the user's data directory, is created when first used.)"""
    if not url.startswith("sqlite:///") or "?" in url:
        return  # not SQLite, or a URI with options (mode=memory…): SQLite judges
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    folder = Path(path).expanduser().parent
    if not folder.is_dir():
        raise ConfigError(
            f"the folder {folder} of the SQLite database {path} does not exist; create it "
            "first, or correct the path"
        )


def _table(tables: Mapping[str, BackendConfig], name: str) -> BackendConfig:
    # Environment variables cannot spell "-": GRC_STORAGE__MY_GED__URL configures my-ged,
    # whose table only the environment may have given (under the name my_ged).
    if name in tables:
        return tables[name]
    return tables.get(_env_name(name), {})


def _env_name(name: str) -> str:
    """How an environment variable spells a backend or channel name."""
    return name.replace("-", "_").lower()


#: Scalar settings and their environment variables.
_TABLES = ("storage", "channels")
ENV_VARS = {f.name: f"GRC_{f.name.upper()}" for f in fields(Settings) if f.name not in _TABLES}
STORAGE_ENV_PREFIX = "GRC_STORAGE__"
CHANNEL_ENV_PREFIX = "GRC_CHANNEL__"


def _storage_tables(
    path: Path, tables: object, section: str = "storage", what: str = "backend"
) -> dict[str, BackendConfig]:
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [grc.{section}] must hold one table per {what}")
    result: dict[str, BackendConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [grc.{section}.{name}] must be a table")
        for key, value in table.items():
            if not isinstance(value, str | int | float | bool):
                raise ConfigError(
                    f"{path}: {section}.{name}.{key} must be a string, number or boolean"
                )
        result[name] = dict(table)
    return result


def _from_file(path: Path) -> dict[str, Any]:
    import tomllib  # here: settings from GRC_* variables alone need no TOML parser

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
    if "grc" in data and len(data) > 1:
        outside = ", ".join(sorted(k for k in data if k != "grc"))
        raise ConfigError(
            f"{path}: {outside} outside the [grc] table; with a [grc] table every setting "
            "goes in it (grc.database_url, [grc.storage.local]…)"
        )
    section = dict(data.get("grc", data))
    known = [*ENV_VARS, "storage", "channels"]
    unknown = sorted(k for k in section if k not in known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    if "storage" in section:
        values["storage"] = _storage_tables(path, section.pop("storage"))
    if "channels" in section:
        values["channels"] = _storage_tables(path, section.pop("channels"), "channels", "channel")
    for key, value in section.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, got {type(value).__name__}")
        values[key] = value
    return values


def _storage_from_env(
    env: Mapping[str, str],
    storage: dict[str, BackendConfig],
    prefix: str = STORAGE_ENV_PREFIX,
    what: str = "BACKEND",
) -> None:
    for var, value in env.items():
        if not var.startswith(prefix):
            continue
        name, sep, key = var.removeprefix(prefix).partition("__")
        if not sep or not name or not key:
            raise ConfigError(f"environment variable {var} should be named {prefix}<{what}>__<KEY>")
        # The table of the file this variable spells (my-ged for MY_GED), else its own.
        spelt = _env_name(name)
        matching = [n for n in storage if _env_name(n) == spelt]
        if len(matching) > 1:
            raise ConfigError(
                f"environment variable {var} could set [{', '.join(sorted(matching))}]: "
                "rename one of these tables"
            )
        storage.setdefault(matching[0] if matching else spelt, {})[key.lower()] = value


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
    storage = values.setdefault("storage", {})
    _storage_from_env(env, storage)
    channels = values.setdefault("channels", {})
    _storage_from_env(env, channels, CHANNEL_ENV_PREFIX, "CHANNEL")
    for key, value in (overrides or {}).items():
        if key not in ENV_VARS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is not None:
            values[key] = value
    default = values.get("storage_backend")
    if isinstance(default, str) and default not in storage and _env_name(default) in storage:
        # GRC_STORAGE__MY_GED__… alone configures the default backend my-ged: its table is
        # my-ged's (not a second backend my_ged next to it).
        storage[default] = storage.pop(_env_name(default))
    return replace(Settings(), **values)
