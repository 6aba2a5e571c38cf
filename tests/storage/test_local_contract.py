"""The local disk backend passes the storage-backend contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from grc_adapters.local import LocalDiskBackend
from grc_core.testing.storage_contract import StorageBackendContract


class TestLocalDiskContract(StorageBackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[LocalDiskBackend]:
        backend = LocalDiskBackend(tmp_path / "blobs")
        yield backend
        backend.close()


class TestLocalDiskContractWithoutHardLinks(StorageBackendContract):
    """The same contract on a file system without hard links (the O_EXCL fallback)."""

    @pytest.fixture
    def backend(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[LocalDiskBackend]:
        import errno
        import os

        def no_link(src: object, dst: object, **kwargs: object) -> None:
            raise OSError(errno.EPERM, "Operation not permitted (simulated FAT mount)")

        monkeypatch.setattr(os, "link", no_link)
        backend = LocalDiskBackend(tmp_path / "blobs")
        yield backend
        backend.close()
