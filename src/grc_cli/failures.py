"""The error boundary: library errors become one ``error: …`` line and a documented exit code."""

from __future__ import annotations

import enum
from typing import IO, Any

import click
from sqlalchemy import exc as sa_exc

from grc_cli.safe_text import escape_controls
from grc_core.errors import (
    ConfigError,
    Conflict,
    DatabaseError,
    GrcError,
    NotFound,
    PermissionDenied,
    UnknownBackend,
    ValidationError,
)


class ExitCode(enum.IntEnum):
    """Exit statuses of ``grc`` (documented in ``docs/cli.md``)."""

    OK = 0
    GENERIC = 1
    USAGE = 2
    NOT_FOUND = 3
    PERMISSION_DENIED = 4
    CONFLICT = 5
    DATABASE = 6


# Most specific first: ExchangeNotFound is a NotFound, and so on.
_EXIT_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (ValidationError, ExitCode.USAGE),
    (ConfigError, ExitCode.USAGE),
    # A backend name no plugin provides is a mistake in the configuration or in --to.
    (UnknownBackend, ExitCode.USAGE),
    (NotFound, ExitCode.NOT_FOUND),
    (PermissionDenied, ExitCode.PERMISSION_DENIED),
    (Conflict, ExitCode.CONFLICT),
    (DatabaseError, ExitCode.DATABASE),
    (sa_exc.IntegrityError, ExitCode.CONFLICT),
    (sa_exc.DBAPIError, ExitCode.DATABASE),
)


class CliFailure(click.ClickException):
    """A failure reported as a single ``error: <message>`` line on stderr."""

    def __init__(self, message: str, exit_code: int = ExitCode.GENERIC) -> None:
        super().__init__(one_line(message))
        # click declares exit_code a ClassVar but reads it from the instance: each failure
        # carries its own code without one subclass per code.
        self.exit_code = int(exit_code)  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message on stderr (or ``file``) without click's usage text."""
        # Messages quote what users typed or stored (names, filter text): shown, not obeyed.
        message = escape_controls(self.format_message())
        click.echo(f"error: {message}", file=file, err=file is None)


def one_line(message: str) -> str:
    """Join a possibly multi-line message (driver errors have several) into one line."""
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status documented for ``exc``."""
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.GENERIC


def failure_for(exc: Exception) -> CliFailure | None:
    """The :class:`CliFailure` to report for ``exc``, or ``None`` for an unexpected error."""
    if isinstance(exc, GrcError):
        return CliFailure(str(exc), exit_code_for(exc))
    if isinstance(exc, sa_exc.DBAPIError):
        # The driver's own message says what failed (unreachable server, unknown database…);
        # SQLAlchemy's wrapper adds the statement and a link, noise on a command line.
        detail = str(exc.orig) if exc.orig is not None else str(exc)
        return CliFailure(f"database error: {detail}", exit_code_for(exc))
    if isinstance(exc, OSError):
        return CliFailure(str(exc), ExitCode.GENERIC)
    return None
