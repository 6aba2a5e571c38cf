"""The ``nuxeo`` plugin: registers :class:`~grc_adapters.nuxeo.backend.NuxeoBackend`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    nuxeo = "grc_adapters.nuxeo.plugin"

Configuration (``[grc.storage.nuxeo]`` or ``GRC_STORAGE__NUXEO__<KEY>``)::

    url = "https://ged.example.com/nuxeo/"
    user = "grc"                      # with password, or: token = "…", or: bearer_token = "…"
    password = "…"
    repository = "default"
    root_path = "/default-domain/workspaces/CRM"
    chunk_size = 5242880              # bytes per upload chunk (peak memory: about 2x)
    timeout = 60                      # seconds, every request
    retries = 3                       # repetitions of what is safe to repeat
    backoff = 0.5                     # first pause between repetitions, in seconds
    verify_tls = true
    spool_dir = "/var/tmp"            # where uploads are spooled (default: the temp dir)

This module is imported whenever GRC loads its plugins: it imports neither the ``nuxeo``
client nor the backend module, only the settings checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from grc_adapters.nuxeo.settings import ACCEPTED, SECRETS, NuxeoSettings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend
from grc_core.plugins.settings import declare

if TYPE_CHECKING:
    from grc_adapters.nuxeo.backend import NuxeoBackend


def make_nuxeo_backend(config: Mapping[str, Any]) -> NuxeoBackend:
    """Build the Nuxeo backend from its configuration table.

    The configuration is checked before the client library is imported, so that a wrong
    setting is reported as such even where the library is missing.

    :raises ConfigError: an unknown, missing or malformed setting (never echoing a secret).
    :raises ModuleNotFoundError: the ``nuxeo`` client is not installed (the registry turns
        it into :class:`~grc_core.errors.BackendNotInstalled` naming the extra).
    """
    settings = NuxeoSettings.from_config(config)
    from grc_adapters.nuxeo.backend import NuxeoBackend

    return NuxeoBackend(settings)


@hookimpl
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register ``nuxeo``."""
    register(
        "nuxeo",
        make_nuxeo_backend,
        description="File documents in a Nuxeo repository (REST API, chunked batch upload)",
        # Looked up with importlib.util.find_spec, which does not run nuxeo/__init__.py, let
        # alone nuxeo.auth: the OAuth2 import problem is dealt with when the backend loads.
        # packaging: imported by nuxeo.utils without being declared (nuxeo-python-client#317).
        requires=("nuxeo", "packaging"),
        extra="nuxeo",
        settings=declare(ACCEPTED, secrets=SECRETS),
    )
