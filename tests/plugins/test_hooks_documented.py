"""Meta-tests: every hook is documented with its exact signature, and has a test.

As datasette's ``tests/test_docs.py`` does: the hook reference cannot drift from
``grc_core.plugins.hookspecs``, and every example on the page runs.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from grc_core.errors import BackendNotInstalled
from grc_core.plugins import Registry, hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_MD = ROOT / "docs" / "plugins" / "hooks.md"

HOOKS = sorted(
    (name, function)
    for name, function in vars(hookspecs).items()
    if name.startswith("grc_") and callable(function)
)
CALLBACKS = [
    hookspecs.RegisterStorageBackend,
    hookspecs.RegisterScanner,
    hookspecs.RegisterNotificationChannel,
    hookspecs.StorageBackendFactory,
    hookspecs.NotificationChannelFactory,
]


def callback_signature(protocol: type) -> str:
    """``inspect.signature`` of the protocol's ``__call__``, without ``self``."""
    signature = inspect.signature(protocol.__call__)  # type: ignore[operator]
    return str(signature.replace(parameters=list(signature.parameters.values())[1:]))


def test_there_are_hooks_to_check() -> None:
    assert [name for name, _ in HOOKS] == [
        "grc_event_committed",
        "grc_register_commands",
        "grc_register_notification_channels",
        "grc_register_scanners",
        "grc_register_storage_backends",
    ]


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_every_hook_is_documented_with_its_exact_signature(
    name: str, function: Callable[..., Any]
) -> None:
    page = HOOKS_MD.read_text()
    assert f"\n## {name}\n" in page, f"docs/plugins/hooks.md has no section for {name}"
    expected = f"{name}{inspect.signature(function)}"
    assert expected in page, f"docs/plugins/hooks.md must show the exact signature:\n{expected}"


@pytest.mark.parametrize("protocol", CALLBACKS, ids=[p.__name__ for p in CALLBACKS])
def test_every_callback_is_documented_with_its_exact_signature(protocol: type) -> None:
    page = HOOKS_MD.read_text()
    assert callback_signature(protocol) in page, (
        f"docs/plugins/hooks.md must show {protocol.__name__}'s signature:\n"
        f"{callback_signature(protocol)}"
    )


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_every_hook_documents_its_parameters_and_version(
    name: str, function: Callable[..., Any]
) -> None:
    doc = inspect.getdoc(function) or ""
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc, f"{name} does not document {parameter}"
    assert ".. versionadded::" in doc


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_every_hook_has_a_test(name: str, function: Callable[..., Any]) -> None:
    here = Path(__file__).resolve()
    tests = [p for p in here.parent.glob("test_*.py") if p != here]
    assert any(name in p.read_text() for p in tests), f"no test in tests/plugins uses {name}"


# --- the examples on the page run ---------------------------------------------------------

BLOCKS = re.findall(r"```python\n(.*?)```", HOOKS_MD.read_text(), flags=re.S)


def as_plugin(source: str, name: str) -> ModuleType:
    """Run a documentation example as the module a plugin's entry point would name."""
    module = ModuleType(name)
    exec(compile(source, f"<{HOOKS_MD.name}: {name}>", "exec"), module.__dict__)
    return module


def example(hook: str) -> ModuleType:
    [source] = [block for block in BLOCKS if f"def {hook}(" in block]
    return as_plugin(source, f"docs_example_{hook}")


def test_every_hook_has_an_example() -> None:
    for name, _ in HOOKS:
        assert any(f"def {name}(" in block for block in BLOCKS), f"no example for {name}"


def test_the_storage_example_registers_a_backend_needing_its_extra() -> None:
    registry = Registry.load(autoload=False, plugins=[example("grc_register_storage_backends")])
    assert registry.storage_backend_names() == ["everteam"]
    with pytest.raises(BackendNotInstalled, match=r"grc_everteam_client.*\[everteam\]"):
        registry.storage_backend("everteam", {"url": "https://ged", "token": "t"})


def test_the_scanner_example_refuses_a_windows_executable() -> None:
    registry = Registry.load(autoload=False, plugins=[example("grc_register_scanners")])
    [scanner] = registry.scanners()

    def clean(*chunks: bytes) -> bool:
        scan = scanner.start()
        for chunk in chunks:
            scan.feed(chunk)
        verdict = scan.finish()
        scan.close()
        return verdict.clean

    assert not clean(b"M", b"Z\x90\x00")
    assert clean(b"%PDF-1.7")


def test_the_channel_example_registers_a_channel() -> None:
    registry = Registry.load(
        autoload=False, plugins=[example("grc_register_notification_channels")]
    )
    assert registry.notification_channel_names() == ["teams"]


def test_the_command_example_adds_a_command() -> None:
    from click.testing import CliRunner

    registry = Registry.load(autoload=False, plugins=[example("grc_register_commands")])
    cli = click.Group("grc")
    registry.add_commands(cli)
    result = CliRunner().invoke(cli, ["everteam-check", "--url", "https://ged"])
    assert result.exit_code == 0, result.output
    assert result.output == "checking https://ged\n"


def test_the_event_example_queues_company_changes(fresh_url) -> None:
    from grc_core.config import Settings
    from grc_core.facade import Grc
    from grc_core.services import companies, users

    plugin = example("grc_event_committed")
    grc = Grc(
        Settings(database_url=fresh_url), registry=Registry.load(autoload=False, plugins=[plugin])
    )
    try:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
            company = companies.create_company(s, admin, name="ACME")
        assert [("company.created", company.id)] == plugin.OUTBOX
    finally:
        grc.dispose()
