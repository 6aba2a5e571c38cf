"""A :class:`~grc_core.plugins.scanning.Scanner` speaking clamd's ``INSTREAM`` protocol.

The protocol is small: ``zINSTREAM\\0``, then the file as frames (a 4-byte big-endian length
and that many bytes), then a zero-length frame; clamd answers one NUL-terminated line,
``stream: OK``, ``stream: <signature> FOUND`` or ``<message> ERROR``.  It is spoken directly
rather than through a client library: the Python clients on PyPI (``clamd``, ``pyclamd``)
have had no release for years and treat the stream size limit as an ordinary error, while
the point of this module is to handle exactly that case right.

Three rules keep an unscanned file from ever being stored:

- a file larger than clamd's ``StreamMaxLength`` is **refused**: clamd answers
  ``INSTREAM size limit exceeded`` (and closes the connection) instead of a verdict, which a
  careless client reads as "nothing found".  The answer is watched for between frames, and
  a connection clamd cut while the file was still being sent counts as that answer too;
- a daemon that cannot be reached, answers nonsense, or is slower than ``timeout`` raises
  :class:`ScannerUnavailable`; the attachment service then refuses the file ("virus scanner
  unavailable") — failing closed;
- only when the administrator chose ``on_error = "accept"`` does an unreachable daemon let
  files through, each logged as a warning.  A file too large for clamd is refused even then.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
from dataclasses import dataclass

from grc_core.errors import GrcError
from grc_core.plugins.scanning import ScanVerdict

log = logging.getLogger(__name__)

#: Bytes per INSTREAM frame: small enough to notice clamd's size-limit answer early.
FRAME = 64 * 1024
TOO_LARGE = (
    "the file is larger than the virus scanner accepts (clamd StreamMaxLength); "
    "it was not scanned, so it is refused"
)


CUT = (
    "clamd closed the connection before the end of the file (the file is larger than its "
    "StreamMaxLength, or clamd stopped); it was not scanned, so it is refused"
)


class ScannerUnavailable(GrcError):
    """clamd could not give a verdict: unreachable, too slow, or an error answer."""


@dataclass(frozen=True)
class ClamdAddress:
    """Where clamd listens: a Unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int = 3310

    @classmethod
    def parse(cls, text: str) -> ClamdAddress:
        """``/run/clamav/clamd.ctl``, ``unix:///path``, ``tcp://host:3310`` or ``host:3310``.

        :raises ValueError: neither a path nor a host and port.
        """
        text = text.strip()
        if text.startswith("unix://"):
            text = text.removeprefix("unix://")
        if text.startswith("/"):
            return cls(path=text)
        host, sep, port = text.removeprefix("tcp://").rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{text!r} is not a clamd address; give a socket path (/run/clamav/clamd.ctl) "
                "or tcp://host:port"
            )
        return cls(host=host.strip("[]"), port=int(port))

    def __str__(self) -> str:
        return self.path or f"tcp://{self.host}:{self.port}"


class ClamdScanner:
    """Scans each file through clamd; shared by every upload (the scans hold the sockets).

    :param address: where clamd listens.
    :param timeout: seconds any one exchange with clamd may take (connect, send, verdict).
    :param fail_open: let files through when clamd cannot give a verdict (logged); the
        default refuses them.
    """

    def __init__(
        self,
        address: ClamdAddress,
        *,
        timeout: float = 60.0,
        fail_open: bool = False,
        name: str = "clamav",
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.fail_open = fail_open
        self.name = name

    def start(self) -> ClamdScan:
        """Begin the scan of one file (connects on the first chunk)."""
        return ClamdScan(self)

    def connect(self) -> socket.socket:
        """A socket connected to clamd, with the time-out set.

        :raises ScannerUnavailable: clamd cannot be reached.
        """
        if self.address.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.address.path
        else:
            assert self.address.host is not None
            family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            target = (self.address.host, self.address.port)
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ScannerUnavailable(f"clamd at {self.address} cannot be reached ({exc})") from None
        return sock

    def ping(self) -> str:
        """clamd's version line, to check the configuration.

        :raises ScannerUnavailable: clamd does not answer.
        """
        sock = self.connect()
        try:
            sock.sendall(b"zVERSION\0")
            return _read_reply(sock, self.timeout)
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.address} did not answer ({exc})") from None
        finally:
            sock.close()


class ClamdScan:
    """The scan of one file: one connection, the file sent frame by frame as it arrives."""

    def __init__(self, scanner: ClamdScanner) -> None:
        self._scanner = scanner
        self._sock: socket.socket | None = None
        self._too_large = False
        self._cut = False
        self._unavailable: str | None = None

    def feed(self, chunk: bytes) -> None:
        """Send ``chunk`` to clamd.

        :raises ScannerUnavailable: clamd failed (unless the scanner fails open).
        """
        if self._too_large or self._cut or self._unavailable is not None:
            return
        try:
            sock = self._open()
            for start in range(0, len(chunk), FRAME):
                frame = chunk[start : start + FRAME]
                sock.sendall(struct.pack(">I", len(frame)) + frame)
                if self._answered_early(sock):
                    return
        except (OSError, ScannerUnavailable) as exc:
            self._failed(exc)

    def finish(self) -> ScanVerdict:
        """clamd's verdict.

        :raises ScannerUnavailable: clamd failed (unless the scanner fails open).
        """
        if self._too_large or self._cut:
            return ScanVerdict(clean=False, reason=TOO_LARGE if self._too_large else CUT)
        if self._unavailable is None:
            try:
                sock = self._open()
                sock.sendall(b"\0\0\0\0")
                return self._verdict(_read_reply(sock, self._scanner.timeout))
            except (OSError, ScannerUnavailable) as exc:
                self._failed(exc)
                if self._too_large or self._cut:
                    return ScanVerdict(clean=False, reason=TOO_LARGE if self._too_large else CUT)
        log.warning(
            "file accepted without a virus scan (clamd failed: %s; on_error = accept)",
            self._unavailable,
        )
        return ScanVerdict(clean=True)

    def close(self) -> None:
        """Close the connection (harmless twice)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- helpers ------------------------------------------------------------------------------

    def _open(self) -> socket.socket:
        if self._sock is None:
            self._sock = self._scanner.connect()
            self._sock.sendall(b"zINSTREAM\0")
        return self._sock

    def _answered_early(self, sock: socket.socket) -> bool:
        """Whether clamd already answered (it only does so early to refuse the stream)."""
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        reply = _read_reply(sock, self._scanner.timeout)
        if "size limit exceeded" not in reply:
            raise ScannerUnavailable(f"clamd answered before the end of the file: {reply!r}")
        self._too_large = True
        return True

    def _verdict(self, reply: str) -> ScanVerdict:
        if "size limit exceeded" in reply:
            self._too_large = True
            return ScanVerdict(clean=False, reason=TOO_LARGE)
        if reply.endswith("FOUND"):
            signature = reply.removeprefix("stream:").removesuffix("FOUND").strip()
            return ScanVerdict(clean=False, reason=signature or "a virus")
        if reply.endswith(": OK"):
            return ScanVerdict(clean=True)
        raise ScannerUnavailable(f"clamd answered {reply[:200]!r}")

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)) and self._sock is not None:
            # clamd cuts the connection when the stream passes StreamMaxLength; its answer
            # may still be waiting.  A cut with no answer is treated the same way: refused.
            try:
                reply = _read_reply(self._sock, min(self._scanner.timeout, 5.0))
            except (OSError, ScannerUnavailable):
                reply = ""
            if "size limit exceeded" in reply:
                self._too_large = True
                return
            if not reply:
                self._cut = True
                return
        if isinstance(exc, TimeoutError):
            address, timeout = self._scanner.address, self._scanner.timeout
            why = f"time-out: no answer from clamd at {address} within {timeout:g} s"
        else:
            why = str(exc)
        if not self._scanner.fail_open:
            raise ScannerUnavailable(why) from None
        self._unavailable = why
        self.close()


def _read_reply(sock: socket.socket, timeout: float) -> str:
    """One NUL- or newline-terminated answer from clamd."""
    sock.settimeout(timeout)
    data = b""
    while not data.endswith((b"\0", b"\n")):
        piece = sock.recv(4096)
        if not piece:
            break
        data += piece
        if len(data) > 64 * 1024:
            raise ScannerUnavailable("clamd's answer is too long")
    if not data:
        raise ScannerUnavailable("clamd closed the connection without an answer")
    return data.rstrip(b"\0\n").decode("utf-8", errors="replace").strip()
