"""The settings a storage backend or a notification channel declares.

A plugin passes ``settings=[Setting(...), ...]`` to its ``register`` callback.  GRC then
checks the backend's or channel's configuration table before calling the factory:

- a key that is not declared is an error listing the declared ones (``rooot`` for
  ``root`` is caught instead of silently falling back to a default);
- a value of the wrong type is an error; values from environment variables (always text)
  are converted to the declared type (``"30"`` → ``30``, ``"true"`` → ``True``);
- a setting declared ``secret=True`` is never shown (``grc storage backends``, error
  messages), whatever its name — a webhook URL carrying its token included — and may be
  read from a file instead: ``password_file = "/run/secrets/smtp"`` gives ``password``
  the file's content (without its final newline), so that a secret can live in a file
  that only the service account reads (a container or systemd secret);
- a setting declared ``required=True`` that is missing is an error.

The factory receives the checked values: secrets read from their files, values converted.
A plugin that declares nothing gets its table unchecked, as before declarations existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grc_core.errors import ConfigError

#: The types a setting may have (TOML scalars; a path is a string naming a file or folder;
#: ``object``: any scalar, given to the factory unchanged for it to check).
SETTING_TYPES: tuple[type, ...] = (str, int, float, bool, Path, object)
#: The suffix of the key that reads a secret setting from a file.
FILE_SUFFIX = "_file"
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
#: The largest secret file read (a key, a token, a certificate's private key).
MAX_SECRET_FILE = 64 * 1024


@dataclass(frozen=True)
class Setting:
    """One key of a backend's or channel's configuration table.

    :param name: the key, lower-case (``"password"``); the environment variable is
        ``GRC_STORAGE__<BACKEND>__<NAME>`` or ``GRC_CHANNEL__<CHANNEL>__<NAME>``.
    :param type: ``str``, ``int``, ``float``, ``bool``, :class:`pathlib.Path` (given to
        the factory as a string), or ``object``: any string, number or boolean, given
        unchanged (the factory checks it).
    :param secret: never shown; may be given as ``<name>_file``, a file holding the value.
    :param required: the configuration must give it.
    :param description: one line for the documentation and ``grc plugins list``.

    .. versionadded:: 0.2
    """

    name: str
    type: type = str
    secret: bool = False
    required: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name.isidentifier()
            or not (self.name.islower())
        ):
            raise ValueError(f"a setting name is a lower-case identifier, not {self.name!r}")
        if self.type not in SETTING_TYPES:
            accepted = ", ".join(t.__name__ for t in SETTING_TYPES)
            raise ValueError(f"setting {self.name!r}: type must be one of {accepted}")


def declare(
    names: Iterable[str],
    *,
    secrets: Iterable[str] = (),
    types: Mapping[str, type] | None = None,
    required: Iterable[str] = (),
) -> list[Setting]:
    """Settings from lists of names, for a plugin whose factory already checks values:
    ``declare(("url", "user", "password"), secrets=("password",))``.  A setting's type is
    ``types[name]``, else ``object`` (unchanged); secrets are text."""
    hidden, needed, kinds = frozenset(secrets), frozenset(required), dict(types or {})
    return [
        Setting(
            name,
            kinds.get(name, str if name in hidden else object),
            secret=name in hidden,
            required=name in needed,
        )
        for name in names
    ]


def accepted_keys(declared: Sequence[Setting]) -> list[str]:
    """The keys a table may hold, sorted: every setting, and ``<name>_file`` for each
    secret."""
    keys = [s.name for s in declared]
    keys += [s.name + FILE_SUFFIX for s in declared if s.secret]
    return sorted(keys)


def secret_keys(declared: Sequence[Setting]) -> frozenset[str]:
    """The keys whose values are never shown."""
    return frozenset(s.name for s in declared if s.secret)


def _convert(owner: str, setting: Setting, value: object) -> object:
    kind = setting.type
    wrong = ConfigError(
        f"{owner}: {setting.name} must be {_kind_name(kind)}, got "
        + ("a secret value" if setting.secret else repr(value))
    )
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in (*_TRUE, *_FALSE):
            return value.strip().lower() in _TRUE
        raise wrong
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise wrong from None
        raise wrong
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise wrong from None
        raise wrong
    if kind is object:
        if not isinstance(value, str | int | float | bool):
            raise wrong
        return value
    # str and Path: text
    if not isinstance(value, str):
        raise wrong
    return value


def _kind_name(kind: type) -> str:
    return {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
        object: "a string, number or boolean",
    }.get(kind, kind.__name__)


def _read_secret(owner: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{owner}: {key} must be the path of a file")
    path = Path(value).expanduser()
    try:
        with path.open("rb") as fh:
            content = fh.read(MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"{owner}: cannot read {key} {path}: {exc.strerror}") from None
    if len(content) > MAX_SECRET_FILE:
        raise ConfigError(f"{owner}: {key} {path} is larger than {MAX_SECRET_FILE} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{owner}: {key} {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


def check_settings(
    owner: str, declared: Sequence[Setting] | None, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The checked values of ``config`` for ``declared`` settings (see the module).

    :param owner: how messages name the table (``"the 'archive' storage backend (type
        local)"``).
    :param declared: the settings, or ``None`` when the plugin declared none (the table is
        then returned as it is).
    :raises ConfigError: an unknown key, a wrong value, an unreadable secret file, a
        missing required setting; the message lists the accepted keys and never holds a
        secret value.
    """
    if declared is None:
        return dict(config)
    by_name = {s.name: s for s in declared}
    files = {s.name + FILE_SUFFIX: s for s in declared if s.secret}
    unknown = sorted(k for k in config if k not in by_name and k not in files)
    if unknown:
        accepted = ", ".join(accepted_keys(declared)) or "none"
        raise ConfigError(
            f"{owner} has no setting {', '.join(map(repr, unknown))}; accepted: {accepted}"
        )
    checked: dict[str, Any] = {}
    for key, value in config.items():
        if key in files:
            setting = files[key]
            if setting.name in config:
                raise ConfigError(f"{owner}: give {setting.name} or {key}, not both")
            checked[setting.name] = _read_secret(owner, key, value)
        else:
            checked[key] = _convert(owner, by_name[key], value)
    missing = [s.name for s in declared if s.required and s.name not in checked]
    if missing:
        raise ConfigError(f"{owner}: missing setting(s) {', '.join(missing)}")
    return checked
