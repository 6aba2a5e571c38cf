"""The registry: backends by name, install hints, conflicts, scanners, descriptions, secrets."""

from __future__ import annotations

import io
import json
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
import pytest

import grc_adapters.local.plugin as local_plugin
from grc_adapters.local import LocalDiskBackend
from grc_core.errors import (
    BackendNotInstalled,
    ConfigError,
    GrcError,
    PluginError,
    UnknownBackend,
)
from grc_core.plugins import Registry, hookimpl, is_secret_key, redact
from grc_core.plugins.hookspecs import (
    RegisterNotificationChannel,
    RegisterScanner,
    RegisterStorageBackend,
)
from grc_core.storage import StorageBackend
from grc_core.testing.scanners import EICAR, EicarScanner, EicarScannerPlugin


class BackendsPlugin:
    """Registers the given backends: ``(name, factory, options)``."""

    def __init__(self, *backends: tuple[str, Callable[..., Any], dict[str, Any]]) -> None:
        self.backends = backends
        self.calls = 0

    @hookimpl
    def grc_register_storage_backends(self, register: RegisterStorageBackend) -> None:
        self.calls += 1
        for name, factory, options in self.backends:
            register(name, factory, **options)


def registry(*plugins: object) -> Registry:
    return Registry.load(autoload=False, plugins=plugins)


def never_called(config: Mapping[str, Any]) -> StorageBackend:
    raise AssertionError("the factory must not be called")


# --- building backends --------------------------------------------------------------------


def test_the_local_backend_is_built_from_its_configuration(tmp_path: Path) -> None:
    backend = registry(local_plugin).storage_backend("local", {"root": str(tmp_path / "b")})
    assert isinstance(backend, LocalDiskBackend)
    assert isinstance(backend, StorageBackend)
    assert backend.root == (tmp_path / "b").resolve()


def test_the_factory_gets_a_read_only_copy_of_the_configuration() -> None:
    seen: list[Mapping[str, Any]] = []

    def factory(config: Mapping[str, Any]) -> LocalDiskBackend:
        seen.append(config)
        with pytest.raises(TypeError):
            config["root"] = "elsewhere"  # type: ignore[index]
        return LocalDiskBackend(config["root"])

    reg = registry(BackendsPlugin(("spy", factory, {})))
    original = {"root": "/tmp/grc-test-spy"}
    reg.storage_backend("spy", original)
    assert seen[0] == original and seen[0] is not original


def test_an_unknown_backend_lists_the_registered_names() -> None:
    reg = registry(local_plugin, BackendsPlugin(("archive", never_called, {})))
    with pytest.raises(UnknownBackend) as caught:
        reg.storage_backend("sharepoint", {})
    assert isinstance(caught.value, LookupError)
    assert (
        str(caught.value) == "no storage backend is named 'sharepoint'; available: archive, local"
    )
    assert caught.value.available == ["archive", "local"]


def test_a_backend_whose_client_is_missing_names_the_extra_to_install() -> None:
    plugin = BackendsPlugin(
        (
            "sharepoint",
            never_called,
            {"requires": ["grc_test_missing_office365"], "extra": "sharepoint"},
        )
    )
    reg = registry(plugin)
    assert reg.storage_backend_names() == ["sharepoint"]  # listed all the same
    with pytest.raises(BackendNotInstalled) as caught:
        reg.storage_backend("sharepoint", {"site_url": "https://x"})
    assert isinstance(caught.value, ImportError)
    assert str(caught.value) == (
        "the 'sharepoint' storage backend needs the module grc_test_missing_office365, which is "
        "not installed: pip install 'grc-exchanges[sharepoint]'"
    )
    [info] = reg.storage_backends()
    assert not info.available
    assert info.missing == ("grc_test_missing_office365",)
    assert info.install == "grc-exchanges[sharepoint]"


def test_a_missing_parent_package_counts_as_missing() -> None:
    plugin = BackendsPlugin(("cmis", never_called, {"requires": ["grc_no_pkg.sub.module"]}))
    with pytest.raises(BackendNotInstalled, match=r"grc_no_pkg\.sub\.module"):
        registry(plugin).storage_backend("cmis")


def test_required_modules_are_found_without_being_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "grc_test_heavy_client.py").write_text("raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    built: list[str] = []

    def factory(config: Mapping[str, Any]) -> LocalDiskBackend:
        built.append("yes")
        return LocalDiskBackend(tmp_path / "blobs")

    reg = registry(BackendsPlugin(("heavy", factory, {"requires": ["grc_test_heavy_client"]})))
    [info] = reg.storage_backends()
    assert info.available
    reg.storage_backend("heavy")
    assert built == ["yes"]
    assert "grc_test_heavy_client" not in sys.modules


def test_a_factory_importing_a_missing_module_gets_an_install_hint() -> None:
    def factory(config: Mapping[str, Any]) -> StorageBackend:
        import grc_test_undeclared_client  # type: ignore[import-not-found]  # noqa: F401

        raise AssertionError("unreachable")

    reg = registry(BackendsPlugin(("nuxeo", factory, {"extra": "nuxeo"})))
    with pytest.raises(BackendNotInstalled, match=r"grc_test_undeclared_client.*\[nuxeo\]"):
        reg.storage_backend("nuxeo")


def test_configuration_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="accepted: root, temp_grace_seconds"):
        registry(local_plugin).storage_backend("local", {"rooot": str(tmp_path)})


def test_a_factory_returning_something_else_is_refused() -> None:
    reg = registry(BackendsPlugin(("odd", lambda config: object(), {})))
    with pytest.raises(PluginError, match="returned object, which lacks the StorageBackend"):
        reg.storage_backend("odd")


def test_a_crashing_factory_is_a_plugin_error_naming_the_backend() -> None:
    def factory(config: Mapping[str, Any]) -> StorageBackend:
        raise RuntimeError("server said no")

    with pytest.raises(PluginError, match="'crash' storage backend could not be created"):
        registry(BackendsPlugin(("crash", factory, {}))).storage_backend("crash", {"url": "u"})


# --- secrets ------------------------------------------------------------------------------


def test_redact_hides_secret_looking_values_at_any_depth() -> None:
    config = {
        "root": "/srv/blobs",
        "site_url": "https://example.org",
        "username": "grc",
        "Password": "hunter2",
        "api_key": "k-123",
        "clientSecret": "s",
        "access_token": "t",
        "client_certificate": "-----BEGIN",
        "passphrase": "p",
        "credentials": {"user": "u", "pass": "p2"},
        "servers": [{"host": "a", "token": "t2"}],
        "empty_password": "",
        "unset_token": None,
    }
    assert redact(config) == {
        "root": "/srv/blobs",
        "site_url": "https://example.org",
        "username": "grc",
        "Password": "***",
        "api_key": "***",
        "clientSecret": "***",
        "access_token": "***",
        "client_certificate": "***",
        "passphrase": "***",
        "credentials": "***",
        "servers": [{"host": "a", "token": "***"}],
        "empty_password": "",
        "unset_token": None,
    }
    assert config["Password"] == "hunter2"  # a copy: the original is untouched


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("private_key", True),
        ("sslcert", True),
        ("root", False),
        ("site_url", False),
        ("username", False),
        ("timeout", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def _everything_printed(error: BaseException) -> str:
    """The messages a traceback of ``error`` would print, its whole chain included.

    (Not the traceback's source lines: they would show this test's own literals.)
    """
    printed = []
    current: BaseException | None = error
    while current is not None:
        printed += [*traceback.format_exception_only(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "".join(printed)


def test_secrets_never_appear_in_errors_from_a_factory() -> None:
    def factory(config: Mapping[str, Any]) -> StorageBackend:
        raise RuntimeError(f"login failed for {config['username']} with {config['password']}")

    reg = registry(BackendsPlugin(("ged", factory, {})))
    config = {"username": "grc", "password": "hunter2-Secret!", "url": "https://ged"}
    with pytest.raises(PluginError) as caught:
        reg.storage_backend("ged", config)
    printed = _everything_printed(caught.value)
    assert "hunter2-Secret!" not in printed
    assert "login failed for grc with ***" in str(caught.value)
    assert "'password': '***'" in str(caught.value)  # the redacted configuration is shown
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_secrets_never_appear_in_grc_errors_from_a_factory() -> None:
    def factory(config: Mapping[str, Any]) -> StorageBackend:
        raise ConfigError(f"token {config['token']} has expired")

    reg = registry(BackendsPlugin(("ged", factory, {})))
    with pytest.raises(GrcError) as caught:
        reg.storage_backend("ged", {"token": "tok-987654"})
    assert "tok-987654" not in _everything_printed(caught.value)
    assert "token *** has expired" in str(caught.value)


def test_describe_holds_no_configuration(tmp_path: Path) -> None:
    reg = registry(local_plugin)
    reg.storage_backend("local", {"root": str(tmp_path), "temp_grace_seconds": 5})
    text = json.dumps([info.as_dict() for info in reg.describe()])
    assert str(tmp_path) not in text


# --- registration rules -------------------------------------------------------------------


def test_two_plugins_registering_one_name_is_an_error_naming_both() -> None:
    first = BackendsPlugin(("local", never_called, {}))
    with pytest.raises(PluginError) as caught:
        registry(local_plugin, first)
    message = str(caught.value)
    assert "the storage backend 'local' is registered by both plugin" in message
    assert "'grc_adapters.local.plugin'" in message


@pytest.mark.parametrize("name", ["", "Local", "my backend", "../x", "x" * 65, 42])
def test_invalid_names_are_refused(name: object) -> None:
    with pytest.raises(PluginError, match="a name is 1 to 64 characters"):
        registry(BackendsPlugin((name, never_called, {})))  # type: ignore[arg-type]


def test_a_factory_must_be_callable() -> None:
    with pytest.raises(PluginError, match="not callable"):
        registry(BackendsPlugin(("x", "not a function", {})))  # type: ignore[arg-type]


def test_requires_must_name_modules() -> None:
    with pytest.raises(PluginError, match="not a module name"):
        registry(BackendsPlugin(("x", never_called, {"requires": ["office365-rest-client"]})))


def test_a_single_string_requires_is_one_module() -> None:
    reg = registry(BackendsPlugin(("x", never_called, {"requires": "grc_absent_mod"})))
    assert reg.storage_backends()[0].requires == ("grc_absent_mod",)


def test_a_hook_that_raises_is_a_plugin_error_naming_the_plugin() -> None:
    class Crashing:
        @hookimpl
        def grc_register_storage_backends(self, register: RegisterStorageBackend) -> None:
            raise KeyError("oops")

    with pytest.raises(PluginError, match=r"plugin '\d+' failed in grc_register_storage_backends"):
        registry(Crashing())


def test_registration_hooks_are_called_once_per_registry() -> None:
    plugin = BackendsPlugin(("a", never_called, {}))
    reg = registry(plugin, local_plugin)
    reg.storage_backend_names()
    reg.storage_backends()
    reg.describe()
    assert plugin.calls == 1


# --- scanners, channels, commands ---------------------------------------------------------


def test_scanners_are_registered_and_scan_in_chunks() -> None:
    plugin = EicarScannerPlugin()
    [scanner] = registry(plugin).scanners()
    assert scanner is plugin.scanner

    def verdict(data: bytes, chunk: int) -> bool:
        scan = scanner.start()
        try:
            for i in range(0, len(data), chunk):
                scan.feed(data[i : i + chunk])
            return scan.finish().clean
        finally:
            scan.close()

    infected = b"%PDF-1.7\n" * 1000 + EICAR + b"\n%%EOF"
    for chunk in (1, 7, 68, 4096, len(infected)):  # the signature split at every place
        assert verdict(infected, chunk) is False
    assert verdict(b"%PDF-1.7\n" * 1000, 4096) is True
    assert verdict(EICAR[:-1], 10) is True


def test_an_object_that_is_not_a_scanner_is_refused() -> None:
    class Bad:
        @hookimpl
        def grc_register_scanners(self, register: RegisterScanner) -> None:
            register("bad", object())  # type: ignore[arg-type]

    with pytest.raises(PluginError, match="has no start"):
        registry(Bad())


def test_two_scanners_of_one_name_conflict() -> None:
    with pytest.raises(PluginError, match="scanner 'eicar' is registered by both"):
        registry(EicarScannerPlugin(), EicarScannerPlugin(EicarScanner()))


class ChannelAndCommandPlugin:
    @hookimpl
    def grc_register_notification_channels(self, register: RegisterNotificationChannel) -> None:
        register("teams", lambda config: object(), description="Teams")

    @hookimpl
    def grc_register_commands(self, cli: click.Group) -> None:
        @cli.command("teams-test")
        def teams_test() -> None:
            click.echo("ok")


def test_channels_and_commands_are_collected() -> None:
    reg = registry(ChannelAndCommandPlugin())
    assert reg.notification_channel_names() == ["teams"]
    group = click.Group("grc")
    reg.add_commands(group)
    assert list(group.commands) == ["teams-test"]


# --- describe -----------------------------------------------------------------------------


def test_describe_says_who_provides_what() -> None:
    scanner_plugin = EicarScannerPlugin()
    reg = Registry.load(plugins=[scanner_plugin, ChannelAndCommandPlugin()])
    infos = {info.name: info for info in reg.describe()}
    local = infos["local"]
    assert (local.module, local.distribution, local.version) == (
        "grc_adapters.local.plugin",
        "grc-exchanges",
        "0.1.0",
    )
    assert local.storage_backends == ("local",)
    assert local.scanners == ()
    explicit = {info.module: info for info in infos.values()}
    assert explicit["grc_core.testing.scanners"].scanners == ("eicar",)
    assert explicit["grc_core.testing.scanners"].distribution is None
    other = explicit[__name__]
    assert other.notification_channels == ("teams",)
    assert other.commands == ("teams-test",)
    payload = json.loads(json.dumps([info.as_dict() for info in reg.describe()]))
    assert {
        "name",
        "module",
        "distribution",
        "version",
        "storage_backends",
        "scanners",
        "notification_channels",
        "commands",
    } <= set(payload[0])


def test_storage_backends_describe_availability(tmp_path: Path) -> None:
    reg = registry(local_plugin)
    [info] = reg.storage_backends()
    assert info.name == "local" and info.plugin == "grc_adapters.local.plugin"
    assert info.available and info.install is None
    assert "embedded default" in info.description
    backend = reg.storage_backend("local", {"root": str(tmp_path)})
    assert backend.put("2026/03/abc", io.BytesIO(b"x")) == "2026/03/abc"
