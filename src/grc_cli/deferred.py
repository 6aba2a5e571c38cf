"""Standard modules SQLAlchemy imports and most commands never use, loaded on first use.

Importing SQLAlchemy imports :mod:`asyncio` (for its asyncio extension) and
:mod:`importlib.metadata` (to look for plugins by entry point), with ``ssl``, ``socket``,
``email`` and ``zipfile`` behind them: about a twentieth of ``grc exchange list``'s CPU time,
for modules a command that reads the database and prints a table never uses.  It also
imports :mod:`hashlib` (OpenSSL's library and its initialisation, 0.7 % of a listing's
instructions) for the digests that shorten over-long generated names, which a listing
never needs.
:func:`defer_unused_modules` puts a stand-in for each in :data:`sys.modules`: importing it
(``import asyncio``, ``from importlib import metadata``) costs nothing, and the first
attribute read (``asyncio.run``, ``metadata.entry_points``) runs the real module in the
stand-in itself, which then *is* the module (same object, same namespace).  A command that
uses them (``grc serve``, ``grc --version``, loading plugins) sees no difference.

Only the console script (:func:`grc_cli.main.main`) does this, before anything imports
them; a host that imports :mod:`grc_cli` or :mod:`grc_core` itself is not affected.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

#: The modules deferred, if nothing imported them yet.
DEFERRED = ("asyncio", "hashlib", "importlib.metadata")

# One lock for every stand-in: loading one may import another (a thread reading a module
# while another thread loads it waits, then reads the loaded module).
_lock = threading.RLock()


class DeferredModule(types.ModuleType):
    """A module whose code runs when an attribute it lacks is first read."""

    _loading = False

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not yet in the namespace (``__spec__``, ``__path__``
        # and the like are set from the start, so the import system reads them freely).
        with _lock:
            if type(self) is DeferredModule and not self._loading:
                self._load()
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None

    def _load(self) -> None:
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        self._loading = True
        spec._initializing = True  # type: ignore[attr-defined]  # as the import system does
        try:
            spec.loader.exec_module(self)
        finally:
            spec._initializing = False  # type: ignore[attr-defined]
            del self._loading
            self.__class__ = types.ModuleType  # type: ignore[assignment]  # plain from now on


def defer(name: str) -> None:
    """Put a stand-in for the module ``name`` in :data:`sys.modules` (and on its parent
    package), unless it is already imported."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = DeferredModule
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def defer_unused_modules() -> None:
    """Defer :data:`DEFERRED`, ready for SQLAlchemy's import."""
    fresh = "asyncio" not in sys.modules
    for name in DEFERRED:
        defer(name)
    if fresh:
        # SQLAlchemy copies ``asyncio.iscoroutine`` when it is imported: give the stand-in
        # the real function (from its small submodule) so that this loads nothing more.
        from asyncio.coroutines import iscoroutine

        sys.modules["asyncio"].__dict__["iscoroutine"] = iscoroutine
