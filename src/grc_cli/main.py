"""The ``grc`` root group: global options, the error boundary and every command group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from grc_cli.commands import (
    attachments,
    audit,
    categories,
    companies,
    db,
    demo,
    devices,
    exchanges,
    fields,
    history,
    inbox,
    notify,
    opportunities,
    picklists,
    plugins,
    rules,
    search,
    serve,
    storage,
    subscriptions,
    tokens,
    users,
)
from grc_cli.context import CliContext
from grc_cli.failures import failure_for
from grc_cli.safe_text import escape_controls
from grc_core import __version__


class GrcGroup(click.Group):
    """The root group: library errors become one line and a documented exit code, and the
    commands plugins add are looked up only when needed (see :mod:`grc_cli.commands.plugins`).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin commands (listing them is what ``--help`` does)."""
        return sorted({*super().list_commands(ctx), *plugins.plugin_commands(ctx, self.commands)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command without loading any plugin, else a plugin's command."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        return plugins.plugin_commands(ctx, self.commands).get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn :class:`~grc_core.errors.GrcError` into a clean failure."""
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # Usage errors quote what was typed; click prints them raw.
            exc.message = escape_controls(exc.message)
            raise
        except Exception as exc:
            failure = failure_for(exc)
            if failure is None:
                raise
            raise failure from exc


@click.group(cls=GrcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL (default: $GRC_DATABASE_URL, the configuration file, or a SQLite file "
    "in the user's data folder).",
)
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Configuration file (default: $GRC_CONFIG or ~/.config/grc/config.toml).",
)
@click.option("--json", "json_output", is_flag=True, help="Print results as JSON on stdout.")
@click.option("--as", "login", metavar="LOGIN", help="Acting user (default: $GRC_USER).")
@click.option(
    "--tz",
    "timezone",
    metavar="ZONE",
    help="IANA time zone date-times are typed and shown in (default: Europe/Paris).",
)
@click.version_option(__version__, prog_name="grc")
@click.pass_context
def cli(
    ctx: click.Context,
    database_url: str | None,
    config_file: Path | None,
    json_output: bool,
    login: str | None,
    timezone: str | None,
) -> None:
    """Record, list and administer the exchanges with clients, prospects and suspects."""
    state = CliContext(
        database_url=database_url,
        config_file=config_file,
        json_output=json_output,
        login=login,
        timezone=timezone,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


def _setter(attribute: str) -> Any:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            setattr(ctx.ensure_object(CliContext), attribute, value)

    return store


def _late_options() -> list[click.Option]:
    """The global options again, for commands: ``grc exchange list --as alice --json``."""
    return [
        click.Option(
            ["--as", "late_login"],
            metavar="LOGIN",
            expose_value=False,
            callback=_setter("login"),
            help="Acting user (same as grc --as).",
        ),
        click.Option(
            ["--json", "late_json_output"],
            is_flag=True,
            default=None,
            expose_value=False,
            callback=_setter("json_output"),
            help="Print results as JSON (same as grc --json).",
        ),
        click.Option(
            ["--db", "late_database_url"],
            metavar="URL",
            expose_value=False,
            callback=_setter("database_url"),
            hidden=True,
        ),
        click.Option(
            ["--tz", "late_timezone"],
            metavar="ZONE",
            expose_value=False,
            callback=_setter("timezone"),
            hidden=True,
        ),
        click.Option(
            ["--config", "late_config_file"],
            type=click.Path(dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_setter("config_file"),
            hidden=True,
        ),
    ]


def _add_late_options(command: click.Command) -> None:
    """Give ``command`` the global options, except those it declares itself
    (``grc preferences set --tz`` is the user's own zone); a group that runs without a
    subcommand (``grc inbox``) gets them as well as its subcommands."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_late_options(sub)
        if not command.invoke_without_command:
            return
    taken = {opt for param in command.params for opt in param.opts}
    command.params.extend(o for o in _late_options() if not taken & set(o.opts))


for module in (
    db,
    users,
    companies,
    opportunities,
    picklists,
    categories,
    fields,
    exchanges,
    history,
    search,
    attachments,
    storage,
    subscriptions,
    rules,
    notify,
    inbox,
    audit,
    plugins,
    demo,
    tokens,
    devices,
    serve,
):
    module.register(cli)
for command in cli.commands.values():
    _add_late_options(command)


def main() -> None:
    """Entry point of the ``grc`` console script."""
    cli(prog_name="grc")
