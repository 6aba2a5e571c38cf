"""The plain-HTTP ``put`` pattern of the storage guide runs: against a small WebDAV-like
server it publishes a complete blob atomically, never replaces one, and a broken upload
raises the stream's own error (not requests' ConnectionError) and leaves nothing behind."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from grc_core.errors import BlobExists

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "writing-a-storage-plugin.md"
[SOURCE] = [
    block
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    if "def put(self, key, stream" in block
]


class Dav:
    """PUT (chunked or not), MOVE with ``Overwrite: F``, DELETE: enough of WebDAV."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_PUT(self) -> None:
                # A body cut off before its end (the client went away) is an incomplete
                # request: discarded, as a WebDAV server does, never stored half-written.
                # Storing it raced with the client's clean-up of its temporary name.
                if self.headers.get("Transfer-Encoding") == "chunked":
                    body = bytearray()
                    while True:
                        line = self.rfile.readline()
                        if not line:
                            self.close_connection = True
                            return
                        size = int(line.strip() or b"0", 16)
                        if not size:
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    length = int(self.headers["Content-Length"])
                    body = bytearray(self.rfile.read(length))
                    if len(body) < length:
                        self.close_connection = True
                        return
                files[self.path] = bytes(body)
                self._answer(201)

            def do_MOVE(self) -> None:
                target = "/" + self.headers["Destination"].split("/", 3)[3]
                if target in files and self.headers.get("Overwrite") == "F":
                    return self._answer(412)
                files[target] = files.pop(self.path)
                self._answer(201)

            def do_DELETE(self) -> None:
                self._answer(204 if files.pop(self.path, None) is not None else 404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dav"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def backend() -> Iterator[Any]:
    dav = Dav()
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, f"<{PAGE.name}>", "exec"), namespace)
    session = requests.Session()
    backend = SimpleNamespace(base_url=dav.url, session=session, timeout=5, dav=dav)
    backend.put = namespace["put"].__get__(backend)
    yield backend
    session.close()
    dav.server.shutdown()
    dav.server.server_close()


class BrokenUpload(io.RawIOBase):
    """An upload that breaks off with an OSError after its first chunk."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.calls += 1
        if self.calls > 1:
            raise ConnectionResetError("the phone lost its network")
        buffer[:4] = b"%PDF"
        return 4


def test_a_complete_upload_is_published_under_its_key(backend) -> None:
    key = "2026/03/" + "a" * 32
    assert backend.put(key, io.BytesIO(b"%PDF-1.7" * 300_000)) == key
    assert backend.dav.files == {f"/dav/{key}": b"%PDF-1.7" * 300_000}  # no temporary left


def test_a_taken_key_is_never_replaced(backend) -> None:
    key = "2026/03/" + "b" * 32
    backend.put(key, io.BytesIO(b"first"))
    with pytest.raises(BlobExists):
        backend.put(key, io.BytesIO(b"second"))
    assert backend.dav.files == {f"/dav/{key}": b"first"}


def test_a_broken_upload_raises_its_own_error_and_leaves_nothing(backend) -> None:
    with pytest.raises(ConnectionResetError, match="lost its network"):
        backend.put("2026/03/" + "c" * 32, io.BufferedReader(BrokenUpload()))
    assert backend.dav.files == {}


def test_requests_alone_would_report_a_network_failure() -> None:
    """Why the pattern keeps the stream's error: requests wraps it."""
    dav = Dav()

    def body() -> Iterator[bytes]:
        yield b"%PDF"
        raise ConnectionResetError("the phone lost its network")

    try:
        with pytest.raises(requests.ConnectionError):
            requests.put(f"{dav.url}/x", data=body(), timeout=5)
    finally:
        dav.server.shutdown()
        dav.server.server_close()
