"""The plugin module named by the ``grc`` entry point: registers ``example-memory``.

GRC imports this module when it loads its plugins, so it stays light: a real adapter
imports its client library inside the factory, and declares it in ``requires`` so that GRC
can say which extra to install instead of failing at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grc_core.errors import ConfigError
from grc_core.plugins import Setting, hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend
from grc_example_storage.backend import MemoryBackend

#: The keys of ``[grc.storage.example-memory]``: GRC refuses any other, and turns the text
#: of GRC_STORAGE__EXAMPLE_MEMORY__MAX_BYTES into an integer.  A real adapter would add,
#: for example, ``Setting("url", str, required=True)`` and
#: ``Setting("password", str, secret=True)`` (never shown; ``password_file`` accepted).
SETTINGS = [Setting("max_bytes", int, description="the total size the store may hold")]


def make_backend(config: Mapping[str, Any], *, name: str = "example-memory") -> MemoryBackend:
    """Build the backend from its configuration table: ``{"max_bytes": 1048576}``.

    The table is already checked against :data:`SETTINGS`; ``name`` is the table it comes
    from (``[grc.storage.<name>]``), so that an error says which copy is misconfigured.

    :raises ConfigError: a value out of range.
    """
    max_bytes = config.get("max_bytes", 256 * 1024 * 1024)
    if max_bytes <= 0:
        raise ConfigError(
            f"[grc.storage.{name}]: max_bytes must be a positive integer, got {max_bytes!r}"
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
        settings=SETTINGS,
    )
