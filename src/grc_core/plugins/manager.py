"""Building a plugin manager: hook specs, entry points, explicit plugins, then a check.

There is no global manager.  Each host (the CLI, a web application, a test) calls
:func:`make_plugin_manager` and keeps what it gets, so a test never has to clean up plugins
another test registered (pluggy's eggsample ``host.py`` shape).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import types
from collections.abc import Sequence

import pluggy

from grc_core.errors import PluginError
from grc_core.plugins import hookspecs
from grc_core.plugins.markers import PROJECT_NAME

#: The entry-point group plugins declare themselves in.  GRC's own adapters are declared
#: there too, in GRC's ``pyproject.toml``, exactly as a third party would.
ENTRY_POINT_GROUP = "grc"

_PREFIX = PROJECT_NAME + "_"


class GrcPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` that also treats undecorated ``grc_*`` functions as
    hook implementations.

    As in pytest: a plugin author who forgets ``@hookimpl`` still gets their hook called,
    and one who misspells a hook name gets an error from :meth:`check_pending` instead of a
    plugin that silently does nothing.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """The marker's options, or default options for a ``grc_*`` function."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None or not name.startswith(_PREFIX):
            return opts
        static = inspect.getattr_static(plugin, name, None)
        if not (
            inspect.isfunction(static)
            or isinstance(static, staticmethod | classmethod | types.MethodType)
        ):
            return None
        return {
            "wrapper": False,
            "hookwrapper": False,
            "optionalhook": False,
            "tryfirst": False,
            "trylast": False,
            "specname": None,
        }


def _hook_names() -> list[str]:
    return sorted(n for n in vars(hookspecs) if n.startswith(_PREFIX))


def _unknown_hooks_message(pm: pluggy.PluginManager) -> str | None:
    """Name each unknown hook, its plugin and the closest real hook, or ``None``."""
    known = _hook_names()
    problems = []
    for name, caller in sorted(vars(pm.hook).items()):
        if name.startswith("_") or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if impl.optionalhook:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"plugin {impl.plugin_name!r} implements unknown hook {name!r}{hint}")
    if not problems:
        return None
    return "; ".join(problems) + f"; the {PROJECT_NAME} hooks are: {', '.join(known)}"


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    # Loaded one name at a time so that a broken plugin is named in the error; pluggy's own
    # loop would raise a bare ImportError from somewhere inside it.
    names = sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})
    for name in names:
        if pm.has_plugin(name) or pm.is_blocked(name):
            continue
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=name)
        except Exception as exc:
            sources = ", ".join(
                f"{ep.value} from {ep.dist.name if ep.dist else 'an unknown distribution'}"
                for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
            )
            raise PluginError(
                f"the {ENTRY_POINT_GROUP!r} plugin {name!r} ({sources}) failed to load: "
                f"{type(exc).__name__}: {exc}; uninstall or fix it, or block it by name"
            ) from exc


def make_plugin_manager(
    *,
    autoload: bool = True,
    plugins: Sequence[object] = (),
    blocked: Sequence[str] = (),
) -> pluggy.PluginManager:
    """A new plugin manager with the GRC hooks and the installed plugins.

    In order: add the hook specifications; load every plugin declared in the ``grc``
    entry-point group (GRC's built-in adapters included) when ``autoload`` is true; register
    ``plugins``; check that no plugin implements a hook that does not exist.

    :param autoload: load the installed entry points.  Tests turn it off and pass exactly
        the plugins they need.
    :param plugins: plugin objects (modules, classes, instances) to register explicitly.
    :param blocked: entry-point names not to load (a broken third-party plugin…).
    :raises PluginError: a plugin failed to import, has a hook implementation whose
        arguments do not match its specification, or implements an unknown hook.
    """
    pm = GrcPluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    try:
        if autoload:
            _load_entry_points(pm)
        for plugin in plugins:
            pm.register(plugin)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"invalid {PROJECT_NAME} plugin: {exc}") from exc
    except ValueError as exc:  # pluggy: the same plugin or name registered twice
        raise PluginError(f"cannot register plugin: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_unknown_hooks_message(pm) or str(exc)) from exc
    return pm
