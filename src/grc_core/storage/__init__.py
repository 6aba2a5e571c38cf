"""Blob storage: the backend contract and storage-key safety.

- :mod:`grc_core.storage.backend` — :class:`StorageBackend`, :class:`BlobInfo`,
  :data:`CHUNK_SIZE`, :func:`read_chunks`;
- :mod:`grc_core.storage.keys` — :func:`new_key`, :func:`check_key`, :func:`safe_join`.

Backends themselves live in :mod:`grc_adapters` and in third-party plugins; they are found
through :class:`grc_core.plugins.Registry`.
"""

from grc_core.storage.backend import (
    CHUNK_SIZE,
    METADATA_KEYS,
    BlobInfo,
    StorageBackend,
    read_chunks,
)
from grc_core.storage.keys import check_key, new_key, safe_join

__all__ = [
    "CHUNK_SIZE",
    "METADATA_KEYS",
    "BlobInfo",
    "StorageBackend",
    "check_key",
    "new_key",
    "read_chunks",
    "safe_join",
]
