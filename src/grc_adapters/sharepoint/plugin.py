"""The ``sharepoint`` plugin: registers :class:`~grc_adapters.sharepoint.backend.SharePointBackend`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    sharepoint = "grc_adapters.sharepoint.plugin"

Configuration (``[grc.storage.sharepoint]``, or ``GRC_STORAGE__SHAREPOINT__<KEY>``)::

    site_url = "https://contoso.sharepoint.com/sites/crm"
    library = "Shared Documents"         # the library's URL name
    root_folder = "CRM"
    tenant = "contoso.onmicrosoft.com"   # certificate app-only authentication
    client_id = "…"                      # the application (client) id
    thumbprint = "…"                     # SHA-1 thumbprint of the registered certificate
    cert_path = "/etc/grc/sharepoint.pem"  # its private key, PEM

See ``docs/backends/sharepoint.md`` for every key.  This module imports neither the
SharePoint client nor the backend: ``grc`` starts, and lists plugins, without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from grc_adapters.sharepoint.config import ACCEPTED, parse_settings
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend
from grc_core.plugins.settings import declare

if TYPE_CHECKING:
    from grc_adapters.sharepoint.backend import SharePointBackend


def make_sharepoint_backend(config: Mapping[str, Any]) -> SharePointBackend:
    """Build the backend from its configuration table.

    The settings are checked before the client library is imported, so a configuration
    mistake is reported as such even where the ``[sharepoint]`` extra is missing.

    :raises ConfigError: an unknown key or a missing or malformed value (see
        :func:`~grc_adapters.sharepoint.config.parse_settings`).
    """
    settings = parse_settings(config)
    if settings.api == "graph":
        from grc_adapters.sharepoint.graph import GraphBackend

        return GraphBackend(settings)  # type: ignore[return-value]  # same protocol
    from grc_adapters.sharepoint.backend import SharePointBackend

    return SharePointBackend(settings)


@hookimpl
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register ``sharepoint``."""
    register(
        "sharepoint",
        make_sharepoint_backend,
        description="documents in a SharePoint Online library (REST or Microsoft Graph)",
        requires=("office365",),
        extra="sharepoint",
        settings=declare(ACCEPTED, secrets=("cert_passphrase", "access_token", "client_secret")),
    )
