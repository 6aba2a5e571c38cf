"""The storage contract, run against the CMIS adapter and the strict Browser binding server."""

from __future__ import annotations

import pytest

from grc_core.testing.storage_contract import StorageBackendContract


class TestCmisBackendContract(StorageBackendContract):
    @pytest.fixture
    def backend(self, make_backend):
        # A fresh server (and so an empty repository) per test: see conftest.
        return make_backend()
