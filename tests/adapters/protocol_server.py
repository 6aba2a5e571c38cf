"""The shared machinery of the strict local protocol servers the GED adapters are tested on.

Each protocol (SharePoint REST, CMIS browser binding, Nuxeo REST) is a :class:`Protocol`
subclass that answers :class:`Request` objects; this module serves it over HTTP on
localhost, records a transcript of every request (for golden files), and injects faults:
an HTTP status, a stall longer than the client's timeout, or a connection reset in the
middle of a request body.  Unknown routes are the protocol's business: it must answer 400,
never guess.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

#: Headers worth keeping in a transcript (values of secrets are masked).
TRANSCRIPT_HEADERS = ("content-type", "accept", "x-http-method", "if-match")


@dataclass
class Request:
    """One HTTP request; ``body`` is a stream limited to the declared length."""

    method: str
    path: str  # percent-decoded
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: BinaryIO

    def read_body(self, limit: int = 64 * 1024 * 1024) -> bytes:
        return self.body.read(limit)

    def iter_body(self, chunk: int = 256 * 1024) -> Iterator[bytes]:
        while data := self.body.read(chunk):
            yield data


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterator[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Response:
        return cls(status, json.dumps(data).encode(), dict(headers))


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with a failure instead of the protocol.

    ``kind``: ``status`` (answer ``status`` with ``body``), ``stall`` (sleep ``seconds``
    before answering normally), ``slow`` (do the work at once, then sleep ``seconds``
    before sending the answer: a server that committed but answers late), ``reset`` (read
    ``after_bytes`` of the body, then reset).  ``headers`` are added to a ``status``
    answer (``Retry-After``).
    """

    kind: str
    match: Callable[[Request], bool] = lambda _r: True
    times: int = 1
    status: int = 500
    body: Any = None
    seconds: float = 0.0
    after_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0


class _Limited:
    """Reads at most ``length`` bytes of the socket stream (or a chunked body)."""

    def __init__(self, stream: BinaryIO, length: int | None, chunked: bool) -> None:
        self.stream, self.left, self.chunked, self.done = stream, length or 0, chunked, False
        self.consumed = 0

    def read(self, n: int = -1) -> bytes:
        if self.chunked:
            return self._read_chunked(n)
        if self.left <= 0:
            return b""
        want = self.left if n < 0 else min(n, self.left)
        data = self.stream.read(want)
        self.left -= len(data)
        self.consumed += len(data)
        return data

    def _read_chunked(self, n: int) -> bytes:
        if self.done:
            return b""
        if self.left == 0:
            size = int(self.stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.stream.readline()
                self.done = True
                return b""
            self.left = size
        want = self.left if n < 0 else min(n, self.left)
        data = self.stream.read(want)
        self.left -= len(data)
        self.consumed += len(data)
        if self.left == 0:
            self.stream.readline()
        return data

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


class Protocol:
    """A protocol's state and routes; subclasses implement :meth:`handle`."""

    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def bad_request(request: Request, why: str = "unknown route") -> Response:
        return Response.json({"error": f"{why}: {request.method} {request.raw_path}"}, status=400)


class ProtocolServer:
    """Serves a :class:`Protocol` on 127.0.0.1 in a background thread."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.faults: list[Fault] = []
        self.transcript: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Without TCP_NODELAY every small answer waits 40 ms for the client's ACK.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                server._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ProtocolServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits < fault.times and fault.match(request):
                    fault.hits += 1
                    return fault
        return None

    def _record(self, request: Request) -> None:
        headers = {k: v for k, v in request.headers.items() if k in TRANSCRIPT_HEADERS}
        entry = {"method": request.method, "path": request.path, "query": request.query}
        if headers:
            entry["headers"] = headers
        with self._lock:
            self.transcript.append(entry)

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        length = int(headers.get("content-length", "0") or 0)
        body = _Limited(handler.rfile, length, chunked)
        request = Request(
            handler.command,
            unquote(split.path),
            split.path + (f"?{split.query}" if split.query else ""),
            dict(parse_qsl(split.query, keep_blank_values=True)),
            headers,
            body,  # type: ignore[arg-type]
        )
        self._record(request)
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "reset":
            body.read(fault.after_bytes)
            _reset(handler.connection)
            handler.close_connection = True
            return
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            body.drain()
            response = Response.json(fault.body or {"error": "injected"}, status=fault.status)
            response.headers.update(fault.headers)
        else:
            try:
                response = self.protocol.handle(request)
            except Exception as exc:  # a server bug must show up as a failing test
                response = Response.json({"error": f"server error: {exc!r}"}, status=500)
            body.drain()
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        self._send(handler, response)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response) -> None:
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        for key, value in response.headers.items():
            handler.send_header(key, value)
        if isinstance(response.body, bytes):
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(response.body)
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for piece in response.body:
            handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")


def _reset(connection: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send RST: the client sees a reset.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def file_chunks(path: Path, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """Stream a stored file back without loading it."""
    with path.open("rb") as fh:
        while data := fh.read(chunk):
            yield data


def assert_golden(transcript: list[dict[str, Any]], golden: Path) -> None:
    """Compare a transcript with its golden file (``GRC_UPDATE_GOLDEN=1`` rewrites it).

    Golden transcripts pin what the client library sends: an upgrade that changes the wire
    fails here, before it fails against a real server.
    """
    text = json.dumps(transcript, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("GRC_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    if not golden.exists():
        raise AssertionError(f"{golden} is missing: record it with GRC_UPDATE_GOLDEN=1")
    assert json.loads(golden.read_text()) == json.loads(text), f"wire changed: see {golden}"
