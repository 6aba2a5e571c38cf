"""A strict Microsoft Graph server: the drive-item subset the Graph mode of the backend uses.

One site (``/sites/grc`` on the server's host), one document library (URL name ``Shared
Documents``, title "Documents"), served as Graph serves a SharePoint drive:

- ``GET /v1.0/sites/{host}:/sites/grc``, ``GET /v1.0/sites/{id}/drives``;
- ``GET /v1.0/drives/{d}/root``, ``…/items/{id}``, ``…/items/{id}:/{name}`` (a child by name),
  ``…/items/{id}/children`` (``$top``, then ``@odata.nextLink``), ``$select`` of known fields;
- ``POST …/items/{id}/children`` (a folder, ``conflictBehavior: fail`` → 409
  ``nameAlreadyExists``); ``PUT …/items/{id}:/{name}:/content`` (a small file, 4 MiB at most);
- ``POST …/items/{id}:/{name}:/createUploadSession`` → a pre-authenticated ``uploadUrl``;
  ``PUT`` fragments with ``Content-Range: bytes a-b/total`` — every fragment but the last a
  multiple of 320 KiB, starting exactly at the next expected byte (else 416), *without*
  ``Authorization`` (401 if present, as Graph warns); ``GET`` tells ``nextExpectedRanges``;
  ``DELETE`` cancels; the name is checked again at completion (409);
- ``GET …/items/{id}/content`` → 302 to a pre-authenticated download URL;
- ``DELETE …/items/{id}``, ``POST …/items/{id}/checkin``, ``PATCH …/items/{id}/listItem/fields``.

Anything else is a 400.  Modes as in the REST server: ``throttle_every`` (429 or 503 with
``Retry-After`` on any request, fragments included, before any processing),
``checkout_required`` and ``required_columns``.  Fragments are logged; a byte range received
twice is recorded in :attr:`GraphProtocol.duplicate_fragments`.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from tests.adapters.protocol_server import Protocol, Request, Response, file_chunks

TOKEN = "G"
SITE_PATH = "/sites/grc"
LIBRARY = "Shared Documents"
UNIT = 320 * 1024
SMALL_UPLOAD_LIMIT = 4 * 1024 * 1024
FIELDS = {
    "id",
    "name",
    "size",
    "lastModifiedDateTime",
    "createdDateTime",
    "parentReference",
    "file",
    "folder",
    "publication",
    "webUrl",
}
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message}}
        return Response.json(body, status=self.status)


def bad(why: str) -> GraphError:
    return GraphError(400, "invalidRequest", why)


@dataclass
class Item:
    id: str
    name: str
    parent: Item | None
    folder: bool
    blob: Path | None = None
    size: int = 0
    created: str = field(default_factory=_now)
    modified: str = field(default_factory=_now)
    checked_out: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    children: dict[str, Item] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The path under the drive root (``/CRM/ACME``; ``""`` for the root)."""
        return "" if self.parent is None else f"{self.parent.path}/{self.name}"


@dataclass
class Session:
    id: str
    parent: Item
    name: str
    staging: Path
    total: int | None = None
    received: int = 0


class GraphProtocol(Protocol):
    def __init__(
        self,
        root: Path,
        *,
        columns: tuple[str, ...] = (),
        throttle_every: int = 0,
        throttle_status: int = 429,
        retry_after: str = "2",
        checkout_required: bool = False,
        required_columns: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "staging").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.tokens = {TOKEN}
        self.base_url = ""
        self.columns = ("Title", *columns)
        self.throttle_every, self.throttle_status = throttle_every, throttle_status
        self.retry_after = retry_after
        self.checkout_required = checkout_required
        self.required_columns = required_columns
        self.requests = 0
        self.throttled: list[tuple[str, str]] = []
        #: Bodies of check-in requests.
        self.check_ins: list[dict[str, Any]] = []
        self.fragments: list[dict[str, Any]] = []
        self.duplicate_fragments: list[dict[str, Any]] = []
        self.sessions: dict[str, Session] = {}
        self.items: dict[str, Item] = {}
        self.drive_id = "b!" + "d" * 20
        self.drive_root = self._add(None, "root", folder=True)

    # --- state ------------------------------------------------------------------------------

    def _add(self, parent: Item | None, name: str, *, folder: bool) -> Item:
        item_id = "01" + uuid.uuid4().hex[:32].upper()
        item = Item(item_id, name, parent, folder)
        if not folder:
            item.blob = self.root / "blobs" / item_id
            item.blob.touch()
            item.checked_out = self.checkout_required
        self.items[item_id] = item
        if parent is not None:
            parent.children[name.casefold()] = item
        return item

    def item_at(self, path: str) -> Item | None:
        """The item at ``/CRM/ACME/x.pdf`` under the drive root (tests inspect the tree)."""
        item: Item | None = self.drive_root
        for name in [p for p in path.split("/") if p]:
            item = item.children.get(name.casefold()) if item is not None else None
        return item

    def files(self, under: str = "") -> dict[str, int]:
        """``path → size`` of every file under ``under``."""
        with self.lock:
            found = {}
            pending = [self.item_at(under)]
            while pending:
                item = pending.pop()
                if item is None:
                    continue
                for child in item.children.values():
                    if child.folder:
                        pending.append(child)
                    else:
                        found[child.path] = child.size
            return found

    def json(self, item: Item, select: str | None = None) -> dict[str, Any]:
        parent = item.parent
        data: dict[str, Any] = {
            "id": item.id,
            "name": item.name,
            "size": item.size if not item.folder else sum(self.files(item.path).values()),
            "createdDateTime": item.created,
            "lastModifiedDateTime": item.modified,
            "webUrl": f"https://contoso.sharepoint.com{SITE_PATH}/{quote(LIBRARY)}"
            + quote(item.path),
        }
        if parent is not None:
            data["parentReference"] = {
                "driveId": self.drive_id,
                "driveType": "documentLibrary",
                "id": parent.id,
                "path": f"/drives/{self.drive_id}/root:" + quote(parent.path),
            }
        if item.folder:
            data["folder"] = {"childCount": len(item.children)}
        else:
            data["file"] = {"mimeType": "application/octet-stream", "hashes": {}}
            data["publication"] = {
                "level": "checkout" if item.checked_out else "published",
                "versionId": "0.1" if item.checked_out else "1.0",
            }
        if select is None:
            return data
        names = [n for n in select.split(",") if n]
        unknown = [n for n in names if n not in FIELDS]
        if unknown or not names:
            raise bad(f"Could not find a property named '{(unknown or [''])[0]}' on 'driveItem'")
        return {n: data[n] for n in names if n in data}

    # --- entry point ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
            if self.throttle_every and self.requests % self.throttle_every == 0:
                self.throttled.append((request.method, request.raw_path))
                return Response.json(
                    {"error": {"code": "activityLimitReached", "message": "throttled"}},
                    status=self.throttle_status,
                    **{"Retry-After": self.retry_after},
                )
        try:
            with self.lock:
                return self._handle(request)
        except GraphError as error:
            return error.response()

    def _handle(self, request: Request) -> Response:
        raw, _, raw_query = request.raw_path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw.startswith("/upload/"):
            return self._session_request(request, raw[len("/upload/") :], query)
        if raw.startswith("/download/"):
            return self._download(request, raw[len("/download/") :], query)
        if not raw.startswith("/v1.0/"):
            raise bad("not a Graph v1.0 path")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        unknown = set(query) - {
            "$select",
            "$top",
            "$skiptoken",
            "@microsoft.graph.conflictBehavior",
        }
        if unknown:
            raise bad(f"unsupported query option(s) {sorted(unknown)}")
        return self._route(request, raw[len("/v1.0/") :], query)

    def _route(self, request: Request, raw: str, query: dict[str, str]) -> Response:
        method = request.method
        if raw.startswith("sites/"):
            return self._sites(request, raw[len("sites/") :], query)
        prefix = f"drives/{self.drive_id}/"
        if not raw.startswith(prefix):
            raise GraphError(404, "itemNotFound", "The drive could not be found.")
        rest = raw[len(prefix) :]
        if rest == "root" and method == "GET":
            return Response.json(self.json(self.drive_root, query.get("$select")))
        if not rest.startswith("items/"):
            raise bad(f"unknown drive path {rest!r}")
        parts = rest[len("items/") :].split(":")
        item = self.items.get(parts[0].split("/", 1)[0])
        if item is None:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        if len(parts) == 1:
            tail = parts[0].split("/", 1)[1] if "/" in parts[0] else ""
            return self._on_item(request, item, tail, query)
        name = unquote(parts[1].lstrip("/"))
        if not name or "/" in name:
            raise bad("this server addresses one child name at a time")
        action = parts[2].lstrip("/") if len(parts) == 3 else ""
        if len(parts) > 3 or (len(parts) == 3 and not action):
            raise bad("malformed item path")
        return self._on_child(request, item, name, action, query)

    def _sites(self, request: Request, rest: str, query: dict[str, str]) -> Response:
        if request.method != "GET":
            raise bad("sites are read-only here")
        if rest.endswith("/drives"):
            if rest[: -len("/drives")] != "site-1":
                raise GraphError(404, "itemNotFound", "The site could not be found.")
            if query.get("$select") != "id,name,webUrl":
                raise bad("select id,name,webUrl of drives")
            web = f"https://contoso.sharepoint.com{SITE_PATH}"
            return Response.json(
                {
                    "value": [
                        {"id": "b!other", "name": "Site Assets", "webUrl": f"{web}/SiteAssets"},
                        {"id": self.drive_id, "name": "Documents",
                         "webUrl": f"{web}/{quote(LIBRARY)}"},
                    ]
                }
            )  # fmt: skip
        host, _, path = rest.partition(":")
        if not host or path != SITE_PATH or query.get("$select") != "id":
            raise GraphError(404, "itemNotFound", f"Requested site could not be found: {rest}")
        return Response.json({"id": "site-1"})

    def _on_item(self, request: Request, item: Item, tail: str, query: dict[str, str]) -> Response:
        method = request.method
        if tail == "" and method == "GET":
            return Response.json(self.json(item, query.get("$select")))
        if tail == "" and method == "DELETE":
            if item.parent is None:
                raise bad("the root cannot be deleted")
            self._remove(item)
            return Response(204, b"")
        if tail == "children" and method == "GET":
            return self._children(item, query)
        if tail == "children" and method == "POST":
            body = self._body(request)
            if (
                set(body) != {"name", "folder", "@microsoft.graph.conflictBehavior"}
                or body["folder"] != {}
            ):
                raise bad("a folder is {name, folder: {}, @microsoft.graph.conflictBehavior}")
            if body["@microsoft.graph.conflictBehavior"] != "fail":
                raise bad("only conflictBehavior fail is served")
            self._free(item, body["name"])
            return Response.json(self.json(self._add(item, body["name"], folder=True)), 201)
        if tail == "content" and method == "GET":
            if item.folder:
                raise bad("a folder has no content")
            location = f"{self.base_url}/download/{item.id}?tempauth={uuid.uuid4().hex}"
            return Response(302, b"", {"Location": location})
        if tail == "checkin" and method == "POST":
            body = self._body(request)
            if set(body) - {"comment", "checkInAs"}:
                raise bad("checkin takes comment and checkInAs")
            if body.get("checkInAs", "unspecified") not in ("published", "unspecified"):
                raise bad("checkInAs is published or unspecified")
            self.check_ins.append(body)
            if not item.checked_out:
                raise GraphError(400, "invalidRequest", "The file is not checked out.")
            if any(item.fields.get(c) in (None, "") for c in self.required_columns):
                raise GraphError(
                    400,
                    "invalidRequest",
                    "You must fill out all required properties before checking in this document.",
                )
            item.checked_out = False
            return Response(204, b"")
        if tail == "listItem/fields" and method == "PATCH":
            body = self._body(request)
            unknown = [k for k in body if k not in self.columns]
            if unknown:
                raise bad(f"Field '{unknown[0]}' is not recognized")
            item.fields.update(body)
            return Response.json({"id": "1", **item.fields})
        raise bad(f"unknown item path {tail!r} for {method}")

    def _on_child(
        self, request: Request, parent: Item, name: str, action: str, query: dict[str, str]
    ) -> Response:
        method = request.method
        child = parent.children.get(name.casefold())
        if action == "" and method == "GET":
            if child is None:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            return Response.json(self.json(child, query.get("$select")))
        if action == "content" and method == "GET":
            if child is None or child.folder:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            location = f"{self.base_url}/download/{child.id}?tempauth={uuid.uuid4().hex}"
            return Response(302, b"", {"Location": location})
        if action == "content" and method == "PUT":
            if query.get("@microsoft.graph.conflictBehavior") != "fail":
                raise bad("only conflictBehavior=fail is served")
            length = int(request.headers.get("content-length", "0"))
            if length > SMALL_UPLOAD_LIMIT:
                raise GraphError(413, "requestTooLarge", "Use an upload session above 4 MB.")
            self._free(parent, name)
            item = self._add(parent, name, folder=False)
            assert item.blob is not None
            data = request.read_body(SMALL_UPLOAD_LIMIT + 1)
            item.blob.write_bytes(data)
            item.size = len(data)
            return Response.json(self.json(item), 201)
        if action == "createUploadSession" and method == "POST":
            body = self._body(request)
            if body != {"item": {"@microsoft.graph.conflictBehavior": "fail"}}:
                raise bad('createUploadSession takes {"item": {conflictBehavior: fail}}')
            self._free(parent, name)
            sid = uuid.uuid4().hex
            staging = self.root / "staging" / sid
            staging.touch()
            self.sessions[sid] = Session(sid, parent, name, staging)
            return Response.json(
                {
                    "uploadUrl": f"{self.base_url}/upload/{sid}?tempauth=x",
                    "expirationDateTime": "2099-01-01T00:00:00Z",
                    "nextExpectedRanges": ["0-"],
                }
            )
        raise bad(f"unknown child action {action!r} for {method}")

    def _free(self, parent: Item, name: str) -> None:
        if not parent.folder:
            raise bad("not a folder")
        if name.casefold() in parent.children:
            raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")

    def _remove(self, item: Item) -> None:
        for child in list(item.children.values()):
            self._remove(child)
        if item.blob is not None:
            item.blob.unlink(missing_ok=True)
        assert item.parent is not None
        del item.parent.children[item.name.casefold()]
        del self.items[item.id]

    def _children(self, item: Item, query: dict[str, str]) -> Response:
        top = int(query.get("$top", "200"))
        start = int(query.get("$skiptoken", "0"))
        children = list(item.children.values())
        page = children[start : start + top]
        body: dict[str, Any] = {"value": [self.json(c, query.get("$select")) for c in page]}
        if start + top < len(children):
            select = quote(query.get("$select", ""), safe=",")
            body["@odata.nextLink"] = (
                f"{self.base_url}/v1.0/drives/{self.drive_id}/items/{item.id}/children"
                f"?$select={select}&$top={top}&$skiptoken={start + top}"
            )
        return Response.json(body)

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise bad("a JSON body needs Content-Type: application/json")
        try:
            body = json.loads(request.read_body(1 << 20))
        except ValueError:
            raise bad("the body is not JSON") from None
        if not isinstance(body, dict):
            raise bad("the body is not an object")
        return body

    # --- upload sessions and downloads ------------------------------------------------------

    def _session_request(self, request: Request, sid: str, query: dict[str, str]) -> Response:
        if "authorization" in request.headers:
            raise GraphError(
                401, "unauthenticated", "Do not send Authorization to a pre-authenticated URL."
            )
        session = self.sessions.get(sid)
        if session is None:
            raise GraphError(404, "itemNotFound", "The upload session was not found.")
        if request.method == "GET":
            return Response.json(
                {
                    "expirationDateTime": "2099-01-01T00:00:00Z",
                    "nextExpectedRanges": [f"{session.received}-"],
                }
            )
        if request.method == "DELETE":
            session.staging.unlink(missing_ok=True)
            del self.sessions[sid]
            return Response(204, b"")
        if request.method != "PUT":
            raise bad("upload sessions take PUT, GET and DELETE")
        match = _RANGE.fullmatch(request.headers.get("content-range", ""))
        length = int(request.headers.get("content-length", "-1"))
        if match is None:
            raise bad("Content-Range must be 'bytes a-b/total'")
        start, end, total = (int(g) for g in match.groups())
        record = {"session": sid, "start": start, "end": end, "complete": False}
        self.fragments.append(record)
        if end - start + 1 != length or end >= total:
            raise bad("Content-Range and Content-Length disagree")
        if session.total not in (None, total):
            raise bad("the total size changed")
        if end + 1 < total and length % UNIT:
            raise bad("fragments must be multiples of 320 KiB")
        if start < session.received:
            self.duplicate_fragments.append(record)
        if start != session.received:
            raise GraphError(
                416,
                "invalidRange",
                f"The uploaded fragment overlaps or skips data; expected {session.received}.",
            )
        session.total = total
        written = 0
        with session.staging.open("ab") as out:
            for data in request.iter_body():
                out.write(data)
                written += len(data)
        if written != length:
            with session.staging.open("r+b") as out:
                out.truncate(session.received)
            raise bad("body cut short")
        session.received += written
        record["complete"] = True
        if session.received < total:
            return Response.json(
                {
                    "expirationDateTime": "2099-01-01T00:00:00Z",
                    "nextExpectedRanges": [f"{session.received}-"],
                },
                status=202,
            )
        del self.sessions[sid]
        if session.name.casefold() in session.parent.children:
            session.staging.unlink(missing_ok=True)
            raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
        item = self._add(session.parent, session.name, folder=False)
        assert item.blob is not None
        shutil.move(session.staging, item.blob)
        item.size = total
        return Response.json(self.json(item), 201)

    def _download(self, request: Request, item_id: str, query: dict[str, str]) -> Response:
        item = self.items.get(item_id)
        if request.method != "GET" or "tempauth" not in query:
            raise bad("downloads are GETs of a pre-authenticated URL")
        if item is None or item.blob is None:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return Response(200, file_chunks(item.blob), {}, content_type="application/octet-stream")

    def open_sessions(self) -> list[str]:
        with self.lock:
            return list(self.sessions)


def chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
