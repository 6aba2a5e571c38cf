"""The local disk backend beyond the contract: atomic publish, no overwrite, cleanup, fsync."""

from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from grc_adapters.local import TEMP_PREFIX, LocalDiskBackend, default_root
from grc_adapters.local.plugin import make_local_backend
from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    ConfigError,
    InvalidKey,
    StorageAuthError,
    StorageError,
)
from grc_core.storage.keys import new_key

KEY = "2026/03/0123456789abcdef0123456789abcdef"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalDiskBackend]:
    backend = LocalDiskBackend(tmp_path / "blobs")
    yield backend
    backend.close()


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


class Broken(io.RawIOBase):
    """A stream that yields ``good`` bytes, then raises ``error``."""

    def __init__(self, good: bytes, error: BaseException) -> None:
        self.good = good
        self.error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.good:
            chunk, self.good = self.good[:size], self.good[size:]
            return chunk
        raise self.error


# --- where and how a blob is written ----------------------------------------------------


def test_root_is_created_and_blob_is_a_file_named_by_its_key(tmp_path: Path) -> None:
    backend = LocalDiskBackend(tmp_path / "a" / "b")
    assert backend.put(KEY, io.BytesIO(b"data")) == KEY
    assert (tmp_path / "a" / "b" / "2026" / "03" / KEY.rsplit("/", 1)[1]).read_bytes() == b"data"


def test_a_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        LocalDiskBackend(tmp_path / "file")


def test_blobs_are_private_to_the_service_account(backend: LocalDiskBackend) -> None:
    backend.put(KEY, io.BytesIO(b"secret contract"))
    mode = stat.S_IMODE(os.stat(backend.root / KEY).st_mode)
    assert mode == 0o600


def test_the_temporary_file_is_complete_synced_and_in_the_target_directory(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def link(src: str, dst: str) -> None:
        # At publication time the temporary file already holds every byte.
        assert Path(src).read_bytes() == b"x" * 3_000_000
        events.append(("link", f"{src} -> {dst}"))
        real_link(src, dst)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the synced file descriptors")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    backend.put(KEY, io.BytesIO(b"x" * 3_000_000))

    month = backend.root / "2026" / "03"
    final = month / KEY.rsplit("/", 1)[1]
    kinds = [kind for kind, _ in events]
    # New directories made durable, then the file, then the link, then its directory.
    link_at = kinds.index("link")
    src, dst = events[link_at][1].split(" -> ")
    assert Path(src).parent == month and Path(src).name.startswith(TEMP_PREFIX)
    assert dst == str(final)
    assert events[link_at - 1] == ("fsync", src), "the file must be synced before it is named"
    assert events[link_at + 1] == ("fsync", str(month)), "the directory must be synced after"
    assert ("fsync", str(backend.root)) in events[:link_at]  # the new "2026" entry
    assert ("fsync", str(backend.root / "2026")) in events[:link_at]  # the new "03" entry
    assert files_under(backend.root) == [KEY]  # the temporary name is gone


# --- never overwriting --------------------------------------------------------------------


def test_existing_key_is_refused_before_reading_the_upload(backend: LocalDiskBackend) -> None:
    backend.put(KEY, io.BytesIO(b"original"))
    upload = io.BytesIO(b"intruder")
    with pytest.raises(BlobExists, match="never replaced"):
        backend.put(KEY, upload)
    assert upload.tell() == 0
    assert (backend.root / KEY).read_bytes() == b"original"


def test_publication_never_overwrites_even_when_the_early_check_is_raced(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.put(KEY, io.BytesIO(b"original"))
    # Pretend another process created the blob after the early check.
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    with pytest.raises(BlobExists):
        backend.put(KEY, io.BytesIO(b"intruder"))
    assert (backend.root / KEY).read_bytes() == b"original"
    assert files_under(backend.root) == [KEY]


def test_without_hard_links_the_fallback_never_overwrites_either(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    backend.put(KEY, io.BytesIO(b"original"))
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    with pytest.raises(BlobExists):
        backend.put(KEY, io.BytesIO(b"intruder"))
    assert (backend.root / KEY).read_bytes() == b"original"
    assert files_under(backend.root) == [KEY]


def test_other_link_errors_are_storage_errors(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_link(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "link", broken_link)
    with pytest.raises(StorageError, match="Input/output error"):
        backend.put(KEY, io.BytesIO(b"data"))
    assert files_under(backend.root) == []


def test_concurrent_puts_of_one_key_have_exactly_one_winner(backend: LocalDiskBackend) -> None:
    results: dict[int, str] = {}
    barrier = threading.Barrier(8)

    def writer(n: int) -> None:
        barrier.wait()
        try:
            backend.put(KEY, io.BytesIO(bytes([n]) * 500_000))
            results[n] = "stored"
        except BlobExists:
            results[n] = "exists"

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, outcome in results.items() if outcome == "stored"]
    assert len(winners) == 1, results
    assert (backend.root / KEY).read_bytes() == bytes([winners[0]]) * 500_000
    assert files_under(backend.root) == [KEY]


# --- cleaning up after failures -----------------------------------------------------------


def test_a_failing_upload_leaves_no_temporary_file(backend: LocalDiskBackend) -> None:
    with pytest.raises(ConnectionResetError):
        backend.put(KEY, Broken(b"x" * 3_000_000, ConnectionResetError("client went away")))
    assert files_under(backend.root) == []


def test_an_interrupt_mid_upload_leaves_no_temporary_file(backend: LocalDiskBackend) -> None:
    with pytest.raises(KeyboardInterrupt):
        backend.put(KEY, Broken(b"x" * 1_500_000, KeyboardInterrupt()))
    assert files_under(backend.root) == []


def test_a_full_disk_is_a_storage_error_and_leaves_nothing(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageError, match="No space left") as caught:
        backend.put(KEY, io.BytesIO(b"data"))
    assert not isinstance(caught.value, BlobExists)
    monkeypatch.undo()
    assert files_under(backend.root) == []
    assert backend.put(KEY, io.BytesIO(b"retry")) == KEY


def test_permission_problems_are_storage_auth_errors(
    backend: LocalDiskBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def denied(**kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(StorageAuthError) as caught:
        backend.put(KEY, io.BytesIO(b"data"))
    assert isinstance(caught.value, PermissionError)


def test_a_process_killed_mid_put_leaves_only_a_stale_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from grc_adapters.local import LocalDiskBackend\n"
            "class Slow:\n"
            "    sent = 0\n"
            "    def read(self, n):\n"
            "        self.sent += 1\n"
            "        if self.sent > 2:\n"
            "            time.sleep(60)\n"
            "        return b'x' * n\n"
            f"LocalDiskBackend({str(root)!r}).put({KEY!r}, Slow())\n",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while not list(root.rglob(TEMP_PREFIX + "*")):
            assert time.monotonic() < deadline, "the child never started writing"
            assert child.poll() is None, "the child died"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    backend = LocalDiskBackend(root)
    temps = list(root.rglob(TEMP_PREFIX + "*"))
    assert len(temps) == 1
    assert list(backend.iter_blobs()) == []  # a temporary file is not a blob
    with pytest.raises(BlobNotFound):
        backend.stat(KEY)
    assert backend.stale_temp_files() == []  # still within the grace period
    assert backend.remove_stale_temp_files(older_than=timedelta(0)) == temps
    assert files_under(root) == []
    assert backend.put(KEY, io.BytesIO(b"retry")) == KEY


# --- listing ------------------------------------------------------------------------------


def test_iter_blobs_skips_temporary_foreign_and_linked_files(backend: LocalDiskBackend) -> None:
    backend.put(KEY, io.BytesIO(b"blob"))
    month = backend.root / "2026" / "03"
    (month / (TEMP_PREFIX + "abc")).write_bytes(b"half")
    (month / "name with spaces.pdf").write_bytes(b"foreign")
    (backend.root / ".DS_Store").write_bytes(b"")
    os.symlink(backend.root / KEY, month / "alias")
    assert [info.key for info in backend.iter_blobs()] == [KEY]


def test_stale_temporary_files_are_found_by_age(backend: LocalDiskBackend) -> None:
    backend.put(KEY, io.BytesIO(b"blob"))
    month = backend.root / "2026" / "03"
    old = month / (TEMP_PREFIX + "old")
    fresh = month / (TEMP_PREFIX + "fresh")
    old.write_bytes(b"dead writer")
    fresh.write_bytes(b"live writer")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert backend.stale_temp_files() == [old]
    assert backend.remove_stale_temp_files() == [old]
    assert not old.exists() and fresh.exists()
    assert (backend.root / KEY).exists()


# --- reading and deleting -----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["open", "stat", "delete"])
def test_a_directory_is_not_a_blob(backend: LocalDiskBackend, operation: str) -> None:
    backend.put(KEY, io.BytesIO(b"blob"))
    with pytest.raises(BlobNotFound):
        getattr(backend, operation)("2026/03")
    with pytest.raises(BlobNotFound):
        getattr(backend, operation)(KEY + "/below-a-file")
    assert (backend.root / "2026" / "03").is_dir()


@pytest.mark.parametrize("operation", ["open", "stat", "delete"])
@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a\\..\\b", ".tmp-x"])
def test_unsafe_keys_never_reach_the_disk(
    tmp_path: Path, backend: LocalDiskBackend, operation: str, key: str
) -> None:
    (tmp_path / "outside").write_text("not yours")
    with pytest.raises(InvalidKey):
        getattr(backend, operation)(key)
    assert (tmp_path / "outside").exists()


def test_a_blob_cannot_be_stored_below_another_blob(backend: LocalDiskBackend) -> None:
    backend.put("2026/03/a", io.BytesIO(b"blob"))
    with pytest.raises(StorageError, match="a file of that name exists"):
        backend.put("2026/03/a/b", io.BytesIO(b"below"))


def test_keys_generated_by_the_core_spread_over_month_directories(
    backend: LocalDiskBackend,
) -> None:
    from datetime import date

    for month in (1, 2):
        backend.put(new_key(date(2026, month, 15)), io.BytesIO(b"x"))
    assert sorted(p.name for p in (backend.root / "2026").iterdir()) == ["01", "02"]


# --- the plugin's factory -----------------------------------------------------------------


def test_factory_reads_root_and_grace(tmp_path: Path) -> None:
    backend = make_local_backend({"root": str(tmp_path / "r"), "temp_grace_seconds": 60})
    assert backend.root == (tmp_path / "r").resolve()
    assert backend.temp_grace == timedelta(seconds=60)


def test_factory_accepts_numbers_given_as_strings(tmp_path: Path) -> None:
    # As they arrive from GRC_STORAGE__LOCAL__TEMP_GRACE_SECONDS.
    backend = make_local_backend({"root": str(tmp_path), "temp_grace_seconds": "90"})
    assert backend.temp_grace == timedelta(seconds=90)


def test_factory_defaults_to_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_root() == tmp_path / "grc" / "attachments"
    assert make_local_backend({}).root == (tmp_path / "grc" / "attachments").resolve()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rooot": "/x"}, "no setting 'rooot'; accepted: root, temp_grace_seconds"),
        ({"root": 42}, "must be a path"),
        ({"temp_grace_seconds": -1}, "must be a number >= 0"),
        ({"temp_grace_seconds": True}, "must be a number >= 0"),
        ({"temp_grace_seconds": "soon"}, "must be a number >= 0"),
        ({"temp_grace_seconds": "nan"}, "must be a number >= 0"),
    ],
)
def test_factory_refuses_bad_configuration(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_local_backend(config)
    assert message in str(caught.value)
