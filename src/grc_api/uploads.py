"""Streaming multipart uploads: the file part is read chunk by chunk, never whole.

:class:`MultipartFile` parses ``multipart/form-data`` incrementally (python-multipart's
push parser) as the request body arrives.  :meth:`MultipartFile.start` reads up to the
headers of the part named ``file`` and returns its file name; :class:`BlockingReader` then
hands its bytes to the (synchronous) attachment service through ``read(n)``, pulling more of
the body from the event loop only when its buffer runs dry.  The service stops reading as
soon as the policy's size is crossed, so the rest of an oversized upload is never received.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio.from_thread
from python_multipart.multipart import MultipartParser, parse_options_header

from grc_api.problems import ApiProblem

if TYPE_CHECKING:
    # Declared for type checkers only by python-multipart.
    from python_multipart.multipart import MultipartCallbacks

FIELD = "file"
#: The header a client sends to say it is the mobile app (``X-GRC-Client: mobile``).
CLIENT_HEADER = "x-grc-client"
#: Bytes of headers and other form fields tolerated before the file part.
MAX_PREAMBLE = 64 * 1024


class MultipartFile:
    """The part named ``file`` of a streamed ``multipart/form-data`` body."""

    def __init__(self, content_type: str, body: AsyncIterator[bytes]) -> None:
        kind, options = parse_options_header(content_type or "")
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise ApiProblem(
                415,
                "upload the file as multipart/form-data with a part named 'file' "
                "(curl -F file=@report.pdf)",
                slug="multipart-required",
            )
        self._body = body
        self._chunks: deque[bytes] = deque()
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self._file_seen = False
        self._file_done = False
        self._eof = False
        self._preamble = 0
        self.filename: str | None = None
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self._parser = MultipartParser(boundary, callbacks)

    # -- parser callbacks ---------------------------------------------------------------------

    def _part_begin(self) -> None:
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def _headers_finished(self) -> None:
        if self._file_seen:
            return
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == FIELD.encode():
            raw = options.get(b"filename")
            if raw is None:
                raise ApiProblem(422, "the 'file' part has no filename", slug="validation-error")
            self.filename = raw.decode("utf-8", errors="replace")
            self._in_file = self._file_seen = True

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._chunks.append(bytes(data[start:end]))
        elif not self._file_seen:
            self._preamble += end - start
            if self._preamble > MAX_PREAMBLE:
                raise ApiProblem(
                    413, "the form fields before the file are too large", slug="too-large"
                )

    def _part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True

    # -- pulling ------------------------------------------------------------------------------

    async def _feed(self) -> bool:
        """Feed the parser one more piece of the body; False at its end."""
        if self._eof:
            return False
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            self._eof = True
            self._parser.finalize()
            return False
        if chunk:
            self._parser.write(chunk)
        return True

    async def start(self) -> str:
        """Read up to the file part's headers; its file name."""
        while not self._file_seen:
            if not await self._feed():
                raise ApiProblem(
                    422, "the form has no part named 'file'", slug="validation-error",
                    extra={"errors": [{"field": FIELD, "message": "missing"}]},
                )  # fmt: skip
        assert self.filename is not None
        return self.filename

    async def next_chunk(self) -> bytes:
        """The next bytes of the file, or ``b""`` at its end."""
        while not self._chunks:
            if self._file_done or not await self._feed():
                if not self._file_done:
                    raise ApiProblem(400, "the upload was cut off", slug="incomplete-upload")
                return b""
        return self._chunks.popleft()


class BlockingReader:
    """A file-like ``read(n)`` over a :class:`MultipartFile`, for a worker thread."""

    def __init__(self, source: MultipartFile) -> None:
        self.source = source
        self.buffer = bytearray()
        self.done = False

    def read(self, size: int = -1) -> bytes:
        while not self.done and (size < 0 or len(self.buffer) < size):
            chunk = anyio.from_thread.run(self.source.next_chunk)
            if not chunk:
                self.done = True
                break
            self.buffer += chunk
        if size < 0:
            size = len(self.buffer)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def readable(self) -> bool:
        return True


def upload_origin(principal: Any, headers: Mapping[str, str]) -> str | None:
    """``"mobile"`` for an upload from the mobile app, else None.

    The mobile app is the web application on an enrolled device (its session cookie names
    the device), or any client that says so with ``X-GRC-Client: mobile``.  Its photos are
    stripped of their location under the default policy (``strip_image_metadata =
    mobile``): phones write the GPS position into every picture.
    """
    if getattr(principal, "device_id", None) is not None:
        return "mobile"
    if headers.get(CLIENT_HEADER, "").strip().lower() == "mobile":
        return "mobile"
    return None
