"""The Nuxeo backend passes the storage contract against the strict server, chunks included."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.testing.storage_contract import StorageBackendContract

from .server import NuxeoProtocol


class TestNuxeoContract(StorageBackendContract):
    """256 KiB chunks: the 1 MiB and 3.5 MiB round trips go through 4 and 14 chunks."""

    @pytest.fixture
    def backend(self, make_backend: Callable[..., NuxeoBackend], protocol: NuxeoProtocol):
        backend = make_backend()
        yield backend
        # Whatever the test did, the 308 workaround held and no batch was abandoned.
        assert protocol.duplicate_chunks == []
        assert protocol.batches == {}
