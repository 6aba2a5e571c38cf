"""The Nuxeo storage backend: attachments as ``File`` documents, through the real client.

Everything goes through ``nuxeo.client.Nuxeo`` (nuxeo 7.1.0, imported by
:mod:`grc_adapters.nuxeo._client`): its session, its authentication classes, its headers
(``X-NXDocumentProperties: *``, ``X-NXRepository``), its batch upload helpers.  What the
adapter adds, and why:

Writing (``put``)
    1. The core key is checked, the folders ``<root>/<company>/<date — subject>`` found or
       created, and the key looked up — among that folder's children (``@children``, served
       from the database: consistent), then with NXQL on ``dc:source`` for older documents
       elsewhere (search lags behind writes on Elasticsearch; there, harmlessly): a key
       already in use is :class:`~grc_core.errors.BlobExists`, before anything is uploaded.
    2. The stream is spooled to a private temporary file, read in bounded chunks.  Nuxeo's
       chunked upload states the chunk *count* in its first request, and ``size`` is only a
       hint, so the true size must be known first; the spool also lets a failed chunk be
       sent again.  Peak memory is about two upload chunks, whatever the file size.
    3. A batch is opened (``POST /upload``) and the spool uploaded by the client's own
       uploader (``POST /upload/{batchId}/0``, chunked with ``X-Upload-Chunk-*`` headers
       when larger than ``chunk_size``).  Nuxeo answers **308** to every incomplete chunk;
       nuxeo 7.1.0 takes that for a redirect and sends the chunk a second time.  A response
       hook on the client's session relabels exactly those answers (a 308 from an upload
       endpoint, without ``Location``) as ``202``, so the client moves on to the next chunk.
       The same hook drops each chunk as soon as it is answered (see
       :func:`_upload_answered`).  A chunk upload that fails with a network error or a
       429/5xx is *resumed*: the client asks the server which chunks it holds
       (``GET /upload/{batchId}/0``) and sends only the missing ones — repeating a chunk is
       harmless, its index names it.
    4. The ``File`` document is created under a free name with ``dc:title``,
       ``dc:description``, ``dc:source = "grc:<core key>"`` and
       ``file:content = {"upload-batch", "upload-fileId"}``.  Creating is not idempotent:
       the request carries an ``Idempotency-Key`` (Nuxeo ≥ 11.5 then replays instead of
       creating twice; 10.10 ignores it), and it is repeated only after a network error or
       a 429/5xx, and only after checking — at the path asked for, then among the folder's
       children, never through search — that the first attempt created nothing.
    5. The stored length and MD5 digest are compared with what was spooled.
    On any failure the batch is deleted (``DELETE /upload/{batchId}``) and, once creation
    was attempted, any document of the folder carrying the core key is removed.

Retries
    The client's default (5 repetitions on 429/500/503/504 *including POST*) is replaced:
    urllib3 repeats only ``GET``/``HEAD`` on 429/5xx and read errors, and any method only
    when the connection could not even be opened; every POST is repeated by the adapter,
    only where repeating is safe (see above).  Every request has ``timeout``.

Reading
    ``open`` streams ``GET …/id/{uid}/@blob/file:content`` (``fetch_blob`` would load it
    whole); ``stat`` reads ``file:content/length`` (a string) and ``dc:modified``;
    ``iter_blobs`` walks the folders with ``@children`` (not NXQL, which lags).  Keys are
    document uids.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import logging
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from grc_adapters.nuxeo import _client
from grc_adapters.nuxeo.naming import Folder, Layout, candidates, layout_for, numbered
from grc_adapters.nuxeo.settings import NuxeoSettings
from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.storage.backend import CHUNK_SIZE, BlobInfo
from grc_core.storage.keys import check_key

_client.load()  # registers the OAuth2 stand-in before nuxeo.auth is imported below

from nuxeo.auth import BasicAuth, JWTAuth, TokenAuth  # noqa: E402  (after the shim)
from nuxeo.client import Nuxeo  # noqa: E402
from nuxeo.exceptions import HTTPError as NuxeoHTTPError  # noqa: E402
from nuxeo.models import Batch, Blob, Document  # noqa: E402

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``X-Application-Name`` (and ``User-Agent``) of every request.
APP_NAME = "GRC exchanges"
#: ``dc:source`` of GRC's documents is this prefix and the core key.
SOURCE_PREFIX = "grc:"
#: Documents per NXQL page in :meth:`NuxeoBackend.iter_blobs`.
PAGE_SIZE = 200
#: Names tried (``report.pdf``, ``report (2).pdf``…) before giving up.
MAX_NAME_CANDIDATES = 50
#: The longest pause between repetitions, whatever the server's ``Retry-After``.
MAX_PAUSE = 30.0
#: Statuses meaning "not now": repeated (for GET) with back-off.
RETRY_STATUSES = (429, 500, 502, 503, 504)

# A document uid: a UUID on VCS and DBS, digits with the "sequence" id type.  Anything else
# (a core key such as "2026/03/…", a path) never names a document of this backend.
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
# The upload endpoints that answer 308 "Resume Incomplete": POST and GET upload/{batch}/{idx}.
_UPLOAD_FILE = re.compile(r"/upload/[^/]+/\d+$")


class NuxeoConflict(StorageError):
    """Nuxeo answered 409: a name is taken, or an earlier identical request is running."""


class _Retry(Retry):
    """urllib3's retry policy, with ``Retry-After`` waits capped at :data:`MAX_PAUSE`."""

    def parse_retry_after(self, retry_after: str) -> float:
        """The server's wait, at most :data:`MAX_PAUSE` seconds."""
        return min(super().parse_retry_after(retry_after), MAX_PAUSE)


def retry_policy(settings: NuxeoSettings) -> Retry:
    """What the client's HTTP adapter repeats on its own: only what is safe to repeat.

    ``GET``/``HEAD`` on 429/5xx and on read errors; any method when the connection could
    not be opened (nothing was sent).  A POST that reached the server is never repeated
    here: the backend decides (see the module docstring).
    """
    count = settings.retries
    return _Retry(
        total=count,
        connect=count,
        read=count,
        status=count,
        other=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.backoff,
        backoff_max=MAX_PAUSE,
        raise_on_status=False,  # the last answer is returned, and mapped to an error
        respect_retry_after_header=True,
    )


def _upload_answered(response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
    """A response hook of the client's session for the upload endpoints; two fixes.

    **The 308 double-send of nuxeo 7.1.0.**  Nuxeo's batch upload answers
    ``308 Resume Incomplete`` to a chunk when the file is not complete yet (and to
    ``GET upload/{batchId}/{idx}`` in the same state), like Google's resumable uploads.
    ``NuxeoClient.request`` treats every 301–308 as a redirect and sends the same request
    again, so every chunk but the last would be uploaded twice.  Such a 308 carries no
    ``Location``; relabelling it ``202 Accepted`` (the chunk *is* stored) makes the client
    go on.  The JSON body, which the uploader reads (``uploadedChunkIds``,
    ``chunkCount``), is untouched.

    **Memory.**  ``NuxeoClient.request`` wraps ``response.json`` in a closure that refers to
    the response: every response sits in a reference cycle, freed only when the cyclic
    garbage collector runs — which it does by object count, not by size.  Each response
    keeps its request, and a chunk request keeps its chunk: several chunks would stay in
    memory.  Once the chunk is answered its body is not needed any more (nothing is
    re-sent from it), so the reference is dropped here.
    """
    if not _UPLOAD_FILE.search(urlsplit(response.url).path):
        return response
    if response.status_code == 308 and "location" not in response.headers:
        response.status_code = 202
        response.reason = "Resume Incomplete (308, relabelled by GRC)"
    if response.request is not None and response.request.method == "POST":
        response.request.body = None
    return response


def _auth(settings: NuxeoSettings) -> BasicAuth | TokenAuth | JWTAuth:
    if settings.token is not None:
        return TokenAuth(settings.token)
    if settings.bearer_token is not None:
        return JWTAuth(settings.bearer_token)
    return BasicAuth(settings.user, settings.password)


def nxql_literal(value: str) -> str:
    """``value`` as an NXQL string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _nuxeo_http_error(exc: BaseException | None) -> NuxeoHTTPError | None:
    """The client's HTTPError behind ``exc``, if any.

    The upload helpers wrap it in an ``UploadError`` raised inside their ``except``
    clause, so it is found as the implicit context.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NuxeoHTTPError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, NewConnectionError):
        return False
    if isinstance(exc, requests.Timeout | Urllib3Timeout | TimeoutError):
        return True
    # Repeated read timeouts end as ConnectionError(MaxRetryError(reason=ReadTimeoutError)).
    # A refused connection is a NewConnectionError, which urllib3 derives from its timeout
    # errors for history's sake (requests makes the same exception).
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def _brief(value: object, limit: int = 300) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _SpoolBlob(Blob):  # type: ignore[misc]  # nuxeo ships no types: Blob is Any
    """A nuxeo ``Blob`` whose data is the backend's spool file.

    The client's uploaders open a blob with ``with blob as src``, then ``seek`` and
    ``read(chunk_size)`` chunk by chunk (or hand ``src`` to requests, which streams it).
    ``FileBlob`` would reopen a path; this one hands out the spool and leaves it open, so
    that a resumed upload can read it again.
    """

    def __init__(self, spool: BinaryIO, *, name: str, size: int, mimetype: str) -> None:
        super().__init__(name=name, size=size, mimetype=mimetype)
        self.spool = spool

    def __enter__(self) -> BinaryIO:
        self.spool.seek(0)
        return self.spool

    def __exit__(self, *_exc: object) -> None:
        """Leave the spool open (the backend closes it)."""


class _BlobStream(io.RawIOBase):
    """The body of a streamed download, read straight from the socket.

    Network errors while reading become :class:`StorageUnavailable`; closing releases the
    connection.
    """

    def __init__(self, response: requests.Response, fail: Callable[[BaseException], StorageError]):
        super().__init__()
        self._response = response
        self._fail = fail
        self._left = b""

    def readable(self) -> bool:
        """Always true."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes (0 at the end)."""
        want = len(buffer)
        if not self._left:
            try:
                self._left = self._response.raw.read(want, decode_content=True) or b""
            except (Urllib3Error, requests.RequestException, OSError) as exc:
                raise self._fail(exc) from exc
        data, self._left = self._left[:want], self._left[want:]
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the connection."""
        if not self.closed:
            self._response.close()
        super().close()


class NuxeoBackend:
    """Attachments as ``File`` documents of a Nuxeo repository (see the module docstring).

    Use one instance from one thread at a time.

    :param settings: the checked configuration.
    :param sleep: how to pause between repetitions (tests pass a recorder).
    """

    name = "nuxeo"

    def __init__(
        self, settings: NuxeoSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        #: Documents per page when listing; a test lowers it to exercise paging.
        self.page_size = PAGE_SIZE
        self._sleep = sleep
        self._root: dict[str, Any] | None = None
        self._nx = Nuxeo(
            host=settings.url,
            auth=_auth(settings),
            app_name=APP_NAME,
            repository=settings.repository,
            verify=settings.verify_tls,
            retries=retry_policy(settings),
            # Forwarded to every request; it also overrides the uploader's own chunk timeouts.
            timeout=(settings.timeout, settings.timeout),
        )
        session = self._nx.client._session
        # The client's own hook (log_response) is dropped on purpose too: at DEBUG level it
        # reads whole response bodies, which would load a streamed download into memory.
        session.hooks["response"] = [_upload_answered]
        self._api = self._nx.client.api_path

    def __repr__(self) -> str:
        who = f"user {self.settings.user!r}" if self.settings.auth_method == "basic" else ""
        return (
            f"NuxeoBackend(url={self.settings.url!r}, repository={self.settings.repository!r},"
            f" root_path={self.settings.root_path!r}, auth={self.settings.auth_method}"
            + (f" as {who}" if who else "")
            + ")"
        )

    # --- errors and repetitions ---------------------------------------------------------

    def _storage_error(self, exc: BaseException, action: str) -> StorageError:
        """The core's typed error for ``exc``, with the server's message; never a secret."""
        if isinstance(exc, StorageError):
            return exc
        http = _nuxeo_http_error(exc)
        if http is not None:
            status = int(getattr(http, "status", 0) or 0)
            detail = _brief(getattr(http, "message", None) or "")
            text = f"Nuxeo could not {action}: HTTP {status}" + (f": {detail}" if detail else "")
            if status == 404:
                return BlobNotFound(text)
            if status == 401:
                return StorageAuthError(
                    f"{text} (check the credentials of [grc.storage.nuxeo]: user and "
                    "password, token or bearer_token)"
                )
            if status == 403:
                return StorageAuthError(f"{text} (the Nuxeo account lacks a permission)")
            if status == 409:
                return NuxeoConflict(text)
            if status == 429 or status >= 500:
                return StorageUnavailable(text)
            return StorageError(text)
        where = self.settings.url
        if _is_timeout(exc):
            return StorageUnavailable(
                f"Nuxeo at {where} did not answer within {self.settings.timeout:g} s "
                f"(trying to {action})"
            )
        if isinstance(exc, requests.ConnectionError | ConnectionError | Urllib3Error):
            return StorageUnavailable(f"cannot reach Nuxeo at {where} to {action}: {_brief(exc)}")
        return StorageError(f"Nuxeo could not {action}: {type(exc).__name__}: {_brief(exc)}")

    def _pause(self, attempt: int) -> None:
        self._sleep(min(self.settings.backoff * 2 ** (attempt - 1), MAX_PAUSE))

    def _retrying(self, action: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, repeating it (at most ``retries`` times) while unavailable.

        Only for operations that are safe to repeat.
        """
        attempt = 0
        while True:
            try:
                return operation()
            except Exception as exc:
                error = self._storage_error(exc, action)
                if not isinstance(error, StorageUnavailable) or attempt >= self.settings.retries:
                    if error is exc:
                        raise
                    raise error from exc
                log.info("Nuxeo: could not %s (%s); trying again", action, error)
            attempt += 1
            self._pause(attempt)

    def _request(self, action: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response: requests.Response = self._nx.client.request(method, path, **kwargs)
            return response
        except Exception as exc:
            raise self._storage_error(exc, action) from exc

    def _json(self, action: str, path: str) -> dict[str, Any]:
        """``GET path`` as a JSON object; a body that is not one is a :class:`StorageError`."""
        response = self._request(action, "GET", path)
        try:
            data = response.json()
        except (ValueError, requests.RequestException) as exc:
            raise self._storage_error(exc, action) from exc
        if not isinstance(data, dict):
            raise StorageError(f"Nuxeo could not {action}: the answer is not a JSON object")
        return data

    # --- addressing -----------------------------------------------------------------------

    def _path_url(self, path: str) -> str:
        # The client does not encode paths: '#', '%', '?' or a space would break the URL.
        segments = "".join("/" + quote(s, safe="") for s in path.strip("/").split("/"))
        return f"{self._api}/repo/{self.settings.repository}/path{segments}"

    def _id_url(self, uid: str) -> str:
        return f"{self._api}/repo/{self.settings.repository}/id/{uid}"

    @staticmethod
    def _uid(key: str) -> str:
        if not isinstance(key, str) or not _UID.fullmatch(key):
            raise BlobNotFound(
                f"no blob is stored under {key!r}: the keys of the Nuxeo backend are document uids"
            )
        return key

    def _doc_at(self, path: str) -> dict[str, Any] | None:
        """The document at ``path``, or ``None``."""
        try:
            return self._json(f"read {path!r}", self._path_url(path))
        except BlobNotFound:
            return None

    def _blob_doc(self, key: str, action: str) -> dict[str, Any]:
        """The document of ``key``, which must hold a blob (never a folder)."""
        uid = self._uid(key)
        try:
            doc = self._json(f"{action} document {uid}", self._id_url(uid))
        except BlobNotFound:
            raise BlobNotFound(
                f"no blob is stored under {key!r} (no such Nuxeo document)"
            ) from None
        if "Folderish" in (doc.get("facets") or []) or not _content(doc):
            raise BlobNotFound(f"no blob is stored under {key!r}: the document holds no file")
        return doc

    # --- queries ----------------------------------------------------------------------------

    def _nxql(self, condition: str) -> str:
        return (
            "SELECT * FROM Document WHERE ecm:primaryType = 'File' AND ecm:path STARTSWITH "
            f"{nxql_literal(self.settings.root_path)} AND {condition}"
        )

    def _pages(self, nxql: str, action: str) -> Iterator[dict[str, Any]]:
        """Every document ``nxql`` selects, page by page, each once."""
        seen: set[str] = set()
        page = 0
        while True:
            params = {"pageSize": self.page_size, "currentPageIndex": page}
            try:
                result = self._nx.client.query(nxql, params=params)
            except Exception as exc:
                raise self._storage_error(exc, action) from exc
            for doc in result.get("entries") or []:
                uid = doc.get("uid")
                if isinstance(uid, str) and uid not in seen:
                    seen.add(uid)
                    yield doc
            if not result.get("isNextPageAvailable"):
                return
            page += 1

    def _by_core_key(self, key: str) -> list[dict[str, Any]]:
        """The documents search finds under the core ``key`` (normally none or one).

        Search is served by Elasticsearch on a default Nuxeo ≥ 10.1 and lags behind writes
        by up to a few seconds: an empty answer proves nothing about recent writes.  It is
        only used where lag is harmless — to find *old* documents of a key anywhere under
        the root; recent ones are found with :meth:`_in_folder`, which is consistent.
        """
        condition = f"dc:source = {nxql_literal(SOURCE_PREFIX + key)}"
        return list(self._pages(self._nxql(condition), f"look for the blob of key {key!r}"))

    def _children(self, uid: str, action: str) -> Iterator[dict[str, Any]]:
        """The children of the folder ``uid``, page by page (``GET …/id/{uid}/@children``).

        Served from the repository's database, not from the search index: a document
        created or deleted a moment ago is (or is not) listed, whatever the index lag.
        """
        seen: set[str] = set()
        page = 0
        while True:
            params = {"pageSize": self.page_size, "currentPageIndex": page}
            response = self._request(action, "GET", f"{self._id_url(uid)}/@children", params=params)
            try:
                result = response.json()
            except (ValueError, requests.RequestException) as exc:
                raise self._storage_error(exc, action) from exc
            if not isinstance(result, dict):
                raise StorageError(f"Nuxeo could not {action}: the answer is not a JSON object")
            for doc in result.get("entries") or []:
                child = doc.get("uid")
                if isinstance(child, str) and child not in seen:
                    seen.add(child)
                    yield doc
            if not result.get("isNextPageAvailable"):
                return
            page += 1

    def _in_folder(self, folder: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        """The documents of ``folder`` (its direct children) carrying the core ``key``.

        Consistent (see :meth:`_children`): this is how ``put`` knows whether its own
        earlier attempt created a document, and what a failed ``put`` must remove.
        """
        source = SOURCE_PREFIX + key
        return [
            doc
            for doc in self._children(str(folder["uid"]), f"list {folder.get('path')!r}")
            if (doc.get("properties") or {}).get("dc:source") == source
        ]

    # --- folders --------------------------------------------------------------------------

    def _create(
        self,
        parent: str,
        body: dict[str, Any],
        idempotency_key: str,
        *,
        action: str,
        recheck: Callable[[], dict[str, Any] | None],
    ) -> dict[str, Any]:
        """``POST`` a new document under ``parent``, repeating only where it is safe.

        Repeated after a network error or a 429/5xx only, and only once ``recheck`` (a
        lookup of what the earlier attempt would have created) found nothing.  The
        ``Idempotency-Key`` makes Nuxeo ≥ 11.5 replay the first answer instead of creating
        a second document.  A 409 is raised as :class:`NuxeoConflict` for the caller.
        """
        attempt = 0
        while True:
            try:
                response = self._nx.client.request(
                    "POST",
                    self._path_url(parent),
                    data=body,
                    headers={"Idempotency-Key": idempotency_key},
                )
                created: dict[str, Any] = response.json()
                return created
            except Exception as exc:
                error = self._storage_error(exc, action)
                if not isinstance(error, StorageUnavailable) or attempt >= self.settings.retries:
                    raise error from exc
                log.info("Nuxeo: could not %s (%s); checking before trying again", action, error)
            attempt += 1
            self._pause(attempt)
            found = recheck()
            if found is not None:
                return found

    def _ensure_root(self) -> dict[str, Any]:
        """The root folder's document, creating its missing levels.

        Each missing level gets the type Nuxeo's default subtype rules allow under its
        parent: a ``Workspace`` directly under a ``WorkspaceRoot`` (the default root,
        ``/default-domain/workspaces/CRM``, is one), a ``Folder`` anywhere else.  A parent
        that accepts neither (a ``Domain``, a ``Section``…) makes Nuxeo answer 400, reported
        with what to change.
        """
        if self._root is not None:
            return self._root
        root = self.settings.root_path
        doc = self._doc_at(root)
        if doc is None:
            parent: dict[str, Any] | None = None
            path = ""
            for segment in root.strip("/").split("/"):
                path = f"{path}/{segment}"
                found = None if path == root else self._doc_at(path)  # root: just asked
                if found is None and parent is None:
                    parent = self._doc_at("/")  # only when a top level itself is missing
                if found is None and parent is not None:
                    kind = "Workspace" if parent.get("type") == "WorkspaceRoot" else "Folder"
                    found = self._make_folder(parent, segment, segment, kind)
                if found is None or not _is_folder(found):
                    raise StorageError(
                        f"the Nuxeo root path {root!r} cannot be used: {path!r} is not a folder"
                    )
                parent = found
            doc = parent
        elif not _is_folder(doc):
            raise StorageError(f"the Nuxeo root path {root!r} is not a folder")
        assert doc is not None
        self._root = doc
        return doc

    def _make_folder(
        self, parent: Mapping[str, Any], name: str, title: str, kind: str = "Folder"
    ) -> dict[str, Any] | None:
        """The folder ``name`` under ``parent``: created, or the one that took the name.

        Real Nuxeo does not refuse a name already taken: it creates the new document as
        ``name.<milliseconds>``.  When that happens to a folder (another process created
        the same one meanwhile), the duplicate just made is empty: it is deleted and the
        folder at ``name`` is used.  ``None`` if the name holds nothing.
        """
        parent_path = str(parent.get("path") or "/")
        path = f"{parent_path.rstrip('/')}/{name}"
        body = Document(
            name=name,
            type=kind,
            properties={"dc:title": title},
            repository=self.settings.repository,
        ).as_dict()
        try:
            made = self._create(
                parent_path,
                body,
                str(uuid.uuid4()),
                action=f"create the folder {path!r} ({kind})",
                recheck=lambda: self._doc_at(path),
            )
        except NuxeoConflict:
            return self._doc_at(path)
        except StorageError as exc:
            if "HTTP 400" in str(exc):
                raise StorageError(
                    f"{exc} — Nuxeo refused a {kind} under the {parent.get('type')} "
                    f"{parent_path!r} (its allowed subtypes): create {path!r} by hand, or set "
                    "root_path to a folder under /default-domain/workspaces"
                ) from exc
            raise
        if made.get("path") in (None, path):
            return made
        log.info("Nuxeo: %r was created meanwhile (ours became %r)", path, made.get("path"))
        with contextlib.suppress(StorageError):
            self._request("remove a duplicate folder", "DELETE", self._id_url(made["uid"])).close()
        return self._doc_at(path)

    def _ensure_folders(self, folders: tuple[Folder, ...]) -> dict[str, Any]:
        """The document of the innermost folder of ``folders`` under the root, made if needed.

        A folder is reused when its title is the one wanted; two titles that clean up to
        the same name (``ACME/Paris`` and ``ACME-Paris``) get ``ACME-Paris`` and
        ``ACME-Paris (2)``.
        """
        parent = self._ensure_root()
        for folder in folders:
            for name in candidates(folder.name, MAX_NAME_CANDIDATES):
                path = f"{str(parent['path']).rstrip('/')}/{name}"
                doc = self._doc_at(path)
                if doc is None:
                    doc = self._make_folder(parent, name, folder.title)
                if doc is not None and _is_folder(doc) and _title(doc) == folder.title:
                    parent = doc
                    break
            else:
                raise StorageError(
                    f"no free folder name for {folder.title!r} under {parent['path']!r} after "
                    f"{MAX_NAME_CANDIDATES} tries"
                )
        return parent

    # --- writing --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``stream`` as a new ``File`` document; return its uid (see the module doc).

        ``size`` is not trusted: the spooled length is what is uploaded and verified.

        :raises BlobExists: a document already carries ``key``; the exception's ``key``
            is that document's uid (the key ``put`` returned for it), so that a caller
            resuming an interrupted copy can find it.
        """
        check_key(key)
        layout = layout_for(metadata)
        with self._writing():
            folder = self._ensure_folders(layout.folders)
            # Consistent for the folder this key is filed in (its children), and, through
            # search, for older documents anywhere under the root: see _by_core_key.
            existing = self._in_folder(folder, key) or self._by_core_key(key)
        if existing:
            uid = existing[0].get("uid")
            raise BlobExists(
                f"a blob is already stored under {key!r} (Nuxeo document {uid}); blobs are "
                "never replaced",
                key=uid,
            )
        with self._spool_file() as spool:
            length, md5 = self._fill(spool, stream)  # the source's own errors propagate
            if size is not None and size != length:
                log.debug("Nuxeo: put(%r) was told %d bytes, read %d", key, size, length)
            with self._writing():
                batch = self._retrying("open an upload batch", self._nx.uploads.batch)
                creating = False
                try:
                    blob = self._upload(batch, spool, length, layout)
                    creating = True
                    doc = self._create_file(folder, layout, key, blob)
                except BaseException:
                    self._abandon(batch, key, folder if creating else None)
                    raise
        return self._verified(doc, length, md5)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A 404 while writing is a folder or batch that is missing, not a missing blob."""
        try:
            yield
        except BlobNotFound as exc:
            self._root = None  # perhaps the root itself: look again next time
            raise StorageError(
                f"{exc} (while writing: a folder or the upload batch is missing, or the URL "
                "is not a Nuxeo server's)"
            ) from exc

    def _spool_file(self) -> BinaryIO:
        try:
            return tempfile.TemporaryFile(prefix="grc-nuxeo-", dir=self.settings.spool_dir)
        except OSError as exc:
            where = self.settings.spool_dir or tempfile.gettempdir()
            raise StorageError(f"cannot create the upload spool file in {where!r}: {exc}") from exc

    def _fill(self, spool: BinaryIO, stream: BinaryIO) -> tuple[int, str]:
        """Copy ``stream`` into ``spool`` chunk by chunk; its size and MD5 digest.

        An exception raised by ``stream`` propagates unchanged (the contract).
        """
        digest = hashlib.md5(usedforsecurity=False)
        length = 0
        while chunk := stream.read(CHUNK_SIZE):
            try:
                spool.write(chunk)
            except OSError as exc:  # the disk is full…: not the source's fault
                raise StorageError(f"cannot spool the upload to a temporary file: {exc}") from exc
            digest.update(chunk)
            length += len(chunk)
        try:
            spool.flush()
        except OSError as exc:
            raise StorageError(f"cannot spool the upload to a temporary file: {exc}") from exc
        return length, digest.hexdigest()

    def _upload(self, batch: Batch, spool: BinaryIO, length: int, layout: Layout) -> Blob:
        """Upload the spool as file 0 of ``batch``, resuming after transient failures."""
        blob = _SpoolBlob(spool, name=layout.file_title, size=length, mimetype=layout.mime_type)

        def upload() -> None:
            # A new uploader asks the server which chunks it holds (resume), then sends the
            # others.  Files up to chunk_size go in one request.
            uploader = self._nx.uploads.get_uploader(
                batch, blob, chunked=True, chunk_size=self.settings.chunk_size
            )
            uploader.upload()

        self._retrying(f"upload {layout.file_title!r}", upload)
        return blob

    def _create_file(
        self, folder: Mapping[str, Any], layout: Layout, key: str, blob: Blob
    ) -> dict[str, Any]:
        """Create the ``File`` document under a free name in ``folder``.

        "Did an earlier attempt create it?" is answered without search: by the path that
        attempt asked for, then by the folder's children (real Nuxeo may have stored it as
        ``name.<milliseconds>`` if the name was taken meanwhile).  So a creation that timed
        out is never repeated once it landed, even on Nuxeo 10.10, which ignores
        ``Idempotency-Key``, and even while the search index lags.
        """
        properties = {
            "dc:title": layout.file_title,
            "dc:description": layout.description,
            "dc:source": SOURCE_PREFIX + key,
            "file:content": blob.to_json(),
        }
        parent = str(folder["path"])
        source = SOURCE_PREFIX + key
        idempotency_key = str(uuid.uuid4())  # one logical creation, whatever the repetitions
        n, waits = 1, 0
        while n <= MAX_NAME_CANDIDATES:
            name = numbered(layout.file_name, n)
            path = f"{parent.rstrip('/')}/{name}"
            if self._doc_at(path) is not None:
                n += 1
                continue
            body = Document(
                name=name, type="File", properties=properties, repository=self.settings.repository
            ).as_dict()

            def landed(path: str = path) -> dict[str, Any] | None:
                at_path = self._doc_at(path)
                if (at_path or {}).get("properties", {}).get("dc:source") == source:
                    return at_path
                return next(iter(self._in_folder(folder, key)), None)

            try:
                return self._create(
                    parent,
                    body,
                    idempotency_key,
                    action=f"create the document {path!r}",
                    recheck=landed,
                )
            except NuxeoConflict:
                pass
            # 409 (servers that refuse a taken name instead of renaming): the name was
            # taken since it was checked, or an earlier attempt is still running.
            found = landed()
            if found is not None:
                return found
            if self._doc_at(path) is not None:
                n += 1
                continue
            waits += 1
            if waits > self.settings.retries:
                raise StorageUnavailable(
                    f"Nuxeo is still processing an earlier attempt to create {path!r}"
                )
            self._pause(waits)
        raise StorageError(
            f"no free document name for {layout.file_title!r} in {parent!r} after "
            f"{MAX_NAME_CANDIDATES} tries"
        )

    def _abandon(self, batch: Batch, key: str, folder: Mapping[str, Any] | None) -> None:
        """Best-effort clean-up after a failed ``put``: nothing may be left behind.

        Once creation was attempted (``folder`` given), every document of ``folder``
        carrying the key is removed — found through the folder's children, which do not
        lag like search does.  Failures here are logged, never raised: the original error
        is the one to report.
        """
        try:
            self._nx.uploads.delete(batch.uid)
        except Exception as exc:
            error = self._storage_error(exc, f"delete the upload batch {batch.uid}")
            if not isinstance(error, BlobNotFound):  # already dropped: nothing to clean
                log.warning("Nuxeo: upload batch %s left on the server: %s", batch.uid, error)
        if folder is None:
            return
        try:
            for doc in self._in_folder(folder, key):
                self._request("remove a half-created document", "DELETE", self._id_url(doc["uid"]))
        except StorageError as error:
            log.warning("Nuxeo: could not check for a half-created document of %r: %s", key, error)

    def _verified(self, doc: dict[str, Any], length: int, md5: str) -> str:
        """``doc``'s uid once its stored length and digest match what was sent."""
        content = _content(doc) or {}
        stored = _length(content)
        problem = None
        if stored != length:
            problem = f"Nuxeo stored {stored} bytes instead of {length}"
        elif str(content.get("digestAlgorithm", "")).upper() == "MD5" and content.get(
            "digest"
        ) not in (None, md5):
            problem = "the MD5 digest Nuxeo computed differs from the data sent"
        if problem is None:
            return str(doc["uid"])
        with contextlib.suppress(StorageError):
            self._request("remove a corrupted document", "DELETE", self._id_url(doc["uid"]))
        raise StorageError(f"{problem}; the document {doc.get('path')!r} was removed")

    # --- reading --------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """A stream of the blob, read from the network as it is consumed."""
        uid = self._uid(key)
        action = f"read the file of document {uid}"
        response = self._request(action, "GET", f"{self._id_url(uid)}/@blob/file:content")
        raw = _BlobStream(response, lambda exc: self._storage_error(exc, action))
        return io.BufferedReader(raw, buffer_size=64 * 1024)

    def stat(self, key: str) -> BlobInfo:
        """Size (``file:content/length``) and ``dc:modified`` of the document."""
        return _info(self._blob_doc(key, "read"))

    def delete(self, key: str) -> None:
        """Delete the document (Nuxeo's ``DELETE`` is a hard delete, not the trash)."""
        doc = self._blob_doc(key, "find")
        self._request(f"delete document {doc['uid']}", "DELETE", self._id_url(doc["uid"])).close()

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every document GRC stored under the root (``dc:source`` starting with ``grc:``).

        The folders are walked with ``@children`` rather than searched with NXQL: search
        lags behind writes, and a listing that misses a blob stored a second ago (or lists
        one just deleted) would mislead ``grc storage verify``.  A file someone dropped
        into the CRM folders by hand is not listed, so that ``verify --repair`` never
        deletes it.
        """
        root = self._doc_at(self.settings.root_path)
        if root is None or not _is_folder(root):
            return
        pending = [root]
        while pending:
            folder = pending.pop()
            action = f"list {folder.get('path')!r}"
            for doc in self._children(str(folder["uid"]), action):
                if _is_folder(doc):
                    pending.append(doc)
                    continue
                source = (doc.get("properties") or {}).get("dc:source")
                if isinstance(source, str) and source.startswith(SOURCE_PREFIX) and _content(doc):
                    yield _info(doc)

    def close(self) -> None:
        """Close the client's connections.  Calling it twice is harmless."""
        self._nx.client._session.close()
        # The client registers an atexit hook holding it alive; a closed backend lets go.
        atexit.unregister(self._nx.client.on_exit)


def _content(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    content = (doc.get("properties") or {}).get("file:content")
    return content if isinstance(content, dict) else None


def _length(content: Mapping[str, Any]) -> int | None:
    length = content.get("length")  # a string in Nuxeo's JSON
    if length is None:
        return None
    try:
        return int(length)
    except (TypeError, ValueError):
        return None


def _is_folder(doc: Mapping[str, Any]) -> bool:
    return "Folderish" in (doc.get("facets") or [])


def _title(doc: Mapping[str, Any]) -> str | None:
    return (doc.get("properties") or {}).get("dc:title", doc.get("title"))


def _info(doc: Mapping[str, Any]) -> BlobInfo:
    uid = str(doc.get("uid"))
    size = _length(_content(doc) or {})
    properties = doc.get("properties") or {}
    modified = _parse_time(properties.get("dc:modified")) or _parse_time(doc.get("lastModified"))
    if size is None or modified is None:
        raise StorageError(f"Nuxeo document {uid} has no readable file length or modification time")
    return BlobInfo(uid, size, modified)
