"""A 50 MiB attachment through the upload session and the streamed download, in flat memory."""

from __future__ import annotations

import hashlib
import math
import random
import time
import tracemalloc

from tests.adapters.sharepoint.conftest import ROOT

MiB = 1024 * 1024
SIZE = 50 * MiB
CHUNK = 4 * MiB
#: Far below the 50 MiB that holding the file would take; two fragments plus slack.
PEAK_LIMIT = 16 * MiB


class Generated:
    """A non-seekable stream of ``size`` pseudo-random bytes, made as they are read."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.left = size
        self.random = random.Random(seed)
        self.sha256 = hashlib.sha256()
        self.largest_read = 0

    def read(self, n: int = -1) -> bytes:
        assert n is not None and n > 0, "the backend must read in bounded chunks"
        self.largest_read = max(self.largest_read, n)
        n = min(n, self.left)
        if n <= 0:
            return b""
        data = self.random.randbytes(n)
        self.left -= n
        self.sha256.update(data)
        return data


def test_50_mib_round_trip_in_flat_memory(make_backend, protocol, record_property):
    backend = make_backend(chunk_size=CHUNK)
    source = Generated(SIZE)
    read_back = hashlib.sha256()
    received = 0

    tracemalloc.start()
    started = time.monotonic()
    key = backend.put("2026/03/" + "5" * 32, source, metadata={"filename": "big.bin"})
    uploaded = time.monotonic()
    with backend.open(key) as stream:
        while chunk := stream.read(MiB):
            read_back.update(chunk)
            received += len(chunk)
    finished = time.monotonic()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert received == SIZE
    assert read_back.hexdigest() == source.sha256.hexdigest()
    assert list(protocol.documents(ROOT).values()) == [SIZE]

    fragments = [c for c in protocol.chunk_requests() if c["file"] == key]
    assert len(fragments) == math.ceil(SIZE / CHUNK)
    assert [c["step"] for c in fragments] == (
        ["StartUpload"] + ["ContinueUpload"] * (len(fragments) - 2) + ["FinishUpload"]
    )
    assert [c["offset"] for c in fragments] == [i * CHUNK for i in range(len(fragments))]
    assert all(c["complete"] for c in fragments)
    assert protocol.duplicate_chunks == []  # no fragment sent twice
    assert source.largest_read <= MiB

    assert peak < PEAK_LIMIT, f"peak traced memory {peak / MiB:.1f} MiB"
    for name, value in {
        "upload_seconds": round(uploaded - started, 2),
        "download_seconds": round(finished - uploaded, 2),
        "fragments": len(fragments),
        "peak_mib": round(peak / MiB, 2),
    }.items():
        record_property(name, value)
    print(
        f"\n50 MiB round trip: upload {uploaded - started:.2f}s, download "
        f"{finished - uploaded:.2f}s, {len(fragments)} fragments of {CHUNK // MiB} MiB, "
        f"tracemalloc peak {peak / MiB:.2f} MiB"
    )
