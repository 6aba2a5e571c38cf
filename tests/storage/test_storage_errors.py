"""The storage and plugin errors: one hierarchy under GrcError, each also a built-in."""

from __future__ import annotations

import pytest

from grc_core.errors import (
    BackendNotInstalled,
    BlobExists,
    BlobNotFound,
    GrcError,
    InvalidKey,
    PluginError,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
    UnknownBackend,
)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (StorageError, OSError),
        (BlobNotFound, FileNotFoundError),
        (BlobExists, FileExistsError),
        (StorageAuthError, PermissionError),
        (StorageUnavailable, ConnectionError),
        (InvalidKey, ValueError),
    ],
)
def test_storage_errors_are_grc_storage_and_builtin_errors(
    error: type[StorageError], builtin: type[Exception]
) -> None:
    raised = error("what went wrong")
    assert isinstance(raised, GrcError)
    assert isinstance(raised, StorageError)
    assert isinstance(raised, OSError)
    assert isinstance(raised, builtin)
    assert str(raised) == "what went wrong"  # no "[Errno None]" decoration
    with pytest.raises(builtin):
        raise raised


def test_backend_not_installed_names_the_module_and_the_extra() -> None:
    error = BackendNotInstalled("sharepoint", ["office365"], "grc-exchanges[sharepoint]")
    assert isinstance(error, ImportError) and isinstance(error, PluginError)
    assert str(error) == (
        "the 'sharepoint' storage backend needs the module office365, which is not "
        "installed: pip install 'grc-exchanges[sharepoint]'"
    )
    assert error.install == "grc-exchanges[sharepoint]"


def test_backend_not_installed_without_an_extra_still_says_what_is_missing() -> None:
    error = BackendNotInstalled("cmis", ["cmislib", "lxml"], None)
    assert "the modules cmislib, lxml, which are not installed" in str(error)
    assert "pip install '" not in str(error)


def test_unknown_backend_lists_the_available_names() -> None:
    error = UnknownBackend("sharepiont", ["local", "sharepoint"])
    assert isinstance(error, LookupError) and isinstance(error, PluginError)
    assert str(error) == "no storage backend is named 'sharepiont'; available: local, sharepoint"
    assert "none" in str(UnknownBackend("x", []))
