"""GRC exchanges: record, search and follow every exchange with clients.

The public API:

- :class:`grc_core.facade.Grc` — engine, sessions and schema for a host application;
- :mod:`grc_core.services` — users, companies, opportunities, picklists, categories,
  custom fields and exchanges (each function takes a session and the acting user);
- :mod:`grc_core.queries` — listing queries that return ``select()`` statements;
- :mod:`grc_core.visibility` — who may see a private exchange;
- :mod:`grc_core.errors` — the :class:`GrcError` hierarchy.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # The facade pulls in SQLAlchemy's ORM, the models and the plugins: loaded when first
    # asked for, so that importing grc_core.errors (every command line failure does) or
    # grc_core.config stays cheap.
    if name in ("Grc", "Work"):
        from grc_core import facade

        return getattr(facade, name)
    raise AttributeError(f"module 'grc_core' has no attribute {name!r}")
