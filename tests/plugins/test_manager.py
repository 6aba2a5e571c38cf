"""The plugin manager factory: fresh managers, entry points, and early errors."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import grc_adapters.local.plugin as local_plugin
from grc_core.errors import PluginError
from grc_core.plugins import ENTRY_POINT_GROUP, hookimpl, make_plugin_manager
from grc_core.plugins.hookspecs import RegisterStorageBackend


class CountingPlugin:
    """Registers nothing; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def grc_register_storage_backends(self, register: RegisterStorageBackend) -> None:
        self.calls += 1


def test_every_call_returns_a_new_manager() -> None:
    plugin = CountingPlugin()
    first = make_plugin_manager(autoload=False, plugins=[plugin])
    second = make_plugin_manager(autoload=False)
    assert first is not second
    assert first.is_registered(plugin)
    assert not second.is_registered(plugin)
    assert second.get_plugins() == set()


def test_without_autoload_only_explicit_plugins_are_registered() -> None:
    pm = make_plugin_manager(autoload=False, plugins=[local_plugin])
    assert pm.get_plugins() == {local_plugin}
    assert pm.list_plugin_distinfo() == []


def test_the_builtin_local_backend_is_declared_and_loaded_as_an_entry_point() -> None:
    declared = {
        ep.name: ep.value
        for ep in importlib.metadata.distribution("grc-exchanges").entry_points
        if ep.group == ENTRY_POINT_GROUP
    }
    assert declared.get("local") == "grc_adapters.local.plugin"
    pm = make_plugin_manager()
    assert pm.get_plugin("local") is local_plugin
    dists = {pm.get_name(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    assert dists["local"].project_name == "grc-exchanges"


def test_blocked_entry_points_are_not_loaded() -> None:
    pm = make_plugin_manager(blocked=["local"])
    assert not pm.has_plugin("local")
    assert pm.is_blocked("local")


def test_hook_specs_are_present_without_any_plugin() -> None:
    pm = make_plugin_manager(autoload=False)
    for name in (
        "grc_register_storage_backends",
        "grc_register_scanners",
        "grc_register_notification_channels",
        "grc_register_commands",
    ):
        assert getattr(pm.hook, name).has_spec()


def _module(name: str, **functions: Callable[..., Any]) -> ModuleType:
    module = ModuleType(name)
    for attr, function in functions.items():
        setattr(module, attr, function)
    return module


def test_a_misspelt_marked_hook_is_refused_with_a_suggestion() -> None:
    @hookimpl
    def grc_register_storage_backend(register: RegisterStorageBackend) -> None:
        pass

    plugin = _module("typo_plugin", grc_register_storage_backend=grc_register_storage_backend)
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(autoload=False, plugins=[plugin])
    message = str(caught.value)
    assert "plugin 'typo_plugin' implements unknown hook 'grc_register_storage_backend'" in message
    assert "did you mean 'grc_register_storage_backends'" in message


def test_a_misspelt_unmarked_hook_is_refused_too() -> None:
    def grc_register_scaners(register: object) -> None:
        pass

    plugin = _module("unmarked_typo", grc_register_scaners=grc_register_scaners)
    with pytest.raises(PluginError, match="did you mean 'grc_register_scanners'"):
        make_plugin_manager(autoload=False, plugins=[plugin])


def test_an_unmarked_hook_is_still_called() -> None:
    calls: list[object] = []

    def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
        calls.append(register)

    pm = make_plugin_manager(
        autoload=False,
        plugins=[_module("unmarked", grc_register_storage_backends=grc_register_storage_backends)],
    )
    pm.hook.grc_register_storage_backends(register="r")
    assert calls == ["r"]


def test_grc_prefixed_values_that_are_not_functions_are_ignored() -> None:
    plugin = ModuleType("with_constant")
    plugin.grc_version = "1.0"  # type: ignore[attr-defined]
    make_plugin_manager(autoload=False, plugins=[plugin])


def test_an_optional_unknown_hook_is_accepted() -> None:
    @hookimpl(optionalhook=True)
    def grc_future_hook() -> None:
        pass

    make_plugin_manager(
        autoload=False, plugins=[_module("future", grc_future_hook=grc_future_hook)]
    )


def test_a_hook_with_wrong_arguments_is_refused() -> None:
    @hookimpl
    def grc_register_storage_backends(registry: object) -> None:
        pass

    plugin = _module("wrong_args", grc_register_storage_backends=grc_register_storage_backends)
    with pytest.raises(PluginError, match="registry"):
        make_plugin_manager(autoload=False, plugins=[plugin])


def test_the_same_plugin_twice_is_refused() -> None:
    plugin = CountingPlugin()
    with pytest.raises(PluginError, match="already registered"):
        make_plugin_manager(autoload=False, plugins=[plugin, plugin])


def test_a_third_party_entry_point_is_loaded_with_its_distribution(
    fake_distribution: Callable[..., str],
) -> None:
    module = fake_distribution(
        """
        def grc_register_storage_backends(register):
            pass
        """,
        entry_name="fake",
        dist_name="fake-grc-plugin",
        version="1.2.3",
    )
    pm = make_plugin_manager()
    plugin = pm.get_plugin("fake")
    assert plugin is not None and plugin.__name__ == module
    dists = {pm.get_name(p): d for p, d in pm.list_plugin_distinfo()}
    assert (dists["fake"].project_name, dists["fake"].version) == ("fake-grc-plugin", "1.2.3")
    assert pm.has_plugin("local")  # the built-in is loaded the same way, alongside


def test_a_plugin_that_fails_to_import_is_named(fake_distribution: Callable[..., str]) -> None:
    fake_distribution("import grc_no_such_client_library\n", entry_name="broken")
    with pytest.raises(PluginError) as caught:
        make_plugin_manager()
    message = str(caught.value)
    assert "the 'grc' plugin 'broken'" in message
    assert "from fake-grc-plugin" in message
    assert "grc_no_such_client_library" in message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_broken_plugin_can_be_blocked(fake_distribution: Callable[..., str]) -> None:
    fake_distribution("raise RuntimeError('broken at import')\n", entry_name="broken")
    pm = make_plugin_manager(blocked=["broken"])
    assert pm.has_plugin("local") and not pm.has_plugin("broken")


def test_a_misspelt_hook_in_an_installed_plugin_is_refused(
    fake_distribution: Callable[..., str],
) -> None:
    fake_distribution(
        """
        def grc_register_storage_backend(register):
            pass
        """,
        entry_name="typo",
    )
    with pytest.raises(PluginError, match="plugin 'typo' implements unknown hook"):
        make_plugin_manager()
