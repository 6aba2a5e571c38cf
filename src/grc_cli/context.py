"""The state one ``grc`` invocation carries: options, settings, the facade and the output.

Nothing touches the database until a command asks for :attr:`CliContext.grc`: ``grc --help``
and usage errors never build an engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import click
from sqlalchemy.orm import Session

from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import Output
from grc_core.config import Settings, load_settings
from grc_core.facade import Grc, Work
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
        return Output(
            json_output=self.json_output,
            timezone=self.settings.timezone,
            language=self.settings.language,
        )

    @cached_property
    def grc(self) -> Grc:
        """The facade on the configured database (builds the engine on first use)."""
        # Shares the plugins if a command already loaded them; else the facade loads them
        # itself, and only if the command needs storage.
        return Grc(self.settings, registry=self.__dict__.get("registry"))

    @cached_property
    def registry(self) -> Registry:
        """The installed plugins, loaded on first use (``plugins list`` needs no database)."""
        if "grc" in self.__dict__:
            return self.grc.registry
        return Registry.load()

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

    def close(self) -> None:
        """Release pooled connections, if an engine was ever built."""
        if "grc" in self.__dict__:
            self.grc.dispose()


#: Decorator giving a command the invocation's :class:`CliContext`.
pass_cli = click.make_pass_decorator(CliContext)
