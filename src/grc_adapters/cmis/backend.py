"""The CMIS storage backend: attachments as documents of a CMIS 1.1 repository (Alfresco…).

It drives the real ``cmislib`` (0.7.0, pinned by the ``cmis`` extra) over the **Browser
binding** (JSON), and steps around it only where it would hold a whole file in memory:

- uploads go through cmislib's own ``createDocument``, whose multipart body
  (``requests_toolbelt``'s ``MultipartEncoder``) *is* streamed, provided it is given a
  stream of known length — :class:`~grc_adapters.cmis.transport.ExactLengthReader`; when
  ``put`` is not told the size, the stream is first spooled to a temporary file on disk;
- downloads are a streamed ``GET {rootFolderUrl}?objectId=…&cmisselector=content`` on
  cmislib's session, because ``Document.getContentStream()`` reads everything (and breaks
  on ``application/json`` content).

Over the **AtomPub binding** (``binding = "atompub"``), cmislib's AtomPub client handles the
service document, entries, feeds and creations; a document's entry is created without content,
then the content is ``PUT``, streamed, to the entry's ``edit-media`` link (cmislib would
base64 it into the entry, or read it whole), and downloads stream ``atom:content src``.

**Keys.**  ``put`` returns the document's stable identifier: Alfresco's object ids are
``<node id>;<version label>`` and the bare node id always names the current version, so the
version-independent ``cmis:versionSeriesId`` is kept when the object id has that shape (a
document edited in Alfresco keeps its key, and ``grc storage verify`` then reports a
checksum difference rather than a vanished blob plus an orphan); any other server's
``cmis:objectId`` is kept as it is.

**Never overwrite.**  The core's key (``2026/03/<hex>``) is claimed by a small index
document, ``<root>/_grc-index/2026/03/<hex>``, created after the upload: CMIS servers
refuse a second object of the same name in a folder (409), which makes the claim atomic,
and a path lookup finds it at once (a CMIS query would go through a search index that
Alfresco updates asynchronously).  Its ``cmis:description`` holds the stored document's
key; the document's own description ends with ``GRC key: <core key>``, which is how
``delete`` frees the claim and how ``iter_blobs`` tells GRC's documents from files people
dropped into the folders by hand.

Not safe to share between threads (one ``requests`` session).
"""

from __future__ import annotations

import contextlib
import io
import logging
import mimetypes
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

import requests
from cmislib import CmisClient
from cmislib.atompub.binding import ATOM_NS, AtomPubBinding, AtomPubRepository
from cmislib.browser.binding import BrowserBinding
from cmislib.exceptions import CmisException

from grc_adapters.cmis import naming
from grc_adapters.cmis.transport import (
    RETRY_STATUSES,
    DownloadStream,
    ExactLengthReader,
    LengthMismatch,
    TimeoutAdapter,
    translated,
)
from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    ConfigError,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
)
from grc_core.storage.backend import CHUNK_SIZE, BlobInfo
from grc_core.storage.keys import check_key

log = logging.getLogger(__name__)

#: Children asked for per page when walking the tree.
PAGE_SIZE = 200
#: How many ``name (n).ext`` variants are tried before giving up on a crowded folder.
MAX_NAME_ATTEMPTS = 200
#: The fallback type of content whose file name says nothing (CMIS wants one; cmislib's
#: default, ``application/binary``, is not a registered type).
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _properties(obj: Any) -> dict[str, Any]:
    """The raw property values of a cmislib object, as the server sent them.

    cmislib's ``getProperties()`` turns epoch-millisecond dates into *naive local* date-times;
    the raw JSON is read instead.
    """
    if not hasattr(obj, "data"):
        return _atom_properties(obj)
    data = obj.data
    if data is None:
        obj.reload()
        data = obj.data
    properties = data.get("properties") or {}
    return {name: (entry or {}).get("value") for name, entry in properties.items()}


_CMIS_NS = "http://docs.oasis-open.org/ns/cmis/core/200908/"


def _atom_properties(obj: Any) -> dict[str, Any]:
    """The raw property values of an AtomPub object's entry, as text (dates ISO 8601).

    cmislib's own parsing would turn dates into naive date-times; integers are kept as
    digits, which the callers accept.
    """
    if obj.xmlDoc is None:
        obj.reload()
    found = obj.xmlDoc.getElementsByTagNameNS(_CMIS_NS, "properties")
    if not found:
        raise StorageError("the CMIS server's AtomPub entry has no cmis:properties")
    properties: dict[str, Any] = {}
    for node in found[0].childNodes:
        if node.nodeType != node.ELEMENT_NODE or node.namespaceURI != _CMIS_NS:
            continue
        values = [
            "".join(t.data for t in v.childNodes if t.nodeType == t.TEXT_NODE)
            for v in node.getElementsByTagNameNS(_CMIS_NS, "value")
        ]
        name = node.getAttribute("propertyDefinitionId")
        properties[name] = values[0] if len(values) == 1 else (values or None)
    return properties


def _moment(value: object) -> datetime | None:
    """A CMIS date-time (epoch milliseconds in the browser binding; ISO 8601 elsewhere)."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):  # out of range, or not a date at all
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def stable_id(properties: Mapping[str, Any]) -> str:
    """The key to keep for a document (see the module documentation)."""
    object_id = str(properties.get("cmis:objectId") or "")
    series = properties.get("cmis:versionSeriesId")
    if series and object_id.startswith(f"{series};"):
        return str(series)
    return object_id


def _is_document(properties: Mapping[str, Any]) -> bool:
    return properties.get("cmis:baseTypeId") == "cmis:document"


def _is_folder(properties: Mapping[str, Any]) -> bool:
    return properties.get("cmis:baseTypeId") == "cmis:folder"


def _rewind_point(stream: BinaryIO) -> int | None:
    """Where ``stream`` can be rewound to for a second attempt, or ``None``."""
    try:
        return stream.tell() if stream.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


class _Attempt(Exception):
    """One failed create, with whether the server definitely did not do it."""

    def __init__(self, error: BaseException, repeatable: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.repeatable = repeatable


class CmisBackend:
    """Blobs as documents in a CMIS repository, under ``root_path``, browsable by people.

    :param url: the Browser binding service URL (Alfresco:
        ``https://host/alfresco/api/-default-/public/cmis/versions/1.1/browser``).
    :param user: the account GRC uses (basic authentication, the only one cmislib knows).
    :param password: its password; never logged, shown or put in a message.
    :param repository_id: the repository to use; may be omitted when the server has only
        one (cmislib's ``getDefaultRepository`` would silently take the *last* one).
    :param root_path: the folder holding GRC's documents (created if missing).
    :param timeout: seconds to wait for the server on each network operation.
    :param retries: how many times a failed request that is safe to repeat is repeated.
    :param retry_backoff: seconds before the second retry; doubled each time after.
    :param ca_bundle: a CA file or directory for a server certificate signed by an
        internal authority.
    """

    name = "cmis"

    def __init__(
        self,
        url: str,
        *,
        user: str,
        password: str,
        repository_id: str | None = None,
        root_path: str = "/CRM",
        timeout: float = 30.0,
        retries: int = 2,
        retry_backoff: float = 0.5,
        ca_bundle: str | None = None,
        binding: str = "browser",
    ) -> None:
        if binding not in ("browser", "atompub"):
            raise ConfigError(f"unknown CMIS binding {binding!r}")
        self.binding = binding
        self.url = url.rstrip("/")
        self.user = user
        self.repository_id = repository_id
        self.root_segments = tuple(s for s in root_path.split("/") if s)
        self.root_path = "/" + "/".join(self.root_segments)
        self.timeout = timeout
        self.retries = retries
        self.retry_backoff = retry_backoff
        self._client = CmisClient(self.url, user, password)
        # Keyword arguments given to CmisClient (``binding=`` included) are appended by
        # cmislib to every query string: the binding is set after construction.
        self._client.binding = BrowserBinding() if binding == "browser" else AtomPubBinding()
        session = self._client.session
        adapter = TimeoutAdapter(timeout, retries, retry_backoff)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        if ca_bundle:
            session.verify = ca_bundle
        self._repository: Any = None
        self._root_url = ""
        self._connect_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        # Never the password: the client and session hold it, this repr does not.
        return (
            f"CmisBackend(url={self.url!r}, user={self.user!r}, "
            f"repository_id={self.repository_id!r}, root_path={self.root_path!r})"
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _errors(
        self,
        action: str,
        *,
        missing: type[StorageError] = BlobNotFound,
        conflict: type[StorageError] = StorageError,
    ) -> contextlib.AbstractContextManager[None]:
        return translated(
            action, timeout=self.timeout, user=self.user, missing=missing, conflict=conflict
        )

    def _repo(self) -> Any:
        """The cmislib repository, fetched once (the service document)."""
        if self._repository is not None:
            return self._repository
        with self._connect_lock:
            if self._repository is None:
                try:
                    with self._errors("read the CMIS service document", missing=StorageError):
                        repository = self._pick_repository()
                        if self.binding == "atompub":
                            self._repository = repository  # no root folder URL in AtomPub
                            return repository
                        root_url = repository.getRootFolderUrl()
                except StorageError as exc:
                    self._explain_binding(exc)
                    raise
                if not isinstance(root_url, str) or not root_url:
                    raise StorageError(
                        f"the CMIS service document at {self.url} gives no rootFolderUrl; "
                        "is url the Browser binding (…/browser)?"
                    )
                self._root_url = root_url
                self._repository = repository
        return self._repository

    def _explain_binding(self, failure: StorageError) -> None:
        """Raise a clear :class:`ConfigError` if ``url`` serves another CMIS binding.

        An AtomPub service document is XML (``application/atomsvc+xml``); cmislib's
        Browser binding would fail on it with an obscure ``AttributeError``.  Asked only
        after the service document could not be read, so it costs nothing otherwise.
        """
        if isinstance(failure, StorageUnavailable | StorageAuthError):
            return
        if self.binding == "atompub":
            raise ConfigError(
                f"the CMIS url {self.url} does not answer with an AtomPub service document "
                f"({failure}); with binding = 'atompub', url must be the AtomPub binding's "
                "address (Alfresco …/versions/1.1/atom)"
            ) from failure
        try:
            response = self._client.session.get(self.url, timeout=self.timeout, stream=True)
            kind = response.headers.get("Content-Type", "").lower()
            response.close()
        except requests.RequestException:
            return
        if "atomsvc" in kind or "atom+xml" in kind or "xml" in kind:
            raise ConfigError(
                f"the CMIS url {self.url} serves the AtomPub binding ({kind.split(';')[0]}) "
                "but is configured for the Browser binding: set binding = 'atompub' (or give "
                "the Browser binding's address, e.g. Alfresco …/alfresco/api/-default-/public/"
                "cmis/versions/1.1/browser)"
            ) from failure

    def _atom_repository(self, repository_id: str | None) -> Any:
        """The AtomPub repository ``repository_id`` (or the only one).

        cmislib 0.7.0's AtomPub ``getRepository`` builds the repository with its
        *service* object instead of the client (every later call then fails), so the
        workspace is picked from the service document here.
        """
        client = self._client
        document = client.binding.get(client.repositoryUrl, client.session)
        if not hasattr(document, "getElementsByTagNameNS"):
            raise StorageError(
                f"the CMIS url {self.url} does not answer with an AtomPub service document"
            )
        workspaces = document.getElementsByTagNameNS("http://www.w3.org/2007/app", "workspace")
        found = {AtomPubRepository(client, w).getRepositoryId(): w for w in workspaces}
        if repository_id is None and len(found) == 1:
            repository_id = next(iter(found))
        if repository_id is None or repository_id not in found:
            known = ", ".join(map(repr, found)) or "none"
            wanted = f"no repository {repository_id!r}" if repository_id else "several"
            raise ConfigError(
                f"the CMIS server at {self.url} has {wanted} repositories ({known}); set "
                "repository_id to the one GRC should use"
            )
        return AtomPubRepository(client, found[repository_id])

    def _pick_repository(self) -> Any:
        client = self._client
        if self.binding == "atompub":
            return self._atom_repository(self.repository_id)
        if self.repository_id:
            try:
                return client.getRepository(self.repository_id)
            except CmisException as exc:
                if exc.status is not None:  # an HTTP error, not "no such repository"
                    raise
            known = [r["repositoryId"] for r in client.getRepositories()]
            raise ConfigError(
                f"the CMIS server at {self.url} has no repository {self.repository_id!r}; "
                f"its repositories: {', '.join(known) or 'none'}"
            )
        repositories = client.getRepositories()
        if len(repositories) != 1:
            listed = ", ".join(repr(r["repositoryId"]) for r in repositories) or "none"
            raise ConfigError(
                f"the CMIS server at {self.url} has {len(repositories)} repositories "
                f"({listed}); set repository_id to the one GRC should use"
            )
        return client.getRepository(repositories[0]["repositoryId"])

    def _path(self, folders: tuple[str, ...]) -> str:
        return "/" + "/".join(self.root_segments + folders)

    def _object_at(self, segments: tuple[str, ...]) -> Any | None:
        """The object at the absolute path ``/segments…``, or ``None`` (404)."""
        path = "/" + "/".join(segments)
        try:
            with self._errors(f"look up {path!r}", missing=_Missing):
                return self._repo().getObjectByPath(path)
        except _Missing:
            return None

    def _backoff(self, attempt: int) -> None:
        time.sleep(self.retry_backoff * (2**attempt))

    # --- folders and names ------------------------------------------------------------------

    def _ensure_folder(self, folders: tuple[str, ...]) -> Any:
        """The folder ``<root>/folders…``, created with its missing parents."""
        target = self.root_segments + folders
        current = target
        missing: list[str] = []
        found = self._object_at(current)
        while found is None:
            if not current:
                raise StorageError("the CMIS repository's root folder cannot be read")
            missing.insert(0, current[-1])
            current = current[:-1]
            found = self._object_at(current)
        if not _is_folder(_properties(found)):
            raise StorageError(
                f"cannot store under {'/' + '/'.join(current)!r}: it is a document, not a folder"
            )
        folder = found
        for name in missing:
            current = (*current, name)
            folder = self._create_folder(folder, name, current)
        return folder

    def _create_folder(self, parent: Any, name: str, segments: tuple[str, ...]) -> Any:
        """Create one folder; a concurrent creation of the same folder is fine."""
        path = "/" + "/".join(segments)
        for attempt in range(self.retries + 1):
            try:
                with self._errors(f"create the folder {path!r}", conflict=_Taken):
                    return parent.createFolder(name, {})
            except (_Taken, StorageUnavailable) as error:
                # Made by a concurrent upload, or by this request before its answer was
                # lost: either way the folder is there now.
                existing = self._object_at(segments)
                if existing is not None and _is_folder(_properties(existing)):
                    return existing
                if isinstance(error, _Taken) or attempt == self.retries:
                    raise StorageError(str(error)) from error
                self._backoff(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _free_name(self, folders: tuple[str, ...], filename: str) -> str:
        """The first of ``name``, ``name (2)``… that no object of the folder uses."""
        base = self.root_segments + folders
        for candidate in naming.candidate_names(filename, MAX_NAME_ATTEMPTS):
            if self._object_at((*base, candidate)) is None:
                return candidate
        raise StorageError(
            f"cannot store {filename!r} in {self._path(folders)!r}: {MAX_NAME_ATTEMPTS} "
            "documents of that name are already there"
        )

    # --- StorageBackend -----------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``stream`` as a new document; return its stable id (see the module doc).

        ``size``, when given, becomes the request's Content-Length and is checked against
        the stream while it is sent; without it the stream is spooled to a temporary file
        first.  ``metadata`` chooses the folder and name (:func:`naming.placement`) and the
        ``cmis:description``.
        """
        check_key(key)
        self._repo()
        index = naming.index_location(key)
        existing = self._object_at(self.root_segments + index.folders + (index.filename,))
        if existing is not None:
            raise BlobExists(
                f"a blob is already stored under {key!r}; blobs are never replaced",
                key=_properties(existing).get("cmis:description") or None,
            )
        where = naming.placement(metadata)
        # Both folders exist before a byte is sent: a failure there costs no upload.
        folder = self._ensure_folder(where.folders)
        index_folder = self._ensure_folder(index.folders)
        name = self._free_name(where.folders, where.filename)
        document = self._upload(
            key,
            folder,
            where.folders,
            name,
            stream,
            size,
            description=naming.description(metadata, key),
        )
        stored = stable_id(document)
        try:
            self._claim(key, index_folder, index, stored)
        except BaseException:
            self._remove_quietly(stored, f"the document of {key!r}")
            raise
        log.debug("stored %s as %s (%s/%s)", key, stored, self._path(where.folders), name)
        return stored

    def _upload(
        self,
        key: str,
        folder: Any,
        folders: tuple[str, ...],
        name: str,
        stream: BinaryIO,
        size: int | None,
        *,
        description: str,
    ) -> dict[str, Any]:
        """createDocument, streamed; repeated only when it surely did not happen."""
        spool: BinaryIO | None = None
        if size is None or size <= 0:
            # toolbelt's encoder needs the length up front; a zero "size" is checked too,
            # because the encoder would then not read the stream at all.
            spool, size = self._spool(stream)
            stream = spool
        content_type = mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
        start = _rewind_point(stream)
        action = f"store {key!r} as {self._path(folders) + '/' + name!r}"
        try:
            for attempt in range(self.retries + 1):
                reader = ExactLengthReader(stream, size)
                try:
                    return self._create_document(
                        action, folder, name, description, reader, content_type
                    )
                except _Attempt as failed:
                    # Whatever the failure, a document may exist (created before the
                    # connection broke, or without its content): it is ours, remove it.
                    left = self._own_document(folders, name, key)
                    if left is not None:
                        self._remove_quietly(stable_id(left), f"the partial upload of {key!r}")
                    if not failed.repeatable or start is None or attempt == self.retries:
                        raise failed.error from failed.error.__cause__
                    log.info("retrying %s after %s", action, failed.error)
                    self._backoff(attempt)
                    stream.seek(start)
                except BaseException:
                    # The source stream failed (its exception propagates unchanged), or we
                    # were interrupted: the request was aborted mid-body, so the server
                    # should have nothing, but a server that stores as it receives is
                    # checked for anyway.
                    with contextlib.suppress(Exception):
                        left = self._own_document(folders, name, key)
                        if left is not None:
                            self._remove_quietly(stable_id(left), f"the partial upload of {key!r}")
                    raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            if spool is not None:
                spool.close()

    def _create_document(
        self,
        action: str,
        folder: Any,
        name: str,
        description: str,
        reader: ExactLengthReader,
        content_type: str,
    ) -> dict[str, Any]:
        """One createDocument request; the new document's properties, or :class:`_Attempt`."""
        try:
            with self._errors(action, missing=StorageError):
                if self.binding == "atompub":
                    # cmislib's AtomPub client would base64 the whole file into the entry
                    # (or read it whole for setContentStream): the entry goes first, then
                    # the content is PUT, streamed, to the entry's edit-media link.
                    document = self._repo().createDocument(
                        name, {"cmis:description": description}, parentFolder=folder
                    )
                    self._put_content(document, reader, content_type, action)
                    document.reload()
                else:
                    document = self._repo().createDocument(
                        name,
                        {"cmis:description": description},  # cmislib mutates this dict
                        parentFolder=folder,
                        contentFile=reader,
                        contentType=content_type,
                    )
                properties = _properties(document)
        except LengthMismatch as exc:
            raise _Attempt(StorageError(f"cannot {action}: {exc}"), repeatable=False) from exc
        except StorageError as exc:
            # A definite "not now" from the server (429, 5xx) may be repeated once the
            # document is known not to exist; a timeout or a dropped connection may not:
            # the server may still be working on the first request.
            cause = exc.__cause__
            repeatable = isinstance(cause, CmisException) and cause.status in RETRY_STATUSES
            raise _Attempt(exc, repeatable) from exc
        length = properties.get("cmis:contentStreamLength")
        if isinstance(length, int | str) and str(length).isdigit() and int(length) != reader.sent:
            self._remove_quietly(stable_id(properties), "a truncated upload")
            raise _Attempt(
                StorageError(
                    f"cannot {action}: the server stored {length} bytes of {reader.sent}; "
                    "the document was removed"
                ),
                repeatable=False,
            )
        return properties

    def _put_content(
        self, document: Any, reader: ExactLengthReader, content_type: str, action: str
    ) -> None:
        """``PUT`` the content stream to the entry's ``edit-media`` link, streamed."""
        url = document._getLink("edit-media")
        if not url:
            raise StorageError(f"cannot {action}: the new entry has no edit-media link")
        response = self._client.session.put(
            url,
            # An empty body as bytes: requests would send an empty stream chunked.
            data=reader if reader.len else b"",
            headers={"Content-Type": content_type, "User-Agent": self._client.binding.user_agent},
        )
        with contextlib.closing(response):
            if response.status_code in (200, 201, 204):
                return
            text = f"cannot {action}: the content stream was refused (HTTP {response.status_code})"
            if response.status_code in RETRY_STATUSES:
                raise StorageUnavailable(text)
            raise StorageError(text)

    @staticmethod
    def _spool(stream: BinaryIO) -> tuple[BinaryIO, int]:
        """Copy ``stream`` to an anonymous temporary file, in chunks; ``(file, size)``."""
        spool = tempfile.TemporaryFile(prefix="grc-cmis-")  # noqa: SIM115 - returned open
        size = 0
        try:
            while chunk := stream.read(CHUNK_SIZE):
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool, size

    def _own_document(self, folders: tuple[str, ...], name: str, key: str) -> dict[str, Any] | None:
        """The document at ``folders/name`` if it is the one a put of ``key`` created."""
        try:
            found = self._object_at(self.root_segments + folders + (name,))
            if found is None:
                return None
            properties = _properties(found)
        except StorageError as exc:
            log.warning(
                "could not check for a partial upload of %s (%s); if one is left, "
                "`grc storage verify` lists it as an orphan",
                key,
                exc,
            )
            return None
        if _is_document(properties) and naming.key_in(properties.get("cmis:description")) == key:
            return properties
        return None

    def _claim(self, key: str, folder: Any, index: naming.Placement, stored: str) -> None:
        """Create the index entry of ``key``, pointing at ``stored``.

        Safe to repeat: an entry that already points at ``stored`` is this request's own,
        whose answer was lost.
        """
        segments = self.root_segments + index.folders + (index.filename,)
        for attempt in range(self.retries + 1):
            try:
                with self._errors(f"record the key {key!r}", conflict=_Taken):
                    self._repo().createDocument(
                        index.filename, {"cmis:description": stored}, parentFolder=folder
                    )
                    return
            except (_Taken, StorageUnavailable) as error:
                existing = self._object_at(segments)
                if existing is not None:
                    if _properties(existing).get("cmis:description") == stored:
                        return
                    raise BlobExists(
                        f"a blob is already stored under {key!r} (stored concurrently); "
                        "blobs are never replaced"
                    ) from None
                if isinstance(error, _Taken) or attempt == self.retries:
                    raise StorageError(str(error)) from error
                self._backoff(attempt)

    def _remove_quietly(self, object_id: str, what: str) -> None:
        """Best-effort delete of something a failed put created."""
        try:
            with self._errors(f"remove {what}"):
                self._repo().getObject(object_id).delete()
        except BlobNotFound:
            pass
        except StorageError as exc:
            log.warning(
                "could not remove %s (%s); `grc storage verify` lists it as an orphan", what, exc
            )

    def _document(self, key: str, action: str) -> Any:
        """The cmislib document named by ``key``; BlobNotFound for anything else."""
        if not isinstance(key, str) or not key or len(key) > 1024:
            raise BlobNotFound(f"no blob is stored under {key!r}")
        with self._errors(f"{action} {key!r}"):
            document = self._repo().getObject(key)
            properties = _properties(document)
        if not _is_document(properties):
            raise BlobNotFound(f"no blob is stored under {key!r} (it is a folder)")
        return document

    def open(self, key: str) -> BinaryIO:
        """A streamed download of the document's content (see :class:`DownloadStream`)."""
        if not isinstance(key, str) or not key or len(key) > 1024:
            raise BlobNotFound(f"no blob is stored under {key!r}")
        self._repo()
        # A 409 on content is "constraint: not a document / no content stream": no blob.
        with self._errors(f"read {key!r}", conflict=BlobNotFound):
            if self.binding == "atompub":
                document = self._document(key, "read")
                contents = document.xmlDoc.getElementsByTagNameNS(ATOM_NS, "content")
                source = contents[0].getAttribute("src") if contents else ""
                if not source:
                    raise BlobNotFound(f"no blob is stored under {key!r}: no content stream")
                response = self._client.session.get(
                    source, headers={"User-Agent": self._client.binding.user_agent}, stream=True
                )
            else:
                response = self._client.session.get(
                    self._root_url,
                    params={"objectId": key, "cmisselector": "content"},
                    headers={"User-Agent": self._client.binding.user_agent},
                    stream=True,
                )
        raw = DownloadStream(response, f"{key!r} from the CMIS server")
        return io.BufferedReader(raw, CHUNK_SIZE)

    def stat(self, key: str) -> BlobInfo:
        """Size (``cmis:contentStreamLength``) and ``cmis:lastModificationDate``."""
        return self._info(key, _properties(self._document(key, "read")))

    @staticmethod
    def _info(key: str, properties: Mapping[str, Any]) -> BlobInfo:
        modified = _moment(properties.get("cmis:lastModificationDate")) or _moment(
            properties.get("cmis:creationDate")
        )
        if modified is None:
            raise StorageError(f"the CMIS server gives no modification date for {key!r}")
        length = properties.get("cmis:contentStreamLength")
        return BlobInfo(key, int(length or 0), modified)

    def delete(self, key: str) -> None:
        """Delete the document (all its versions) and free its core key."""
        document = self._document(key, "delete")
        core_key = naming.key_in(_properties(document).get("cmis:description"))
        # The index entry goes first: if deleting the document then fails, the row still
        # points at an intact document and the deletion can simply be retried.
        if core_key is not None:
            self._unclaim(core_key, key)
        else:
            log.warning("%s carries no GRC key in its description; no index entry to free", key)
        self._delete_object(document, key)

    def _delete_object(self, document: Any, key: str) -> None:
        for attempt in range(self.retries + 1):
            try:
                with self._errors(f"delete {key!r}"):
                    document.delete()
                    return
            except BlobNotFound:
                if attempt == 0:
                    raise
                return  # an earlier attempt did it, its answer was lost
            except StorageUnavailable:
                if attempt == self.retries:
                    raise
                self._backoff(attempt)

    def _unclaim(self, core_key: str, stored: str) -> None:
        try:
            check_key(core_key)
        except StorageError:
            return
        index = naming.index_location(core_key)
        entry = self._object_at(self.root_segments + index.folders + (index.filename,))
        if entry is None:
            return
        # Only the entry pointing at this document: a copy of a document made in the GED
        # carries the same description, and deleting it must not free the original's key.
        if _properties(entry).get("cmis:description") != stored:
            return
        # A 404 means a concurrent delete freed it already.
        with (
            contextlib.suppress(_Missing),
            self._errors(f"free the key {core_key!r}", missing=_Missing),
        ):
            entry.delete()

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every document GRC stored under ``root_path`` (recursively, index excluded).

        Documents without a ``GRC key`` line in their description were not stored by GRC
        (people may file documents by hand in a browsable tree): they are not listed, so
        that ``grc storage verify --repair`` never deletes them.
        """
        self._repo()
        root = self._object_at(self.root_segments)
        if root is None:
            return
        if not _is_folder(_properties(root)):
            raise StorageError(f"the CMIS root path {self.root_path!r} is not a folder")
        pending: list[tuple[Any, bool]] = [(root, True)]
        while pending:
            folder, top = pending.pop()
            for child in self._children(folder):
                properties = _properties(child)
                if _is_folder(properties):
                    if not (top and properties.get("cmis:name") == naming.INDEX_FOLDER):
                        pending.append((child, False))
                elif _is_document(properties) and naming.key_in(properties.get("cmis:description")):
                    key = stable_id(properties)
                    yield self._info(key, properties)

    def _children(self, folder: Any) -> Iterator[Any]:
        skip = 0
        while True:
            with self._errors("list the CMIS folder tree", missing=StorageError):
                page = folder.getChildren(maxItems=PAGE_SIZE, skipCount=skip)
                results = page.getResults()
                more = page.hasNext()
            yield from results
            skip += len(results)
            if not more or not results:
                return

    def close(self) -> None:
        """Close the HTTP session (its pooled connections).  Harmless twice."""
        if not self._closed:
            self._closed = True
            self._client.session.close()


class _Missing(StorageError):
    """Internal: a 404 the caller handles (a path that does not exist yet)."""


class _Taken(StorageError):
    """Internal: a 409 the caller handles (a name already used in the folder)."""
