"""``check_backend``: the administrator's probe of a configured backend, step by step."""

from __future__ import annotations

from grc_adapters.local.backend import LocalDiskBackend
from grc_core.backends import Backends
from grc_core.errors import StorageAuthError
from grc_core.services.storage_admin import check_backend


def test_a_working_backend_passes_every_step_and_leaves_nothing(tmp_path):
    backend = LocalDiskBackend(tmp_path / "new-root")
    seen = []
    steps = check_backend(Backends.of({"local": backend}, "local"), "local", report=seen.append)
    assert [s.name for s in steps] == [
        "connect",
        "write a probe",
        "stat it",
        "read it back and verify",
        "delete it",
    ]
    assert all(s.ok for s in steps) and seen == steps
    assert list(backend.iter_blobs()) == []


class ReadOnly(LocalDiskBackend):
    def put(self, *args, **kwargs):
        raise StorageAuthError("403 Forbidden: the account may read but not write")


def test_the_first_failure_stops_the_check_with_the_backend_message(tmp_path):
    steps = check_backend(Backends.of({"ged": ReadOnly(tmp_path)}, "ged"), "ged")
    assert [(s.name, s.ok) for s in steps] == [("connect", True), ("write a probe", False)]
    assert "may read but not write" in steps[-1].detail


def test_an_unknown_backend_fails_at_connect(tmp_path):
    steps = check_backend(Backends.of({}, "local"), "nuxeo")
    assert [(s.name, s.ok) for s in steps] == [("connect", False)]
    assert "no storage backend is named 'nuxeo'" in steps[0].detail
