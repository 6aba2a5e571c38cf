"""The SharePoint Online storage backend (``office365-rest-python-client`` 3.3.0, SharePoint REST).

What is stored where
--------------------
Each attachment is a document in a library, filed where people look for it::

    <library>/<root_folder>/<company>/<YYYY-MM-DD — subject>/<file name>

(see :mod:`grc_adapters.sharepoint.names`).  Two documents with the same name in one folder
never replace each other: the second one is named ``devis (2).pdf``.

**The key** that ``put`` returns, and that GRC keeps in its database, is the document's
``UniqueId`` (a GUID).  It does not change when someone renames the document or moves it to
another folder of the library, so the layout can be reorganised by hand without breaking
GRC.  ``open``/``stat``/``delete`` address the document as ``Web/GetFileById('…')``.

**The core key** (``2026/03/<hex>``, made by GRC) must stay findable: ``put`` of a key already
used raises :class:`~grc_core.errors.BlobExists`, and an interrupted migration asks for a blob
by its core key.  SharePoint offers no unique, create-only index on a column without
provisioning one, so the backend keeps a small **key index**: one marker file per core key in
``<root_folder>/_grc-keys/``, named after the key (``2026,03,<hex>``) and holding the
document's ``UniqueId``.  The marker is created *after* the upload with
``Files/add(overwrite=false)``, which SharePoint refuses if the name exists: it is the atomic
commit point, so two concurrent ``put`` of one key cannot both succeed.  A marker whose
document is gone (a document deleted by hand, or through its ``UniqueId``) is ignored and
replaced.  Markers are never listed as blobs.

Uploads and downloads stream
----------------------------
``put`` always goes through an upload session: an empty ``Files/add(overwrite=false)``
placeholder, then ``startUpload`` / ``continueUpload`` / ``finishUpload`` with fragments of
``chunk_size`` bytes read from the stream as they are sent (an empty file is the placeholder
itself).  The library's ``create_upload_session`` is not used: it needs a seekable stream of
known size (ours is neither, and a wrong size makes it loop or truncate), sends small files
without a session and hard-codes ``overwrite=true``.  ``open`` returns a stream over the
``GET …/$value`` response, read as the caller reads.  Memory stays near two fragments.

Failures
--------
Every request has a timeout.

**Throttling** (a 429, or a 503 with ``Retry-After``) is waited out on *every* request,
upload fragments and creations included: SharePoint Online refuses a throttled request
before doing anything with it, so sending it again after the ``Retry-After`` it asked for is
always safe.  The waits of one operation are bounded by ``max_retry_wait`` (five minutes by
default) — the ``Retry-After`` itself is honoured, however long, within that bound.

Other failures: requests that are safe to repeat — reads, folder creation (``Folders/Add``
returns the existing folder), a delete or a marker creation after checking what happened —
are retried ``retries`` times with exponential back-off; a fragment that failed otherwise (a
timeout, a reset, a 500: the server may have taken it) is never repeated: the upload is
abandoned, its session cancelled and its placeholder deleted, and the error raised (the
caller may retry the whole ``put``).

Libraries that require check-out
--------------------------------
In such a library a new document stays checked out to GRC's account — invisible to everyone
else — until it is checked in.  After the upload (and the columns), a document whose
``CheckOutType`` is not ``None`` is checked in as a major version.  SharePoint refuses the
check-in while a required column has no value: that refusal is reported as such (which
column settings to add), and the document is removed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar

from office365.runtime.http.http_method import HttpMethod
from office365.runtime.queries.service_operation import ServiceOperationQuery
from office365.sharepoint.files.checkin_type import CheckinType
from office365.sharepoint.files.file import File

from grc_adapters.sharepoint.client import (
    GrcClientContext,
    is_name_taken,
    map_error,
    retry_after,
    throttle_wait,
)
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

T = TypeVar("T")

#: The technical folder, under the root folder, holding one marker per core key.
INDEX_FOLDER = "_grc-keys"
#: ``CheckOutType`` of a document nobody has checked out (SP.CheckOutType.None).
NOT_CHECKED_OUT = 2
#: How many `` (n)`` homonyms are tried before giving up.
MAX_HOMONYMS = 999
#: The download is read from the network in slices of this size.
DOWNLOAD_SLICE = 256 * 1024

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FILE_FIELDS = ["UniqueId", "Length", "TimeLastModified", "ServerRelativePath"]


def marker_name(key: str) -> str:
    """The key-index file name of core key ``key`` (``2026/03/ab…`` → ``2026,03,ab….txt``).

    ``,`` is outside the key alphabet, so the mapping is one-to-one.
    """
    return key.replace("/", ",") + ".txt"


def _parse_time(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise StorageError(f"SharePoint returned no modification time ({value!r})")
    # SharePoint's times are UTC; a naive one is UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _checked_out(file: Any) -> bool:
    """Whether a document's answer says it is checked out (``CheckOutType`` not None)."""
    value = file.properties.get("CheckOutType")
    try:
        return value is not None and int(value) != NOT_CHECKED_OUT
    except (TypeError, ValueError):
        return False


def _path_of(file: Any) -> str:
    path = file.properties.get("ServerRelativePath")
    decoded = getattr(path, "DecodedUrl", None)
    if decoded is None and isinstance(path, Mapping):
        decoded = path.get("DecodedUrl")
    return str(decoded or file.properties.get("ServerRelativeUrl") or "")


class _Download(io.RawIOBase):
    """A readable stream over a streamed ``$value`` response.

    Checks that exactly ``expected`` bytes arrive (a connection cut short would otherwise
    look like the end of the file) and turns network failures into ``StorageError``.
    """

    def __init__(self, response: Any, expected: int, action: str) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_content(chunk_size=DOWNLOAD_SLICE)
        self._pending = memoryview(b"")
        self._expected = expected
        self._received = 0
        self._action = action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            try:
                chunk = next(self._chunks, b"")
            except Exception as exc:
                raise map_error(exc, self._action) from exc
            if not chunk:
                if self._received != self._expected:
                    raise StorageUnavailable(
                        f"cannot {self._action}: the download stopped after {self._received} "
                        f"of {self._expected} bytes"
                    )
                return 0
            self._received += len(chunk)
            if self._received > self._expected:
                raise StorageError(
                    f"cannot {self._action}: SharePoint sent more than the {self._expected} "
                    "bytes it announced"
                )
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class SharePointBackend:
    """Attachments as documents of a SharePoint Online library (see the module docstring).

    Calls are serialised by a lock, so an instance may be shared between threads; streams
    returned by :meth:`open` are independent of each other and of the backend.

    :param settings: checked settings (:func:`~grc_adapters.sharepoint.config.parse_settings`).
    """

    name = "sharepoint"
    #: Items per page when listing a folder (SharePoint's list view threshold is 5,000).
    page_size = 1000

    def __init__(
        self, settings: SharePointSettings, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        #: How the backend pauses (tests pass one that records the waits asked for).
        self._sleep = sleep
        self._root = settings.root_path
        self._index = f"{self._root}/{INDEX_FOLDER}"
        self._lock = threading.RLock()
        self._root_ready = False
        self._placeholder_checked_out = False
        self._ctx = self._context()

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"SharePointBackend(site_url={s.site_url!r}, library={s.library!r}, "
            f"root_folder={s.root_folder!r})"
        )

    def _context(self) -> GrcClientContext:
        s = self.settings
        ctx = GrcClientContext(s.site_url, authority=s.authority)
        if s.access_token is not None:
            token = s.access_token
            ctx.with_access_token(
                lambda: {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
            )
        else:
            # App-only certificate authentication: the route Microsoft supports for
            # SharePoint REST (client-secret tokens are refused by SharePoint Online).
            ctx.with_client_certificate(
                str(s.tenant),
                str(s.client_id),
                thumbprint=s.thumbprint,
                cert_path=str(s.cert_path),
                passphrase=s.cert_passphrase,
            )
        # The library's default leaves reads unbounded; every request gets a timeout.
        ctx.with_transport(timeout=(min(s.timeout, MAX_CONNECT_TIMEOUT), s.timeout))
        return ctx

    # --- running requests -------------------------------------------------------------------

    def _run(self, action: str, call: Callable[[], T], *, retry: bool = True) -> T:
        """Run ``call`` (which sends requests); map failures; retry transient ones if safe.

        A throttled answer is waited out and the call repeated whatever ``retry`` says
        (the server did not process it), within ``max_retry_wait`` in all.
        """
        attempt = 0
        budget = ThrottleBudget(
            self.settings.max_retry_wait, self.settings.retry_backoff, self._sleep, "SharePoint"
        )
        while True:
            try:
                with self._ctx.operation():
                    return call()
            except Exception as exc:
                error = map_error(exc, action, self.settings.secrets)
                if not isinstance(error, StorageUnavailable):
                    raise error from exc
                wait = throttle_wait(exc, budget.default_wait())
                if wait is not None:
                    budget.wait(wait, str(error), cause=exc)
                    continue
                delay = self._delay(attempt, exc) if retry else None
                if delay is None:
                    raise error from exc
                log.info("SharePoint: %s; retrying in %.2fs", error, delay)
                self._sleep(delay)
                attempt += 1

    def _delay(self, attempt: int, exc: BaseException) -> float | None:
        """The pause before retry number ``attempt + 1``, or ``None`` when out of retries."""
        if attempt >= self.settings.retries:
            return None
        asked = retry_after(exc)
        if asked is not None:
            return asked if asked <= self.settings.max_retry_wait else None
        base = self.settings.retry_backoff * (2.0**attempt)
        # Half fixed, half random: a fleet of workers does not retry in lock-step.
        return base / 2 + random.uniform(0, base / 2)

    # --- addressing -----------------------------------------------------------------------

    def _inside_root(self, path: str) -> bool:
        folded = path.casefold()
        return folded.startswith((self._root + "/").casefold()) and not folded.startswith(
            (self._index + "/").casefold()
        )

    def _file_info(self, uid: str, action: str) -> File:
        """The document ``uid`` with its size, time and path; BlobNotFound outside the root."""

        def fetch() -> File:
            file = self._ctx.web.get_file_by_id(uid).select(_FILE_FIELDS).get()
            self._ctx.execute_query()
            return file

        file = self._run(action, fetch)
        if not self._inside_root(_path_of(file)):
            # A UniqueId of another document of the site (or a key-index marker) is not a
            # blob of this backend: never read or delete it.
            raise BlobNotFound(f"cannot {action}: no GRC document has this id")
        return file

    def _uid_of(self, key: str, action: str) -> tuple[str, bool]:
        """``(UniqueId, given as core key)`` for a key ``put`` returned or a core key."""
        if not isinstance(key, str):
            check_key(key)  # raises InvalidKey with the accepted shapes
        if _GUID.fullmatch(key):
            return key.lower(), False
        check_key(key)
        uid = self._read_marker(key)
        if uid is None:
            raise BlobNotFound(f"cannot {action}: no blob is stored under {key!r}")
        return uid, True

    # --- the key index --------------------------------------------------------------------

    def _marker_path(self, key: str) -> str:
        return f"{self._index}/{marker_name(key)}"

    def _read_marker(self, key: str) -> str | None:
        """The UniqueId the key index holds for ``key``, or ``None``."""
        path = self._marker_path(key)

        def fetch() -> bytes:
            return bytes(File.open_binary(self._ctx, path).content[:100])

        try:
            content = self._run(f"read the key index entry of {key!r}", fetch)
        except BlobNotFound:
            return None
        text = content.decode("ascii", errors="replace").strip()
        if not _GUID.fullmatch(text):
            log.warning("SharePoint key index entry %s is corrupt; ignoring it", path)
            return None
        return text.lower()

    def _exists(self, uid: str) -> bool:
        try:
            self._file_info(uid, "check a document")
        except BlobNotFound:
            return False
        return True

    def _delete_marker(self, key: str, uid: str | None = None) -> None:
        """Remove ``key``'s marker (only if it still points at ``uid``, when given)."""
        if uid is not None and self._read_marker(key) != uid:
            return
        path = self._marker_path(key)

        def remove() -> None:
            self._ctx.web.get_file_by_server_relative_path(path).delete_object()
            self._ctx.execute_query()

        with contextlib.suppress(BlobNotFound):
            self._run(f"remove the key index entry of {key!r}", remove)

    def _commit_marker(self, key: str, uid: str) -> None:
        """Record ``key`` → ``uid`` in the index; the moment ``put`` becomes visible."""
        action = f"record the key index entry of {key!r}"
        for _attempt in range(3):
            try:
                created = self._run(action, lambda: self._add_marker(key, uid), retry=False)
                if _checked_out(created):
                    self._check_in_marker(created, key)
                return
            except StorageError as exc:
                if not (is_name_taken(exc) or isinstance(exc, StorageUnavailable)):
                    raise
                # Did it happen anyway (a lost answer), or does another put own the key?
                holder = self._read_marker(key)
                if holder == uid:
                    return
                if holder is not None and self._exists(holder):
                    raise BlobExists(
                        f"a blob is already stored under {key!r}; blobs are never replaced"
                    ) from None
                if holder is not None:
                    self._delete_marker(key, holder)  # stale: its document is gone
                if isinstance(exc, StorageUnavailable):
                    self._sleep(self.settings.retry_backoff)
        raise StorageUnavailable(f"cannot {action}: SharePoint kept refusing it")

    def _add_marker(self, key: str, uid: str) -> File:
        folder = self._ctx.web.get_folder_by_server_relative_path(self._index)
        created = folder.files.add(marker_name(key), uid.encode("ascii"), overwrite=False)
        self._ctx.execute_query()
        return created

    def _check_in_marker(self, marker: File, key: str) -> None:
        """Check a new key-index marker in (libraries that require check-out); best effort.

        A marker left checked out still works — GRC's own account reads it — so a refusal
        (a required column that markers do not fill) is only logged.
        """
        uid = str(marker.properties.get("UniqueId") or "")

        def check_in() -> None:
            self._ctx.web.get_file_by_id(uid).checkin("GRC", CheckinType.MajorCheckIn)
            self._ctx.execute_query()

        try:
            self._run(f"check in the key index entry of {key!r}", check_in, retry=False)
        except StorageError as exc:
            log.info("SharePoint: key index entry of %r stays checked out: %s", key, exc)

    # --- folders --------------------------------------------------------------------------

    def _ensure_root(self) -> None:
        """Check the library exists; create the root folder and the key index if missing."""
        if self._root_ready:
            return
        s = self.settings

        def library() -> None:
            self._ctx.web.get_folder_by_server_relative_path(s.library_path).select(
                ["UniqueId"]
            ).get()
            self._ctx.execute_query()

        try:
            self._run("open the document library", library)
        except BlobNotFound:
            raise StorageError(
                f"the document library {s.library!r} does not exist on {s.site_url}; set "
                "'library' to the library's URL name (e.g. 'Shared Documents')"
            ) from None
        self._ensure_folders(s.library_path, [*s.root_folder.split("/"), INDEX_FOLDER])
        self._root_ready = True

    def _ensure_folders(self, base: str, names: list[str]) -> str:
        """Create ``base/names…`` where missing (``Folders/Add`` per level); return its path."""

        def ensure() -> None:
            folders = self._ctx.web.get_folder_by_server_relative_path(base).folders
            folders.ensure_by_path("/".join(names))
            self._ctx.execute_query()

        # Folders/Add answers with the existing folder: repeating it is harmless.
        self._run(f"create the folder {'/'.join(names)!r}", ensure)
        return "/".join([base, *names])

    # --- put ------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Upload ``stream`` as a new document; return its ``UniqueId`` (the key to keep).

        See :meth:`grc_core.storage.backend.StorageBackend.put`.  ``size`` is not needed:
        the upload reads one fragment ahead to know which one is the last.
        """
        check_key(key)
        with self._lock:
            try:
                return self._put(key, stream, metadata)
            except BlobNotFound as exc:
                # A folder vanished under us: for put, that is a failure, not "not found".
                raise StorageError(str(exc)) from exc

    def _put(self, key: str, stream: BinaryIO, metadata: Mapping[str, str] | None) -> str:
        self._ensure_root()
        holder = self._read_marker(key)
        if holder is not None:
            if self._exists(holder):
                raise BlobExists(
                    f"a blob is already stored under {key!r}; blobs are never replaced"
                )
            self._delete_marker(key, holder)
        place = placement(key, metadata, reserved=(INDEX_FOLDER,))
        try:
            place = fit_path(self._root, place)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
        try:
            folder = self._ensure_folders(self._root, list(place.folders))
        except BlobNotFound:
            # The root folder was removed since this backend created it: create it again.
            self._root_ready = False
            self._ensure_root()
            folder = self._ensure_folders(self._root, list(place.folders))
        uid, path = self._placeholder(folder, place.file_name)
        log.debug("SharePoint: uploading %r to %s (%s)", key, path, uid)
        session: list[str] = []  # the upload id, once a session is open
        try:
            sent, checked_out = self._upload(uid, stream, session)
            self._set_columns(uid, key, metadata or {})
            if checked_out:
                self._check_in(uid, path)
            self._commit_marker(key, uid)
        except BaseException:
            # Whatever failed — SharePoint, the network, the source stream, an interrupt —
            # the placeholder and any partial upload go.
            self._discard(uid, session, path)
            raise
        log.info("SharePoint: stored %r as %s (%d bytes)", key, path, sent)
        return uid

    def _placeholder(self, folder: str, file_name: str) -> tuple[str, str]:
        """Create the empty document under a free name; ``(UniqueId, path)``."""
        for number in range(1, MAX_HOMONYMS + 1):
            name = numbered(file_name, number, MAX_FILE_NAME_LENGTH)
            path = f"{folder}/{name}"
            if self._name_taken(path):
                continue

            def add(name: str = name) -> File:
                target = self._ctx.web.get_folder_by_server_relative_path(folder)
                # overwrite=false: SharePoint itself refuses a taken name, so a homonym
                # created since the check above is never replaced.
                created = target.files.add(name, None, overwrite=False)
                self._ctx.execute_query()
                return created

            try:
                created = self._run(f"create {path!r}", add, retry=False)
            except StorageUnavailable:
                self._forget_placeholder(path)
                raise
            except StorageError as exc:
                if is_name_taken(exc):
                    continue  # taken since the check: try the next number
                raise
            uid = str(created.properties.get("UniqueId") or "").lower()
            if not _GUID.fullmatch(uid):
                raise StorageError(f"SharePoint created {path!r} without a UniqueId")
            self._placeholder_checked_out = _checked_out(created)
            return uid, path
        raise StorageError(f"more than {MAX_HOMONYMS} documents named {file_name!r} in {folder!r}")

    def _name_taken(self, path: str) -> bool:
        def fetch() -> None:
            self._ctx.web.get_file_by_server_relative_path(path).select(["Name"]).get()
            self._ctx.execute_query()

        try:
            self._run(f"look for {path!r}", fetch)
        except BlobNotFound:
            return False
        return True

    def _forget_placeholder(self, path: str) -> None:
        """After a lost answer to ``Files/add``: remove the empty document if it was made."""

        def fetch() -> File:
            file = self._ctx.web.get_file_by_server_relative_path(path)
            file.select(["UniqueId", "Length"]).get()
            self._ctx.execute_query()
            return file

        try:
            file = self._run(f"look for {path!r}", fetch)
            if str(file.properties.get("Length", "")) == "0":
                self._delete_uid(str(file.properties["UniqueId"]).lower(), f"remove {path!r}")
        except StorageError as exc:
            log.warning("SharePoint: could not check for a placeholder at %s: %s", path, exc)

    @staticmethod
    def _fill(stream: BinaryIO, first: bytes, limit: int) -> bytes:
        """One fragment: ``first`` then reads of at most :data:`CHUNK_SIZE` up to ``limit``.

        Pieces are copied into a ``BytesIO`` as they arrive and released, and ``getvalue``
        hands its buffer over without a copy: a fragment costs its size plus one read.
        """
        buffer = io.BytesIO()
        length = buffer.write(first)
        while length < limit:
            piece = stream.read(min(CHUNK_SIZE, limit - length))
            if not piece:
                break
            length += buffer.write(piece)
            del piece
        return buffer.getvalue()

    def _upload(self, uid: str, stream: BinaryIO, session: list[str]) -> tuple[int, bool]:
        """Send the stream through an upload session.

        :returns: the number of bytes sent, and whether the document is checked out (a
            library that requires check-out).
        """
        limit = self.settings.chunk_size
        fragment = self._fill(stream, b"", limit)
        if not fragment:
            # The empty placeholder is the empty document.
            return 0, self._placeholder_checked_out
        upload_id = str(uuid.uuid4())
        file = self._ctx.web.get_file_by_id(uid)
        offset = 0
        while True:
            # One read ahead tells whether this fragment is the last, without trusting the
            # size hint or holding more than a fragment and one read.
            ahead = stream.read(min(CHUNK_SIZE, limit)) if len(fragment) == limit else b""
            last = not ahead
            if offset == 0:
                session.append(upload_id)
                self._send(file, "startUpload", upload_id, 0, fragment)
                if last:  # a one-fragment file: an empty finishUpload commits it
                    self._send(file, "finishUpload", upload_id, len(fragment), b"")
            elif last:
                self._send(file, "finishUpload", upload_id, offset, fragment)
            else:
                self._send(file, "continueUpload", upload_id, offset, fragment)
            offset += len(fragment)
            if last:
                break
            fragment = b""  # release the fragment sent before reading the next one
            fragment = self._fill(stream, ahead, limit)
            ahead = b""
        session.clear()  # committed: nothing to cancel any more
        stored = file.properties.get("Length")
        if stored is not None and str(stored) != str(offset):
            raise StorageError(f"SharePoint stored {stored} bytes of the {offset} sent")
        return offset, _checked_out(file) or self._placeholder_checked_out

    def _check_in(self, uid: str, path: str) -> None:
        """Check the new document in (a major version), so that others can see it.

        SharePoint refuses while a required column has no value; the message says so.
        """

        def check_in() -> None:
            self._ctx.web.get_file_by_id(uid).checkin("GRC", CheckinType.MajorCheckIn)
            self._ctx.execute_query()

        try:
            self._run(f"check in {path!r}", check_in, retry=False)
        except StorageError as exc:
            if isinstance(exc, StorageUnavailable | BlobNotFound | StorageAuthError):
                raise
            raise StorageError(
                f"{exc} — the library requires check-out, and SharePoint would not check the "
                "new document in; usually a required column has no value: make the column "
                "optional or give it a default value, or fill it from GRC with the column_* "
                "settings (column_reference, column_subject…); the document was removed"
            ) from exc

    def _send(self, file: File, step: str, upload_id: str, offset: int, data: bytes) -> None:
        """One fragment request; never repeated (the session would not accept it twice)."""

        def call() -> object:
            if step == "startUpload":
                result: Any = file.start_upload(upload_id, data)
            elif step == "continueUpload":
                result = file.continue_upload(upload_id, offset, data)
            else:
                result = file.finish_upload(upload_id, offset, data)
            self._ctx.execute_query()
            return result

        result = self._run(f"upload a fragment at offset {offset}", call, retry=False)
        if step != "finishUpload":
            answered = getattr(result, "value", None)
            if str(answered) != str(offset + len(data)):
                raise StorageError(
                    f"SharePoint acknowledged offset {answered!r} after the fragment at "
                    f"{offset} ({len(data)} bytes); the upload is abandoned"
                )

    def _set_columns(self, uid: str, key: str, metadata: Mapping[str, str]) -> None:
        """Write the configured metadata columns of the document's list item."""
        columns = self.settings.columns
        if not columns:
            return
        values = {**metadata, "core_key": key}
        form = {
            column: str(values[name])[:255]
            for name, column in columns.items()
            if values.get(name) not in (None, "")
        }
        if not form:
            return

        def update() -> Any:
            file = self._ctx.web.get_file_by_id(uid)
            result = file.listItemAllFields.validate_update_list_item(
                form, new_document_update=True
            )
            self._ctx.execute_query()
            return result

        result = self._run("set the document's columns", update, retry=False)
        for field in getattr(result, "value", None) or []:
            if getattr(field, "HasException", False):
                # The columns are display metadata: a missing one is the administrator's to
                # fix, not a reason to refuse the attachment.
                log.warning("SharePoint column %s not set: %s", field.FieldName, field.ErrorMessage)

    def _discard(self, uid: str, session: list[str], path: str) -> None:
        """Best-effort removal of a failed upload: cancel the session, delete the document."""
        try:
            if session:
                upload_id = session[0]

                def cancel() -> None:
                    self._ctx.web.get_file_by_id(uid).cancel_upload(upload_id)
                    self._ctx.execute_query()

                try:
                    self._run("cancel the upload session", cancel)
                except StorageError as exc:
                    log.info("SharePoint: cancelling upload session failed: %s", exc)
            self._delete_uid(uid, f"remove the partial upload {path!r}")
        except BlobNotFound:
            pass
        except Exception as exc:  # never hide the original failure
            log.warning(
                "SharePoint: could not remove the partial upload %s (%s): %s; "
                "`grc storage verify --repair` removes it once it is older than the grace "
                "period",
                path,
                uid,
                exc,
            )

    # --- reading --------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """A stream of the document's content (``GET …/GetFileById('…')/$value``)."""
        with self._lock:
            action = f"read blob {key!r}"
            uid, _ = self._uid_of(key, action)
            file = self._file_info(uid, action)
            expected = int(str(file.properties.get("Length", "0")))

            def fetch() -> Any:
                request_file = self._ctx.web.get_file_by_id(uid)
                query: ServiceOperationQuery[Any] = ServiceOperationQuery(request_file, "$value")
                request = self._ctx.pending_request().build_request(query)
                # As File.download_session does: a streamed GET of $value.
                request.method = HttpMethod.Get
                request.stream = True
                return self._ctx.pending_request().execute_request_direct(request)

            response = self._run(action, fetch)
        raw = _Download(response, expected, action)
        return io.BufferedReader(raw, buffer_size=DOWNLOAD_SLICE)

    def stat(self, key: str) -> BlobInfo:
        """Size (``Length``) and ``TimeLastModified`` of the document.

        The returned :attr:`BlobInfo.key` is the key ``put`` returned — the ``UniqueId`` —
        even when the document was asked for by its core key.
        """
        with self._lock:
            action = f"stat blob {key!r}"
            uid, _ = self._uid_of(key, action)
            file = self._file_info(uid, action)
        return BlobInfo(
            uid,
            int(str(file.properties.get("Length", "0"))),
            _parse_time(file.properties.get("TimeLastModified")),
        )

    # --- deleting -------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        """Delete the document (``X-HTTP-Method: DELETE``, ``IF-MATCH: *``) and its marker."""
        with self._lock:
            action = f"delete blob {key!r}"
            uid, by_core_key = self._uid_of(key, action)
            self._file_info(uid, action)
            core_key = key if by_core_key else self._core_key_of(uid)
            if not self._delete_uid(uid, action):
                raise BlobNotFound(f"cannot {action}: no blob is stored under {key!r}")
            if core_key is not None:
                try:
                    self._delete_marker(core_key, uid)
                except StorageError as exc:  # a stale marker is harmless (see module doc)
                    log.info("SharePoint: key index entry of %r left: %s", core_key, exc)

    def _core_key_of(self, uid: str) -> str | None:
        """The core key recorded in the document's reference column, when one is configured."""
        column = self.settings.columns.get("core_key")
        if column is None:
            return None

        def fetch() -> Any:
            item = self._ctx.web.get_file_by_id(uid).listItemAllFields.select([column]).get()
            self._ctx.execute_query()
            return item

        try:
            value = self._run("read the document's reference column", fetch).properties.get(column)
            return check_key(value) if isinstance(value, str) else None
        except StorageError as exc:
            log.info("SharePoint: reference column of %s unreadable: %s", uid, exc)
            return None

    def _delete_uid(self, uid: str, action: str) -> bool:
        """Delete document ``uid``; ``False`` if it was not there.

        The delete is retried only after checking that the document is still there, so a
        lost answer to a delete that happened is not reported as "not found".
        """
        attempt = 0
        while True:

            def remove() -> None:
                self._ctx.web.get_file_by_id(uid).delete_object()
                self._ctx.execute_query()

            try:
                self._run(action, remove, retry=False)
                return True
            except BlobNotFound:
                return attempt > 0
            except StorageUnavailable as exc:
                delay = self._delay(attempt, exc.__cause__ or exc)
                if delay is None:
                    raise
                self._sleep(delay)
                attempt += 1
                if not self._still_there(uid, action):
                    return True  # the first attempt went through; its answer was lost

    def _still_there(self, uid: str, action: str) -> bool:
        def fetch() -> None:
            self._ctx.web.get_file_by_id(uid).select(["UniqueId"]).get()
            self._ctx.execute_query()

        try:
            self._run(action, fetch)
        except BlobNotFound:
            return False
        return True

    # --- listing --------------------------------------------------------------------------

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every document under the root folder, recursively (the key index excepted)."""
        pending: list[tuple[str | None, bool]] = [(None, True)]  # (folder UniqueId, is root)
        while pending:
            folder_uid, is_root = pending.pop()
            try:
                with self._lock:
                    files, folders = self._list(folder_uid)
            except BlobNotFound:
                continue  # no root yet (nothing stored), or a folder removed meanwhile
            for file in files:
                yield BlobInfo(
                    str(file.properties["UniqueId"]).lower(),
                    int(str(file.properties.get("Length", "0"))),
                    _parse_time(file.properties.get("TimeLastModified")),
                )
            for folder in folders:
                name = str(folder.properties.get("Name", ""))
                if is_root and name.casefold() == INDEX_FOLDER.casefold():
                    continue
                pending.append((str(folder.properties["UniqueId"]), False))

    def _list(self, folder_uid: str | None) -> tuple[list[Any], list[Any]]:
        def fetch() -> tuple[list[Any], list[Any]]:
            web = self._ctx.web
            folder = (
                web.get_folder_by_server_relative_path(self._root)
                if folder_uid is None
                else web.get_folder_by_id(folder_uid)
            )
            files = folder.files.select(["UniqueId", "Length", "TimeLastModified"])
            files.get_all(self.page_size)
            folders = folder.folders.select(["UniqueId", "Name"])
            folders.get_all(self.page_size)
            self._ctx.execute_query()
            return list(files), list(folders)

        return self._run("list the documents", fetch)

    def close(self) -> None:
        """Release the HTTP connections (harmless twice; the backend reconnects if used)."""
        with self._lock:
            self._ctx.close()
