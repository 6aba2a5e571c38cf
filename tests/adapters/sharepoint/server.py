"""A strict SharePoint Online REST server: the subset ``office365-rest-python-client`` 3.3.0 emits.

It serves one site (``/sites/grc``) with one document library (``Shared Documents``), and
answers exactly the requests the SharePoint backend makes — nothing is guessed:

- ``POST /_api/contextInfo`` (the form digest; every other request must then carry it);
- ``Web/RootFolder``, ``Web/getFolderByServerRelativePath(DecodedUrl='…')``,
  ``Web/GetFolderById('…')``, then ``/Folders``, ``/Folders('name')``, ``/Folders/Add('name')``,
  ``/Files``, ``/Files/add(overwrite=…,url='…')``;
- ``Web/GetFileById('…')`` and ``Web/getFileByServerRelativePath(DecodedUrl='…')``, then
  ``/$value``, ``/startUpload(uploadID='…')``, ``/continueUpload(uploadID='…',fileOffset=N)``,
  ``/finishUpload(…)``, ``/CancelUpload`` (``{"uploadId"}`` body), ``/listItemAllFields`` and
  ``…/ValidateUpdateListItem``; a ``POST`` with ``X-HTTP-Method: DELETE`` and ``IF-MATCH``
  deletes a file;
- query options ``$select`` (known properties only), ``$top`` and ``$skip`` on collections.

Anything else — an unknown path, function, argument, query option, header, or a header of
the wrong shape — is a 400.  Every request needs ``Authorization: Bearer <token>`` (401) and
``Accept: application/json;odata=verbose``; ``POST`` also needs that ``Content-Type`` (the
client sends it even on binary bodies).

The quirks of the real service are reproduced (GED-NOTES): entities carry ``UniqueId`` and
are re-addressed by it; ``Length`` is a string; a missing file or folder is a 404 whose code is
``-2147024894, System.IO.FileNotFoundException``; ``Files/add(overwrite=true)`` silently
replaces; ``Files/add`` without a body leaves an empty placeholder; ``Folders/Add`` of an
existing folder returns it; the legacy URL-based ``Add``/``add`` refuse ``#`` and ``%`` and
the characters SharePoint forbids; decoded paths are limited to 400 characters; names are
case-insensitive.

Modes (keywords of :class:`SharePointProtocol`), modelled on SharePoint Online:

- ``throttle_every=N``: every N-th request, whatever it is (the form digest, a read, a
  creation, an upload fragment), is refused with ``throttle_status`` (429, or 503) and
  ``Retry-After: <retry_after>`` *before* it is processed, as SharePoint Online throttles;
  refused requests are listed in :attr:`SharePointProtocol.throttled`.
- ``checkout_required=True``: a library that requires check-out: a new document is checked
  out to its creator (``CheckOutType`` 0) until ``…/CheckIn(comment='…',checkInType=N)``;
  ``required_columns`` (which must be among ``columns``) without a value make the check-in
  fail with SharePoint's "required properties" error.

Bodies are streamed to files on disk (never held in memory), so that a test measuring the
client's memory does not measure the server's.  Upload-session fragments are logged
(:attr:`SharePointProtocol.chunks`), and a fragment received twice at the same offset is
recorded in :attr:`SharePointProtocol.duplicate_chunks`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from tests.adapters.protocol_server import Protocol, Request, Response

SITE = "/sites/grc"
LIBRARY = "Shared Documents"
TOKEN = "T"
VERBOSE = "application/json;odata=verbose"
MAX_PATH = 400

#: Headers the client sends; anything else is an unexpected header shape.
KNOWN_HEADERS = frozenset(
    {
        "host",
        "user-agent",
        "accept-encoding",
        "accept",
        "connection",
        "content-type",
        "content-length",
        "authorization",
        "x-requestdigest",
        "client-request-id",
        "x-http-method",
        "if-match",
    }
)
FILE_PROPERTIES = (
    "CheckInComment",
    "CheckOutType",
    "ContentTag",
    "CustomizedPageStatus",
    "ETag",
    "Exists",
    "IrmEnabled",
    "Length",
    "Level",
    "LinkingUri",
    "LinkingUrl",
    "MajorVersion",
    "MinorVersion",
    "Name",
    "ServerRelativePath",
    "ServerRelativeUrl",
    "TimeCreated",
    "TimeLastModified",
    "Title",
    "UIVersion",
    "UIVersionLabel",
    "UniqueId",
)
FOLDER_PROPERTIES = (
    "Exists",
    "IsWOPIEnabled",
    "ItemCount",
    "Name",
    "ProgID",
    "ServerRelativePath",
    "ServerRelativeUrl",
    "TimeCreated",
    "TimeLastModified",
    "UniqueId",
    "WelcomePage",
)
FILE_NAVIGATION = ("Author", "ListItemAllFields", "ModifiedBy", "Properties", "Versions")
FOLDER_NAVIGATION = ("Files", "Folders", "ListItemAllFields", "ParentFolder", "Properties")
# Refused by SharePoint Online in any name, and by the legacy URL-based Add/add also # and %.
_FORBIDDEN = re.compile(r'["*:<>?/\\|\x00-\x1f#%]')
_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$|^desktop\.ini$|^\.lock$")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SPError(Exception):
    """An error answer: status, SharePoint code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        if self.status == 401:
            # SharePoint Online's answer to a missing or unknown bearer token: no OData error.
            return Response(
                401,
                json.dumps({"error_description": "Invalid issuer or signature."}).encode(),
                {"WWW-Authenticate": 'Bearer realm="contoso", client_id="00000003-0000-0ff1"'},
                content_type="application/json",
            )
        body = {"error": {"code": self.code, "message": {"lang": "en-US", "value": self.message}}}
        return _json(body, self.status)


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), {}, content_type=f"{VERBOSE};charset=utf-8")


def bad(why: str) -> SPError:
    return SPError(400, "-1, Microsoft.SharePoint.Client.InvalidClientQueryException", why)


def not_found() -> SPError:
    return SPError(404, "-2147024894, System.IO.FileNotFoundException", "File Not Found.")


# --- the content model ----------------------------------------------------------------------


@dataclass
class UploadSession:
    upload_id: str
    staging: Path
    offset: int = 0
    received: set[int] = field(default_factory=set)


@dataclass
class SPFile:
    name: str
    uid: str
    folder: SPFolder
    blob: Path
    created: datetime
    modified: datetime
    length: int = 0
    version: int = 1
    item_id: int = 0
    fields: dict[str, Any] = field(default_factory=dict)
    session: UploadSession | None = None
    checked_out: bool = False

    @property
    def path(self) -> str:
        return f"{self.folder.path}/{self.name}"


@dataclass
class SPFolder:
    name: str
    uid: str
    parent: SPFolder | None
    created: datetime
    folders: dict[str, SPFolder] = field(default_factory=dict)
    files: dict[str, SPFile] = field(default_factory=dict)
    base_path: str = ""  # the web root's own path

    @property
    def path(self) -> str:
        return self.base_path if self.parent is None else f"{self.parent.path}/{self.name}"


@dataclass
class Collection:
    owner: SPFolder
    kind: str  # "files" | "folders"


@dataclass
class Item:
    file: SPFile


# --- parsing the OData path ---------------------------------------------------------------


@dataclass
class Segment:
    name: str
    args: list[Any] | None  # positional arguments
    named: dict[str, Any] | None  # named arguments


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside single-quoted literals and parentheses."""
    parts, current, quoted, depth, i = [], [], False, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            if quoted and text[i + 1 : i + 2] == "'":
                current.append("''")
                i += 2
                continue
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        if c == separator and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if quoted or depth:
        raise bad(f"unbalanced quotes or parentheses in {text!r}")
    parts.append("".join(current))
    return parts


def _literal(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'":
        inner = raw[1:-1]
        if re.search(r"(?<!')'(?!')", inner.replace("''", "")):
            raise bad(f"malformed string literal {raw!r}")
        return unquote(inner.replace("''", "'"))
    if raw in ("true", "false"):
        return raw == "true"
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    raise bad(f"unsupported literal {raw!r}")


def parse_path(raw: str) -> list[Segment]:
    segments = []
    for part in _split(raw, "/"):
        match = re.fullmatch(r"([^()]+)(?:\((.*)\))?", part, re.DOTALL)
        if not match:
            raise bad(f"malformed segment {part!r}")
        name, inside = unquote(match.group(1)), match.group(2)
        if inside is None:
            segments.append(Segment(name, None, None))
            continue
        pieces = [p for p in _split(inside, ",")] if inside else []
        if pieces and all(re.match(r"^[A-Za-z]+=", p) for p in pieces):
            named = {}
            for piece in pieces:
                key, _, value = piece.partition("=")
                named[key] = _literal(value)
            segments.append(Segment(name, None, named))
        else:
            segments.append(Segment(name, [_literal(p) for p in pieces], None))
    return segments


# --- the protocol ----------------------------------------------------------------------------


class SharePointProtocol(Protocol):
    """One site, one document library, stored under ``root`` (see the module docstring).

    :param root: a directory for blobs and upload staging files.
    :param columns: extra columns of the library (internal names) besides ``Title``.
    """

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
        assert set(required_columns) <= set(columns)
        self.throttle_every = throttle_every
        self.throttle_status = throttle_status
        self.retry_after = retry_after
        self.checkout_required = checkout_required
        self.required_columns = required_columns
        #: Requests refused by throttling: (method, raw path, upload step or None).
        self.throttled: list[tuple[str, str]] = []
        self.requests = 0
        self.root = root
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        (root / "staging").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.columns = ("Title", *columns)
        self.tokens = {TOKEN}
        self.digests: set[str] = set()
        self.chunks: list[dict[str, Any]] = []
        #: When set, ``$value`` responses break off after this many bytes.
        self.cut_downloads_after: int | None = None
        self.duplicate_chunks: list[dict[str, Any]] = []
        self._ids = 0
        self._items = 0
        now = _now()
        self.web_root = SPFolder("", self._new_id(), None, now, base_path=SITE)
        self.library = self._add_folder(self.web_root, LIBRARY)
        self._add_folder(self.library, "Forms")

    # --- state helpers ------------------------------------------------------------------

    def _new_id(self) -> str:
        # Deterministic ids keep golden transcripts stable from run to run.
        self._ids += 1
        return f"00000000-0000-4000-8000-{self._ids:012x}"

    def _add_folder(self, parent: SPFolder, name: str) -> SPFolder:
        folder = SPFolder(name, self._new_id(), parent, _now())
        parent.folders[name.casefold()] = folder
        return folder

    def _all_folders(self) -> Iterator[SPFolder]:
        pending = [self.web_root]
        while pending:
            folder = pending.pop()
            yield folder
            pending.extend(folder.folders.values())

    def _all_files(self) -> Iterator[SPFile]:
        for folder in self._all_folders():
            yield from folder.files.values()

    def folder_at(self, path: str) -> SPFolder | None:
        if path.casefold() == SITE.casefold():
            return self.web_root
        prefix = SITE + "/"
        if not path.casefold().startswith(prefix.casefold()):
            return None
        folder: SPFolder | None = self.web_root
        for name in path[len(prefix) :].split("/"):
            folder = folder.folders.get(name.casefold()) if folder else None
        return folder

    def file_at(self, path: str) -> SPFile | None:
        parent, _, name = path.rpartition("/")
        folder = self.folder_at(parent)
        return folder.files.get(name.casefold()) if folder else None

    def _folder_by_id(self, uid: str) -> SPFolder | None:
        return next((f for f in self._all_folders() if f.uid == uid.lower()), None)

    def _file_by_id(self, uid: str) -> SPFile | None:
        return next((f for f in self._all_files() if f.uid == uid.lower()), None)

    # --- what tests look at ---------------------------------------------------------------

    def tree(self) -> dict[str, int]:
        """Every file of the library: server-relative path → length."""
        with self.lock:
            return {
                f.path: f.length
                for f in self._all_files()
                if f.path.startswith(self.library.path + "/")
            }

    def documents(self, under: str) -> dict[str, int]:
        """Files under the folder ``under`` (server-relative), the key index excepted."""
        return {
            path: size
            for path, size in self.tree().items()
            if path.startswith(under + "/") and "/_grc-keys/" not in path
        }

    def markers(self, under: str) -> dict[str, str]:
        """Key-index markers under ``under``: name → content."""
        with self.lock:
            return {
                f.name: f.blob.read_text()
                for f in self._all_files()
                if f.path.startswith(under + "/_grc-keys/")
            }

    def content(self, path: str) -> bytes:
        with self.lock:
            file = self.file_at(path)
            assert file is not None, f"no file at {path}"
            return file.blob.read_bytes()

    def file_info(self, path: str) -> SPFile | None:
        with self.lock:
            return self.file_at(path)

    def open_sessions(self) -> list[str]:
        with self.lock:
            return [f.path for f in self._all_files() if f.session is not None]

    def staging_files(self) -> list[Path]:
        return sorted((self.root / "staging").iterdir())

    def chunk_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.chunks)

    def add_file(self, folder_path: str, name: str, data: bytes) -> SPFile:
        """Create a file directly (a document someone put there by hand)."""
        with self.lock:
            folder = self.folder_at(folder_path)
            assert folder is not None
            file = self._new_file(folder, name)
            file.blob.write_bytes(data)
            file.length = len(data)
            return file

    # --- the HTTP entry point -------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
            if self.throttle_every and self.requests % self.throttle_every == 0:
                # Refused before anything is looked at, as SharePoint Online throttles.
                self.throttled.append((request.method, request.raw_path))
                # SharePoint Online answers throttling with an HTML page, not an OData error.
                return Response(
                    self.throttle_status,
                    b"<html><body>The request has been throttled.</body></html>",
                    {"Retry-After": self.retry_after},
                    content_type="text/html; charset=utf-8",
                )
        try:
            with self.lock:
                return self._handle(request)
        except SPError as error:
            return error.response()

    def _handle(self, request: Request) -> Response:
        raw_path, _, raw_query = request.raw_path.partition("?")
        api = SITE + "/_api/"
        if not raw_path.casefold().startswith(api.casefold()):
            raise bad("not a REST API path of this site")
        self._check_headers(request)
        segments = parse_path(raw_path[len(api) :])
        query = self._query(raw_query)
        if len(segments) == 1 and segments[0].name.casefold() == "contextinfo":
            return self._context_info(request, segments[0], query)
        self._check_digest(request)
        return self._route(request, segments, query)

    def _check_headers(self, request: Request) -> None:
        headers = request.headers
        unknown = sorted(set(headers) - KNOWN_HEADERS)
        if unknown:
            raise bad(f"unexpected header(s) {', '.join(unknown)}")
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise SPError(401, "", "Invalid issuer or signature.")
        if headers.get("accept") != VERBOSE:
            raise bad(f"Accept must be {VERBOSE!r}, got {headers.get('accept')!r}")
        if request.method == "POST":
            if headers.get("content-type") != VERBOSE:
                raise bad(f"Content-Type must be {VERBOSE!r}")
            if "content-length" not in headers:
                raise bad("POST without Content-Length")
        elif request.method == "GET":
            if headers.get("content-length", "0") != "0" or "content-type" not in headers:
                raise bad("GET requests carry no body but the OData Content-Type header")
        else:
            raise bad(f"method {request.method} is not used by the client")
        method = headers.get("x-http-method")
        if method is not None and (method != "DELETE" or request.method != "POST"):
            raise bad(f"X-HTTP-Method {method!r} is not supported here")
        if (method is None) != ("if-match" not in headers):
            raise bad("IF-MATCH goes with X-HTTP-Method: DELETE, and only with it")

    @staticmethod
    def _query(raw: str) -> dict[str, str]:
        query = dict(parse_qsl(raw, keep_blank_values=True))
        unknown = sorted(set(query) - {"$select", "$top", "$skip"})
        if unknown:
            raise bad(f"unsupported query option(s) {', '.join(unknown)}")
        return query

    def _check_digest(self, request: Request) -> None:
        if request.headers.get("x-requestdigest") not in self.digests:
            raise SPError(
                403,
                "-2130575251, Microsoft.SharePoint.SPException",
                "The security validation for this page is invalid and might be corrupted. "
                "Please use your web browser's Back button to try your operation again.",
            )

    def _context_info(self, request: Request, segment: Segment, query: dict[str, str]) -> Response:
        if request.method != "POST" or segment.args is not None or query:
            raise bad("contextInfo is a POST without arguments")
        digest = f"0x{uuid.uuid4().hex.upper()},{_now().strftime('%d %b %Y %H:%M:%S -0000')}"
        self.digests.add(digest)
        return _json(
            {
                "d": {
                    "GetContextWebInformation": {
                        "__metadata": {"type": "SP.ContextWebInformation"},
                        "FormDigestTimeoutSeconds": 1800,
                        "FormDigestValue": digest,
                        "LibraryVersion": "16.0.26512.12003",
                        "SiteFullUrl": f"https://contoso.sharepoint.com{SITE}",
                        "SupportedSchemaVersions": {
                            "__metadata": {"type": "Collection(Edm.String)"},
                            "results": ["14.0.0.0", "15.0.0.0"],
                        },
                        "WebFullUrl": f"https://contoso.sharepoint.com{SITE}",
                    }
                }
            }
        )

    # --- routing --------------------------------------------------------------------------

    def _route(self, request: Request, segments: list[Segment], query: dict[str, str]) -> Response:
        first = segments[0]
        if first.name.casefold() != "web" or first.args is not None or first.named is not None:
            raise bad(f"unknown entry point {first.name!r}")
        _check_shape(segments)  # the whole path is known before anything is looked up
        target: Any = "web"
        for index, segment in enumerate(segments[1:], start=1):
            last = index == len(segments) - 1
            target = self._step(request, target, segment, last, query)
            if isinstance(target, Response):
                if not last:
                    raise bad(f"{segment.name} cannot be followed by more segments")
                return target
        if target == "web":
            raise bad("the Web entity itself is not served")
        if request.headers.get("x-http-method") == "DELETE":
            return self._delete(request, target, query)
        if request.method != "GET":
            raise bad(f"{request.method} on an entity needs a function")
        return self._read(target, query)

    def _step(
        self, request: Request, target: Any, segment: Segment, last: bool, query: dict[str, str]
    ) -> Any:
        name = segment.name.casefold()
        args, named = segment.args, segment.named

        def one_string() -> str:
            if named is not None or args is None or len(args) != 1 or not isinstance(args[0], str):
                raise bad(f"{segment.name} takes one string argument")
            return args[0]

        def decoded_url() -> str:
            if args is not None or named is None or set(named) != {"DecodedUrl"}:
                raise bad(f"{segment.name} takes DecodedUrl='…'")
            value = named["DecodedUrl"]
            if not isinstance(value, str) or not value.startswith("/"):
                raise bad("DecodedUrl must be a server-relative path")
            return value

        if target == "web":
            if name == "rootfolder" and args is None and named is None:
                return self.web_root
            if name == "getfolderbyserverrelativepath":
                return self.folder_at(decoded_url()) or _raise(not_found())
            if name == "getfolderbyid":
                return self._folder_by_id(one_string()) or _raise(not_found())
            if name == "getfilebyid":
                return self._file_by_id(one_string()) or _raise(not_found())
            if name == "getfilebyserverrelativepath":
                return self.file_at(decoded_url()) or _raise(not_found())
        elif isinstance(target, SPFolder):
            if name == "folders" and named is None:
                if args is None:
                    return Collection(target, "folders")
                return target.folders.get(one_string().casefold()) or _raise(not_found())
            if name == "files" and args is None and named is None:
                return Collection(target, "files")
        elif isinstance(target, Collection):
            if target.kind == "folders" and name == "add" and last:
                return self._add_folder_request(request, target.owner, one_string(), query)
            if target.kind == "files" and name == "add" and last:
                if args is not None or named is None or set(named) != {"overwrite", "url"}:
                    raise bad("Files/add takes overwrite=…,url='…'")
                return self._add_file(request, target.owner, named, query)
        elif isinstance(target, SPFile):
            if name == "$value" and args is None and named is None and last:
                return self._value(request, target, query)
            if name in ("startupload", "continueupload", "finishupload") and last:
                return self._upload(request, target, name, named, args, query)
            if name == "cancelupload" and args is None and named is None and last:
                return self._cancel(request, target, query)
            if name == "checkin" and last:
                return self._check_in(request, target, named, args, query)
            if name == "listitemallfields" and args is None and named is None:
                return Item(target)
        elif (
            isinstance(target, Item)
            and name == "validateupdatelistitem"
            and args is None
            and named is None
            and last
        ):
            return self._validate_update(request, target, query)
        raise bad(f"unknown segment {segment.name!r} here")

    # --- reads ----------------------------------------------------------------------------

    def _read(self, target: Any, query: dict[str, str]) -> Response:
        if isinstance(target, Collection):
            items: list[Any] = list(
                (target.owner.files if target.kind == "files" else target.owner.folders).values()
            )
            skip = self._number(query, "$skip", 0)
            top = self._number(query, "$top", len(items))
            page = items[skip : skip + top]
            results = [self._entity(e, query.get("$select")) for e in page]
            return _json({"d": {"results": results}})
        if {"$top", "$skip"} & set(query):
            raise bad("$top and $skip apply to collections")
        return _json({"d": self._entity(target, query.get("$select"))})

    @staticmethod
    def _number(query: dict[str, str], name: str, default: int) -> int:
        if name not in query:
            return default
        if not query[name].isdigit():
            raise bad(f"{name} must be a non-negative integer")
        return int(query[name])

    def _entity(self, entity: Any, select: str | None) -> dict[str, Any]:
        if isinstance(entity, SPFile):
            kind, known, data = "SP.File", FILE_PROPERTIES, self._file_json(entity)
            uri = f"Web/GetFileById('{entity.uid}')"
            navigation = FILE_NAVIGATION
        elif isinstance(entity, SPFolder):
            kind, known, data = "SP.Folder", FOLDER_PROPERTIES, self._folder_json(entity)
            uri = f"Web/GetFolderById('{entity.uid}')"
            navigation = FOLDER_NAVIGATION
        else:
            kind = "SP.Data.Shared_x0020_DocumentsItem"
            known = ("Id", "ID", "FileLeafRef", *self.columns)
            data = {
                "Id": entity.file.item_id,
                "ID": entity.file.item_id,
                "FileLeafRef": entity.file.name,
                **{c: entity.file.fields.get(c) for c in self.columns},
            }
            uri = f"Web/GetFileById('{entity.file.uid}')/listItemAllFields"
            navigation = ()
        absolute = f"https://contoso.sharepoint.com{SITE}/_api/{uri}"
        metadata: dict[str, Any] = {"id": absolute, "uri": absolute, "type": kind}
        if select is not None:
            names = [n for n in select.split(",") if n]
            unknown = [n for n in names if n not in known]
            if unknown or not names:
                raise bad(
                    f"The property '{(unknown or [''])[0]}' does not exist on type '{kind}'. "
                    "Make sure to only use property names that are defined by the type."
                )
            return {"__metadata": metadata, **{n: data[n] for n in names}}
        deferred = {n: {"__deferred": {"uri": f"{absolute}/{n}"}} for n in navigation}
        # ServerRelativePath is not a default property: SharePoint sends it when selected.
        data.pop("ServerRelativePath", None)
        return {"__metadata": metadata, **deferred, **data}

    @staticmethod
    def _file_json(file: SPFile) -> dict[str, Any]:
        return {
            "CheckInComment": "",
            "CheckOutType": 0 if file.checked_out else 2,
            "ContentTag": f"{{{file.uid.upper()}}},{file.version},{file.version}",
            "CustomizedPageStatus": 0,
            "ETag": f'"{{{file.uid.upper()}}},{file.version}"',
            "Exists": True,
            "IrmEnabled": False,
            "Length": str(file.length),  # a string, as SharePoint sends it
            "Level": 1,
            "LinkingUri": None,
            "LinkingUrl": "",
            "MajorVersion": file.version,
            "MinorVersion": 0,
            "Name": file.name,
            "ServerRelativePath": {
                "__metadata": {"type": "SP.ResourcePath"},
                "DecodedUrl": file.path,
            },
            "ServerRelativeUrl": file.path,
            "TimeCreated": _stamp(file.created),
            "TimeLastModified": _stamp(file.modified),
            "Title": file.fields.get("Title"),
            "UIVersion": 512 * file.version,
            "UIVersionLabel": f"{file.version}.0",
            "UniqueId": file.uid,
        }

    @staticmethod
    def _folder_json(folder: SPFolder) -> dict[str, Any]:
        return {
            "Exists": True,
            "IsWOPIEnabled": False,
            "ItemCount": len(folder.files) + len(folder.folders),
            "Name": folder.name,
            "ProgID": None,
            "ServerRelativePath": {
                "__metadata": {"type": "SP.ResourcePath"},
                "DecodedUrl": folder.path,
            },
            "ServerRelativeUrl": folder.path,
            "TimeCreated": _stamp(folder.created),
            "TimeLastModified": _stamp(folder.created),
            "UniqueId": folder.uid,
            "WelcomePage": "",
        }

    def _value(self, request: Request, file: SPFile, query: dict[str, str]) -> Response:
        if request.method != "GET" or query:
            raise bad("$value is a GET without query options")
        handle = file.blob.open("rb")  # opened now: a later delete cannot pull it away
        cut = self.cut_downloads_after

        def body() -> Iterator[bytes]:
            sent = 0
            with handle:
                while data := handle.read(256 * 1024):
                    if cut is not None and sent + len(data) > cut:
                        # Dropping the connection mid-body: the response never completes.
                        raise ConnectionAbortedError("download cut (simulated)")
                    sent += len(data)
                    yield data

        return Response(200, body(), {}, content_type="application/octet-stream")

    # --- writes ---------------------------------------------------------------------------

    def _check_name(self, parent: SPFolder, name: str) -> None:
        if (
            not name
            or _FORBIDDEN.search(name)
            or name != name.strip()
            or name.endswith(".")
            or name.startswith("~$")
            or "_vti_" in name.lower()
            or _RESERVED.match(name)
        ):
            raise SPError(
                400,
                "-2130575245, Microsoft.SharePoint.SPException",
                f"The file or folder name '{name}' contains characters that are not permitted.",
            )
        if len(f"{parent.path}/{name}") > MAX_PATH:
            raise SPError(
                400,
                "-2147024690, System.IO.PathTooLongException",
                "The specified file or folder name is too long. The URL path for all files and "
                "folders must be 400 characters or less (and no more than 128 characters for "
                "any single file or folder name in the URL).",
            )

    @staticmethod
    def _no_body(request: Request, what: str) -> None:
        if request.headers.get("content-length", "0") != "0":
            raise bad(f"{what} takes no body")

    def _add_folder_request(
        self, request: Request, parent: SPFolder, name: str, query: dict[str, str]
    ) -> Response:
        if request.method != "POST" or query:
            raise bad("Folders/Add is a POST without query options")
        self._no_body(request, "Folders/Add")
        if "/" in name:
            raise bad("this server only adds one folder level at a time")
        existing = parent.folders.get(name.casefold())
        if existing is None:
            if parent.files.get(name.casefold()):
                raise SPError(
                    400,
                    "-2130575257, Microsoft.SharePoint.SPException",
                    f"A file with the name '{parent.path}/{name}' already exists.",
                )
            self._check_name(parent, name)
            existing = self._add_folder(parent, name)
        return _json({"d": self._entity(existing, None)})

    def _new_file(self, folder: SPFolder, name: str) -> SPFile:
        now = _now()
        self._items += 1
        uid = self._new_id()
        file = SPFile(name, uid, folder, self.root / "blobs" / uid, now, now, item_id=self._items)
        file.checked_out = self.checkout_required
        file.blob.touch()
        folder.files[name.casefold()] = file
        return file

    def _receive(self, request: Request, target: Path, *, append: bool) -> int:
        """Stream the body into ``target``; all of it, or nothing is kept."""
        expected = int(request.headers["content-length"])
        start = target.stat().st_size if append and target.exists() else 0
        written = 0
        with target.open("ab" if append else "wb") as out:
            for data in request.iter_body():
                out.write(data)
                written += len(data)
        if written != expected:
            with target.open("r+b") as out:
                out.truncate(start)
            raise bad(f"body cut short: {written} of {expected} bytes")
        return written

    def _add_file(
        self, request: Request, folder: SPFolder, named: dict[str, Any], query: dict[str, str]
    ) -> Response:
        if request.method != "POST" or query:
            raise bad("Files/add is a POST without query options")
        overwrite, name = named["overwrite"], named["url"]
        if not isinstance(overwrite, bool) or not isinstance(name, str):
            raise bad("Files/add takes overwrite=true|false and url='name'")
        if "/" in name:
            raise bad("this server only adds files by name")
        existing = folder.files.get(name.casefold())
        if existing is not None and not overwrite:
            raise SPError(
                400,
                "-2130575257, Microsoft.SharePoint.SPException",
                f"A file with the name '{existing.path}' already exists. It was last modified "
                f"by i:0i.t|00000003-0000-0ff1-ce00-000000000000|app@sharepoint on "
                f"{existing.modified:%d %b %Y %H:%M:%S} -0000.",
            )
        if existing is None:
            self._check_name(folder, name)
        staging = self.root / "staging" / f"add-{uuid.uuid4().hex}"
        try:
            length = self._receive(request, staging, append=False)
            # overwrite=true on an existing file: a silent replacement (new version, same id).
            file = existing or self._new_file(folder, name)
            os.replace(staging, file.blob)
        finally:
            staging.unlink(missing_ok=True)
        if existing is not None:
            file.version += 1
            file.modified = _now()
        file.length = length
        return _json({"d": self._entity(file, None)})

    def _upload(
        self,
        request: Request,
        file: SPFile,
        name: str,
        named: dict[str, Any] | None,
        args: list[Any] | None,
        query: dict[str, str],
    ) -> Response:
        if request.method != "POST" or query or args is not None or named is None:
            raise bad(f"{name} is a POST with named arguments")
        step = {"startupload": "StartUpload", "continueupload": "ContinueUpload"}.get(
            name, "FinishUpload"
        )
        wanted = {"uploadID"} if step == "StartUpload" else {"uploadID", "fileOffset"}
        if set(named) != wanted:
            raise bad(f"{step} takes {', '.join(sorted(wanted))}")
        upload_id, offset = named["uploadID"], named.get("fileOffset", 0)
        if not isinstance(upload_id, str) or not _GUID.fullmatch(upload_id):
            raise bad("uploadID must be a GUID")
        if not isinstance(offset, int):
            raise bad("fileOffset must be an integer")
        record = {"step": step, "upload_id": upload_id, "offset": offset, "file": file.uid}
        record["length"] = int(request.headers.get("content-length", "0"))
        record["complete"] = False
        self.chunks.append(record)
        session = file.session
        if step == "StartUpload":
            if session is not None:
                raise SPError(
                    423,
                    "-2147018894, Microsoft.SharePoint.SPFileLockException",
                    f"The file {file.path} is locked for exclusive use by an upload session.",
                )
            session = UploadSession(upload_id, self.root / "staging" / upload_id)
            session.staging.touch()
            file.session = session
        elif session is None or session.upload_id != upload_id:
            raise SPError(
                404,
                "-2147024894, System.IO.FileNotFoundException",
                "The upload session was not found.",
            )
        elif offset != session.offset:
            raise SPError(
                400,
                "-2147018887, Microsoft.SharePoint.SPException",
                f"The upload offset {offset} does not match the session's {session.offset}.",
            )
        if offset in session.received:
            self.duplicate_chunks.append(record)
        written = self._receive(request, session.staging, append=True)
        record["complete"] = True
        session.received.add(offset)
        session.offset += written
        if step != "FinishUpload":
            return _json({"d": {step: str(session.offset)}})
        os.replace(session.staging, file.blob)
        file.session = None
        file.length = session.offset
        file.version += 1
        file.modified = _now()
        return _json({"d": self._entity(file, None)})

    def _check_in(
        self,
        request: Request,
        file: SPFile,
        named: dict[str, Any] | None,
        args: list[Any] | None,
        query: dict[str, str],
    ) -> Response:
        if request.method != "POST" or query or args is not None:
            raise bad("CheckIn is a POST with named arguments")
        if named is None or set(named) != {"comment", "checkInType"}:
            raise bad("CheckIn takes comment='…',checkInType=N")
        if not isinstance(named["comment"], str) or named["checkInType"] not in (0, 1, 2):
            raise bad("CheckIn takes a string comment and a checkInType of 0, 1 or 2")
        self._no_body(request, "CheckIn")
        if not file.checked_out:
            raise SPError(
                400,
                "-2147024809, System.ArgumentException",
                f'The file "{file.path}" is not checked out.',
            )
        missing = [c for c in self.required_columns if file.fields.get(c) in (None, "")]
        if missing:
            raise SPError(
                400,
                "-2130575163, Microsoft.SharePoint.SPException",
                "You must fill out all required properties before checking in this document.",
            )
        file.checked_out = False
        file.version += 1
        file.modified = _now()
        return _json({"d": {"CheckIn": None}})

    def _cancel(self, request: Request, file: SPFile, query: dict[str, str]) -> Response:
        if request.method != "POST" or query:
            raise bad("CancelUpload is a POST")
        try:
            body = json.loads(request.read_body(4096) or b"null")
        except ValueError:
            raise bad("CancelUpload expects a JSON body") from None
        if not isinstance(body, dict) or set(body) != {"uploadId"}:
            raise bad('CancelUpload expects {"uploadId": "…"}')
        session = file.session
        if session is None or session.upload_id != body["uploadId"]:
            raise SPError(
                404,
                "-2147024894, System.IO.FileNotFoundException",
                "The upload session was not found.",
            )
        session.staging.unlink(missing_ok=True)
        file.session = None
        return _json({"d": {"CancelUpload": None}})

    def _validate_update(self, request: Request, item: Item, query: dict[str, str]) -> Response:
        if request.method != "POST" or query:
            raise bad("ValidateUpdateListItem is a POST")
        try:
            body = json.loads(request.read_body(1 << 20))
        except ValueError:
            raise bad("ValidateUpdateListItem expects a JSON body") from None
        allowed = {"formValues", "bNewDocumentUpdate", "checkInComment", "datesInUTC"}
        if not isinstance(body, dict) or "formValues" not in body or set(body) - allowed:
            raise bad("ValidateUpdateListItem expects {formValues, bNewDocumentUpdate…}")
        results = []
        for value in body["formValues"]:
            if (
                not isinstance(value, dict)
                or set(value) - {"FieldName", "FieldValue", "__metadata"}
                or value.get("__metadata", {}).get("type") != "SP.ListItemFormUpdateValue"
            ):
                raise bad("formValues holds SP.ListItemFormUpdateValue objects")
            name, text = value.get("FieldName"), value.get("FieldValue")
            known = name in self.columns
            if known:
                item.file.fields[name] = text
            results.append(
                {
                    "__metadata": {"type": "SP.ListItemFormUpdateValue"},
                    "ErrorCode": 0 if known else -2147024809,
                    "ErrorMessage": None
                    if known
                    else f"Column '{name}' does not exist. It may have been deleted by another "
                    "user.",
                    "FieldName": name,
                    "FieldValue": text,
                    "HasException": not known,
                    "ItemId": item.file.item_id,
                }
            )
        return _json(
            {
                "d": {
                    "ValidateUpdateListItem": {
                        "__metadata": {"type": "Collection(SP.ListItemFormUpdateValue)"},
                        "results": results,
                    }
                }
            }
        )

    def _delete(self, request: Request, target: Any, query: dict[str, str]) -> Response:
        if not isinstance(target, SPFile) or query:
            raise bad("only files are deleted by this server")
        if request.headers.get("if-match") not in ("*", self._file_json(target)["ETag"]):
            raise SPError(412, "-1, System.InvalidOperationException", "The ETag does not match.")
        self._no_body(request, "DELETE")
        if target.session is not None:
            target.session.staging.unlink(missing_ok=True)
        target.blob.unlink(missing_ok=True)
        del target.folder.files[target.name.casefold()]
        return Response(200, b"", {}, content_type=f"{VERBOSE};charset=utf-8")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _raise(error: Exception) -> Any:
    raise error


#: What may follow what in a path: kind → segment name → next kind ("end": nothing may follow).
_SHAPES: dict[str, dict[str, str]] = {
    "web": {
        "rootfolder": "folder",
        "getfolderbyserverrelativepath": "folder",
        "getfolderbyid": "folder",
        "getfilebyid": "file",
        "getfilebyserverrelativepath": "file",
    },
    "folder": {"folders": "folders", "files": "files"},
    "folders": {"add": "end"},
    "files": {"add": "end"},
    "file": {
        "$value": "end",
        "startupload": "end",
        "continueupload": "end",
        "finishupload": "end",
        "cancelupload": "end",
        "checkin": "end",
        "listitemallfields": "item",
    },
    "item": {"validateupdatelistitem": "end"},
}


def _check_shape(segments: list[Segment]) -> None:
    kind = "web"
    for segment in segments[1:]:
        name = segment.name.casefold()
        following = _SHAPES.get(kind, {}).get(name)
        if following is None:
            raise bad(f"unknown segment {segment.name!r} after {kind}")
        if kind == "folder" and name == "folders" and segment.args:
            following = "folder"  # Folders('name') addresses a child folder
        kind = following
