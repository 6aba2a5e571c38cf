"""The contract suite itself: it passes a correct backend and fails plausible broken ones.

A contract that cannot fail protects nobody; each broken backend below breaks one rule of
:class:`~grc_core.storage.backend.StorageBackend`, and the matching contract test must
catch it.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pytest

from grc_core.errors import BlobExists, BlobNotFound
from grc_core.storage.backend import BlobInfo, read_chunks
from grc_core.storage.keys import check_key, new_key
from grc_core.testing.storage_contract import ChunkedStream, StorageBackendContract


class DictBackend:
    """A minimal correct backend, the reference the broken ones deviate from."""

    name = "dict"

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, datetime]] = {}
        # What put() stores: the chunks as read, never joined into one copy of the file.
        self.chunked: dict[str, tuple[tuple[bytes, ...], datetime]] = {}

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        check_key(key)
        if key in self.blobs or key in self.chunked:
            raise BlobExists(key)
        self.chunked[key] = (tuple(read_chunks(stream)), datetime.now(UTC))
        return key

    def _get(self, key: str) -> tuple[bytes, datetime]:
        if key in self.chunked:
            chunks, modified = self.chunked[key]
            return b"".join(chunks), modified
        try:
            return self.blobs[key]
        except KeyError:
            raise BlobNotFound(key) from None

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self._get(key)[0])

    def stat(self, key: str) -> BlobInfo:
        data, modified = self._get(key)
        return BlobInfo(key, len(data), modified)

    def delete(self, key: str) -> None:
        self._get(key)
        self.blobs.pop(key, None)
        self.chunked.pop(key, None)

    def iter_blobs(self) -> Iterator[BlobInfo]:
        for key in [*self.blobs, *self.chunked]:
            yield self.stat(key)

    def close(self) -> None:
        pass


class TestReferenceBackendPasses(StorageBackendContract):
    @pytest.fixture
    def backend(self) -> DictBackend:
        return DictBackend()


class Overwrites(DictBackend):
    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        self.blobs.pop(key, None)
        self.chunked.pop(key, None)
        return super().put(key, stream, **kwargs)


class ReadsWhole(DictBackend):
    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        return super().put(key, io.BytesIO(stream.read()), **kwargs)


class KeepsPartialUploads(DictBackend):
    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        parts: list[bytes] = []
        try:
            for chunk in read_chunks(stream):
                parts.append(chunk)
        finally:
            self.blobs[key] = (b"".join(parts), datetime.now(UTC))
        return key


class NaiveTimes(DictBackend):
    def stat(self, key: str) -> BlobInfo:
        info = super().stat(key)
        # Bypasses BlobInfo's own check, as a careless dataclass of one's own would.
        object.__setattr__(info, "modified", info.modified.replace(tzinfo=None))
        return info


class RaisesKeyError(DictBackend):
    def _get(self, key: str) -> tuple[bytes, datetime]:
        chunks, modified = self.chunked[key]
        return b"".join(chunks), modified


class GathersTheWholeFile(DictBackend):
    """Reads in bounded chunks, but gathers them into one buffer before storing a copy."""

    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        body = bytearray()
        for chunk in read_chunks(stream):
            body += chunk
        self.blobs[key] = (bytes(body), datetime.now(UTC))
        return key


class TrustsKeys(DictBackend):
    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        self.blobs[key] = (b"".join(read_chunks(stream)), datetime.now(UTC))
        return key


class ListsDeleted(DictBackend):
    def __init__(self) -> None:
        super().__init__()
        self.ever: dict[str, BlobInfo] = {}

    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        stored = super().put(key, stream, **kwargs)
        self.ever[stored] = self.stat(stored)
        return stored

    def iter_blobs(self) -> Iterator[BlobInfo]:
        return iter(list(self.ever.values()))


class ClosesTheUpload(DictBackend):
    def put(self, key: str, stream: BinaryIO, **kwargs: Any) -> str:
        try:
            return super().put(key, stream, **kwargs)
        finally:
            stream.close()


BROKEN: list[tuple[type[DictBackend], str, dict[str, Any]]] = [
    (Overwrites, "test_put_never_overwrites", {}),
    (ReadsWhole, "test_put_reads_the_stream_in_bounded_chunks", {}),
    (KeepsPartialUploads, "test_a_failing_stream_leaves_nothing_behind", {}),
    (NaiveTimes, "test_stat_reports_size_and_aware_modified_time", {}),
    (RaisesKeyError, "test_missing_key_raises_blob_not_found", {"operation": "stat"}),
    (TrustsKeys, "test_put_refuses_unsafe_keys", {"key": "../escape"}),
    (ListsDeleted, "test_iter_blobs_lists_what_was_put_and_not_what_was_deleted", {}),
    (ClosesTheUpload, "test_put_reads_the_stream_in_bounded_chunks", {}),
    (GathersTheWholeFile, "test_put_holds_no_copy_of_the_whole_file", {}),
]


@pytest.mark.parametrize(
    ("broken", "test_name", "params"), BROKEN, ids=[b[0].__name__ for b in BROKEN]
)
def test_the_contract_catches_a_broken_backend(
    broken: type[DictBackend], test_name: str, params: dict[str, Any]
) -> None:
    test: Callable[..., None] = getattr(StorageBackendContract(), test_name)
    kwargs = dict(params)
    if "key" not in params:  # the unsafe-key test takes its key as a parameter
        kwargs["make_key"] = new_key
    # The reference backend passes this very test...
    test(backend=DictBackend(), **kwargs)
    # ...and the broken one fails it.
    with pytest.raises((AssertionError, pytest.fail.Exception, KeyError)):
        test(backend=broken(), **kwargs)


def test_the_upload_stream_refuses_unbounded_reads() -> None:
    stream = ChunkedStream(b"abc", max_read=2)
    with pytest.raises(AssertionError, match="read in chunks"):
        stream.read()
    with pytest.raises(AssertionError, match="at most 2 bytes"):
        stream.read(3)
    assert stream.read(2) == b"ab"
    assert stream.violations == ["read(-1) would load the whole stream", "read(3) is larger than 2"]


def test_importing_grc_core_does_not_import_pytest() -> None:
    code = (
        "import sys, grc_core, grc_core.storage, grc_core.plugins, grc_adapters.local.plugin\n"
        "grc_core.plugins.Registry.load()\n"
        "assert 'pytest' not in sys.modules, 'pytest was imported'\n"
        "assert 'hypothesis' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
