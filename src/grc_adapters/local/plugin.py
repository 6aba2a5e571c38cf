"""The ``local`` plugin: registers :class:`~grc_adapters.local.LocalDiskBackend`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    local = "grc_adapters.local.plugin"

Configuration (all optional)::

    root = "/srv/grc/blobs"      # default: $XDG_DATA_HOME/grc/blobs
    temp_grace_seconds = 3600    # when an unwritten temporary file counts as abandoned
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from grc_adapters.local.backend import DEFAULT_TEMP_GRACE, LocalDiskBackend, default_root
from grc_core.errors import ConfigError
from grc_core.plugins import Setting, hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend

_ACCEPTED = ("root", "temp_grace_seconds")


def make_local_backend(config: Mapping[str, Any]) -> LocalDiskBackend:
    """Build the local backend from ``{"root": path, "temp_grace_seconds": n}``.

    :raises ConfigError: an unknown key, or a value of the wrong type.
    """
    unknown = sorted(k for k in config if k not in _ACCEPTED)
    if unknown:
        raise ConfigError(
            f"the 'local' storage backend has no setting {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(_ACCEPTED)}"
        )
    root = config.get("root") or default_root()
    if not isinstance(root, str | os.PathLike):
        raise ConfigError(
            f"the 'local' storage backend's root must be a path, not {type(root).__name__}"
        )
    return LocalDiskBackend(Path(root), temp_grace=_grace(config.get("temp_grace_seconds")))


def _grace(value: object) -> timedelta:
    if value is None:
        return DEFAULT_TEMP_GRACE
    # Environment variables (GRC_STORAGE__LOCAL__TEMP_GRACE_SECONDS) arrive as strings.
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            seconds = None
    # ``not seconds >= 0`` also refuses NaN.
    if seconds is None or not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(
            f"the 'local' storage backend's temp_grace_seconds must be a number >= 0, got {value!r}"
        )
    return timedelta(seconds=seconds)


@hookimpl
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register ``local``."""
    register(
        "local",
        make_local_backend,
        description="files under a directory of this machine (the embedded default)",
        settings=[
            Setting("root", Path, description="the folder holding the blobs"),
            Setting("temp_grace_seconds", float, description="age of an abandoned upload"),
        ],
    )
