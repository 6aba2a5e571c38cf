"""``grc plugins``, and the commands plugins add to ``grc``.

Plugins add commands through the ``grc_register_commands(cli)`` hook.  Calling it means
importing every installed plugin, which ``grc exchange list`` should not pay for, and which
a broken plugin could make fail.  So the root group asks for plugin commands only when a
name is not a built-in command, or when it lists its commands (``grc --help``, completion):
:func:`plugin_commands` then loads the plugins once per invocation, hands the hook a scratch
group, and keeps the commands that do not clash with a built-in one.  A plugin that fails to
load costs a one-line warning on stderr; the built-in commands never see it.
"""

from __future__ import annotations

from collections.abc import Mapping

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.failures import CliFailure, one_line
from grc_cli.output import show_plugins
from grc_cli.safe_text import escape_controls
from grc_core.errors import GrcError
from grc_core.plugins.registry import Registry

#: Where the root context keeps the plugin commands it loaded (one load per invocation).
_META_KEY = "grc.plugin_commands"


@click.group("plugins")
def plugins_group() -> None:
    """The installed plugins and what they provide."""


@plugins_group.command("list")
@pass_cli
def list_(state: CliContext) -> None:
    """List each plugin, its distribution and version, and what it provides.

    Nothing from the configuration is shown, so no secret can appear here.
    """
    registry = state.registry
    try:
        infos = registry.describe()
    except GrcError:
        raise
    except Exception as exc:
        # describe() runs each plugin's grc_register_commands to learn its commands, and
        # lets a plugin's own exception through: name it in one line instead of a traceback.
        raise CliFailure(
            f"a plugin failed while listing its commands: {type(exc).__name__}: {exc}"
        ) from exc
    state.out.emit(show_plugins(state.out, infos))


def load_registry() -> Registry:
    """The plugins whose commands ``grc`` offers (the tests put their own here)."""
    return Registry.load()


def _warn(message: str) -> None:
    click.echo(f"warning: {escape_controls(one_line(message))}", err=True)


def _collect(builtins: Mapping[str, click.Command]) -> dict[str, click.Command]:
    # A scratch group rather than the real one: a plugin cannot replace a built-in command,
    # and nothing is left behind on the module-level ``cli`` between invocations (tests).
    scratch = click.Group("grc")
    try:
        load_registry().add_commands(scratch)
    except GrcError as exc:
        # The commands registered before the failing plugin are still offered.
        _warn(f"plugin commands may be missing: {exc}")
    found: dict[str, click.Command] = {}
    for name, command in sorted(scratch.commands.items()):
        if name in builtins:
            _warn(f"a plugin's command {name!r} is ignored: it has the name of a built-in command")
            continue
        found[name] = command
    return found


def plugin_commands(
    ctx: click.Context, builtins: Mapping[str, click.Command]
) -> dict[str, click.Command]:
    """The commands plugins add, loaded on first call in this invocation."""
    root = ctx.find_root()
    if _META_KEY not in root.meta:
        root.meta[_META_KEY] = _collect(builtins)
    commands: dict[str, click.Command] = root.meta[_META_KEY]
    return commands


def register(cli: click.Group) -> None:
    """Add ``grc plugins`` to the root group."""
    cli.add_command(plugins_group)
