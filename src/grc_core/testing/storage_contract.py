"""The storage-backend contract as tests: every backend, ours and third parties', runs them.

Subclass :class:`StorageBackendContract` in a test module and provide a ``backend`` fixture
that yields a fresh, empty backend (fsspec's ``tests/abstract`` shape)::

    import pytest
    from grc_core.testing.storage_contract import StorageBackendContract
    from my_plugin import MyBackend

    class TestMyBackend(StorageBackendContract):
        @pytest.fixture
        def backend(self, tmp_path):
            backend = MyBackend(...)
            yield backend
            backend.close()

Override ``make_key`` to change the keys ``put`` is given (the default,
:func:`~grc_core.storage.keys.new_key`, is what the core uses), and ``max_read_size`` if
the backend reads bigger chunks than 16 MiB, and ``transient_memory_limit`` if it needs more
working memory than 8 MiB while it stores a blob.  Every test may fail: each one checks a rule of
:class:`~grc_core.storage.backend.StorageBackend` that a plausible backend could break.

This module imports pytest; nothing in :mod:`grc_core` imports it.
"""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, cast

import pytest

from grc_core.errors import BlobExists, BlobNotFound, InvalidKey, StorageError
from grc_core.storage.backend import CHUNK_SIZE, BlobInfo, StorageBackend
from grc_core.storage.keys import new_key

MiB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` reproducible pseudo-random bytes (incompressible, every byte value)."""
    return random.Random(f"{size}-{seed}").randbytes(size)


class SourceStreamError(Exception):
    """What :class:`ChunkedStream` raises when told to fail mid-way."""


class ChunkedStream:
    """A read-only, non-seekable stream that only allows bounded reads.

    It stands for an upload arriving from the network: it cannot be rewound, and reading it
    whole (``read()``, ``read(-1)``) is refused — a backend must read it in chunks.  It
    records what was asked, so that a test can check it even if the backend swallowed the
    error.

    :param data: the content.
    :param max_read: the largest ``read`` size allowed.
    :param fail_after: raise :class:`SourceStreamError` once this many bytes were read.
    """

    def __init__(self, data: bytes, *, max_read: int, fail_after: int | None = None) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._max_read = max_read
        self._fail_after = fail_after
        self.reads = 0
        self.largest_read = 0
        self.violations: list[str] = []
        self.closed = False

    def readable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Always false: an upload cannot be rewound."""
        return False

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` bytes; refuses an unbounded or oversized ``size``."""
        if size is None or size < 0:
            self.violations.append(f"read({size!r}) would load the whole stream")
            raise AssertionError(
                f"the backend called read({size!r}) on the upload stream; it must read in "
                f"chunks (read(n) with n <= {self._max_read})"
            )
        if size > self._max_read:
            self.violations.append(f"read({size}) is larger than {self._max_read}")
            raise AssertionError(
                f"the backend called read({size}); chunks must be at most {self._max_read} bytes"
            )
        if self._fail_after is not None and self._position >= self._fail_after:
            raise SourceStreamError("the upload broke off (simulated)")
        self.reads += 1
        self.largest_read = max(self.largest_read, size)
        end = min(self._position + size, len(self._data))
        if self._fail_after is not None:
            end = min(end, self._fail_after)
        chunk = bytes(self._data[self._position : end])
        self._position = end
        return chunk

    def readinto(self, buffer: Any) -> int:
        """Bounded like :meth:`read`."""
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        """Mark closed (the caller of ``put`` closes the stream, not the backend)."""
        self.closed = True


class GeneratedStream:
    """A non-seekable stream of ``size`` pseudo-random bytes made as they are read.

    The content never exists whole in memory, so that the memory a backend uses while it
    stores a large blob can be measured (see ``test_put_holds_no_copy_of_the_whole_file``).
    ``sha256`` is the digest of what was read so far.
    """

    def __init__(self, size: int, *, max_read: int, seed: int = 7) -> None:
        self._left = size
        self._max_read = max_read
        self._random = random.Random(seed)
        self._digest = hashlib.sha256()
        self.violations: list[str] = []

    def readable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Always false."""
        return False

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` bytes; refuses an unbounded or oversized ``size``."""
        if size is None or size < 0 or size > self._max_read:
            self.violations.append(f"read({size!r})")
            raise AssertionError(f"the backend called read({size!r}) on the upload stream")
        chunk = self._random.randbytes(min(size, self._left))
        self._left -= len(chunk)
        self._digest.update(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        """Bounded like :meth:`read`."""
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    @property
    def sha256(self) -> str:
        """The hex digest of the bytes read so far."""
        return self._digest.hexdigest()

    def close(self) -> None:
        """Nothing to release."""


def as_upload(stream: ChunkedStream | GeneratedStream) -> BinaryIO:
    """A test stream typed as what ``put`` receives (it has the methods a backend may use:
    ``read``, ``readinto``, ``readable``, ``seekable``)."""
    return cast(BinaryIO, stream)


class StorageBackendContract:
    """The tests every storage backend must pass; subclass it and provide ``backend``.

    Not collected by itself (its name does not start with ``Test``).
    """

    #: The largest ``read`` size the upload stream accepts.
    max_read_size: int = 16 * MiB
    #: The most memory ``put`` may hold at once beyond what the backend keeps afterwards
    #: (chunks in flight, an HTTP client's buffers).  A backend that gathers the whole file
    #: before sending or writing it needs as much as the file and fails.
    transient_memory_limit: int = 8 * MiB
    #: How far a backend's clock (a remote GED server's) may be from ours.
    clock_tolerance: timedelta = timedelta(minutes=10)

    # --- fixtures a subclass provides or overrides ----------------------------------------

    @pytest.fixture
    def backend(self) -> StorageBackend:
        """A fresh, empty backend.  Subclasses must override this fixture."""
        raise NotImplementedError(
            f"{type(self).__name__} must define a `backend` fixture returning a fresh, "
            "empty storage backend"
        )

    @pytest.fixture
    def make_key(self) -> Callable[[], str]:
        """Makes the keys given to ``put``; the core's own generator by default."""
        return new_key

    # --- helpers ------------------------------------------------------------------------

    def put(self, backend: StorageBackend, key: str, data: bytes, **kwargs: Any) -> str:
        """``backend.put`` from a chunked stream; checks the returned key is a string."""
        stream = ChunkedStream(data, max_read=self.max_read_size)
        stored = backend.put(key, as_upload(stream), **kwargs)
        assert isinstance(stored, str) and stored, f"put() returned {stored!r}, not a key"
        assert not stream.violations, stream.violations
        return stored

    @staticmethod
    def read(backend: StorageBackend, key: str) -> bytes:
        """The whole blob, read through ``open`` in chunks inside a ``with`` block."""
        parts = []
        with backend.open(key) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                parts.append(chunk)
        return b"".join(parts)

    @staticmethod
    def listed(backend: StorageBackend) -> dict[str, BlobInfo]:
        """``iter_blobs`` as a dict by key (fails on a key listed twice)."""
        infos: dict[str, BlobInfo] = {}
        for info in backend.iter_blobs():
            assert isinstance(info, BlobInfo), f"iter_blobs() yielded {info!r}"
            assert info.key not in infos, f"iter_blobs() listed {info.key!r} twice"
            infos[info.key] = info
        return infos

    # --- the contract -------------------------------------------------------------------

    def test_is_a_storage_backend(self, backend: StorageBackend) -> None:
        assert isinstance(backend, StorageBackend)
        assert isinstance(backend.name, str) and backend.name

    def test_a_new_backend_lists_nothing(self, backend: StorageBackend) -> None:
        assert self.listed(backend) == {}

    @pytest.mark.parametrize(
        ("size", "give_size"),
        [
            (0, False),
            (1, True),
            (4096, False),
            (CHUNK_SIZE, True),
            (CHUNK_SIZE + 1, False),
            (3 * MiB + MiB // 2, True),
        ],
        ids=["empty", "one-byte", "4-KiB", "one-chunk", "chunk-plus-one", "3.5-MiB"],
    )
    def test_round_trip(
        self,
        backend: StorageBackend,
        make_key: Callable[[], str],
        size: int,
        give_size: bool,
    ) -> None:
        data = payload(size)
        key = self.put(backend, make_key(), data, size=size if give_size else None)
        assert self.read(backend, key) == data

    def test_every_byte_value_round_trips(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        data = bytes(range(256)) * 3 + bytes(reversed(range(256))) + b"\r\n\n\r\x00\x1a"
        key = self.put(backend, make_key(), data)
        assert self.read(backend, key) == data

    def test_put_returns_a_key_that_open_stat_and_delete_accept(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        key = self.put(backend, make_key(), b"hello")
        assert self.read(backend, key) == b"hello"
        assert backend.stat(key).key == key
        backend.delete(key)
        with pytest.raises(BlobNotFound):
            backend.stat(key)

    def test_stat_reports_size_and_aware_modified_time(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        before = datetime.now(UTC)
        key = self.put(backend, make_key(), payload(12345))
        after = datetime.now(UTC)
        info = backend.stat(key)
        assert isinstance(info, BlobInfo)
        assert info.size == 12345
        assert info.modified.tzinfo is not None
        assert info.modified.utcoffset() == timedelta(0)
        assert before - self.clock_tolerance <= info.modified <= after + self.clock_tolerance

    def test_put_never_overwrites(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        key = make_key()
        stored = self.put(backend, key, b"original")
        with pytest.raises(BlobExists) as caught:
            backend.put(key, as_upload(ChunkedStream(b"intruder", max_read=self.max_read_size)))
        assert isinstance(caught.value, FileExistsError)
        # A backend that names the existing blob must name the right one.
        assert caught.value.key in (None, stored)
        assert self.read(backend, stored) == b"original"
        assert backend.stat(stored).size == len(b"original")
        assert list(self.listed(backend)) == [stored]

    @pytest.mark.parametrize("operation", ["open", "stat", "delete"])
    def test_missing_key_raises_blob_not_found(
        self, backend: StorageBackend, make_key: Callable[[], str], operation: str
    ) -> None:
        with pytest.raises(BlobNotFound) as caught:
            getattr(backend, operation)(make_key())
        assert isinstance(caught.value, FileNotFoundError)
        assert isinstance(caught.value, StorageError)

    def test_deleted_blob_is_gone(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        key = self.put(backend, make_key(), b"short-lived")
        backend.delete(key)
        with pytest.raises(BlobNotFound):
            backend.open(key)
        with pytest.raises(BlobNotFound):
            backend.stat(key)
        with pytest.raises(BlobNotFound):
            backend.delete(key)

    def test_iter_blobs_lists_what_was_put_and_not_what_was_deleted(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        sizes = [0, 10, 2 * MiB]
        keys = [self.put(backend, make_key(), payload(size)) for size in sizes]
        backend.delete(keys[1])
        listed = self.listed(backend)
        assert set(listed) == {keys[0], keys[2]}
        assert listed[keys[0]].size == 0
        assert listed[keys[2]].size == 2 * MiB
        assert listed[keys[2]].modified.utcoffset() == timedelta(0)

    def test_put_reads_the_stream_in_bounded_chunks(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        data = payload(3 * MiB + 17)
        stream = ChunkedStream(data, max_read=self.max_read_size)
        key = backend.put(make_key(), as_upload(stream))
        assert not stream.violations, stream.violations
        assert stream.reads >= 2, "put() must read until read() returns b''"
        assert not stream.closed, "put() must leave closing the stream to its caller"
        assert self.read(backend, key) == data

    def test_put_holds_no_copy_of_the_whole_file(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        """Uploads are streamed: storing a blob four times ``transient_memory_limit`` never
        holds more than that limit at once, besides what the backend keeps (an in-memory
        store keeps the blob; a disk or a GED keeps nothing).  Measured with
        :mod:`tracemalloc`, which sees every Python object, in this thread and in any other
        thread of the process (a test server's)."""
        size = 4 * self.transient_memory_limit
        stream = GeneratedStream(size, max_read=self.max_read_size)
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            key = backend.put(make_key(), as_upload(stream), size=size)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            if started:
                tracemalloc.stop()
        assert not stream.violations, stream.violations
        transient = peak - max(kept, before)
        assert transient <= self.transient_memory_limit, (
            f"put() of a {size // MiB} MiB blob held {transient / MiB:.1f} MiB at once, more "
            f"than {self.transient_memory_limit // MiB} MiB: it must send or write each chunk "
            "as it reads it, never gather the whole file (a bytearray, b''.join, "
            "a BytesIO, an HTTP body built in memory)"
        )
        digest = hashlib.sha256()
        with backend.open(key) as opened:
            while chunk := opened.read(CHUNK_SIZE):
                digest.update(chunk)
        assert digest.hexdigest() == stream.sha256
        assert backend.stat(key).size == size

    def test_a_failing_stream_leaves_nothing_behind(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        key = make_key()
        before = set(self.listed(backend))
        stream = ChunkedStream(payload(3 * MiB), max_read=self.max_read_size, fail_after=MiB + 5)
        with pytest.raises((SourceStreamError, StorageError)):
            backend.put(key, as_upload(stream))
        assert set(self.listed(backend)) == before, "a failed put() left a blob behind"
        with pytest.raises(BlobNotFound):
            backend.stat(key)
        # The key is free again: the retry of the upload succeeds.
        stored = self.put(backend, key, b"second try")
        assert self.read(backend, stored) == b"second try"

    @pytest.mark.parametrize(
        "key",
        ["", "/etc/passwd", "../escape", "a/../../b", "a\\b", "a\x00b", "a//b", "./a", "a/"],
        ids=[
            "empty",
            "absolute",
            "dotdot",
            "nested-dotdot",
            "backslash",
            "nul",
            "empty-seg",
            "dot",
            "trailing-slash",
        ],
    )
    def test_put_refuses_unsafe_keys(self, backend: StorageBackend, key: str) -> None:
        with pytest.raises(InvalidKey) as caught:
            backend.put(key, as_upload(ChunkedStream(b"x", max_read=self.max_read_size)))
        assert isinstance(caught.value, ValueError)
        assert self.listed(backend) == {}

    def test_metadata_is_a_hint_that_cannot_redirect_the_blob(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        hostile = {
            "company": "../../Société Générale",
            "date": "2026-03-02",
            "subject": "Échéance / relance \u202egnp.exe",
            "filename": "..\\..\\facture.pdf\x00.exe",
            "exchange_id": "42",
            "author": "alice",
        }
        key = self.put(backend, make_key(), b"with metadata", metadata=hostile)
        assert self.read(backend, key) == b"with metadata"
        assert list(self.listed(backend)) == [key]

    def test_blobs_with_the_same_prefix_coexist(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        first = self.put(backend, make_key(), b"first")
        second = self.put(backend, make_key(), b"second")
        assert first != second
        assert self.read(backend, first) == b"first"
        assert self.read(backend, second) == b"second"

    def test_open_streams_are_independent_and_read_in_pieces(
        self, backend: StorageBackend, make_key: Callable[[], str]
    ) -> None:
        data = payload(100_000)
        key = self.put(backend, make_key(), data)

        def rest(stream: Any) -> bytes:
            # read(n) may return fewer than n bytes (a network stream): read to the end.
            parts = []
            while chunk := stream.read(8192):
                parts.append(chunk)
            return b"".join(parts)

        with backend.open(key) as one, backend.open(key) as two:
            head = one.read(10)
            assert 0 < len(head) <= 10
            assert rest(two) == data
            assert head + rest(one) == data
            assert one.read(10) == b""

    def test_close_is_idempotent(self, backend: StorageBackend) -> None:
        backend.close()
        backend.close()
