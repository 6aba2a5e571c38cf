"""The storage contract suite, run against the strict SharePoint server.

Fragments are 256 KiB (see ``conftest.TEST_CHUNK``), so every blob above that size goes
through a multi-fragment upload session.
"""

from __future__ import annotations

import pytest

from grc_core.testing.storage_contract import StorageBackendContract


class TestSharePointContract(StorageBackendContract):
    @pytest.fixture
    def backend(self, make_backend):
        return make_backend()
