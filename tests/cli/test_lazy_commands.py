"""The command line imports a command's module only when it runs: the table in
``grc_cli.main`` must name every command with its own help, and start-up must not load the
database or migration libraries for ``--help``."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from importlib.metadata import entry_points

import click
import click.testing

import grc_cli.commands
from grc_cli import main
from grc_core import __version__
from grc_core.plugins.manager import ENTRY_POINT_GROUP


def _first_paragraph(command: click.Command) -> str:
    return " ".join((command.help or "").split("\n\n")[0].split())


def _registered(module_name: str) -> dict[str, click.Command]:
    scratch = click.Group("grc")
    importlib.import_module(f"grc_cli.commands.{module_name}").register(scratch)
    return dict(scratch.commands)


def test_the_table_names_every_command_of_every_module_with_its_own_help():
    modules = {
        info.name
        for info in pkgutil.iter_modules(grc_cli.commands.__path__)
        if hasattr(importlib.import_module(f"grc_cli.commands.{info.name}"), "register")
    }
    assert modules == {module for module, _help in main.COMMANDS.values()}
    for module in modules:
        for name, command in _registered(module).items():
            assert main.COMMANDS[name][0] == module, name
            assert main.COMMANDS[name][1] == _first_paragraph(command), name


def test_commands_load_on_demand_with_the_global_options():
    commands = main.LazyCommands(main.COMMANDS)
    assert "exchange" in commands and commands.loaded("exchange") is None
    exchange = commands["exchange"]
    assert isinstance(exchange, click.Group)
    listing = exchange.commands["list"]
    assert {"--as", "--json"} <= {opt for p in listing.params for opt in p.opts}
    assert commands.loaded("exchange") is exchange
    assert commands.loaded("company") is None  # another module: not imported for this


def test_help_lists_the_same_commands_as_the_commands_themselves(monkeypatch):
    monkeypatch.setattr(main, "_other_plugins_installed", lambda: False)
    listed = click.testing.CliRunner().invoke(main.cli, ["--help"]).output
    names = [line.split()[0] for line in listed.split("Commands:")[1].splitlines() if line]
    assert names == sorted(main.COMMANDS)
    assert "Record, show, change and list exchanges." in listed


def test_version_without_loading_the_library():
    result = click.testing.CliRunner().invoke(main.cli, ["--version"])
    assert result.output == f"grc, version {__version__}\n"


def test_the_distributions_own_plugins_add_no_command():
    # What lets ``grc --help`` skip loading plugins when no other distribution has any.
    assert main.PLUGIN_GROUP == ENTRY_POINT_GROUP
    own = [
        ep
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == main.DISTRIBUTION
    ]
    assert own
    for ep in own:
        assert not hasattr(ep.load(), "grc_register_commands"), ep.name


_PROBE = """
import json, sys
import grc_cli.main as m
m._other_plugins_installed = lambda: False
sys.argv = ["grc", *sys.argv[1:]]
try:
    m.main()
except SystemExit:
    pass
heavy = ("sqlalchemy", "alembic", "rich", "grc_core")
print(json.dumps(sorted({k.split(".")[0] for k in sys.modules if k.split(".")[0] in heavy})))
"""


def _loaded_by(*args: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_help_loads_neither_the_library_nor_the_database_libraries():
    assert _loaded_by("--help") == []


def test_a_listing_does_not_load_the_migration_machinery(tmp_path):
    import os

    url = f"sqlite:///{tmp_path / 'grc.sqlite3'}"
    (tmp_path / "grc.toml").write_text("")
    env = {**os.environ, "GRC_DATABASE_URL": url, "GRC_CONFIG": str(tmp_path / "grc.toml")}
    upgrade = [sys.executable, "-c", "from grc_cli.main import main; main()", "db", "upgrade"]
    subprocess.run(upgrade, env=env, check=True, capture_output=True)
    loaded = _loaded_by("user", "list", env=env)
    assert "sqlalchemy" in loaded and "alembic" not in loaded
