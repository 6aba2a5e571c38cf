"""``grc plugins list``, and commands added by plugins (loaded lazily, failures contained)."""

from __future__ import annotations

import click
import pytest

from grc_cli.commands import plugins as plugin_commands
from grc_core.errors import PluginError
from grc_core.plugins import hookimpl
from grc_core.plugins.registry import Registry


def test_plugins_list_shows_the_local_plugin_and_its_distribution(bare):
    listed = bare.json("plugins", "list")
    local = next(p for p in listed if p["name"] == "local")
    assert local["distribution"] == "grc-exchanges"
    assert local["version"]
    assert local["module"] == "grc_adapters.local.plugin"
    assert local["storage_backends"] == ["local"]
    text = bare.ok("plugins", "list").stdout
    assert "grc-exchanges" in text
    assert "storage backends: local" in text


# -- commands from plugins -----------------------------------------------------------------


class HelloPlugin:
    """Adds ``grc hello``, and tries to replace ``grc company``."""

    @hookimpl
    def grc_register_commands(self, cli: click.Group) -> None:
        @cli.command("hello")
        @click.argument("who", default="world")
        def hello(who: str) -> None:
            """Say hello (a plugin's command)."""
            click.echo(f"hello {who}")

        @cli.command("company")
        def impostor() -> None:
            click.echo("not the real company command")


class BrokenPlugin:
    @hookimpl
    def grc_register_commands(self, cli: click.Group) -> None:
        raise RuntimeError("the plugin is broken")


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Plugins for the CLI's command lookup: Hello then Broken; records each load."""
    calls: list[str] = []

    def load() -> Registry:
        calls.append("load")
        return Registry.load(autoload=False, plugins=[HelloPlugin(), BrokenPlugin()])

    monkeypatch.setattr(plugin_commands, "load_registry", load)
    return calls


def test_a_plugin_command_runs(bare, loads):
    result = bare.ok("hello", "GRC")
    assert result.stdout == "hello GRC\n"
    assert loads == ["load"]
    # The broken plugin is named on stderr, in one line; the working one still serves.
    (warning,) = [line for line in result.stderr.splitlines() if "broken" in line]
    assert warning.startswith("warning: ")
    assert "BrokenPlugin" in warning or "broken" in warning


def test_help_lists_plugin_commands(bare, loads):
    result = bare.ok("--help")
    assert "hello" in result.stdout
    assert "Say hello" in result.stdout
    assert "attachment" in result.stdout and "storage" in result.stdout
    assert loads == ["load"]  # once per invocation, however many lookups --help makes


def test_a_plugin_cannot_replace_a_built_in_command(bare, loads):
    result = bare.ok("--help")
    assert "'company' is ignored" in result.stderr
    company = bare.run("company", "--help")
    assert company.exit_code == 0
    assert "not the real company command" not in company.output
    assert "Add, list and change companies" in company.stdout


def test_built_in_commands_never_load_plugins(grc, loads):
    grc.ok("company", "list")
    grc.ok("attachment", "policy", "show")
    assert loads == []


def test_a_plugin_that_fails_to_load_does_not_break_grc(bare, grc, monkeypatch):
    def fail() -> Registry:
        raise PluginError("the 'grc' plugin 'bad' failed to load: ImportError: no module x")

    monkeypatch.setattr(plugin_commands, "load_registry", fail)
    result = bare.ok("--help")
    assert "company" in result.stdout
    assert result.stderr.startswith("warning: plugin commands may be missing: ")
    assert "'bad' failed to load" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    unknown = bare.run("nosuch")
    assert unknown.exit_code == 2
    assert "No such command 'nosuch'" in unknown.stderr
    assert "Traceback" not in unknown.output
    grc.ok("company", "list")


def test_the_installed_plugins_add_no_command(bare):
    # With the real entry points: grc --help works and warns about nothing.
    result = bare.ok("--help")
    assert result.stderr == ""


def test_plugin_commands_are_not_left_on_the_root_group(bare, loads):
    from grc_cli.main import cli

    bare.ok("hello")
    assert "hello" not in cli.commands  # a scratch group received them, not the real one


def test_plugins_list_names_a_plugin_that_fails(bare, monkeypatch):
    original = Registry.load

    def with_broken(**kwargs: object) -> Registry:
        return original(autoload=False, plugins=[BrokenPlugin()])

    monkeypatch.setattr(Registry, "load", with_broken)
    message = bare.fails(1, "plugins", "list")
    assert "RuntimeError: the plugin is broken" in message
