"""A strict local Nuxeo REST server: the subset of the API that nuxeo 7.1.0 emits for GRC.

Served by :class:`~tests.adapters.protocol_server.ProtocolServer` (faults, transcripts).
What it implements, as the real server does (``BatchUploadObject``, the document and search
endpoints, ``NuxeoIdempotentFilter``):

- ``POST /nuxeo/api/v1/upload`` → 201 ``{"batchId"}``; ``DELETE …/upload/{batchId}`` → 204
  (404 if unknown);
- ``POST …/upload/{batchId}/{idx}``: a whole file, or a chunk (``X-Upload-Type: chunked``,
  ``X-Upload-Chunk-Index``, ``X-Upload-Chunk-Count``) answered **308** with the cumulative
  ``uploadedChunkIds`` and ``chunkCount`` while the file is incomplete, 201 once complete;
  ``GET …/upload/{batchId}/{idx}`` tells what is there (308 while incomplete, 404 if none);
- ``GET|POST …/repo/{repo}/path/{path}``, ``GET|DELETE …/repo/{repo}/id/{uid}``,
  ``GET …/id/{uid}/@blob/file:content`` (streamed), creation consuming the batch named by
  ``file:content: {"upload-batch", "upload-fileId"}`` (the batch is dropped afterwards);
- ``GET …/search/lang/NXQL/execute`` for the NXQL forms the adapter sends, paginated;
- ``Idempotency-Key`` on POST: a repeated key replays the first answer, 409 while running;
- ``GET …/id/{uid}/@children`` (paginated), served from the database: always consistent.

Modes, each a keyword of :class:`NuxeoProtocol`, modelled on how real servers behave:

- ``index_lag`` (seconds): NXQL search is served by Elasticsearch, which sees a write only
  that long after it was committed (creations *and* deletions); reads by path, by uid and
  ``@children`` are consistent.  ``X-NXES-Sync``/``nx_es_sync`` are not honoured (a strict
  server refuses unknown headers), so the adapter must never need search to be current.
- ``idempotency=False``: Nuxeo 10.10, where ``Idempotency-Key`` is accepted and ignored.
- ``rename_clashes=True``: a name already taken under the parent is not a 409 — the new
  document is created as ``name.<epoch milliseconds>`` (what real Nuxeo does).
- ``subtypes=True``: the default type rules are enforced (a ``WorkspaceRoot`` holds only
  ``Workspace``s, a ``Domain`` no folder at all…): any other child is a 400.

Strict: an unknown route, header, property, body key or NXQL form is a 400; every request
needs ``Content-Type`` (``application/json`` except for uploaded files),
``X-NXDocumentProperties: *``, ``X-NXRepository`` and authentication (basic, token or
bearer).  Blobs and chunks live on disk; chunk requests are counted and a chunk received
twice is recorded in :attr:`NuxeoProtocol.duplicate_chunks`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from ..protocol_server import Protocol, ProtocolServer, Request, Response, file_chunks

API = "/nuxeo/api/v1"

#: Headers a request may carry anywhere.
COMMON_HEADERS = {
    "host",
    "user-agent",
    "accept-encoding",
    "accept",
    "connection",
    "content-length",
    "content-type",
    "authorization",
    "x-authentication-token",
    "x-nxdocumentproperties",
    "x-nxrepository",
    "x-application-name",
    "x-client-version",
}
UPLOAD_HEADERS = {
    "cache-control",
    "x-file-name",
    "x-file-size",
    "x-file-type",
    "x-upload-type",
    "x-upload-chunk-index",
    "x-upload-chunk-count",
}
DOCUMENT_KEYS = {
    "entity-type",
    "name",
    "type",
    "properties",
    "contextParameters",
    "facets",
    "isCheckedOut",
    "isProxy",
    "isTrashed",
    "isVersion",
    "repository",
}
PROPERTIES = {
    "Folder": {"dc:title", "dc:description"},
    "Workspace": {"dc:title", "dc:description"},
    "File": {"dc:title", "dc:description", "dc:source", "file:content"},
}
CONTAINERS = {"Root", "Domain", "WorkspaceRoot", "Workspace", "Folder"}

#: Nuxeo's default allowed subtypes (the ``subtypes`` mode): parent type → child types.
SUBTYPES = {
    "Root": {"Domain"},
    "Domain": {"WorkspaceRoot", "SectionRoot", "TemplateRoot"},
    "WorkspaceRoot": {"Workspace"},
    "Workspace": {"Workspace", "Folder", "OrderedFolder", "File", "Note", "Picture"},
    "Folder": {"Folder", "OrderedFolder", "File", "Note", "Picture"},
}

_NXQL = re.compile(
    r"SELECT \* FROM Document WHERE (?P<conditions>.+?)(?: ORDER BY (?P<order>ecm:uuid))?"
)
_CONDITION = re.compile(
    r"\s*(?P<field>ecm:primaryType|ecm:path|dc:source)\s+(?P<op>=|STARTSWITH|LIKE)\s+"
    r"'(?P<literal>(?:[^'\\]|\\.)*)'\s*(?P<more>AND\b)?"
)
_ALLOWED_OPS = {("ecm:primaryType", "="), ("ecm:path", "STARTSWITH"), ("dc:source", "=")}
_ALLOWED_OPS |= {("dc:source", "LIKE")}


def now() -> str:
    """Nuxeo's date format: UTC with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def error(status: int, message: str) -> Response:
    """Nuxeo's JSON error body."""
    body = {"entity-type": "exception", "status": status, "message": message}
    return Response.json(body, status=status)


@dataclass
class StoredBlob:
    path: Path
    name: str
    mime_type: str
    length: int
    md5: str


@dataclass
class Doc:
    uid: str
    path: str
    name: str
    type: str
    parent: str | None
    properties: dict[str, Any]
    blob: StoredBlob | None = None
    created: str = field(default_factory=now)

    @property
    def folderish(self) -> bool:
        return self.type in CONTAINERS


@dataclass
class FileEntry:
    name: str
    size: int
    mime_type: str
    chunked: bool
    chunk_count: int = 1
    chunks: dict[int, Path] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.chunks) == self.chunk_count


class NuxeoProtocol(Protocol):
    """The state and routes of one Nuxeo repository.

    :param directory: where blobs and upload chunks are written.
    :param users: user name → password for basic authentication.
    :param tokens: accepted ``X-Authentication-Token`` values.
    :param bearer_tokens: accepted ``Authorization: Bearer`` values.
    """

    def __init__(
        self,
        directory: Path,
        *,
        repository: str = "default",
        users: dict[str, str] | None = None,
        tokens: set[str] | None = None,
        bearer_tokens: set[str] | None = None,
        index_lag: float = 0.0,
        idempotency: bool = True,
        rename_clashes: bool = False,
        subtypes: bool = False,
    ) -> None:
        self.directory = directory
        self.index_lag = index_lag
        self.idempotency_supported = idempotency
        self.rename_clashes = rename_clashes
        self.subtypes = subtypes
        #: What the search index knows: uid → [(visible from (monotonic), doc or None)].
        self.index: dict[str, list[tuple[float, Doc | None]]] = {}
        #: Names the server chose itself because the requested one was taken.
        self.renamed: list[str] = []
        (directory / "blobs").mkdir(parents=True, exist_ok=True)
        (directory / "batches").mkdir(parents=True, exist_ok=True)
        self.repository = repository
        self.users = users or {}
        self.tokens = tokens or set()
        self.bearer_tokens = bearer_tokens or set()
        self.lock = threading.RLock()
        self.docs: dict[str, Doc] = {}
        self.paths: dict[str, str] = {}
        self.batches: dict[str, dict[int, FileEntry]] = {}
        self.idempotency: dict[str, Response | None] = {}
        #: Idempotency keys answered from the store (replayed) or with 409 (in progress).
        self.replayed: list[str] = []
        self.in_progress: list[str] = []
        self.counter = 0
        #: Chunk requests that reached the protocol: (batch, file index, chunk index).
        self.chunk_requests: list[tuple[str, int, int]] = []
        #: Chunks received a second time (the 7.1.0 bug, or a needless re-send).
        self.duplicate_chunks: list[tuple[str, int, int]] = []
        self.base_url = ""  # set by NuxeoServer, for blob "data" links
        root = self._add(None, "", "Root", {"dc:title": ""})
        domain = self._add(root, "default-domain", "Domain", {"dc:title": "Domain"})
        self._add(domain, "workspaces", "WorkspaceRoot", {"dc:title": "Workspaces"})

    # --- state helpers --------------------------------------------------------------------

    def _next_id(self) -> str:
        with self.lock:
            self.counter += 1
            n = self.counter
        return f"{n:08x}-0000-4000-8000-{n:012x}"

    def _add(self, parent: Doc | None, name: str, type_: str, properties: dict[str, Any]) -> Doc:
        path = "/" if parent is None else f"{parent.path.rstrip('/')}/{name}"
        stamp = now()
        props = {
            "dc:description": None,
            "dc:source": None,
            **properties,
            "dc:created": stamp,
            "dc:modified": stamp,
            "dc:creator": "grc",
            "dc:lastContributor": "grc",
        }
        doc = Doc(self._next_id(), path, name, type_, parent.uid if parent else None, props)
        self.docs[doc.uid] = doc
        self.paths[path] = doc.uid
        self._reindex(doc.uid, doc)
        return doc

    def _reindex(self, uid: str, doc: Doc | None) -> None:
        """Tell the search index about a write; it sees it ``index_lag`` seconds later."""
        self.index.setdefault(uid, []).append((time.monotonic() + self.index_lag, doc))

    def indexed(self) -> list[Doc]:
        """The documents search sees now (lagging behind the repository)."""
        moment = time.monotonic()
        seen = []
        with self.lock:
            for events in self.index.values():
                visible = [doc for at, doc in events if at <= moment]
                if visible and visible[-1] is not None:
                    seen.append(visible[-1])
        return seen

    def doc_at(self, path: str) -> Doc | None:
        """The document at ``path`` (tests use it to inspect the tree)."""
        with self.lock:
            uid = self.paths.get(path)
            return self.docs.get(uid) if uid else None

    def files(self) -> list[Doc]:
        """Every File document."""
        with self.lock:
            return [d for d in self.docs.values() if d.type == "File"]

    def children(self, doc: Doc) -> list[Doc]:
        with self.lock:
            return [d for d in self.docs.values() if d.parent == doc.uid]

    def as_json(self, doc: Doc) -> dict[str, Any]:
        properties = dict(doc.properties)
        if doc.type == "File":
            properties["file:content"] = None
            if doc.blob is not None:
                blob = doc.blob
                properties["file:content"] = {
                    "name": blob.name,
                    "mime-type": blob.mime_type,
                    "encoding": None,
                    "digestAlgorithm": "MD5",
                    "digest": blob.md5,
                    "length": str(blob.length),
                    "data": f"{self.base_url}/nuxeo/nxfile/{self.repository}/{doc.uid}"
                    f"/file:content/{quote(blob.name)}",
                }
        return {
            "entity-type": "document",
            "repository": self.repository,
            "uid": doc.uid,
            "path": doc.path,
            "type": doc.type,
            "state": "project",
            "parentRef": doc.parent,
            "isCheckedOut": True,
            "isVersion": False,
            "isProxy": False,
            "changeToken": "0-0",
            "isTrashed": False,
            "title": doc.properties.get("dc:title") or doc.name,
            "lastModified": doc.properties["dc:modified"],
            "properties": properties,
            "facets": ["Folderish"] if doc.folderish else ["Downloadable", "Versionable"],
            "schemas": [{"name": "dublincore", "prefix": "dc"}]
            + ([{"name": "file", "prefix": "file"}] if doc.type == "File" else []),
        }

    # --- routing ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raw_path = urlsplit(request.raw_path).path
        if not raw_path.startswith(API + "/"):
            return self.bad_request(request)
        parts = [unquote(p) for p in raw_path[len(API) + 1 :].split("/")]
        route = self._route(request.method, parts)
        if route is None:
            return self.bad_request(request)
        kind, handler, args = route
        problem = self._check_headers(request, kind)
        if problem:
            return self.bad_request(request, problem)
        if not self._authenticated(request):
            return error(401, "Authentication is required to access this resource")
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key or not self.idempotency_supported:
            return handler(request, *args)
        return self._idempotent(key, request, handler, args)

    def _route(self, method: str, parts: list[str]) -> tuple[str, Any, tuple[Any, ...]] | None:
        if parts == ["upload"] and method == "POST":
            return "json", self._new_batch, ()
        if len(parts) == 3 and parts[0] == "upload" and parts[1] and parts[2]:
            if method == "POST":
                return "upload", self._upload, (parts[1], parts[2])
            if method == "GET":
                return "json", self._upload_status, (parts[1], parts[2])
        if len(parts) == 2 and parts[0] == "upload" and parts[1] and method == "DELETE":
            return "json", self._drop_batch, (parts[1],)
        if parts[:3] == ["search", "lang", "NXQL"] and parts[3:] == ["execute"]:
            return ("json", self._query, ()) if method == "GET" else None
        if len(parts) >= 3 and parts[0] == "repo" and parts[1] == self.repository:
            where, rest = parts[2], parts[3:]
            if where == "path" and method in ("GET", "POST"):
                if rest != [""] and any(s in ("", ".", "..") for s in rest):
                    return None
                path = "/" + "/".join(rest).strip("/")
                if method == "GET":
                    return "json", self._get_path, (path,)
                return "create", self._create, (path,)
            if where == "id" and len(rest) == 1 and method in ("GET", "DELETE"):
                handler = self._get_id if method == "GET" else self._delete
                return "json", handler, (rest[0],)
            if where == "id" and rest[1:] == ["@children"] and method == "GET":
                return "json", self._children, (rest[0],)
            if where == "id" and rest[1:] == ["@blob", "file:content"] and method == "GET":
                return "json", self._download, (rest[0],)
        return None

    def _check_headers(self, request: Request, kind: str) -> str | None:
        headers = request.headers
        allowed = set(COMMON_HEADERS)
        if kind == "upload":
            allowed |= UPLOAD_HEADERS
        if kind == "create":
            allowed.add("idempotency-key")
        unknown = sorted(set(headers) - allowed)
        if unknown:
            return f"unknown header(s) {', '.join(unknown)}"
        if headers.get("x-nxdocumentproperties") != "*":
            return "X-NXDocumentProperties must be '*'"
        if headers.get("x-nxrepository") != self.repository:
            return f"X-NXRepository must be {self.repository!r}"
        if not headers.get("x-application-name"):
            return "X-Application-Name is missing"
        if "application/json" not in headers.get("accept", ""):
            return "Accept must include application/json"
        content_type = headers.get("content-type", "")
        if kind == "upload":
            for name in ("x-file-name", "x-file-size", "x-file-type", "content-length"):
                if name not in headers:
                    return f"{name} is missing"
            if content_type != headers["x-file-type"]:
                return "Content-Type must be the file's type (X-File-Type)"
            if headers.get("x-upload-type", "normal") not in ("normal", "chunked"):
                return "X-Upload-Type must be 'normal' or 'chunked'"
        elif not content_type.startswith("application/json"):
            return "Content-Type must be application/json"
        return None

    def _authenticated(self, request: Request) -> bool:
        token = request.headers.get("x-authentication-token")
        if token is not None:
            return token in self.tokens
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer":
            return value in self.bearer_tokens
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return user in self.users and self.users[user] == password
        return False

    def _idempotent(
        self, key: str, request: Request, handler: Any, args: tuple[Any, ...]
    ) -> Response:
        # NuxeoIdempotentFilter: mark in progress, store a successful answer, replay it.
        with self.lock:
            if key in self.idempotency:
                stored = self.idempotency[key]
                if stored is None:
                    self.in_progress.append(key)
                    return Response(409, b"", {"Idempotency-Key": key})
                self.replayed.append(key)
                return Response(stored.status, stored.body, {**stored.headers}, stored.content_type)
            self.idempotency[key] = None
        try:
            response = handler(request, *args)
        except Exception:
            with self.lock:
                del self.idempotency[key]
            raise
        response.headers["Idempotency-Key"] = key
        with self.lock:
            if response.status >= 400:
                del self.idempotency[key]
            else:
                self.idempotency[key] = response
        return response

    # --- batch upload -------------------------------------------------------------------

    def _new_batch(self, request: Request) -> Response:
        if request.read_body(1):
            return self.bad_request(request, "POST /upload takes no body")
        batch = "batchId-" + self._next_id()
        with self.lock:
            self.batches[batch] = {}
        (self.directory / "batches" / batch).mkdir()
        return Response.json({"batchId": batch}, status=201)

    def _upload(self, request: Request, batch: str, idx: str) -> Response:
        with self.lock:
            files = self.batches.get(batch)
        if files is None:
            return Response(404, b"")
        if not idx.isdigit():
            return error(400, "fileIdx request path parameter must be a number")
        headers = request.headers
        file_idx = int(idx)
        name = unquote_plus(headers["x-file-name"])  # java.net.URLDecoder, as Nuxeo
        if not headers["x-file-size"].isdigit():
            return error(400, "X-File-Size must be a number")
        size = int(headers["x-file-size"])
        chunked = headers.get("x-upload-type") == "chunked"
        if chunked:
            index, count = headers.get("x-upload-chunk-index"), headers.get("x-upload-chunk-count")
            if not (index and count and index.isdigit() and count.isdigit()):
                return error(400, "X-Upload-Chunk-Index and X-Upload-Chunk-Count must be numbers")
            chunk, chunk_count = int(index), int(count)
            if not 0 <= chunk < chunk_count:
                return error(400, f"chunk {chunk} is outside 0..{chunk_count - 1}")
        elif any(h in headers for h in ("x-upload-chunk-index", "x-upload-chunk-count")):
            return error(400, "chunk headers without X-Upload-Type: chunked")
        else:
            chunk, chunk_count = 0, 1
        target = self.directory / "batches" / batch / f"{file_idx}-{chunk}.part"
        tmp = target.with_suffix(f".tmp{self._next_id()}")
        received = 0
        with tmp.open("wb") as out:
            for data in request.iter_body():
                out.write(data)
                received += len(data)
        with self.lock:
            if batch not in self.batches:  # dropped meanwhile
                tmp.unlink()
                return Response(404, b"")
            entry = files.get(file_idx)
            if entry is None or not chunked:
                entry = FileEntry(name, size, headers["x-file-type"], chunked, chunk_count)
                files[file_idx] = entry
            elif entry.chunk_count != chunk_count:
                tmp.unlink()
                return error(400, f"X-Upload-Chunk-Count changed from {entry.chunk_count}")
            if chunked:
                self.chunk_requests.append((batch, file_idx, chunk))
                if chunk in entry.chunks:
                    self.duplicate_chunks.append((batch, file_idx, chunk))
            tmp.replace(target)
            entry.chunks[chunk] = target
            complete = entry.complete
            ids = sorted(entry.chunks)
        if complete and chunked:
            total = sum(path.stat().st_size for path in entry.chunks.values())
            if total != entry.size:
                return error(400, f"the chunks add up to {total} bytes, X-File-Size says {size}")
        body: dict[str, Any] = {
            "uploaded": "true",
            "batchId": batch,
            "fileIdx": idx,
            "uploadedSize": str(received),
            "uploadType": "chunked" if chunked else "normal",
        }
        if chunked:
            body["uploadedChunkIds"] = ids
            body["chunkCount"] = chunk_count
        return Response.json(body, status=201 if complete else 308)

    def _upload_status(self, request: Request, batch: str, idx: str) -> Response:
        with self.lock:
            entry = self.batches.get(batch, {}).get(int(idx)) if idx.isdigit() else None
            if entry is None:
                return Response(404, b"")
            body: dict[str, Any] = {
                "name": entry.name,
                "size": entry.size,
                "uploadType": "chunked" if entry.chunked else "normal",
            }
            if entry.chunked:
                body["uploadedChunkIds"] = sorted(entry.chunks)
                body["chunkCount"] = entry.chunk_count
            incomplete = entry.chunked and not entry.complete
        return Response.json(body, status=308 if incomplete else 200)

    def _drop_batch(self, request: Request, batch: str) -> Response:
        with self.lock:
            if self.batches.pop(batch, None) is None:
                return Response(404, b"")
        shutil.rmtree(self.directory / "batches" / batch, ignore_errors=True)
        return Response(204, b"")

    def _take_blob(self, reference: Any) -> StoredBlob | Response:
        """Assemble the batch file named by ``file:content`` and drop the batch."""
        if not isinstance(reference, dict) or set(reference) != {"upload-batch", "upload-fileId"}:
            return error(400, f"file:content must name an upload batch, got {reference!r}")
        batch, idx = reference["upload-batch"], str(reference["upload-fileId"])
        with self.lock:
            entry = self.batches.get(batch, {}).get(int(idx)) if idx.isdigit() else None
            if entry is None or not entry.complete:
                return error(400, f"no complete file {idx} in upload batch {batch}")
            self.batches.pop(batch)
        target = self.directory / "blobs" / self._next_id()
        digest, length = hashlib.md5(), 0
        with target.open("wb") as out:
            for n in range(entry.chunk_count):
                with entry.chunks[n].open("rb") as part:
                    while data := part.read(256 * 1024):
                        out.write(data)
                        digest.update(data)
                        length += len(data)
        shutil.rmtree(self.directory / "batches" / batch, ignore_errors=True)
        return StoredBlob(target, entry.name, entry.mime_type, length, digest.hexdigest())

    # --- documents ----------------------------------------------------------------------

    def _get_path(self, request: Request, path: str) -> Response:
        doc = self.doc_at(path)
        if doc is None:
            return error(404, path)
        return Response.json(self.as_json(doc))

    def _get_id(self, request: Request, uid: str) -> Response:
        with self.lock:
            doc = self.docs.get(uid)
        if doc is None:
            return error(404, uid)
        return Response.json(self.as_json(doc))

    def _create(self, request: Request, parent_path: str) -> Response:
        try:
            body = json.loads(request.read_body(1024 * 1024) or b"null")
        except ValueError:
            return self.bad_request(request, "the body is not JSON")
        if not isinstance(body, dict) or set(body) - DOCUMENT_KEYS:
            extra = sorted(set(body) - DOCUMENT_KEYS) if isinstance(body, dict) else body
            return self.bad_request(request, f"unknown document keys {extra!r}")
        type_, name = body.get("type"), body.get("name")
        properties = body.get("properties") or {}
        if body.get("entity-type") != "document" or type_ not in PROPERTIES:
            return error(400, f"cannot create a document of type {type_!r}")
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            return error(400, f"invalid document name {name!r}")
        if body.get("repository", self.repository) != self.repository:
            return error(400, f"repository {body.get('repository')!r}")
        unknown = sorted(set(properties) - PROPERTIES[type_])
        if unknown:
            return error(400, f"Unknown property: {unknown[0]}")
        with self.lock:
            parent = self.doc_at(parent_path)
            if parent is None:
                return error(404, parent_path)
            if not parent.folderish:
                return error(400, f"{parent_path} cannot have children")
            if self.subtypes and type_ not in SUBTYPES.get(parent.type, set()):
                return error(
                    400,
                    f"Cannot create document of type {type_} in a {parent.type} ({parent_path})",
                )
            child_path = f"{parent.path.rstrip('/')}/{name}"
            if child_path in self.paths and not self.rename_clashes:
                return error(409, f"Destination name already exists: {name}")
        blob = None
        if type_ == "File":
            taken = self._take_blob(properties.pop("file:content", None))
            if isinstance(taken, Response):
                return taken
            blob = taken
        with self.lock:
            if child_path in self.paths:
                if not self.rename_clashes:
                    return error(409, f"Destination name already exists: {name}")
                # Real Nuxeo keeps the request and finds a free name itself.
                name = f"{name}.{time.time_ns() // 1_000_000}"
                while f"{parent.path.rstrip('/')}/{name}" in self.paths:
                    name += "1"
                self.renamed.append(name)
            doc = self._add(parent, name, type_, properties)
            doc.blob = blob
        return Response.json(self.as_json(doc), status=201)

    def _delete(self, request: Request, uid: str) -> Response:
        with self.lock:
            doc = self.docs.get(uid)
            if doc is None or doc.parent is None:
                return error(404, uid)
            pending = [doc]
            while pending:  # a folder goes with everything under it
                current = pending.pop()
                pending += self.children(current)
                del self.docs[current.uid]
                del self.paths[current.path]
                self._reindex(current.uid, None)
                if current.blob is not None:
                    current.blob.path.unlink(missing_ok=True)
        return Response(204, b"")

    def _download(self, request: Request, uid: str) -> Response:
        with self.lock:
            doc = self.docs.get(uid)
        if doc is None or doc.blob is None:
            return error(404, f"{uid}: no blob at file:content")
        disposition = f"attachment; filename*=UTF-8''{quote(doc.blob.name)}"
        return Response(
            200,
            file_chunks(doc.blob.path),
            {"Content-Disposition": disposition},
            content_type=doc.blob.mime_type,
        )

    # --- search -----------------------------------------------------------------------

    def _query(self, request: Request) -> Response:
        params = dict(request.query)
        nxql = params.pop("query", "")
        try:
            size = int(params.pop("pageSize", "50"))
            page = int(params.pop("currentPageIndex", "0"))
        except ValueError:
            return self.bad_request(request, "pageSize and currentPageIndex must be numbers")
        if params or not 0 < size <= 1000 or page < 0:
            return self.bad_request(request, f"unsupported search parameters {sorted(params)}")
        matcher = self._parse_nxql(nxql)
        if isinstance(matcher, str):
            return error(400, f"Failed to execute query: {nxql}, {matcher}")
        with self.lock:
            found = sorted((d for d in self.indexed() if matcher(d)), key=lambda d: d.uid)
            entries = [self.as_json(d) for d in found[page * size : (page + 1) * size]]
        return self._page(entries, len(found), size, page)

    def _children(self, request: Request, uid: str) -> Response:
        params = dict(request.query)
        try:
            size = int(params.pop("pageSize", "50"))
            page = int(params.pop("currentPageIndex", "0"))
        except ValueError:
            return self.bad_request(request, "pageSize and currentPageIndex must be numbers")
        if params or not 0 < size <= 1000 or page < 0:
            return self.bad_request(request, f"unsupported parameters {sorted(params)}")
        with self.lock:
            doc = self.docs.get(uid)
            if doc is None:
                return error(404, uid)
            found = self.children(doc)  # creation order, like ecm:pos-less folders by default
            entries = [self.as_json(d) for d in found[page * size : (page + 1) * size]]
        return self._page(entries, len(found), size, page)

    @staticmethod
    def _page(entries: list[dict[str, Any]], total: int, size: int, page: int) -> Response:
        pages = max(1, -(-total // size))
        return Response.json(
            {
                "entity-type": "documents",
                "isPaginable": True,
                "resultsCount": total,
                "pageSize": size,
                "maxPageSize": 1000,
                "currentPageSize": len(entries),
                "currentPageIndex": page,
                "numberOfPages": pages,
                "isPreviousPageAvailable": page > 0,
                "isNextPageAvailable": page + 1 < pages,
                "isLastPageAvailable": page + 1 < pages,
                "isSortable": True,
                "hasError": False,
                "errorMessage": None,
                "entries": entries,
            }
        )

    @staticmethod
    def _parse_nxql(nxql: str) -> Any:
        """A predicate on documents for the NXQL forms GRC sends, or why it is refused."""
        match = _NXQL.fullmatch(nxql)
        if not match:
            return "only SELECT * FROM Document WHERE … [ORDER BY ecm:uuid] is served"
        conditions: list[tuple[str, str, str]] = []
        text, position = match["conditions"], 0
        while position < len(text):
            condition = _CONDITION.match(text, position)
            if condition is None:
                return f"unsupported condition at {text[position:]!r}"
            field_, op = condition["field"], condition["op"]
            if (field_, op) not in _ALLOWED_OPS:
                return f"unsupported operator {field_} {op}"
            literal = re.sub(r"\\(.)", r"\1", condition["literal"])
            conditions.append((field_, op, literal))
            position = condition.end()
            if not condition["more"] and position < len(text):
                return f"expected AND at {text[position:]!r}"

        def matches(doc: Doc) -> bool:
            for field_, op, literal in conditions:
                if field_ == "ecm:primaryType" and doc.type != literal:
                    return False
                if field_ == "ecm:path" and not doc.path.startswith(literal.rstrip("/") + "/"):
                    return False
                source = doc.properties.get("dc:source") or ""
                if field_ == "dc:source" and op == "=" and source != literal:
                    return False
                if field_ == "dc:source" and op == "LIKE":
                    pattern = "".join(
                        ".*" if c == "%" else "." if c == "_" else re.escape(c) for c in literal
                    )
                    if not re.fullmatch(pattern, source, re.DOTALL):
                        return False
            return True

        return matches


#: Request headers kept in transcripts (secrets and random values masked).
TRANSCRIBED = (
    "content-type",
    "accept",
    "x-nxdocumentproperties",
    "x-nxrepository",
    "x-application-name",
    "x-client-version",
    "cache-control",
    "x-upload-type",
    "x-upload-chunk-index",
    "x-upload-chunk-count",
    "x-file-name",
    "x-file-size",
    "x-file-type",
    "idempotency-key",
    "authorization",
    "x-authentication-token",
)


def _masked(name: str, value: str) -> str:
    if name == "authorization":
        return value.split(" ", 1)[0] + " ***"
    if name == "x-authentication-token":
        return "***"
    if name == "idempotency-key":
        return "<uuid4>" if re.fullmatch(r"[0-9a-f-]{36}", value) else value
    return value


class NuxeoServer(ProtocolServer):
    """A :class:`ProtocolServer` for :class:`NuxeoProtocol` whose transcript keeps the Nuxeo
    headers (``X-NX*``, ``X-Upload-*``, ``X-File-*``…) and the JSON bodies of POSTs."""

    protocol: NuxeoProtocol

    def __init__(self, protocol: NuxeoProtocol) -> None:
        super().__init__(protocol)
        protocol.base_url = self.url
        # http.server writes headers and body in two sends; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK (~40 ms a request on Linux).
        self.httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        # A client that timed out has gone when a stalled answer is written: not an error.
        self.httpd.handle_error = lambda *_args: None  # type: ignore[method-assign]
        # shutdown() waits for the serving loop's next poll: 0.5 s by default, per test.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def nuxeo_url(self) -> str:
        """What the client is configured with: ``http://127.0.0.1:<port>/nuxeo/``."""
        return f"{self.url}/nuxeo/"

    def _record(self, request: Request) -> None:
        headers = {n: _masked(n, request.headers[n]) for n in TRANSCRIBED if n in request.headers}
        if "x-file-size" in request.headers:
            headers["content-length"] = request.headers.get("content-length", "")
        entry: dict[str, Any] = {"method": request.method, "path": request.path}
        if request.query:
            entry["query"] = request.query
        entry["headers"] = headers
        length = int(request.headers.get("content-length", "0") or 0)
        if request.headers.get("content-type", "").startswith("application/json") and length:
            data = request.body.read(length)
            request.body = io.BytesIO(data)  # the protocol reads it again
            try:
                entry["json"] = json.loads(data)
            except ValueError:
                entry["body"] = data.decode("utf-8", "replace")
        with self._lock:
            self.transcript.append(entry)
