"""The local disk storage backend, the embedded default (entry point ``local``)."""

from grc_adapters.local.backend import (
    DEFAULT_TEMP_GRACE,
    TEMP_PREFIX,
    LocalDiskBackend,
    default_root,
)

__all__ = ["DEFAULT_TEMP_GRACE", "TEMP_PREFIX", "LocalDiskBackend", "default_root"]
