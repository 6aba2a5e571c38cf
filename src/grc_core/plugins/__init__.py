"""The plugin API of GRC exchanges (pluggy, ``grc`` entry-point group).

For plugin authors:

- :data:`hookimpl` — mark hook implementations;
- :class:`Setting` — declare the keys of a backend's or channel's configuration table;
- :mod:`grc_core.plugins.hookspecs` — every hook, with its ``register`` callback types;
- :class:`Scanner`, :class:`Scan`, :class:`ScanVerdict` — the scanner protocol;
- :class:`grc_core.storage.StorageBackend` — the storage backend protocol, and
  :mod:`grc_core.testing.storage_contract` — the tests every backend must pass.

For hosts:

- :func:`make_plugin_manager` — a fresh manager with the installed plugins;
- :class:`Registry` — builds storage backends by name, lists scanners, describes plugins;
- :func:`redact` — hide secret configuration values before showing a configuration.
"""

from grc_core.plugins.manager import ENTRY_POINT_GROUP, GrcPluginManager, make_plugin_manager
from grc_core.plugins.markers import PROJECT_NAME, hookimpl, hookspec
from grc_core.plugins.registry import (
    PluginInfo,
    Registry,
    StorageBackendInfo,
    is_secret_key,
    redact,
)
from grc_core.plugins.scanning import Scan, Scanner, ScanVerdict
from grc_core.plugins.settings import Setting

__all__ = [
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "GrcPluginManager",
    "PluginInfo",
    "Registry",
    "Scan",
    "ScanVerdict",
    "Scanner",
    "Setting",
    "StorageBackendInfo",
    "hookimpl",
    "hookspec",
    "is_secret_key",
    "make_plugin_manager",
    "redact",
]
