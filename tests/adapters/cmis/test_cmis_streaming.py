"""Large attachments stream both ways through cmislib's multipart upload, in flat memory.

CMIS has no chunked upload: a document is one ``createDocument`` multipart request.  The
test therefore counts the content-carrying ``createDocument`` requests the server received
(exactly one) and the content bytes it received (exactly the file's size: nothing was sent
twice), and measures the test process's peak of Python allocations (client *and* server
threads) with tracemalloc while 50 MB go up and come back.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc

import pytest

from grc_core.storage.backend import CHUNK_SIZE

from .server import stored_files

MiB = 1024 * 1024
PEAK_LIMIT = 16 * MiB


class Generated:
    """``size`` bytes made on the fly (never held whole), non-seekable, hashed as read.

    Every MiB differs (its index is written in its first 8 bytes), so a chunk sent twice
    or out of order changes the checksum.
    """

    _BASE = bytes(range(256)) * 4096  # 1 MiB

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.digest = hashlib.sha256()
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        assert 0 < n <= 16 * MiB, f"read({n}): uploads must be read in bounded chunks"
        self.largest_read = max(self.largest_read, n)
        if self.position >= self.size:
            return b""
        index, offset = divmod(self.position, MiB)
        block = index.to_bytes(8, "big") + self._BASE[8:]
        data = block[offset : offset + min(n, self.size - self.position)]
        self.position += len(data)
        self.digest.update(data)
        return data


def download_digest(backend, key: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with backend.open(key) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


@pytest.mark.parametrize(
    ("size", "announce"),
    [(50 * MiB, True), (20 * MiB, False)],
    ids=["50MB-streamed", "20MB-size-unknown-spooled"],
)
def test_large_round_trip_in_flat_memory(backend, protocol, size, announce):
    source = Generated(size)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        key = backend.put(
            "2026/03/" + "5" * 32,
            source,
            size=size if announce else None,
            metadata={"company": "ACME", "date": "2026-03-02", "filename": "big.bin"},
        )
        uploaded = time.perf_counter()
        got_size, got_digest = download_digest(backend, key)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (got_size, got_digest) == (size, source.digest.hexdigest())
    assert peak < PEAK_LIMIT, f"peak {peak / MiB:.1f} MiB for a {size // MiB} MiB file"
    # One content-carrying createDocument, and every byte received exactly once.
    assert protocol.content_uploads == 1
    assert protocol.content_bytes == size
    # The other createDocument is the key's index entry, which has no content.
    assert protocol.actions["createDocument"] == 2
    assert [p.stat().st_size for p in stored_files(protocol)] == [size]
    assert backend.stat(key).size == size
    assert source.largest_read <= CHUNK_SIZE
    print(
        f"\n{size // MiB} MiB: put {uploaded - started:.2f} s, round trip {elapsed:.2f} s, "
        f"peak {peak / MiB:.2f} MiB"
    )
