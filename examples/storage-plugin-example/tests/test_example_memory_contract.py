"""The example backend passes GRC's storage-backend contract suite."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from grc_example_storage import plugin
from grc_example_storage.backend import MemoryBackend
from grc_example_storage.plugin import make_backend

from grc_core.errors import ConfigError, StorageError
from grc_core.plugins import Registry
from grc_core.testing.storage_contract import StorageBackendContract


class TestExampleMemoryBackend(StorageBackendContract):
    """Every test of the contract, run on the example backend."""

    @pytest.fixture
    def backend(self) -> Iterator[MemoryBackend]:
        backend = make_backend({})
        yield backend
        backend.close()


def test_metadata_is_kept_as_display_hints() -> None:
    backend = MemoryBackend()
    backend.put("2026/03/abc", io.BytesIO(b"pdf"), metadata={"company": "ACME"})
    assert backend.metadata("2026/03/abc") == {"company": "ACME"}


def test_a_full_store_refuses_and_keeps_nothing() -> None:
    backend = make_backend({"max_bytes": 10})
    with pytest.raises(StorageError, match="full"):
        backend.put("2026/03/big", io.BytesIO(b"x" * 11))
    assert list(backend.iter_blobs()) == []


def test_grc_checks_the_declared_settings_and_names_the_table() -> None:
    registry = Registry.load(autoload=False, plugins=[plugin])
    with pytest.raises(ConfigError, match="has no setting 'size'; accepted: max_bytes"):
        registry.storage_backend("example-memory", {"size": 1})
    built = registry.storage_backend("example-memory", {"max_bytes": "1024"})  # from the env
    assert isinstance(built, MemoryBackend) and built.max_bytes == 1024
    with pytest.raises(ConfigError, match=r"\[grc.storage.archive\]: max_bytes must be"):
        registry.storage_backend("example-memory", {"max_bytes": 0}, configured_as="archive")
