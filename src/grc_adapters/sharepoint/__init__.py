"""The SharePoint Online storage backend (entry point ``sharepoint``, extra ``[sharepoint]``).

Importing this package does not import the SharePoint client (``office365``): the plugin
module registers the backend, and the client is imported when a backend is built.  See
``docs/backends/sharepoint.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grc_adapters.sharepoint.backend import SharePointBackend

__all__ = ["SharePointBackend"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import grc_adapters.sharepoint.plugin`` stays cheap.
    if name == "SharePointBackend":
        from grc_adapters.sharepoint.backend import SharePointBackend

        return SharePointBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
