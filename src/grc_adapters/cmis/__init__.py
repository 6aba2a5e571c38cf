"""The CMIS storage backend (Alfresco and other CMIS 1.1 servers), entry point ``cmis``.

Importing this package does not import ``cmislib`` (an optional extra): ``CmisBackend`` is
loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grc_adapters.cmis.backend import CmisBackend

__all__ = ["CmisBackend"]


def __getattr__(name: str) -> Any:
    if name == "CmisBackend":
        from grc_adapters.cmis.backend import CmisBackend

        return CmisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
