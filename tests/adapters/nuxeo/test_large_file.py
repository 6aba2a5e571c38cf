"""A 50 MiB attachment round-trips on the chunked path with flat peak memory."""

from __future__ import annotations

import hashlib
import math
import random
import time
import tracemalloc
from collections.abc import Callable

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_adapters.nuxeo.settings import DEFAULT_CHUNK_SIZE
from grc_core.storage.backend import CHUNK_SIZE
from grc_core.storage.keys import new_key

from .server import NuxeoProtocol

MiB = 1024 * 1024
SIZE = 50 * MiB
PEAK_LIMIT = 16 * MiB


class GeneratedStream:
    """``size`` pseudo-random bytes made as they are read, never held whole.

    Non-seekable, bounded reads only, like an upload arriving from the network.
    """

    def __init__(self, size: int, seed: int = 50) -> None:
        self.left = size
        self.random = random.Random(seed)
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        assert 0 < n <= 16 * MiB, f"read({n}) is not a bounded read"
        data = self.random.randbytes(min(n, self.left))
        self.left -= len(data)
        self.sha256.update(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def test_50_mib_round_trip_on_the_chunked_path_with_flat_memory(
    make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol
):
    backend = make_backend(chunk_size=DEFAULT_CHUNK_SIZE)  # the default: 5 MiB
    source = GeneratedStream(SIZE)
    read_back = hashlib.sha256()

    tracemalloc.start()
    started = time.perf_counter()
    uid = backend.put(new_key(), source, size=SIZE, metadata={"filename": "big.bin"})
    uploaded = time.perf_counter()
    with backend.open(uid) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            read_back.update(chunk)
    finished = time.perf_counter()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert read_back.hexdigest() == source.sha256.hexdigest()
    assert backend.stat(uid).size == SIZE
    chunks = math.ceil(SIZE / DEFAULT_CHUNK_SIZE)
    assert [c for _, _, c in protocol.chunk_requests] == list(range(chunks))
    assert protocol.duplicate_chunks == []
    assert peak < PEAK_LIMIT, f"peak memory {peak / MiB:.1f} MiB"
    print(
        f"\n50 MiB: {chunks} chunks of {DEFAULT_CHUNK_SIZE // MiB} MiB, put "
        f"{uploaded - started:.2f} s, read {finished - uploaded:.2f} s, "
        f"peak traced memory {peak / MiB:.1f} MiB"
    )
