"""GRC exchanges: record, search and follow every exchange with clients.

The public API:

- :class:`grc_core.facade.Grc` — engine, sessions and schema for a host application;
- :mod:`grc_core.services` — users, companies, opportunities, picklists, categories,
  custom fields and exchanges (each function takes a session and the acting user);
- :mod:`grc_core.queries` — listing queries that return ``select()`` statements;
- :mod:`grc_core.visibility` — who may see a private exchange;
- :mod:`grc_core.errors` — the :class:`GrcError` hierarchy.
"""

from grc_core.errors import (
    ConfigError,
    Conflict,
    DatabaseError,
    ExchangeNotFound,
    GrcError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from grc_core.facade import Grc, Work

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Conflict",
    "DatabaseError",
    "ExchangeNotFound",
    "Grc",
    "GrcError",
    "NotFound",
    "PermissionDenied",
    "ValidationError",
    "Work",
    "__version__",
]
