"""A real ``clamd`` (Debian's clamav-daemon) on a temporary socket, with its own signatures.

Signatures cannot be downloaded here, and none are needed: the database is written by the
fixture — the EICAR test string and one custom body signature, as a ``.ndb`` file — so
clamd loads in a second or two.  ``StreamMaxLength`` is small (1 MiB) so that the "file too
large for clamd" case is cheap.  clamd missing is a failure, not a skip: the antivirus path
must be tested for real.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from grc_adapters.clamav.scanner import ClamdAddress, ClamdScanner, ScannerUnavailable
from grc_adapters.local.backend import LocalDiskBackend
from grc_core.backends import Backends
from grc_core.testing.scanners import EICAR

CLAMD = "/usr/sbin/clamd"
#: A harmless marker the custom signature recognises.
CUSTOM_MARKER = b"GRC-TEST-SIGNATURE-0f5e9b"
STREAM_MAX = 1024 * 1024


@dataclass
class Clamd:
    """A running clamd: its socket, configuration and process."""

    socket_path: Path
    process: subprocess.Popen[bytes]

    def scanner(self, **options: object) -> ClamdScanner:
        return ClamdScanner(ClamdAddress(path=str(self.socket_path)), **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - clamd ignores SIGTERM
            self.process.kill()
            self.process.wait()


def start_clamd(folder: Path) -> Clamd:
    """Write a configuration and a signature database into ``folder``; start clamd there."""
    assert os.path.exists(CLAMD) or shutil.which("clamd"), (
        "clamd is not installed: run `make install` (scripts/system-packages.sh installs "
        "Debian's clamav-daemon)"
    )
    database = folder / "db"
    database.mkdir()
    (database / "grc-test.ndb").write_text(
        f"Grc-Test-Eicar:0:*:{EICAR.hex()}\nGrc-Test-Custom:0:*:{CUSTOM_MARKER.hex()}\n"
    )
    sock = folder / "clamd.sock"
    conf = folder / "clamd.conf"
    conf.write_text(
        f"LocalSocket {sock}\n"
        f"DatabaseDirectory {database}\n"
        f"TemporaryDirectory {folder}\n"
        f"PidFile {folder / 'clamd.pid'}\n"
        "Foreground yes\n"
        # clamd refuses to keep running as root unless told which user to be.
        f"User {'root' if os.geteuid() == 0 else os.environ.get('USER', 'nobody')}\n"
        f"StreamMaxLength {STREAM_MAX}\n"
        "MaxThreads 4\n"
        "LogVerbose no\n"
    )
    log = (folder / "clamd.log").open("wb")
    process = subprocess.Popen([shutil.which("clamd") or CLAMD, "-c", str(conf)], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    clamd = Clamd(sock, process)
    deadline = time.monotonic() + 60
    while True:
        try:
            clamd.scanner(timeout=2).ping()
            return clamd
        except ScannerUnavailable:
            if process.poll() is not None or time.monotonic() > deadline:
                clamd.stop()
                raise AssertionError(
                    f"clamd did not start: {(folder / 'clamd.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    # A short folder name: Unix socket paths are limited to about 100 bytes.
    running = start_clamd(tmp_path_factory.mktemp("clamd"))
    yield running
    running.stop()


@pytest.fixture
def silent_clamd(tmp_path: Path) -> Iterator[Path]:
    """A socket that accepts connections and reads, but never answers (a clamd hung)."""
    path = tmp_path / "silent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)
            conn.settimeout(0.1)
            threading.Thread(target=_drain, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _drain(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return


@pytest.fixture
def backends(tmp_path: Path) -> Backends:
    return Backends.of({"local": LocalDiskBackend(tmp_path / "blobs")}, default="local")
