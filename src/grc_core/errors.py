"""The typed errors of GRC exchanges.

Every error the library raises on purpose derives from :class:`GrcError` and also from the
matching built-in exception, so callers may catch either.  Messages say what was wrong and
what is accepted; the CLI prints them as they are.
"""

from __future__ import annotations


class GrcError(Exception):
    """Root of every error raised on purpose by GRC exchanges."""


class ConfigError(GrcError, ValueError):
    """The configuration (file, environment or options) is invalid."""


class ValidationError(GrcError, ValueError):
    """Input refused by a domain rule.

    :param field: the name of the offending field, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(GrcError, LookupError):
    """A record does not exist, or the acting user may not see it."""


class ExchangeNotFound(NotFound):
    """No exchange with this id or UUID is visible to the acting user."""


class PermissionDenied(GrcError, PermissionError):
    """The acting user may see the record but not do this to it."""


class Conflict(GrcError):
    """The request contradicts what is already stored (duplicate key, reused UUID...)."""


class DatabaseError(GrcError, RuntimeError):
    """The database is unreachable or its schema is not at the expected revision."""
