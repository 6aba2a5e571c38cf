"""The example third-party plugin, pip-installed into the test environment.

``make install`` (or ``pip install ./examples/storage-plugin-example``) installs it; this
test fails, rather than skips, when it is missing, since proving that a plugin installed the
way integrators install theirs is found and works is the point.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from grc_core.plugins import Registry
from grc_core.storage import StorageBackend
from grc_core.testing.storage_contract import StorageBackendContract

DISTRIBUTION = "grc-example-storage"


def installed_registry() -> Registry:
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(
            f"{DISTRIBUTION} is not installed; run "
            "`.venv/bin/pip install ./examples/storage-plugin-example` (make install does)",
            pytrace=False,
        )
    return Registry.load()


def test_the_example_is_discovered_through_its_entry_point() -> None:
    registry = installed_registry()
    [entry_point] = [
        ep for ep in importlib.metadata.distribution(DISTRIBUTION).entry_points if ep.group == "grc"
    ]
    assert (entry_point.name, entry_point.value) == ("example-memory", "grc_example_storage.plugin")
    assert "example-memory" in registry.storage_backend_names()
    infos = {info.name: info for info in registry.describe()}
    info = infos["example-memory"]
    assert info.distribution == DISTRIBUTION
    assert info.version == importlib.metadata.version(DISTRIBUTION)
    assert info.module == "grc_example_storage.plugin"
    assert info.storage_backends == ("example-memory",)
    # GRC's own plugin is found the same way, alongside it.
    assert infos["local"].distribution == "grc-exchanges"


class TestExampleBackendFromTheRegistry(StorageBackendContract):
    """The whole contract, on the backend as GRC builds it from the installed plugin."""

    @pytest.fixture
    def backend(self) -> Iterator[StorageBackend]:
        backend = installed_registry().storage_backend("example-memory", {"max_bytes": 64 << 20})
        assert type(backend).__module__ == "grc_example_storage.backend"
        yield backend
        backend.close()
