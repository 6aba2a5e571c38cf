"""An in-memory storage backend: the smallest complete implementation of the contract.

Everything a real GED adapter must get right is here, in a few lines each:

- check the key (:func:`~grc_core.storage.keys.check_key`), even though the core made it;
- refuse to overwrite (:class:`~grc_core.errors.BlobExists`);
- read the upload in bounded chunks (:func:`~grc_core.storage.backend.read_chunks`) and
  hand each chunk on as it comes — here to the list that stores it, in a real adapter to
  the server — never gathering the whole file in a working buffer (``bytearray``,
  ``b"".join``, ``BytesIO``): the contract suite measures this with a 32 MiB upload;
- publish the blob only once it is complete, so a failed upload leaves nothing behind;
- raise :class:`~grc_core.errors.BlobNotFound` for a missing key;
- report aware UTC times in :class:`~grc_core.storage.backend.BlobInfo`.

A real adapter would send each chunk to its server (a chunked upload session, or one HTTP
request whose body is a generator of the chunks — see *Writing a storage plugin*) instead
of keeping it, and would clean the ``metadata`` hints before building a folder path from
them.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

from grc_core.errors import BlobExists, BlobNotFound, StorageError
from grc_core.storage.backend import BlobInfo, read_chunks
from grc_core.storage.keys import check_key


@dataclass(frozen=True)
class _Blob:
    chunks: tuple[bytes, ...]  # as read from the upload: never joined into one copy
    size: int
    modified: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)


class _ChunkReader(io.RawIOBase):
    """A read-only stream over stored chunks (``open``), copying one chunk at a time."""

    def __init__(self, chunks: tuple[bytes, ...]) -> None:
        self._chunks = chunks
        self._index = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._index < len(self._chunks):
            chunk = self._chunks[self._index]
            if self._offset < len(chunk):
                count = min(len(buffer), len(chunk) - self._offset)
                buffer[:count] = chunk[self._offset : self._offset + count]
                self._offset += count
                return count
            self._index, self._offset = self._index + 1, 0
        return 0


class MemoryBackend:
    """Blobs in a dict, lost when the process ends (for demonstrations and tests).

    Each instance is its own store.  GRC builds one instance per thread, so a
    multi-threaded server would see one store per thread: a real backend keeps its blobs
    where every instance finds them (a disk, a server), and this one is only an example.

    :param max_bytes: the total size the store may hold; ``put`` beyond it raises
        :class:`~grc_core.errors.StorageError`, as a full GED would.
    """

    name = "example-memory"

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._blobs: dict[str, _Blob] = {}
        # GRC uses an instance from one thread at a time; a host that builds one itself may
        # share it between its threads (Backends.of), which the lock makes safe.
        self._lock = threading.Lock()

    def _used(self) -> int:
        return sum(blob.size for blob in self._blobs.values())

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``stream`` under ``key``; see :meth:`grc_core.storage.StorageBackend.put`."""
        check_key(key)
        with self._lock:
            if key in self._blobs:
                raise BlobExists(f"a blob is already stored under {key!r}")
        chunks: list[bytes] = []
        received = 0
        for chunk in read_chunks(stream):  # bounded reads; the stream's errors propagate
            chunks.append(chunk)  # handed on as it comes (a real adapter sends it)
            received += len(chunk)
            if received > self.max_bytes:
                raise StorageError(f"the example-memory store is full ({self.max_bytes} bytes)")
        with self._lock:
            # Checked again: another thread may have stored the key while we read.
            if key in self._blobs:
                raise BlobExists(f"a blob is already stored under {key!r}")
            if self._used() + received > self.max_bytes:
                raise StorageError(f"the example-memory store is full ({self.max_bytes} bytes)")
            # Published only now, complete: a failed upload never reaches the dict.
            blob = _Blob(tuple(chunks), received, datetime.now(UTC), dict(metadata or {}))
            self._blobs[key] = blob
        return key

    def _blob(self, key: str) -> _Blob:
        with self._lock:
            blob = self._blobs.get(key)
        if blob is None:
            raise BlobNotFound(f"no blob is stored under {key!r}")
        return blob

    def open(self, key: str) -> BinaryIO:
        """A stream over the stored bytes."""
        return cast(BinaryIO, io.BufferedReader(_ChunkReader(self._blob(key).chunks)))

    def stat(self, key: str) -> BlobInfo:
        """Size and time of the blob."""
        blob = self._blob(key)
        return BlobInfo(key, blob.size, blob.modified)

    def delete(self, key: str) -> None:
        """Forget the blob."""
        with self._lock:
            if self._blobs.pop(key, None) is None:
                raise BlobNotFound(f"no blob is stored under {key!r}")

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob (a snapshot: deleting while iterating is safe)."""
        with self._lock:
            snapshot = list(self._blobs.items())
        for key, blob in snapshot:
            yield BlobInfo(key, blob.size, blob.modified)

    def metadata(self, key: str) -> Mapping[str, str]:
        """The display hints given to ``put`` (a GED would show them as document fields)."""
        return self._blob(key).metadata

    def close(self) -> None:
        """Drop every blob; harmless twice."""
        with self._lock:
            self._blobs.clear()
