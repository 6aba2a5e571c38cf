"""Meta-tests: every hook is documented with its exact signature, and has a test.

As datasette's ``tests/test_docs.py`` does: the hook reference cannot drift from
``grc_core.plugins.hookspecs``, and every example on the page runs.
"""

from __future__ import annotations

import inspect
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

from grc_core.errors import BackendNotInstalled, ConfigError
from grc_core.plugins import Registry, hookspecs
from grc_core.testing.channel_contract import NotificationChannelContract

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
    assert registry.secret_keys("channels", "teams") == {"webhook_url"}
    with pytest.raises(ConfigError, match="webhook_ur'; accepted: timeout, webhook_url"):
        registry.notification_channel("teams", {"webhook_ur": "https://x"})


class _Teams:
    """A local stand-in for a Teams incoming webhook: counts the posts of each delivery."""

    def __init__(self) -> None:
        self.posts: Counter[int] = Counter()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                posts[int(self.headers["Idempotency-Key"].removeprefix("grc-delivery-"))] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class TestTheChannelExamplePassesTheContract(NotificationChannelContract):
    """The Teams example on the page is a complete channel: the shipped contract passes."""

    @pytest.fixture
    def teams(self) -> Iterator[_Teams]:
        teams = _Teams()
        yield teams
        teams.server.shutdown()
        teams.server.server_close()

    @pytest.fixture
    def channel(self, teams: _Teams) -> Any:
        registry = Registry.load(
            autoload=False, plugins=[example("grc_register_notification_channels")]
        )
        channel = registry.notification_channel("teams", {"webhook_url": teams.url})
        yield channel
        channel.close()

    @pytest.fixture
    def delivered(self, teams: _Teams) -> Callable[[int], int]:
        return lambda delivery_id: teams.posts[delivery_id]


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
