"""The thin layer between the backend and ``office365-rest-python-client`` (pinned 3.3.0).

Three things the client library does not do the way a storage backend needs:

- **Bounded retries.**  ``SharePointRequest`` fetches the form digest (``POST
  /_api/contextInfo``) through a hidden retry loop — five attempts, exponential back-off from
  five seconds — so one stalled digest request could hold a caller for minutes whatever
  timeout was configured.  :class:`GrcSharePointRequest` fetches it once; the backend's own
  retry policy decides whether to try again.
- **A clean slate after a failure.**  The client queues queries and registers per-query
  handlers on the shared request object; a query that fails leaves them behind (for example
  the ``before_execute`` handler of an aborted chain).  :meth:`GrcClientContext.operation`
  drops whatever a failed operation left queued or registered.
- **Typed errors.**  :func:`map_error` turns the client's exceptions into GRC's storage
  errors, keeping SharePoint's message and never a secret.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import requests
from office365.runtime.client_request_exception import ClientRequestException
from office365.runtime.http.http_method import HttpMethod
from office365.runtime.http.request_options import RequestOptions
from office365.runtime.odata.request import ODataRequest
from office365.runtime.odata.v3.json_light_format import JsonLightFormat
from office365.runtime.types.event_handler import EventHandler
from office365.sharepoint.client_context import ClientContext
from office365.sharepoint.request import SharePointRequest
from office365.sharepoint.webs.context_web_information import ContextWebInformation

from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)

#: SharePoint's HRESULT for "a file with this name already exists" (0x81020067).
FILE_EXISTS_HRESULT = "-2130575257"
#: Statuses that mean "not now": worth a retry when the call is safe to repeat.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class GrcSharePointRequest(SharePointRequest):
    """A ``SharePointRequest`` whose form-digest fetch is a single attempt.

    The request it sends is the library's own (``POST {site}/_api/contextInfo`` with the
    same headers); only the library's internal retry loop is left out.
    """

    def _fetch_context_web_information(self) -> ContextWebInformation:
        client = ODataRequest(self.base_url, JsonLightFormat())
        client.transport = self.transport
        client.beforeExecute += self._authenticate_request
        request = RequestOptions(f"{self.service_root_url}/contextInfo")
        request.method = HttpMethod.Post
        response = client.execute_request_direct(request)
        json_format = JsonLightFormat()
        json_format.function = "GetContextWebInformation"
        info = ContextWebInformation()
        client.map_json(response.json(), info, json_format)
        return info


class GrcClientContext(ClientContext):
    """A ``ClientContext`` using :class:`GrcSharePointRequest` and able to reset itself."""

    def pending_request(self) -> SharePointRequest:
        """The shared request object, built as the library does but with a bounded digest."""
        if self._pending_request is None:
            self._pending_request = GrcSharePointRequest(
                base_url=self._base_url,
                environment=self._environment,
                allow_ntlm=self._allow_ntlm,
                browser_mode=self._browser_mode,
                authority=self._authority,
            )
        return self._pending_request  # type: ignore[return-value]

    @contextlib.contextmanager
    def operation(self) -> Iterator[None]:
        """Run queries; if anything fails, forget what they left queued or registered.

        Without this, a failed chain leaves handlers that fire on (or swallow the errors
        of) unrelated later queries, and queued queries that the next
        ``execute_query`` would send.
        """
        request = self.pending_request()
        events: tuple[EventHandler[...], ...] = (
            request.beforeExecute,
            request.afterExecute,
            request.onError,
        )
        before = [list(event) for event in events]
        try:
            yield
        except BaseException:
            self._queries.clear()
            for event, listeners in zip(events, before, strict=True):
                for listener in list(event):
                    if listener not in listeners:
                        event -= listener
            raise
        finally:
            # The last query stays referenced as "current" after it ran — and with it an
            # uploaded fragment: let it go, so memory holds one fragment, not two.
            self._current_query = None


def error_status(exc: BaseException) -> int | None:
    """The HTTP status behind a client exception, if there was a response."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def is_name_taken(exc: BaseException | None) -> bool:
    """Whether a create was refused because the name is taken.

    SharePoint answers ``Files/add(overwrite=false)`` on an existing name with a 400 whose
    code is ``-2130575257`` (0x81020067); a 409 Conflict on a create means the same.  Also
    true of a mapped :class:`StorageError` whose cause was such an answer.
    """
    if isinstance(exc, StorageError):
        return isinstance(exc, BlobExists) or is_name_taken(exc.__cause__)
    if not isinstance(exc, ClientRequestException):
        return False
    code = exc.code or ""
    return code.split(",", 1)[0].strip() == FILE_EXISTS_HRESULT or error_status(exc) == 409


def retry_after(exc: BaseException) -> float | None:
    """The ``Retry-After`` delay a throttled response asked for, in seconds."""
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for SharePoint; the back-off applies


def throttle_wait(exc: BaseException, default: float) -> float | None:
    """How long to wait before repeating a throttled request; ``None`` if not throttled.

    A 429, or a 503 carrying ``Retry-After``, is SharePoint's (and Microsoft Graph's)
    throttling answer: the request was refused before it was processed, so repeating it
    is safe whatever it was.  The server's ``Retry-After`` is the wait; without one,
    ``default``.  A 503 without ``Retry-After`` may come from anywhere (a proxy, a failed
    node after the work was done): not taken for throttling.
    """
    status = error_status(exc)
    asked = retry_after(exc)
    if status == 429:
        return asked if asked is not None else default
    if status == 503 and asked is not None:
        return asked
    return None


#: Shorter values are not scrubbed: replacing every "T" would destroy the message, and no
#: real token or passphrase is that short.
MIN_SECRET_LENGTH = 8


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    # Bearer tokens never belong in a message, whoever produced the text.
    return re.sub(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+", "Bearer ***", text)


def _server_message(exc: ClientRequestException) -> str:
    status = error_status(exc)
    message = exc.message or ""
    code = exc.code or ""
    if not message and not code:
        # SharePoint's 401s carry no OData error, only an OAuth ``error_description``.
        try:
            body = exc.response.json() if exc.response is not None else None
        except Exception:
            body = None
        description = body.get("error_description") if isinstance(body, dict) else None
        reason = description or getattr(exc.response, "reason", "") or ""
        return f"HTTP {status}: {reason}" if description else f"HTTP {status} {reason}".strip()
    detail = f"{message} ({code})" if code and message else message or code
    return f"HTTP {status}: {detail}"


def map_error(exc: BaseException, action: str, secrets: Sequence[str] = ()) -> StorageError:
    """GRC's storage error for a failure of ``action`` (``"read blob 'x'"``…).

    ======================================  ==================================
    cause                                   error
    ======================================  ==================================
    404                                     :class:`BlobNotFound`
    401, 403, token request refused         :class:`StorageAuthError`
    "file exists" (0x81020067)              :class:`BlobExists`
    408, 429, 5xx, timeouts, connection     :class:`StorageUnavailable`
    anything else (409 included)            :class:`StorageError`
    ======================================  ==================================

    The message keeps SharePoint's own (``File Not Found.``, ``Access denied.``…) and is
    scrubbed of ``secrets`` and of anything that looks like a bearer token.
    """
    if isinstance(exc, StorageError):
        return exc
    error: StorageError
    if isinstance(exc, ClientRequestException) and exc.response is not None:
        status = error_status(exc) or 0
        text = f"cannot {action}: SharePoint answered {_server_message(exc)}"
        if status == 404:
            error = BlobNotFound(text)
        elif status in (401, 403):
            error = StorageAuthError(text)
        elif (exc.code or "").split(",", 1)[0].strip() == FILE_EXISTS_HRESULT:
            error = BlobExists(text)
        elif status in TRANSIENT_STATUSES or status >= 500:
            error = StorageUnavailable(text)
        else:
            error = StorageError(text)
    elif isinstance(exc, requests.exceptions.SSLError):
        error = StorageError(f"cannot {action}: TLS verification failed ({exc})")
    elif isinstance(exc, requests.exceptions.Timeout):
        error = StorageUnavailable(f"cannot {action}: SharePoint did not answer in time ({exc})")
    elif isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        error = StorageUnavailable(f"cannot {action}: connection to SharePoint failed ({exc})")
    elif isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], dict):
        # MSAL's refusal, raised by the client as ValueError(<token response>).
        answer: dict[str, Any] = exc.args[0]
        error = StorageAuthError(
            f"cannot {action}: the token request was refused: {answer.get('error')}: "
            f"{answer.get('error_description', '')}".rstrip(": ")
        )
    elif isinstance(exc, ValueError) and "credentials" in str(exc).lower():
        error = StorageAuthError(f"cannot {action}: {exc}")
    else:
        error = StorageError(f"cannot {action}: {type(exc).__name__}: {exc}")
    scrubbed = _scrub(str(error), secrets)
    return type(error)(scrubbed) if scrubbed != str(error) else error
