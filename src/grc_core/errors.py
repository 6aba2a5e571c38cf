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


class VersionConflict(Conflict):
    """An update named the version of a record it had read, and the record has changed since.

    Nothing was written.  The caller reloads the record (its ``version`` tells the new
    expected version), re-applies its change if it still makes sense, and retries; over HTTP
    this is ``412 Precondition Failed`` on a stale ``If-Match``.

    :param record: what was updated, e.g. ``"exchange 12"``.
    :param expected: the version the caller had read.
    :param current: the version stored now (0 when it could not be read).
    """

    def __init__(self, record: str, *, expected: int, current: int) -> None:
        now = f"it is at version {current} now" if current > 0 else "it has changed since"
        super().__init__(
            f"{record} was changed by someone else: you expected version {expected}, {now}; "
            "reload it and apply your change again"
        )
        self.record = record
        self.expected = expected
        self.current = current


class DatabaseError(GrcError, RuntimeError):
    """The database is unreachable or its schema is not at the expected revision."""


# --- storage backends ------------------------------------------------------------------------
#
# A storage backend raises these (or lets the core translate what it raises), so the attachment
# service, ``grc storage verify`` and the CLI react the same way whatever the GED behind them.
# Each one is also the built-in that ``open()``/``os`` would have raised, so code written for
# files (``except FileNotFoundError``) keeps working.


class StorageError(GrcError, OSError):
    """A storage backend failed to store, read, list or delete a blob."""


class BlobNotFound(StorageError, FileNotFoundError):
    """No blob is stored under this key."""


class BlobExists(StorageError, FileExistsError):
    """A blob is already stored under this key; backends never overwrite one.

    :param key: the key ``put`` returned for the existing blob, when the backend knows it
        (a GED that keys blobs by its own ids); it lets an interrupted migration find the
        copy it already made.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class StorageAuthError(StorageError, PermissionError):
    """The storage backend refused the credentials or the permission to do this."""


class StorageUnavailable(StorageError, ConnectionError):
    """The storage backend cannot be reached now (network, server down, timeout)."""


class InvalidKey(StorageError, ValueError):
    """A storage key is not a safe relative path (see :mod:`grc_core.storage.keys`)."""


# --- plugins ---------------------------------------------------------------------------------


class PluginError(GrcError):
    """A plugin could not be loaded, registered what it may not, or failed to build."""


class BackendNotInstalled(PluginError, ImportError):
    """A storage backend needs a client library that is not installed.

    The message names the missing modules and the pip extra that installs them, e.g.
    ``the 'sharepoint' storage backend needs the module office365, which is not installed:
    pip install 'grc-exchanges[sharepoint]'``.

    :param backend: the backend's registered name.
    :param missing: the importable module names that could not be found.
    :param install: what to install, as a pip requirement (``grc-exchanges[sharepoint]``),
        or ``None`` when the plugin did not say.
    """

    def __init__(self, backend: str, missing: list[str], install: str | None) -> None:
        needs = (
            f"the module {missing[0]}, which is not installed"
            if len(missing) == 1
            else f"the modules {', '.join(missing)}, which are not installed"
        )
        hint = (
            f"pip install '{install}'"
            if install
            else "install the package that provides them (the plugin names no extra)"
        )
        super().__init__(f"the {backend!r} storage backend needs {needs}: {hint}")
        self.backend = backend
        self.missing = list(missing)
        self.install = install


class UnknownBackend(PluginError, LookupError):
    """No installed plugin provides a storage backend of this name.

    :param name: the name asked for.
    :param available: the names that are registered.
    """

    def __init__(self, name: str, available: list[str]) -> None:
        names = ", ".join(sorted(available)) or "none (no storage plugin is installed)"
        super().__init__(f"no storage backend is named {name!r}; available: {names}")
        self.name = name
        self.available = sorted(available)


class AttachmentRefused(ValidationError):
    """An uploaded file breaks the attachment policy; nothing was stored."""


class FileTooLarge(AttachmentRefused):
    """The upload crossed the policy's maximum size (it was cut off there)."""


class FileInfected(AttachmentRefused):
    """A scanner refused the file."""


class AttachmentNotFound(NotFound):
    """No attachment with this id is visible to the acting user."""
