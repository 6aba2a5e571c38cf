"""A strict CMIS 1.1 Browser binding server: the subset the CMIS adapter uses, Alfresco-like.

Served by :class:`~tests.adapters.protocol_server.ProtocolServer` (fault injection,
transcripts).  What it implements, and how strictly (GED-NOTES, "CMIS"):

- ``GET {BASE}`` — the service document, a JSON object keyed by repository id, each with
  every field cmislib reads (``repositoryId`` … ``rootFolderUrl``, ``capabilities``).
- ``GET {BASE}/root{path}?cmisselector=object|content|children`` — by path, or on the root
  URL with ``objectId=…``; documents answer to their version id (``<node>;1.0``) and to
  their node id (the version series, Alfresco's "current version").  :meth:`CmisProtocol.
  check_in` makes a new version as a person editing the document would (``1.0`` → ``1.1``, or
  ``2.0`` for a major one): the node id names the new version, ``<node>;1.0`` the old one
  (``cmis:isLatestVersion`` false), ``cmis:versionSeriesId`` stays.
- ``POST {BASE}/root`` — ``multipart/form-data`` with ``cmisaction`` =
  ``createFolder|createDocument|delete``, ``objectId``, ``propertyId[n]``/``propertyValue[n]``
  (contiguous from 0) and, for ``createDocument``, an optional ``content`` part, parsed as
  a stream and written to disk as it arrives.

Anything else — an unknown selector, action, parameter, form field or property, a body on a
``GET``, a request body that is not multipart — is a 400, never a guess.  Basic
authentication is required (401 otherwise).  Every answer has a ``Content-Type``; dates are
epoch milliseconds; boolean *parameters* are parsed case-insensitively (cmislib sends
Python's ``True``); errors are Alfresco's ``{"exception": "...", "message": "..."}``
bodies with OpenCMIS's statuses.  Names are unique per folder, case-insensitively, and names
Alfresco refuses are refused.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ..protocol_server import Protocol, Request, Response, file_chunks

#: Alfresco's public API path of the Browser binding.
BASE = "/alfresco/api/-default-/public/cmis/versions/1.1/browser"
ROOT = BASE + "/root"
JSON_TYPE = "application/json;charset=UTF-8"

#: Alfresco's cm:name constraint.
_BAD_NAME = re.compile(r'[*"<>\\/?:|]|[. ]$|^$')

_BOOLEAN = {"true": True, "false": False}
_OBJECT_PARAMS = {
    "cmisselector",
    "objectId",
    "filter",
    "includeAllowableActions",
    "includeRelationships",
    "includePolicyIds",
    "includeACL",
    "renditionFilter",
    "succinct",
}
_CONTENT_PARAMS = {"cmisselector", "objectId", "streamId", "download"}
_CHILDREN_PARAMS = {
    "cmisselector",
    "objectId",
    "maxItems",
    "skipCount",
    "orderBy",
    "filter",
    "includeAllowableActions",
    "includeRelationships",
    "renditionFilter",
    "includePathSegment",
    "succinct",
}
_BOOLEAN_PARAMS = {
    "includeAllowableActions",
    "includePolicyIds",
    "includeACL",
    "includePathSegment",
    "succinct",
}
_FORM_FIELDS = {"cmisaction", "objectId", "content", "succinct", "_charset_", "allVersions"}
_WRITABLE = {
    "createFolder": {"cmis:name", "cmis:objectTypeId", "cmis:description"},
    "createDocument": {"cmis:name", "cmis:objectTypeId", "cmis:description"},
}


class CmisError(Exception):
    """An error answer: status, OpenCMIS exception name, message."""

    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception, self.message = status, exception, message


def _bad(message: str) -> CmisError:
    return CmisError(400, "invalidArgument", message)


@dataclass
class Node:
    """A folder or a document."""

    node_id: str
    kind: str  # "folder" | "document"
    name: str
    parent: str | None
    description: str | None = None
    type_id: str = ""
    created: int = 0
    modified: int = 0
    content: Path | None = None
    length: int | None = None
    mime: str | None = None
    children: dict[str, str] = field(default_factory=dict)  # casefolded name -> node id
    version: str = "1.0"
    latest: bool = True
    #: Earlier versions: label → (content, length, mime, modified).
    older: dict[str, tuple[Path | None, int | None, str | None, int]] = field(default_factory=dict)

    @property
    def object_id(self) -> str:
        return f"{self.node_id};{self.version}" if self.kind == "document" else self.node_id


def _now_ms() -> int:
    return int(time.time() * 1000)


def _prop(pid: str, ptype: str, value: Any, cardinality: str = "single") -> dict[str, Any]:
    local = pid.split(":", 1)[-1]
    return {
        "id": pid,
        "localName": local,
        "displayName": local,
        "queryName": pid,
        "type": ptype,
        "cardinality": cardinality,
        "value": value,
    }


class MultipartReader:
    """A streaming ``multipart/form-data`` parser (no part is held whole but fields)."""

    def __init__(self, body: Any, boundary: bytes, chunk: int = 256 * 1024) -> None:
        self.body = body
        self.delimiter = b"\r\n--" + boundary
        self.buffer = b""
        self.chunk = chunk
        self.first = b"--" + boundary + b"\r\n"

    def _fill(self) -> bool:
        data = self.body.read(self.chunk)
        if data:
            self.buffer += data
        return bool(data)

    def _need(self, size: int) -> None:
        while len(self.buffer) < size:
            if not self._fill():
                raise EOFError("the request body ended before the closing boundary")

    def parts(self) -> Iterator[tuple[dict[str, str], Iterator[bytes]]]:
        """``(headers, data)`` per part; ``data`` must be consumed before the next part."""
        self._need(len(self.first))
        if not self.buffer.startswith(self.first):
            raise _bad("the multipart body does not start with its boundary")
        self.buffer = self.buffer[len(self.first) :]
        while True:
            while b"\r\n\r\n" not in self.buffer:
                if len(self.buffer) > 16384:
                    raise _bad("multipart part headers are too long")
                if not self._fill():
                    raise EOFError("the request body ended in part headers")
            raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            headers = {}
            for line in raw.decode("utf-8").split("\r\n"):
                name, sep, value = line.partition(":")
                if not sep:
                    raise _bad(f"malformed multipart header {line!r}")
                headers[name.strip().lower()] = value.strip()
            done = [False]
            yield headers, self._data(done)
            if not done[0]:
                raise AssertionError("part data not consumed")
            self._need(2)
            tail, self.buffer = self.buffer[:2], self.buffer[2:]
            if tail == b"--":
                return
            if tail != b"\r\n":
                raise _bad("malformed multipart boundary")

    def _data(self, done: list[bool]) -> Iterator[bytes]:
        keep = len(self.delimiter)
        while True:
            found = self.buffer.find(self.delimiter)
            if found >= 0:
                data, self.buffer = self.buffer[:found], self.buffer[found + keep :]
                if data:
                    yield data
                done[0] = True
                return
            if len(self.buffer) > keep:
                data, self.buffer = self.buffer[:-keep], self.buffer[-keep:]
                yield data
            if not self._fill():
                raise EOFError("the request body ended inside a part")


def _disposition_name(headers: dict[str, str]) -> str:
    value = headers.get("content-disposition", "")
    if not value.startswith("form-data"):
        raise _bad(f"a multipart part is not form-data: {value!r}")
    match = re.search(r';\s*name="([^"]*)"', value)
    if not match:
        raise _bad("a multipart part has no name")
    return match.group(1)


class CmisProtocol(Protocol):
    """The repository state and the Browser binding routes.

    :param store: where content is written (one file per document).
    :param repositories: the repository ids of the service document; the first one holds
        the folder tree, the others only appear in the service document (as a server with
        an archive repository would show them).
    :param page_size: the children page size when the client gives no ``maxItems``, and
        the largest it may ask for.
    """

    def __init__(
        self,
        store: Path,
        *,
        user: str = "grc-service",
        password: str = "s3cret-pass",
        repositories: tuple[str, ...] = ("-default-",),
        page_size: int = 100,
    ) -> None:
        self.store = store
        self.store.mkdir(parents=True, exist_ok=True)
        self.credentials = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.user = user
        self.repositories = repositories
        self.page_size = page_size
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.nodes: dict[str, Node] = {}
        #: ``cmisaction`` values received (counted as soon as the field is parsed).
        self.actions: Counter[str] = Counter()
        #: createDocument requests that carried a content part (complete or not).
        self.content_uploads = 0
        #: Bytes of content parts received, complete or not.
        self.content_bytes = 0
        #: One entry per POST: its form parts, in order, and their values.
        self.forms: list[dict[str, Any]] = []
        root = self._new_node("folder", "", None, "cmis:folder")
        self.root_id = root.node_id

    # --- state ----------------------------------------------------------------------------

    def _new_node(self, kind: str, name: str, parent: str | None, type_id: str) -> Node:
        number = next(self._ids)
        node_id = f"{number:08x}-0000-4000-8000-{number:012x}"
        now = _now_ms()
        node = Node(node_id, kind, name, parent, type_id=type_id, created=now, modified=now)
        self.nodes[node_id] = node
        return node

    def documents(self) -> list[Node]:
        """Every document, the index entries included."""
        with self.lock:
            return [n for n in self.nodes.values() if n.kind == "document"]

    def path_of(self, node: Node) -> str:
        parts = []
        while node.parent is not None:
            parts.append(node.name)
            node = self.nodes[node.parent]
        return "/" + "/".join(reversed(parts))

    def find(self, path: str) -> Node | None:
        """The node at a repository path (for tests)."""
        with self.lock:
            return self._walk([s for s in path.split("/") if s])

    def _walk(self, segments: list[str]) -> Node | None:
        node = self.nodes[self.root_id]
        for segment in segments:
            child = node.children.get(segment.casefold()) if node.kind == "folder" else None
            if child is None:
                return None
            node = self.nodes[child]
        return node

    def plant(
        self, folder_path: str, name: str, *, description: str | None, content: bytes | None
    ) -> Node:
        """Create a document directly, as another client (or a person) would have (tests).

        The folder must exist; the name must be free.
        """
        with self.lock:
            folder = self._walk([s for s in folder_path.split("/") if s])
            assert folder is not None and folder.kind == "folder", folder_path
            assert name.casefold() not in folder.children, name
            node = self._new_node("document", name, folder.node_id, "cmis:document")
            node.description = description
            if content is not None:
                node.content = self.store / f"{node.node_id}.bin"
                node.content.write_bytes(content)
                node.length, node.mime = len(content), "application/octet-stream"
            folder.children[name.casefold()] = node.node_id
            return node

    def _by_id(self, object_id: str) -> Node:
        node_id, _, label = object_id.partition(";")
        node = self.nodes.get(node_id)
        if node is None or (
            label and (node.kind != "document" or label not in (node.version, *node.older))
        ):
            raise CmisError(404, "objectNotFound", f"Object not found: {object_id}")
        if label and label != node.version:
            content, length, mime, modified = node.older[label]
            return dataclasses.replace(
                node, version=label, latest=False, content=content, length=length, mime=mime,
                modified=modified, older={},
            )  # fmt: skip
        return node

    def check_in(self, path: str, content: bytes, *, major: bool = False) -> Node:
        """A new version of the document at ``path``, as someone editing it would make."""
        with self.lock:
            node = self._walk([s for s in path.split("/") if s])
            assert node is not None and node.kind == "document", path
            node.older[node.version] = (node.content, node.length, node.mime, node.modified)
            whole, minor = (int(n) for n in node.version.split("."))
            node.version = f"{whole + 1}.0" if major else f"{whole}.{minor + 1}"
            node.content = self.store / f"{node.node_id}.{node.version}.bin"
            node.content.write_bytes(content)
            node.length = len(content)
            node.modified = _now_ms()
            return node

    # --- JSON -------------------------------------------------------------------------------

    def _object_json(self, node: Node, actions: bool = False) -> dict[str, Any]:
        ref = f"workspace://SpacesStore/{node.node_id}"
        props = [
            _prop("cmis:objectId", "id", node.object_id),
            _prop("alfcmis:nodeRef", "id", ref),
            _prop("cmis:baseTypeId", "id", f"cmis:{node.kind}"),
            _prop("cmis:objectTypeId", "id", node.type_id),
            _prop("cmis:name", "string", node.name),
            _prop("cmis:description", "string", node.description),
            _prop("cmis:createdBy", "string", self.user),
            _prop("cmis:creationDate", "datetime", node.created),
            _prop("cmis:lastModifiedBy", "string", self.user),
            _prop("cmis:lastModificationDate", "datetime", node.modified),
            _prop("cmis:changeToken", "string", None),
            _prop("cmis:secondaryObjectTypeIds", "id", ["P:cm:titled"], "multi"),
        ]
        if node.kind == "folder":
            props += [
                _prop("cmis:parentId", "id", node.parent),
                _prop("cmis:path", "string", self.path_of(node)),
                _prop("cmis:allowedChildObjectTypeIds", "id", None, "multi"),
            ]
        else:
            has_content = node.content is not None
            stream_id = f"store://{node.node_id}" if has_content else None
            props += [
                _prop("cmis:isImmutable", "boolean", False),
                _prop("cmis:isLatestVersion", "boolean", node.latest),
                _prop("cmis:isMajorVersion", "boolean", node.version.endswith(".0")),
                _prop("cmis:isLatestMajorVersion", "boolean", node.latest),
                _prop("cmis:isPrivateWorkingCopy", "boolean", False),
                _prop("cmis:versionLabel", "string", node.version),
                _prop("cmis:versionSeriesId", "id", node.node_id),
                _prop("cmis:isVersionSeriesCheckedOut", "boolean", False),
                _prop("cmis:versionSeriesCheckedOutBy", "string", None),
                _prop("cmis:versionSeriesCheckedOutId", "id", None),
                _prop("cmis:checkinComment", "string", None),
                _prop("cmis:contentStreamLength", "integer", node.length),
                _prop("cmis:contentStreamMimeType", "string", node.mime),
                _prop("cmis:contentStreamFileName", "string", node.name if has_content else None),
                _prop("cmis:contentStreamId", "id", stream_id),
            ]
        result: dict[str, Any] = {"properties": {p["id"]: p for p in props}}
        if actions:
            document = node.kind == "document"
            result["allowableActions"] = {
                "canDeleteObject": node.parent is not None,
                "canGetProperties": True,
                "canGetContentStream": document and node.content is not None,
                "canGetChildren": not document,
                "canCreateDocument": not document,
                "canCreateFolder": not document,
                "canGetObjectParents": node.parent is not None,
            }
        return result

    def _service_document(self, request: Request) -> dict[str, Any]:
        host = request.headers.get("host", "localhost")
        result = {}
        for repo_id in self.repositories:
            url = f"http://{host}{BASE}"
            if repo_id != self.repositories[0]:
                url = f"http://{host}/alfresco/api/{repo_id}/public/cmis/versions/1.1/browser"
            result[repo_id] = {
                "repositoryId": repo_id,
                "repositoryName": "Main Repository" if repo_id == "-default-" else repo_id,
                "repositoryDescription": "",
                "vendorName": "Alfresco",
                "productName": "Alfresco Content Services",
                "productVersion": "23.2.1 (r1 3b6a1f9)",
                "rootFolderId": self.root_id,
                "latestChangeLogToken": "0",
                "cmisVersionSupported": "1.1",
                "thinClientURI": "",
                "changesIncomplete": True,
                "changesOnType": ["cmis:document", "cmis:folder"],
                "principalIdAnonymous": "guest",
                "principalIdAnyone": "GROUP_EVERYONE",
                "repositoryUrl": url,
                "rootFolderUrl": url + "/root",
                "capabilities": {
                    "capabilityContentStreamUpdatability": "anytime",
                    "capabilityChanges": "none",
                    "capabilityRenditions": "read",
                    "capabilityGetDescendants": True,
                    "capabilityGetFolderTree": True,
                    "capabilityMultifiling": True,
                    "capabilityUnfiling": False,
                    "capabilityVersionSpecificFiling": False,
                    "capabilityPWCSearchable": True,
                    "capabilityPWCUpdatable": True,
                    "capabilityAllVersionsSearchable": False,
                    "capabilityOrderBy": "common",
                    "capabilityQuery": "bothcombined",
                    "capabilityJoin": "none",
                    "capabilityACL": "manage",
                },
                "extendedFeatures": [],
            }
        return result

    # --- routing ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            if request.headers.get("authorization") != self.credentials:
                raise CmisError(401, "unauthorized", "Unauthorized")
            return self._route(request)
        except CmisError as error:
            headers = {"WWW-Authenticate": 'Basic realm="Alfresco"'} if error.status == 401 else {}
            body = json.dumps({"exception": error.exception, "message": error.message})
            return Response(error.status, body.encode(), headers, JSON_TYPE)

    def _route(self, request: Request) -> Response:
        raw_path = request.raw_path.split("?", 1)[0]
        if request.method == "GET":
            if request.headers.get("content-length", "0") not in ("", "0") or (
                "transfer-encoding" in request.headers
            ):
                raise _bad("a GET has no body")
            if raw_path == BASE:
                if request.query:
                    raise _bad(f"unknown parameters {sorted(request.query)} on the service URL")
                return self._json(self._service_document(request))
            if raw_path == ROOT or raw_path.startswith(ROOT + "/"):
                return self._get(request, raw_path[len(ROOT) :])
        if request.method == "POST" and raw_path == ROOT:
            return self._post(request)
        raise _bad(f"unknown route {request.method} {raw_path}")

    @staticmethod
    def _json(data: Any, status: int = 200, **headers: str) -> Response:
        return Response(status, json.dumps(data).encode(), dict(headers), JSON_TYPE)

    @staticmethod
    def _check_params(query: dict[str, str], allowed: set[str]) -> None:
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise _bad(f"unknown parameters {unknown}")
        for name in _BOOLEAN_PARAMS & set(query):
            if query[name].lower() not in _BOOLEAN:
                raise _bad(f"{name} must be true or false, got {query[name]!r}")

    def _get(self, request: Request, sub_path: str) -> Response:
        query = request.query
        selector = query.get("cmisselector")
        if selector is None:
            raise _bad("cmisselector is required")
        allowed = {
            "object": _OBJECT_PARAMS,
            "content": _CONTENT_PARAMS,
            "children": _CHILDREN_PARAMS,
        }.get(selector)
        if allowed is None:
            raise _bad(f"unknown cmisselector {selector!r}")
        self._check_params(query, allowed)
        with self.lock:
            if "objectId" in query:
                if sub_path:
                    raise _bad("objectId is only accepted on the root folder URL")
                node = self._by_id(query["objectId"])
            else:
                # "" and "/" are the root; anything else ends with a name.
                if sub_path not in ("", "/") and (sub_path.endswith("/") or "//" in sub_path):
                    raise _bad(f"malformed path {sub_path!r}")
                segments = [unquote(s, errors="strict") for s in sub_path.split("/") if s]
                node = self._walk(segments)
                if node is None:
                    missing = "/" + "/".join(segments)
                    raise CmisError(404, "objectNotFound", f"Object not found: {missing}")
            if selector == "object":
                actions = query.get("includeAllowableActions", "false").lower() == "true"
                return self._json(self._object_json(node, actions))
            if selector == "children":
                return self._json(self._children(node, query))
            if node.kind != "document":
                raise CmisError(409, "constraint", "Object is not a document")
            if node.content is None:
                raise CmisError(409, "constraint", "Document has no content")
            content, mime = node.content, node.mime or "application/octet-stream"
        return Response(200, file_chunks(content), {}, mime)

    def _children(self, node: Node, query: dict[str, str]) -> dict[str, Any]:
        if node.kind != "folder":
            raise CmisError(400, "invalidArgument", "Object is not a folder")
        try:
            max_items = int(query.get("maxItems", self.page_size))
            skip = int(query.get("skipCount", 0))
        except ValueError:
            raise _bad("maxItems and skipCount must be integers") from None
        if max_items < 0 or skip < 0:
            raise _bad("maxItems and skipCount must not be negative")
        max_items = min(max_items, self.page_size)
        children = sorted(
            (self.nodes[i] for i in node.children.values()), key=lambda n: n.name.casefold()
        )
        page = children[skip : skip + max_items]
        return {
            "objects": [{"object": self._object_json(child)} for child in page],
            "hasMoreItems": skip + len(page) < len(children),
            "numItems": len(children),
        }

    # --- writes ------------------------------------------------------------------------------

    def _post(self, request: Request) -> Response:
        if request.query:
            raise _bad(f"unknown parameters {sorted(request.query)} on a POST")
        content_type = request.headers.get("content-type", "")
        match = re.fullmatch(r'multipart/form-data;\s*boundary="?([^";]+)"?', content_type)
        if not match:
            raise _bad(f"a POST must be multipart/form-data with a boundary, not {content_type!r}")
        fields: dict[str, str] = {}
        upload: tuple[Path, int, str] | None = None
        # What the client sent, for golden transcripts: the part names in order, the field
        # values and the content part's headers (the bytes are counted, not kept).
        form: dict[str, Any] = {"parts": [], "values": {}}
        with self.lock:
            self.forms.append(form)
        try:
            reader = MultipartReader(request.body, match.group(1).encode())
            for headers, data in reader.parts():
                name = _disposition_name(headers)
                form["parts"].append(name)
                if name in fields or (name == "content" and upload is not None):
                    raise _bad(f"the form field {name!r} is repeated")
                if name == "content":
                    if fields.get("cmisaction") != "createDocument":
                        raise _bad("a content part is only accepted by createDocument")
                    form["content"] = {k: v for k, v in headers.items() if k.startswith("content-")}
                    upload = self._receive(data, headers.get("content-type"))
                    continue
                if not (name in _FORM_FIELDS or re.fullmatch(r"property(Id|Value)\[\d+\]", name)):
                    raise _bad(f"unknown form field {name!r}")
                value = b"".join(data).decode("utf-8")
                fields[name] = value
                form["values"][name] = value
                if name == "cmisaction":
                    self.actions[value] += 1
            return self._apply(fields, upload)
        except EOFError as exc:
            raise _bad(str(exc)) from None
        finally:
            if upload is not None and upload[0].exists():
                upload[0].unlink()

    def _receive(self, data: Iterator[bytes], mime: str | None) -> tuple[Path, int, str]:
        with self.lock:
            self.content_uploads += 1
        handle, name = tempfile.mkstemp(dir=self.store, prefix="upload-")
        path, size = Path(name), 0
        try:
            with open(handle, "wb") as out:
                for piece in data:
                    out.write(piece)
                    size += len(piece)
                    with self.lock:
                        self.content_bytes += len(piece)
        except BaseException:  # the body broke off: no half-received file stays
            path.unlink(missing_ok=True)
            raise
        return path, size, mime or "application/octet-stream"

    @staticmethod
    def _properties(fields: dict[str, str]) -> dict[str, str]:
        properties = {}
        for index in itertools.count():
            pid = fields.get(f"propertyId[{index}]")
            if pid is None:
                break
            if f"propertyValue[{index}]" not in fields:
                raise _bad(f"propertyId[{index}] has no propertyValue[{index}]")
            properties[pid] = fields[f"propertyValue[{index}]"]
        extra = [
            f
            for f in fields
            if f.startswith("property")
            and f.split("[")[1][:-1].isdigit()
            and int(f.split("[")[1][:-1]) >= len(properties)
        ]
        if extra:
            raise _bad(f"property fields are not numbered from 0 without gaps: {sorted(extra)}")
        return properties

    def _apply(self, fields: dict[str, str], upload: tuple[Path, int, str] | None) -> Response:
        action = fields.get("cmisaction")
        if action not in ("createFolder", "createDocument", "delete"):
            raise _bad(f"unknown cmisaction {action!r}")
        if "objectId" not in fields:
            raise _bad("objectId is required")
        properties = self._properties(fields)
        with self.lock:
            target = self._by_id(fields["objectId"])
            if action == "delete":
                if properties:
                    raise _bad("delete takes no properties")
                return self._delete(target)
            unknown = sorted(set(properties) - _WRITABLE[action])
            if unknown:
                raise _bad(f"Property '{unknown[0]}' is not valid for this type")
            kind = "folder" if action == "createFolder" else "document"
            if properties.get("cmis:objectTypeId") != f"cmis:{kind}":
                raise _bad(f"cmis:objectTypeId must be cmis:{kind}")
            name = properties.get("cmis:name", "")
            if _BAD_NAME.search(name):
                raise CmisError(409, "constraint", f"Invalid property value: cmis:name={name!r}")
            if target.kind != "folder":
                raise _bad("the parent is not a folder")
            if name.casefold() in target.children:
                raise CmisError(
                    409, "contentAlreadyExists", f"An object with this name already exists: {name}"
                )
            node = self._new_node(kind, name, target.node_id, f"cmis:{kind}")
            node.description = properties.get("cmis:description")
            if upload is not None:
                path, size, mime = upload
                node.content = self.store / f"{node.node_id}.bin"
                path.rename(node.content)
                node.length, node.mime = size, mime
            target.children[name.casefold()] = node.node_id
            body = self._object_json(node, actions=True)
        return self._json(body, 201, Location=f"{ROOT}?objectId={node.object_id}")

    def _delete(self, node: Node) -> Response:
        if node.parent is None:
            raise CmisError(409, "constraint", "The root folder cannot be deleted")
        if node.kind == "folder" and node.children:
            raise CmisError(409, "constraint", "Folder is not empty")
        del self.nodes[node.node_id]
        parent = self.nodes[node.parent]
        parent.children.pop(node.name.casefold(), None)
        parent.modified = _now_ms()
        if node.content is not None:
            node.content.unlink(missing_ok=True)
        for content, *_rest in node.older.values():  # a delete takes every version
            if content is not None:
                content.unlink(missing_ok=True)
        return Response(200, b"", {}, JSON_TYPE)


def stored_files(protocol: CmisProtocol) -> list[Path]:
    """The content files on disk (complete documents only)."""
    return sorted(protocol.store.glob("*.bin"))
