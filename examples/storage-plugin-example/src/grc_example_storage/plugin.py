"""The plugin module named by the ``grc`` entry point: registers ``example-memory``.

GRC imports this module when it loads its plugins, so it stays light: a real adapter
imports its client library inside the factory, and declares it in ``requires`` so that GRC
can say which extra to install instead of failing at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_core.errors import ConfigError
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend
from grc_example_storage.backend import MemoryBackend


def make_backend(config: Mapping[str, Any]) -> MemoryBackend:
    """Build the backend from its configuration table: ``{"max_bytes": 1048576}``.

    :raises ConfigError: an unknown key or a bad value; the message lists what is accepted.
    """
    unknown = sorted(set(config) - {"max_bytes"})
    if unknown:
        raise ConfigError(
            f"the 'example-memory' storage backend has no setting {', '.join(unknown)}; "
            "accepted: max_bytes"
        )
    max_bytes = config.get("max_bytes", 256 * 1024 * 1024)
    if isinstance(max_bytes, str) and max_bytes.isdigit():
        # Values set through environment variables (GRC_STORAGE__EXAMPLE_MEMORY__MAX_BYTES)
        # arrive as strings.
        max_bytes = int(max_bytes)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
        raise ConfigError(
            f"the 'example-memory' storage backend's max_bytes must be a positive integer, "
            f"got {max_bytes!r}"
        )
    return MemoryBackend(max_bytes=max_bytes)


@hookimpl
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register the backend.  A backend needing a client library would add, for example,
    ``requires=["everteam_client"], extra="client"``."""
    register(
        "example-memory",
        make_backend,
        description="in memory, lost at exit (example third-party plugin)",
    )
