"""The pluggy markers of the ``grc`` project.

Plugins import :data:`hookimpl` to mark their hook implementations::

    from grc_core.plugins import hookimpl

    @hookimpl
    def grc_register_storage_backends(register):
        register("example", make_backend)

They live in their own module so that the hook specifications, the manager and every plugin
can import them without importing each other.
"""

from __future__ import annotations

import pluggy

#: The project name: hook names start with ``grc_`` and entry points are in the ``grc`` group.
PROJECT_NAME = "grc"

#: Marks a hook specification (used by :mod:`grc_core.plugins.hookspecs` only).
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a hook implementation in a plugin.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
