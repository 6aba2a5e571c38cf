"""The SharePoint backend through Microsoft Graph (``api = "graph"``).

The same library, layout and rules as the REST mode (:mod:`grc_adapters.sharepoint.backend`):
documents filed ``<library>/<root_folder>/<company>/<YYYY-MM-DD — subject>/<file name>``, never
replaced (a taken name gets `` (2)``), a key index of one marker file per core key in
``<root_folder>/_grc-keys/`` (created with ``conflictBehavior: fail``, the commit point of a
``put``).  What differs is the API, spoken with ``requests`` and MSAL directly:

- **Authentication**: app-only tokens from MSAL (``acquire_token_for_client``) with a client
  secret *or* a certificate — Graph accepts both — for the scope ``<graph>/.default``; or a
  ready-made ``access_token``.  Permission: ``Sites.Selected`` with *write* on the site.
- **Addressing**: the site by ``GET /sites/{host}:/{path}``, the library as the drive whose
  ``webUrl`` ends with its URL name, items by id.  **The key** ``put`` returns is the drive
  item id, stable across renames and moves inside the library.
- **Uploads** always go through an upload session: the stream is spooled to a temporary file
  (Graph wants the total size in every ``Content-Range``), then ``createUploadSession`` with
  ``conflictBehavior: fail`` and fragment ``PUT``s to the session's pre-authenticated
  ``uploadUrl`` (no ``Authorization`` header there), each a multiple of 320 KiB.  A fragment
  that failed in a way that leaves its fate unknown (a timeout, a reset, a 5xx) is not sent
  again blindly: the session is asked for its ``nextExpectedRanges`` and the upload resumes
  from there, so no byte range is received twice.  An empty file is one ``PUT …:/content``.
- **Downloads** stream ``GET /drives/{d}/items/{id}/content`` (a redirect to a
  pre-authenticated URL, followed), the size checked.
- **Throttling**: every request — fragments included — that is answered 429, or 503 with
  ``Retry-After``, was refused before being processed: it is sent again after the
  ``Retry-After`` asked for, within ``max_retry_wait`` for the operation.
- **Check-out**: a new document that comes back checked out (``publication.level`` is
  ``checkout``: a library that requires check-out) is checked in (``POST …/checkin``); a
  refusal (a required column without value) is reported as such and the document removed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

import requests

from grc_adapters.sharepoint.config import MAX_CONNECT_TIMEOUT, SharePointSettings
from grc_adapters.sharepoint.names import MAX_FILE_NAME_LENGTH, fit_path, numbered, placement
from grc_adapters.sharepoint.throttling import ThrottleBudget
from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.storage.backend import CHUNK_SIZE, BlobInfo
from grc_core.storage.keys import check_key

log = logging.getLogger(__name__)

INDEX_FOLDER = "_grc-keys"
#: Graph wants every fragment but the last to be a multiple of 320 KiB.
FRAGMENT_UNIT = 320 * 1024
MAX_HOMONYMS = 999
DOWNLOAD_SLICE = 256 * 1024
_TRANSIENT = frozenset({408, 500, 502, 503, 504})
# A drive item id: letters, digits and a few punctuation marks; never a '/' (core keys have).
_ITEM_ID = re.compile(r"[A-Za-z0-9!._-]{6,128}")
_ITEM_FIELDS = "id,name,size,lastModifiedDateTime,parentReference,file,folder,publication"


class GraphConflict(StorageError):
    """Graph answered 409: a name is taken (``nameAlreadyExists``)."""


class _Unknown(StorageUnavailable):
    """A request whose effect is unknown (timeout, reset, 5xx after sending)."""


def marker_name(key: str) -> str:
    """The key-index file name of core key ``key`` (``/`` is outside no name: ``,``)."""
    return key.replace("/", ",") + ".txt"


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str) or not value:
        raise StorageError(f"Microsoft Graph returned no modification time ({value!r})")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, text = error.get("code") or "", error.get("message") or ""
        return f"HTTP {response.status_code}: {text} ({code})" if code else f"HTTP {text}"
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


class _Download(io.RawIOBase):
    """The streamed body of a download; exactly ``expected`` bytes, or an error."""

    def __init__(self, response: requests.Response, expected: int, action: str) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_content(chunk_size=DOWNLOAD_SLICE)
        self._pending = memoryview(b"")
        self._expected, self._received, self._action = expected, 0, action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            try:
                chunk = next(self._chunks, b"")
            except requests.RequestException as exc:
                raise StorageUnavailable(f"cannot {self._action}: {exc}") from exc
            if not chunk:
                if self._received != self._expected:
                    raise StorageUnavailable(
                        f"cannot {self._action}: the download stopped after {self._received} "
                        f"of {self._expected} bytes"
                    )
                return 0
            self._received += len(chunk)
            if self._received > self._expected:
                raise StorageError(f"cannot {self._action}: more bytes than announced")
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class GraphBackend:
    """Attachments as drive items of a SharePoint library, through Microsoft Graph.

    Calls are serialised by a lock; streams returned by :meth:`open` are independent.

    :param settings: checked settings with ``api = "graph"``.
    :param sleep: how the backend pauses (tests pass a recorder).
    """

    name = "sharepoint"
    page_size = 200

    def __init__(
        self, settings: SharePointSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._graph = settings.graph_url
        self._lock = threading.RLock()
        self._session = requests.Session()
        self._timeout = (min(settings.timeout, MAX_CONNECT_TIMEOUT), settings.timeout)
        self._msal: Any = None
        self._drive: str | None = None
        self._root_id: str | None = None
        self._index_id: str | None = None
        self._root_path = f"/{settings.root_folder}"

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"GraphBackend(site_url={s.site_url!r}, library={s.library!r}, "
            f"root_folder={s.root_folder!r}, graph_url={s.graph_url!r})"
        )

    # --- authentication ---------------------------------------------------------------------

    def _token(self) -> str:
        s = self.settings
        if s.access_token is not None:
            return s.access_token
        if self._msal is None:
            # The [sharepoint] extra's dependency (office365 needs it too); it ships no types.
            import msal  # type: ignore[import-untyped]

            if s.client_secret is not None:
                credential: Any = s.client_secret
            else:
                credential = {
                    "private_key": s.cert_path.read_text() if s.cert_path else "",
                    "thumbprint": s.thumbprint,
                }
                if s.cert_passphrase:
                    credential["passphrase"] = s.cert_passphrase
            authority = s.authority or f"https://login.microsoftonline.com/{s.tenant}"
            try:
                self._msal = msal.ConfidentialClientApplication(
                    s.client_id, authority=authority, client_credential=credential
                )
            except ValueError as exc:
                raise StorageAuthError(f"cannot authenticate to Microsoft Graph: {exc}") from exc
        graph = urlsplit(self._graph)
        scope = f"{graph.scheme}://{graph.netloc}/.default"
        try:
            answer = self._msal.acquire_token_for_client(scopes=[scope])
        except (requests.RequestException, ValueError) as exc:
            raise StorageUnavailable(f"cannot obtain a token for Microsoft Graph: {exc}") from exc
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise StorageAuthError(
                "cannot obtain a token for Microsoft Graph: "
                f"{answer.get('error')}: {answer.get('error_description', '')}".rstrip(": ")
            )
        return str(token)

    # --- requests -------------------------------------------------------------------------

    def _call(
        self,
        action: str,
        method: str,
        url: str,
        *,
        safe: bool,
        authenticated: bool = True,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """One Graph request, with throttling waited out and safe requests retried.

        ``safe``: repeating it after an unknown outcome (timeout, 5xx) does no harm.  A
        throttled answer is repeated whatever ``safe`` says (it was not processed).
        """
        attempt = 0
        budget = ThrottleBudget(
            self.settings.max_retry_wait,
            self.settings.retry_backoff,
            self._sleep,
            "Microsoft Graph",
        )
        if not url.startswith(("http://", "https://")):
            url = self._graph + url
        base_headers = dict(kwargs.pop("headers", None) or {})
        while True:
            headers = dict(base_headers)
            if authenticated:
                headers["Authorization"] = f"Bearer {self._token()}"
            try:
                response = self._session.request(
                    method, url, headers=headers, timeout=self._timeout, **kwargs
                )
            except requests.Timeout as exc:
                error: StorageUnavailable = _Unknown(
                    f"cannot {action}: Microsoft Graph did not answer in time ({exc})"
                )
            except requests.ConnectionError as exc:
                error = _Unknown(f"cannot {action}: connection to Microsoft Graph failed ({exc})")
            else:
                status = response.status_code
                if status in ok:
                    return response
                asked = _retry_after(response)
                if status == 429 or (status == 503 and asked is not None):
                    response.close()
                    wait = asked if asked is not None else budget.default_wait()
                    budget.wait(wait, f"cannot {action}")
                    continue
                text = f"cannot {action}: Microsoft Graph answered {_message(response)}"
                response.close()
                if status in (401, 403):
                    raise StorageAuthError(text)
                if status == 404:
                    raise BlobNotFound(text)
                if status == 409:
                    raise GraphConflict(text)
                if status not in _TRANSIENT:
                    raise StorageError(text)
                error = _Unknown(text)
            if not safe or attempt >= self.settings.retries:
                raise error
            self._sleep(self._backoff(attempt))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        base = self.settings.retry_backoff * 2.0 ** min(attempt, 8)
        return base / 2 + random.uniform(0, base / 2)

    def _json(self, action: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(action, method, url, **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise StorageError(f"cannot {action}: Microsoft Graph's answer is not JSON") from exc
        if not isinstance(data, dict):
            raise StorageError(f"cannot {action}: Microsoft Graph's answer is not an object")
        return data

    # --- addressing -----------------------------------------------------------------------

    def _drive_url(self) -> str:
        if self._drive is None:
            self._drive = self._find_drive()
        return f"/drives/{self._drive}"

    def _find_drive(self) -> str:
        s = self.settings
        site = urlsplit(s.site_url)
        path = quote(unquote(site.path.rstrip("/")), safe="/")
        address = f"/sites/{site.hostname}:{path}" if path else f"/sites/{site.hostname}"
        found = self._json("find the site", "GET", address, safe=True, params={"$select": "id"})
        drives = self._json(
            "list the site's libraries",
            "GET",
            f"/sites/{found['id']}/drives",
            safe=True,
            params={"$select": "id,name,webUrl"},
        )
        wanted = s.library.casefold()
        names = []
        for drive in drives.get("value") or []:
            url_name = unquote(urlsplit(str(drive.get("webUrl", ""))).path.rstrip("/"))
            names.append(url_name.rsplit("/", 1)[-1])
            if url_name.rsplit("/", 1)[-1].casefold() == wanted:
                return str(drive["id"])
        raise StorageError(
            f"the document library {s.library!r} does not exist on {s.site_url}; its libraries' "
            f"URL names: {', '.join(names) or 'none'}"
        )

    def _item(self, item_id: str, action: str) -> dict[str, Any]:
        return self._json(
            action,
            "GET",
            f"{self._drive_url()}/items/{item_id}",
            safe=True,
            params={"$select": _ITEM_FIELDS},
        )

    def _child(self, parent: str, name: str, action: str) -> dict[str, Any] | None:
        """The item ``name`` of folder ``parent``, or ``None``."""
        try:
            return self._json(
                action,
                "GET",
                f"{self._drive_url()}/items/{parent}:/{quote(name, safe='')}",
                safe=True,
                params={"$select": _ITEM_FIELDS},
            )
        except BlobNotFound:
            return None

    def _inside_root(self, item: Mapping[str, Any]) -> bool:
        parent = str((item.get("parentReference") or {}).get("path") or "")
        _, _, path = parent.partition("root:")
        path = unquote(path).casefold() + "/"
        root = self._root_path.casefold() + "/"
        return path.startswith(root) and not path.startswith(root + INDEX_FOLDER.casefold() + "/")

    def _blob_item(self, key: str, action: str) -> tuple[dict[str, Any], str | None]:
        """The item of ``key`` (an item id, or a core key through the index)."""
        if not isinstance(key, str):
            check_key(key)
        core_key = None
        if "/" in key:
            check_key(key)
            core_key = key
            item_id = self._read_marker(key)
            if item_id is None:
                raise BlobNotFound(f"cannot {action}: no blob is stored under {key!r}")
        elif _ITEM_ID.fullmatch(key):
            item_id = key
        else:
            raise BlobNotFound(f"cannot {action}: {key!r} is not a key of this backend")
        self._ensure_root()
        item = self._item(item_id, action)
        if "file" not in item or not self._inside_root(item):
            raise BlobNotFound(f"cannot {action}: no GRC document has this id")
        return item, core_key

    # --- folders and the key index ----------------------------------------------------------

    def _ensure_root(self) -> None:
        if self._index_id is not None:
            return
        parent = self._json("open the library", "GET", f"{self._drive_url()}/root", safe=True)["id"]
        for name in self.settings.root_folder.split("/"):
            parent = self._folder(parent, name)
        self._root_id = parent
        self._index_id = self._folder(parent, INDEX_FOLDER)

    def _folder(self, parent: str, name: str) -> str:
        """The id of folder ``name`` in ``parent``, created if missing."""
        found = self._child(parent, name, f"look for the folder {name!r}")
        if found is not None:
            if "folder" not in found:
                raise StorageError(f"{name!r} exists in the library and is not a folder")
            return str(found["id"])
        body = {"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}
        try:
            made = self._json(
                f"create the folder {name!r}",
                "POST",
                f"{self._drive_url()}/items/{parent}/children",
                safe=True,  # a repetition meets the first one's folder: 409, then found
                json=body,
            )
            return str(made["id"])
        except GraphConflict:
            found = self._child(parent, name, f"look for the folder {name!r}")
            if found is None or "folder" not in found:
                raise StorageError(f"cannot create the folder {name!r}") from None
            return str(found["id"])

    def _read_marker(self, key: str) -> str | None:
        self._ensure_root()
        url = (
            f"{self._drive_url()}/items/{self._index_id}:/"
            f"{quote(marker_name(key), safe='')}:/content"
        )
        try:
            response = self._call(f"read the key index entry of {key!r}", "GET", url, safe=True)
        except BlobNotFound:
            return None
        text = response.content[:200].decode("ascii", errors="replace").strip()
        return text if _ITEM_ID.fullmatch(text) else None

    def _exists(self, item_id: str) -> bool:
        try:
            self._item(item_id, "check a document")
        except BlobNotFound:
            return False
        return True

    def _commit_marker(self, key: str, item_id: str) -> None:
        """Record ``key`` → ``item_id``; refused if the key is taken (the commit point)."""
        url = (
            f"{self._drive_url()}/items/{self._index_id}:/"
            f"{quote(marker_name(key), safe='')}:/content"
        )
        action = f"record the key index entry of {key!r}"
        for _attempt in range(3):
            try:
                response = self._call(
                    action,
                    "PUT",
                    url,
                    safe=False,
                    params={"@microsoft.graph.conflictBehavior": "fail"},
                    data=item_id.encode("ascii"),
                    headers={"Content-Type": "text/plain"},
                )
                marker = response.json()
                if (marker.get("publication") or {}).get("level") == "checkout":
                    with contextlib.suppress(StorageError):
                        self._check_in(str(marker["id"]), "the key index entry")
                return
            except (GraphConflict, _Unknown):
                holder = self._read_marker(key)
                if holder == item_id:
                    return
                if holder is not None and self._exists(holder):
                    raise BlobExists(
                        f"a blob is already stored under {key!r}; blobs are never replaced",
                        key=holder,
                    ) from None
                if holder is not None:
                    self._delete_marker(key)
        raise StorageUnavailable(f"cannot {action}: Microsoft Graph kept refusing it")

    def _delete_marker(self, key: str) -> None:
        marker = self._child(self._index_id or "", marker_name(key), "find a key index entry")
        if marker is not None:
            with contextlib.suppress(BlobNotFound):
                self._delete_item(str(marker["id"]), f"remove the key index entry of {key!r}")

    def _delete_item(self, item_id: str, action: str) -> None:
        # A repeated DELETE of a deleted item is a 404: harmless, so it is safe to repeat.
        self._call(action, "DELETE", f"{self._drive_url()}/items/{item_id}", safe=True).close()

    # --- writing --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Upload ``stream`` as a new document; return its drive item id."""
        check_key(key)
        with self._lock:
            self._ensure_root()
            holder = self._read_marker(key)
            if holder is not None:
                if self._exists(holder):
                    raise BlobExists(
                        f"a blob is already stored under {key!r}; blobs are never replaced",
                        key=holder,
                    )
                self._delete_marker(key)
            place = placement(key, metadata, reserved=(INDEX_FOLDER,))
            try:
                place = fit_path(self.settings.root_path, place)
            except ValueError as exc:
                raise StorageError(str(exc)) from None
            parent = str(self._root_id)
            for name in place.folders:
                parent = self._folder(parent, name)
            with tempfile.TemporaryFile(prefix="grc-graph-") as spool:
                length = 0
                while piece := stream.read(CHUNK_SIZE):
                    spool.write(piece)
                    length += len(piece)
                spool.flush()
                item = self._upload_new(parent, place.file_name, spool, length)
            item_id = str(item["id"])
            try:
                if int(item.get("size", -1)) != length:
                    raise StorageError(
                        f"Microsoft Graph stored {item.get('size')} bytes of the {length} sent"
                    )
                self._set_columns(item_id, key, metadata or {})
                if (item.get("publication") or {}).get("level") == "checkout":
                    self._check_in(item_id, repr(item.get("name")))
                self._commit_marker(key, item_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._delete_item(item_id, "remove a failed upload")
                raise
            return item_id

    def _upload_new(
        self, parent: str, file_name: str, spool: BinaryIO, length: int
    ) -> dict[str, Any]:
        """Upload the spool under a free name in ``parent``; the new item."""
        for number in range(1, MAX_HOMONYMS + 1):
            name = numbered(file_name, number, MAX_FILE_NAME_LENGTH)
            if self._child(parent, name, f"look for {name!r}") is not None:
                continue
            try:
                if length == 0:
                    return self._json(
                        f"create {name!r}",
                        "PUT",
                        f"{self._drive_url()}/items/{parent}:/{quote(name, safe='')}:/content",
                        safe=False,
                        params={"@microsoft.graph.conflictBehavior": "fail"},
                        data=b"",
                        headers={"Content-Type": "application/octet-stream"},
                    )
                return self._session_upload(parent, name, spool, length)
            except GraphConflict:
                continue  # taken since the check: the next number
        raise StorageError(f"more than {MAX_HOMONYMS} documents named {file_name!r}")

    def _session_upload(
        self, parent: str, name: str, spool: BinaryIO, length: int
    ) -> dict[str, Any]:
        created = self._json(
            f"open an upload session for {name!r}",
            "POST",
            f"{self._drive_url()}/items/{parent}:/{quote(name, safe='')}:/createUploadSession",
            safe=True,  # an unused session expires on its own
            json={"item": {"@microsoft.graph.conflictBehavior": "fail"}},
        )
        upload_url = str(created["uploadUrl"])
        fragment = max(FRAGMENT_UNIT, self.settings.chunk_size // FRAGMENT_UNIT * FRAGMENT_UNIT)
        offset, resumes = 0, 0
        try:
            response: requests.Response | None = None
            while True:
                # The last answer holds its request, and so the fragment sent: let it go
                # before reading the next one (memory: one fragment, not two).
                response = None
                end = min(offset + fragment, length)
                spool.seek(offset)
                data = spool.read(end - offset)
                try:
                    response = self._call(
                        f"upload bytes {offset}-{end - 1} of {name!r}",
                        "PUT",
                        upload_url,
                        safe=False,
                        authenticated=False,  # the upload URL is pre-authenticated
                        data=data,
                        headers={
                            "Content-Range": f"bytes {offset}-{end - 1}/{length}",
                            "Content-Type": "application/octet-stream",
                        },
                    )
                except _Unknown:
                    # Did the fragment land?  The session knows: resume from what it expects.
                    if resumes >= self.settings.retries:
                        raise
                    resumes += 1
                    self._sleep(self._backoff(resumes))
                    expected = self._next_expected(upload_url, name)
                    if expected is None:
                        raise
                    offset = expected
                    continue
                finally:
                    data = b""
                if response.status_code in (200, 201):
                    return dict(response.json())
                expected = _first_expected(response.json()) if end < length else end
                if expected is None or expected >= length:
                    raise StorageError(f"the upload session of {name!r} expects nothing more")
                offset = expected
        except BaseException:
            with contextlib.suppress(Exception):
                self._call(
                    "cancel the upload session",
                    "DELETE",
                    upload_url,
                    safe=True,
                    authenticated=False,
                    ok=(204, 404),
                ).close()
            raise

    def _next_expected(self, upload_url: str, name: str) -> int | None:
        status = self._json(
            f"ask the upload session of {name!r} what it holds",
            "GET",
            upload_url,
            safe=True,
            authenticated=False,
        )
        return _first_expected(status)

    def _check_in(self, item_id: str, what: str) -> None:
        try:
            self._call(
                f"check in {what}",
                "POST",
                f"{self._drive_url()}/items/{item_id}/checkin",
                safe=False,
                # "published": a major version, visible to readers also in a library that
                # keeps minor versions (drafts); otherwise the check-in would make a draft.
                json={"comment": "GRC", "checkInAs": "published"},
            ).close()
        except (StorageUnavailable, StorageAuthError, BlobNotFound):
            raise
        except StorageError as exc:
            raise StorageError(
                f"{exc} — the library requires check-out, and SharePoint would not check the "
                "new document in; usually a required column has no value: make the column "
                "optional or give it a default value, or fill it from GRC with the column_* "
                "settings; the document was removed"
            ) from exc

    def _set_columns(self, item_id: str, key: str, metadata: Mapping[str, str]) -> None:
        columns = self.settings.columns
        values = {**metadata, "core_key": key}
        fields = {
            column: str(values[name])[:255]
            for name, column in columns.items()
            if values.get(name) not in (None, "")
        }
        if fields:
            self._call(
                "set the document's columns",
                "PATCH",
                f"{self._drive_url()}/items/{item_id}/listItem/fields",
                safe=True,
                json=fields,
            ).close()

    # --- reading and deleting -------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """A stream of the document (``GET …/content``, redirect followed), size checked."""
        with self._lock:
            action = f"read blob {key!r}"
            item, _ = self._blob_item(key, action)
            response = self._call(
                action,
                "GET",
                f"{self._drive_url()}/items/{item['id']}/content",
                safe=True,
                stream=True,
            )
        raw = _Download(response, int(item.get("size", 0)), action)
        return io.BufferedReader(raw, buffer_size=DOWNLOAD_SLICE)

    def stat(self, key: str) -> BlobInfo:
        with self._lock:
            item, _ = self._blob_item(key, f"stat blob {key!r}")
        return BlobInfo(
            str(item["id"]), int(item.get("size", 0)), _parse_time(item["lastModifiedDateTime"])
        )

    def delete(self, key: str) -> None:
        with self._lock:
            action = f"delete blob {key!r}"
            item, core_key = self._blob_item(key, action)
            self._delete_item(str(item["id"]), action)
            if core_key is not None:
                with contextlib.suppress(StorageError):
                    self._delete_marker(core_key)

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every document under the root folder, recursively (the key index excepted)."""
        with self._lock:
            self._ensure_root()
        pending = [(str(self._root_id), True)]
        while pending:
            folder, is_root = pending.pop()
            url: str | None = f"{self._drive_url()}/items/{folder}/children"
            params: dict[str, Any] | None = {"$select": _ITEM_FIELDS, "$top": self.page_size}
            while url:
                try:
                    with self._lock:
                        page = self._json(
                            "list the documents", "GET", url, safe=True, params=params
                        )
                except BlobNotFound:
                    break
                for item in page.get("value") or []:
                    if "folder" in item:
                        if not (is_root and str(item.get("name")).casefold() == INDEX_FOLDER):
                            pending.append((str(item["id"]), False))
                    elif "file" in item:
                        yield BlobInfo(
                            str(item["id"]),
                            int(item.get("size", 0)),
                            _parse_time(item["lastModifiedDateTime"]),
                        )
                url, params = page.get("@odata.nextLink"), None

    def close(self) -> None:
        """Release the HTTP connections (harmless twice)."""
        self._session.close()


def _first_expected(status: Mapping[str, Any]) -> int | None:
    """The first offset of ``nextExpectedRanges`` (``["26-", …]``), or ``None``."""
    ranges = status.get("nextExpectedRanges") or []
    if not ranges:
        return None
    start = str(ranges[0]).split("-", 1)[0]
    return int(start) if start.isdigit() else None
