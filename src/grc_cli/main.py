"""The ``grc`` root group: global options, the error boundary and every command group."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import click

#: Every built-in command: its name -> (module under ``grc_cli.commands``, the first
#: paragraph of its help).  A module is imported only when one of its commands runs (or is
#: listed in full), so ``grc --help`` loads neither SQLAlchemy nor Alembic and
#: ``grc exchange list`` loads only what listing exchanges needs.  A new command module
#: adds one line per command here; tests/cli/test_lazy_commands.py checks that the help
#: given here is the command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "db": ("db", "Create, migrate and inspect the database schema."),
    "user": ("users", "Add, list and change users."),
    "company": ("companies", "Add, list and change companies."),
    "contact": ("companies", "Add, list and move the contacts of a company."),
    "opportunity": ("opportunities", "Add, list and move opportunities."),
    "picklist": (
        "picklists",
        "List and configure picklists (KIND is action, status, medium or stage).",
    ),
    "category": ("categories", "List and configure the category tree."),
    "field": ("fields", "List and define custom fields of exchanges."),
    "exchange": ("exchanges", "Record, show, change and list exchanges."),
    "history": (
        "history",
        "Timelines, newest first: a company's, an opportunity's, a user's, global exchanges.",
    ),
    "import": ("importing", "Import records from another CRM's export (administrators)."),
    "search": (
        "search",
        "Search subjects, details, company and contact names; best matches first.",
    ),
    "attachment": (
        "attachments",
        "Attach files to exchanges, companies and opportunities; list, fetch and delete them.",
    ),
    "storage": (
        "storage",
        "Verify and migrate the attachments' storage (administrators); list backends.",
    ),
    "subscribe": ("subscriptions", "Follow a company, an opportunity or a category."),
    "unsubscribe": (
        "subscriptions",
        "Stop following (one of your own subscriptions, by id: see grc subscriptions).",
    ),
    "subscriptions": ("subscriptions", "List what you follow, oldest first."),
    "preferences": (
        "subscriptions",
        "Your notification preferences: channels, quiet hours, time zone, digest.",
    ),
    "rules": (
        "rules",
        "Notification rules: add, list, show, enable, disable, delete and test them.",
    ),
    "notify": (
        "notify",
        "Run the notification workers; list and retry dead deliveries; list events.",
    ),
    "inbox": (
        "inbox",
        "Your alerts, newest first, with the unread count; `grc inbox read` marks them read.",
    ),
    "audit": ("audit", "The audit trail, newest first: who changed what, when, old → new."),
    "plugins": ("plugins", "The installed plugins and what they provide."),
    "demo": (
        "demo",
        "Create a demo database with a French sample; show its exchanges, documents, a "
        "company's timeline, a quick search and notifications.",
    ),
    "token": (
        "tokens",
        "Create, list and revoke personal API tokens (Authorization: Bearer …).",
    ),
    "device": (
        "devices",
        "Enrol, list and revoke the devices signed in to the mobile web application.",
    ),
    "push": (
        "devices",
        "Web Push alerts on the users' devices (the ``push`` notification channel).",
    ),
    "serve": (
        "serve",
        "Serve the HTTP API under /api/v1 (docs at /api/v1/docs) until SIGTERM or Ctrl-C.",
    ),
}


class LazyCommands(MutableMapping[str, click.Command]):
    """The root group's commands, each module imported when one of its commands is asked
    for (``group.commands[name]``); names and membership need no import."""

    def __init__(self, table: dict[str, tuple[str, str]]) -> None:
        self._table = table
        self._loaded: dict[str, click.Command] = {}

    def _load(self, name: str) -> None:
        module = importlib.import_module(f"grc_cli.commands.{self._table[name][0]}")
        scratch = click.Group("grc")
        module.register(scratch)
        for found, command in scratch.commands.items():
            if found not in self._loaded:
                _add_late_options(command)
                self._loaded[found] = command

    def loaded(self, name: str) -> click.Command | None:
        """The command if its module is already imported (nothing is imported here)."""
        return self._loaded.get(name)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded and name in self._table:
            self._load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._table or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._table, *self._loaded}))

    def __len__(self) -> int:
        return len({*self._table, *self._loaded})


class GrcGroup(click.Group):
    """The root group: library errors become one line and a documented exit code, and the
    commands plugins add are looked up only when needed (see :mod:`grc_cli.commands.plugins`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: MutableMapping[str, click.Command] = LazyCommands(COMMANDS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in and plugin commands (listing them is what ``--help`` does)."""
        if not _other_plugins_installed():
            return super().list_commands(ctx)
        from grc_cli.commands import plugins

        return sorted({*super().list_commands(ctx), *plugins.plugin_commands(ctx, self.commands)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in command without loading any plugin, else a plugin's command."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        from grc_cli.commands import plugins

        return plugins.plugin_commands(ctx, self.commands).get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command named first in ``args``, its module imported; then the garbage
        collector paused by :func:`main` resumes."""
        found = super().resolve_command(ctx, args)
        _resume_collector()
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``grc --help``, built-in help read from :data:`COMMANDS`
        (importing every command module would cost most of a second)."""
        stubs: dict[str, click.Command] = {}
        for name in self.list_commands(ctx):
            command = (
                self.commands.loaded(name) if isinstance(self.commands, LazyCommands) else None
            )
            if command is None and name in COMMANDS:
                command = click.Command(name, help=COMMANDS[name][1])
            if command is None:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                stubs[name] = command
        if not stubs:
            return
        limit = formatter.width - 6 - max(len(name) for name in stubs)
        rows = [(name, command.get_short_help_str(limit)) for name, command in stubs.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn :class:`~grc_core.errors.GrcError` into a clean failure."""
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            from grc_cli.safe_text import escape_controls

            # Usage errors quote what was typed; click prints them raw.
            # click declares message Final, yet reads it when showing the error: escaping it
            # in place keeps the exception itself (its type, context and exit code).
            exc.message = escape_controls(exc.message)  # type: ignore[misc]
            raise
        except Exception as exc:
            from grc_cli.failures import failure_for

            failure = failure_for(exc)
            if failure is None:
                raise
            raise failure from exc


#: The distribution whose own plugins (the adapters) add no command (a test checks it).
DISTRIBUTION = "grc-exchanges"
#: ``grc_core.plugins.manager.ENTRY_POINT_GROUP``, which would import the whole library.
PLUGIN_GROUP = "grc"


def _other_plugins_installed() -> bool:
    """Whether a plugin from another distribution is installed: only then can plugins add
    commands, and only then does listing the commands load the plugins (a third of a
    second: they import the whole library)."""
    from importlib.metadata import entry_points

    return any(
        ep.dist is None or ep.dist.name != DISTRIBUTION for ep in entry_points(group=PLUGIN_GROUP)
    )


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    # The installed distribution's version: importing grc_core for its __version__ would
    # load SQLAlchemy (a test checks that both say the same).
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree
        from grc_core import __version__ as number
    click.echo(f"grc, version {number}")
    ctx.exit()


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
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
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
    from grc_cli.context import CliContext

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
            from grc_cli.context import CliContext

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


#: Whether :func:`main` paused the cyclic garbage collector for the imports.
_collector_paused = False


def _resume_collector() -> None:
    """Freeze what start-up created and resume collecting, if :func:`main` paused it."""
    global _collector_paused
    if _collector_paused:
        _collector_paused = False
        gc.freeze()
        gc.enable()


def main() -> None:
    """Entry point of the ``grc`` console script.

    Importing a command creates hundreds of thousands of objects that live as long as the
    process (SQLAlchemy, the models, Rich).  The cyclic garbage collector would walk them
    over and over while they are created, and again in the collections the interpreter runs
    as it exits: together a third of a short command's CPU time.  So the collector is
    paused until the command is imported, what exists then is frozen (:func:`gc.freeze`:
    never walked again) and collection resumes for what the command allocates; at exit
    everything is frozen.  Nothing else changes at exit: ``atexit`` handlers run, modules
    are torn down, output is flushed.

    ``asyncio`` and ``importlib.metadata``, which SQLAlchemy imports, are loaded only if
    something uses them (see :mod:`grc_cli.deferred`).
    """
    global _collector_paused
    from grc_cli.deferred import defer_unused_modules

    defer_unused_modules()
    if gc.isenabled():
        gc.disable()
        _collector_paused = True
    try:
        cli(prog_name="grc")
    finally:
        _resume_collector()  # --help and usage errors resolve no command
        gc.freeze()
