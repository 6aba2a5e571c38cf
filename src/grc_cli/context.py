"""The state one ``grc`` invocation carries: options, settings, the facade and the output.

Nothing touches the database until a command asks for :attr:`CliContext.grc`: ``grc --help``
and usage errors never build an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from grc_cli.failures import CliFailure, ExitCode, one_line
from grc_cli.safe_text import escape_controls
from grc_core.config import Settings, load_settings
from grc_core.errors import GrcError

if TYPE_CHECKING:
    # Imported where first used: the facade (SQLAlchemy's ORM, the models), the output
    # (Rich) and the plugins cost most of a command's start-up, and usage errors, --help and
    # commands that need no plugin do without some of them.
    from sqlalchemy.orm import Session

    from grc_cli.output import Output
    from grc_core.facade import Grc, Work
    from grc_core.notify.channels import NotificationChannel, OutgoingMessage, SendResult
    from grc_core.plugins.registry import Registry

NO_ACTING_USER = "no acting user: pass --as LOGIN or set GRC_USER"


class CliContext:
    """Global options, resolved lazily into settings, a :class:`Grc` facade and an output."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        config_file: Path | None = None,
        json_output: bool = False,
        login: str | None = None,
        timezone: str | None = None,
    ) -> None:
        self.database_url = database_url
        self.config_file = config_file
        self.json_output = json_output
        self.login = login
        self.timezone = timezone
        #: Every column of listings, whatever the width (``--wide``).
        self.wide = False
        self._schema_checked = False

    @cached_property
    def settings(self) -> Settings:
        """File, then ``GRC_*`` variables, then the global options."""
        overrides = {
            "database_url": self.database_url,
            "timezone": self.timezone,
            "user": self.login,
        }
        return load_settings(self.config_file, overrides=overrides)

    @cached_property
    def out(self) -> Output:
        """Rendering in the configured zone and language."""
        from grc_cli.output import Output

        return Output(
            json_output=self.json_output,
            timezone=self.settings.timezone,
            language=self.settings.language,
            wide=self.wide,
        )

    @cached_property
    def grc(self) -> Grc:
        """The facade on the configured database (builds the engine on first use)."""
        # Shares the plugins if a command already loaded them; else the facade loads them
        # itself, and only if the command needs storage.
        from grc_core.facade import Grc

        return Grc(self.settings, registry=self.__dict__.get("registry"))

    @cached_property
    def registry(self) -> Registry:
        """The installed plugins, loaded on first use (``plugins list`` needs no database)."""
        from grc_core.backends import check_configuration
        from grc_core.plugins.registry import Registry

        registry = self.grc.registry if "grc" in self.__dict__ else Registry.load()
        check_configuration(self.settings, registry)  # typos in tables are errors
        return registry

    def ready(self) -> Grc:
        """The facade, once the database is known to be at this version's schema."""
        if not self._schema_checked:
            self.grc.check_schema()
            self._schema_checked = True
        return self.grc

    def acting_login(self) -> str:
        """The login given by ``--as``, ``GRC_USER`` or the configuration file."""
        login = self.settings.user
        if not login:
            raise CliFailure(NO_ACTING_USER, ExitCode.USAGE)
        return login

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A transaction with no acting user (for reads that need none, and bootstrap)."""
        with self.ready().session(read_only=read_only) as session:
            yield session

    @contextmanager
    def work(self, *, read_only: bool = False) -> Iterator[Work]:
        """A transaction with the acting user loaded (and refused if deactivated)."""
        with self.ready().acting_as(self.acting_login(), read_only=read_only) as work:
            yield work

    def notification_channels(self) -> dict[str, NotificationChannel]:
        """Every registered notification channel, built from its configuration.

        A channel whose configuration is missing or wrong costs a one-line warning on
        stderr; its deliveries wait (they fail, retryably, with that message) while the
        others — the inbox, tasks — are delivered.
        """
        return build_channels(self.registry, self.settings, warn=warn)

    def close(self) -> None:
        """Release pooled connections, if an engine was ever built."""
        if "grc" in self.__dict__:
            self.grc.dispose()


def warn(message: str) -> None:
    """A one-line ``warning: …`` on stderr."""
    click.echo(f"warning: {escape_controls(one_line(message))}", err=True)


class UnusableChannel:
    """Stands in for a channel that could not be built from its configuration.

    Without it the worker would park that channel's deliveries as dead at once ("no
    channel named …"); with it they fail *retryably*, with the configuration error as the
    reason, and are delivered once the channel is configured (or parked after the last
    attempt, for ``grc notify retry``).
    """

    transactional = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def send(self, session: Any, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Fail every message, retryably, with the configuration error."""
        from grc_core.notify.channels import SendResult

        error = f"the {self.name!r} channel is not configured: {self.reason}"
        return [SendResult.failed(m.delivery_id, error, retryable=True) for m in messages]

    def close(self) -> None:
        """Nothing to release."""


def build_channels(
    registry: Registry,
    settings: Settings,
    *,
    names: Iterable[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, NotificationChannel]:
    """The channels a delivery worker needs, by name.

    Each channel is built with ``registry.notification_channel(name,
    settings.channel_config(name))``.  One that cannot be built (its configuration is
    missing or invalid: an ``email`` channel with neither ``from_address`` nor ``mailbox``,
    an ``sms`` channel without ``url``) is replaced by an :class:`UnusableChannel` and
    reported through ``warn``: one line per channel whose configuration is wrong, and one
    line in all for the channels never configured (a default setup has several, and a
    warning for each on every run would be noise).

    :param names: the channels to build (default: every registered one).
    :param warn: called with a one-line message for each channel that is not usable.
    """
    channels: dict[str, NotificationChannel] = {}
    never_configured: list[str] = []
    for name in registry.notification_channel_names() if names is None else names:
        config = settings.channel_config(name)
        try:
            channels[name] = registry.notification_channel(name, config)
        except GrcError as exc:
            reason = one_line(str(exc))
            if not config:
                never_configured.append(name)
            elif warn is not None:
                warn(
                    f"notification channel {name!r} is not usable, its deliveries wait: "
                    f"{reason} (configure [grc.channels.{name}] or "
                    f"GRC_CHANNEL__{name.upper().replace('-', '_')}__<KEY>)"
                )
            channels[name] = UnusableChannel(name, reason)
    if never_configured and warn is not None:
        listed = ", ".join(repr(name) for name in never_configured)
        warn(
            f"notification channel{'s' if len(never_configured) > 1 else ''} {listed} "
            "not configured, their deliveries wait (configure [grc.channels.NAME] or "
            "GRC_CHANNEL__NAME__<KEY>)"
        )
    return channels


def close_channels(channels: dict[str, NotificationChannel]) -> None:
    """Close every channel, even if one fails to."""
    for channel in channels.values():
        try:
            channel.close()
        except Exception as exc:  # closing must not hide the command's outcome
            warn(f"closing the {channel.name!r} channel failed: {exc}")


#: Decorator giving a command the invocation's :class:`CliContext`.
pass_cli = click.make_pass_decorator(CliContext)


def _set_wide(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).wide = True


def wide_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--wide`` on a command that prints a listing: every column, whatever the width of
    the terminal (by default, narrow terminals get a compact layout)."""
    return click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=_set_wide,
        help="Show every column, whatever the terminal's width.",
    )(func)
