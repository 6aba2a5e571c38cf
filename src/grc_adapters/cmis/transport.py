"""HTTP plumbing under cmislib: timeouts, safe retries, streamed bodies, error translation.

cmislib 0.7.0 builds every request on ``client.session``, a plain :class:`requests.Session`,
without a timeout and without retries.  Mounting :class:`TimeoutAdapter` on that session
gives every call — cmislib's and ours — a timeout, and retries with back-off for the
requests that are safe to repeat (``GET``/``HEAD``, and any request that never reached the
server).  ``POST`` (create, delete) is never retried here: the backend repeats a create
only after checking that it did not happen.

This module imports ``requests`` and ``cmislib``: it is imported by the backend, itself
imported by the plugin's factory only.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import requests
import urllib3
from cmislib.exceptions import CmisException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from grc_core.errors import (
    BlobNotFound,
    GrcError,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.storage.backend import CHUNK_SIZE

#: Statuses after which a safe request is repeated: the server said "not now".
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses that mean the server is overloaded or down (as opposed to refusing the request).
UNAVAILABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: urllib3 sends request bodies in blocks of this size (its default, 16 KiB, costs a
#: Python call per block: 3,200 for 50 MB).
SEND_BLOCK_SIZE = 256 * 1024


class CappedRetry(Retry):
    """urllib3's :class:`Retry`, with a server's ``Retry-After`` capped.

    An overloaded server may answer ``Retry-After: 3600``; a user waiting for an upload
    should not wait a silent hour.  (urllib3 2.5 added ``retry_after_max``;
    overriding the parser works on every urllib3 that requests supports.)
    """

    #: The longest ``Retry-After`` honoured, in seconds.
    RETRY_AFTER_CAP = 30.0

    def parse_retry_after(self, retry_after: str) -> float:
        """The server's delay, at most :attr:`RETRY_AFTER_CAP` seconds."""
        return min(float(super().parse_retry_after(retry_after)), self.RETRY_AFTER_CAP)


class TimeoutAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` that applies ``timeout`` when the caller gave none.

    cmislib never passes ``timeout=``; requests' default is to wait forever.
    """

    def __init__(self, timeout: float, retries: int, backoff: float) -> None:
        self.timeout = timeout
        retry = CappedRetry(
            total=retries,
            connect=retries,  # the request never reached the server: always safe
            read=retries,  # only for allowed_methods
            status=retries,  # only for allowed_methods
            other=0,
            redirect=5,
            allowed_methods=frozenset({"GET", "HEAD"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff,
            raise_on_status=False,  # the last answer goes to cmislib, then to our mapping
            respect_retry_after_header=True,
        )
        super().__init__(max_retries=retry)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Larger send blocks for streamed uploads (see :data:`SEND_BLOCK_SIZE`)."""
        kwargs.setdefault("blocksize", SEND_BLOCK_SIZE)
        super().init_poolmanager(*args, **kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Send with the configured timeout unless one is given."""
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


# --- request bodies -----------------------------------------------------------------------


class LengthMismatch(Exception):
    """The upload stream did not hold the number of bytes announced in Content-Length."""


class ExactLengthReader:
    """Feeds exactly ``length`` bytes of ``stream`` to cmislib's multipart encoder.

    cmislib hands the content to ``requests_toolbelt``'s ``MultipartEncoder``, which
    streams it (it reads ``len`` as "bytes still to send" and calls ``read(n)`` with small
    ``n``) but must know the total in advance to send a ``Content-Length``.  A stream that
    turns out shorter would make the encoder spin and the server wait; a longer one would
    be cut silently.  Either raises :class:`LengthMismatch` *before* the last byte leaves,
    so the request is aborted and the server never completes the document.

    It deliberately has no ``fileno``/``getvalue``: the encoder would then measure (or
    copy) the underlying object itself.
    """

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._length = length
        self._left = length
        #: Bytes handed to the encoder so far.
        self.sent = 0

    @property
    def len(self) -> int:
        """Bytes still to send (what ``requests_toolbelt.total_len`` reads)."""
        return self._left

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` (and at most :data:`CHUNK_SIZE`) bytes of the stream."""
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(max(1, min(want, CHUNK_SIZE)))
        if not data:
            raise LengthMismatch(
                f"the upload stream ended after {self.sent} bytes; {self._length} were announced"
            )
        data = bytes(data[: self._left])
        self._left -= len(data)
        self.sent += len(data)
        if self._left == 0 and self._stream.read(1):
            raise LengthMismatch(
                f"the upload stream holds more than the {self._length} bytes announced"
            )
        return data


class DownloadStream(io.RawIOBase):
    """A streamed ``GET …cmisselector=content`` answer as a raw binary stream.

    Reads go straight to the socket (``decode_content`` undoes a ``gzip`` transfer
    encoding); network failures become :class:`StorageUnavailable`.  Wrapped in an
    :class:`io.BufferedReader` by the backend.
    """

    def __init__(self, response: requests.Response, what: str) -> None:
        super().__init__()
        self._response = response
        self._what = what

    def readable(self) -> bool:
        """Always true."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes of the content (0 at the end)."""
        view = memoryview(buffer).cast("B")
        try:
            data = self._response.raw.read(len(view), decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StorageUnavailable(
                f"reading {self._what} broke off: {type(exc).__name__}: {exc}"
            ) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the connection (dropped if the content was not read to the end)."""
        if not self.closed:
            self._response.close()
        super().close()


# --- errors ---------------------------------------------------------------------------------


def server_message(details: object) -> tuple[str | None, str]:
    """``(exception name, message)`` from an error body.

    Alfresco (OpenCMIS) answers ``{"exception": "objectNotFound", "message": "…"}``; proxies
    answer HTML or nothing.
    """
    text = details if isinstance(details, str) else ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and ("exception" in body or "message" in body):
        message = str(body.get("message") or "").strip()
        return (str(body["exception"]) if body.get("exception") else None, message)
    text = " ".join(text.split())
    if text.startswith("<"):  # an HTML error page says nothing useful in one line
        return None, ""
    return None, text[:300]


def cmis_error(
    exc: CmisException,
    action: str,
    *,
    missing: type[StorageError] = BlobNotFound,
    conflict: type[StorageError] = StorageError,
    user: str = "",
) -> StorageError:
    """The core error for an error answer of the server (cmislib maps by status only)."""
    status = exc.status if isinstance(exc.status, int) else None
    name, message = server_message(exc.details)
    said = message or (f"HTTP {status}" if status else type(exc).__name__)
    where = f" (CMIS {name}, HTTP {status})" if name else f" (HTTP {status})" if status else ""
    text = f"cannot {action}: {said}{where}"
    if status == 401:
        return StorageAuthError(
            f"cannot {action}: the CMIS server refused the credentials of user {user!r}"
            f"{': ' + message if message else ''} (HTTP 401); check user and password"
        )
    if status == 403:
        return StorageAuthError(f"{text}; user {user!r} lacks the permission")
    if status == 404:
        return missing(text)
    if status == 409:
        return conflict(text)
    if status in UNAVAILABLE_STATUSES:
        return StorageUnavailable(text)
    return StorageError(text)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: ``args[0]``, urllib3's ``reason``, ``__cause__``."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            current.args[0] if current.args else None,
            getattr(current, "reason", None),
            current.__cause__,
        ):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _timed_out(exc: BaseException) -> bool:
    """Whether a requests error is a timeout.

    Once urllib3's retries are spent, requests reports a read timeout as a
    ``ConnectionError(MaxRetryError(reason=ReadTimeoutError))``, not as ``Timeout``.
    """
    return any(
        isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError)
        for e in _causes(exc)
    )


def _reason(exc: BaseException) -> str:
    """The useful part of a requests/urllib3 connection error."""
    cause: BaseException | None = exc
    # requests.ConnectionError(MaxRetryError(reason=NewConnectionError(...)))
    for _ in range(4):
        inner = cause.args[0] if cause is not None and cause.args else None
        reason = getattr(inner, "reason", None)
        if isinstance(reason, BaseException):
            cause = reason
            continue
        break
    text = str(cause) if cause is not None else ""
    # urllib3 prefixes its messages with the connection object's repr.
    return text.split(": ", 1)[-1] if text.startswith("<") else text


@contextmanager
def translated(
    action: str,
    *,
    timeout: float,
    user: str = "",
    missing: type[StorageError] = BlobNotFound,
    conflict: type[StorageError] = StorageError,
) -> Iterator[None]:
    """Turn what cmislib, requests and urllib3 raise into the core's storage errors.

    :param action: what was being done, for the message (``"store 2026/03/…"``).
    :param missing: the error for a 404 (``BlobNotFound`` unless the caller handles it).
    :param conflict: the error for a 409.
    """
    try:
        yield
    except GrcError:
        raise
    except CmisException as exc:
        raise cmis_error(exc, action, missing=missing, conflict=conflict, user=user) from exc
    except requests.exceptions.SSLError as exc:
        # Not transient: the certificate is not trusted (an internal CA: set ca_bundle).
        raise StorageError(
            f"cannot {action}: the CMIS server's TLS certificate was refused ({_reason(exc)}); "
            "for an internal certificate authority, set ca_bundle"
        ) from exc
    except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as exc:
        if _timed_out(exc):
            raise StorageUnavailable(
                f"cannot {action}: the CMIS server did not answer within {timeout:g} s"
            ) from exc
        raise StorageUnavailable(
            f"cannot {action}: the connection to the CMIS server failed ({_reason(exc)})"
        ) from exc
    except requests.RequestException as exc:
        raise StorageError(f"cannot {action}: {type(exc).__name__}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # cmislib indexes the JSON it gets without checking it: an answer that is not a
        # browser-binding object (an HTML login page, a proxy's error) fails here.
        raise StorageError(
            f"cannot {action}: the CMIS server's answer is not what the browser binding "
            f"defines ({type(exc).__name__}: {exc})"
        ) from exc
