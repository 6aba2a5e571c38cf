"""The storage-backend contract: the narrow interface every GED adapter implements.

The core does everything else (DESIGN example 5, Django's ``Storage.save`` → ``_save``): it
checks the policy, sniffs the type, computes size and SHA-256 while streaming, generates the
key and keeps the user's file name in the database.  A backend only stores and gives back
bytes under a key.  Its contract, checked by
:class:`grc_core.testing.storage_contract.StorageBackendContract`:

- ``put`` stores a stream under a **new** key and never overwrites;
- every method streams: nothing holds a whole blob in memory;
- a failed ``put`` leaves nothing behind, and the key is free again;
- every failure is a :class:`~grc_core.errors.StorageError` subclass (or, for ``put``, the
  exception the source stream raised).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Protocol, runtime_checkable

#: How many bytes backends read from a stream at a time (1 MiB).
CHUNK_SIZE = 1024 * 1024

#: The keys of the ``metadata`` mapping that ``put`` may receive.  All values are strings;
#: any of them may be missing.  They are display hints for GED backends that keep a
#: browsable layout (a folder per company, a document title…); they come from users, so a
#: backend must clean them before using them in a path or a query, and must never let them
#: decide where a blob is found again (only the returned key does).
METADATA_KEYS = ("company", "date", "subject", "filename", "exchange_id", "author")


@dataclass(frozen=True)
class BlobInfo:
    """What a backend knows about one stored blob.

    :param key: the key as :meth:`StorageBackend.put` returned it.
    :param size: the size in bytes.
    :param modified: when the blob was written, timezone-aware (normalised to UTC).
    """

    key: str
    size: int
    modified: datetime

    def __post_init__(self) -> None:
        if self.modified.tzinfo is None or self.modified.utcoffset() is None:
            raise ValueError(f"BlobInfo.modified must be timezone-aware, got {self.modified!r}")
        if self.size < 0:
            raise ValueError(f"BlobInfo.size must be >= 0, got {self.size}")
        # Frozen: normalising needs object.__setattr__.
        object.__setattr__(self, "modified", self.modified.astimezone(UTC))


@runtime_checkable
class StorageBackend(Protocol):
    """A place where attachment blobs are stored (local disk, SharePoint, CMIS, Nuxeo…).

    Implementations are built by the factory their plugin registers (see
    :func:`grc_core.plugins.hookspecs.grc_register_storage_backends`) and are used from one
    thread at a time unless they document otherwise.
    """

    #: The name the backend is registered under (``"local"``, ``"sharepoint"``…).
    name: str

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store everything ``stream`` yields under ``key``, which must be new.

        The stream is read with ``stream.read(n)`` for a bounded ``n`` (:data:`CHUNK_SIZE`)
        until it returns ``b""``; it may not be seekable, and is never read whole.  The blob
        becomes visible to ``open``/``stat``/``iter_blobs`` only once it is complete.

        :param key: a key made by :func:`grc_core.storage.keys.new_key`.
        :param stream: a readable binary stream; the caller closes it.
        :param size: the expected size when known — a hint (for a chunked upload…), never
            trusted.
        :param metadata: display hints (see :data:`METADATA_KEYS`); may be ignored.
        :returns: the key to keep in the database and to pass to ``open``/``stat``/
            ``delete``: ``key`` itself, or the backend's own stable identifier (a GED
            document id).  :meth:`iter_blobs` reports blobs under this returned key.
        :raises InvalidKey: ``key`` is not a safe key.
        :raises BlobExists: something is already stored under ``key``; it is left intact.
        :raises StorageError: (or a subclass: ``StorageAuthError``, ``StorageUnavailable``)
            the blob could not be stored.  Whatever the failure, including an exception
            raised by ``stream`` itself (which propagates), nothing is left behind and
            ``key`` may be used again.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the blob, to use in a ``with`` block.

        :raises BlobNotFound: (also a :class:`FileNotFoundError`) nothing is stored
            under ``key``.
        :raises StorageError: the blob could not be read.
        """
        ...

    def stat(self, key: str) -> BlobInfo:
        """The size and write time of the blob.

        :raises BlobNotFound: nothing is stored under ``key``.
        :raises StorageError: the backend could not be asked.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the blob.

        :raises BlobNotFound: nothing is stored under ``key`` (deleting twice is an error,
            so that a caller notices a blob that vanished behind its back).
        :raises StorageError: the blob could not be removed.
        """
        ...

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every complete blob stored by this backend, in no particular order.

        ``grc storage verify`` compares this with the database to find orphan blobs, so it
        lists blobs under the keys ``put`` returned, never half-written ones.

        :raises StorageError: the backend could not be listed.
        """
        ...

    def close(self) -> None:
        """Release connections and files.  Calling it twice is harmless."""
        ...


def read_chunks(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the content of ``stream`` in chunks of at most ``chunk_size`` bytes.

    A helper for backends: it reads with a bounded size, as the contract requires, and
    stops at the first empty read.
    """
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk
