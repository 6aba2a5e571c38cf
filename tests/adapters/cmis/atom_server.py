"""A strict CMIS 1.1 AtomPub binding server, Alfresco-like, over the same repository model.

It shares its state (folders, documents, versions, naming rules, errors' statuses) with the
Browser binding server (:class:`~tests.adapters.cmis.server.CmisProtocol`) and answers the
AtomPub subset the adapter uses, as the OASIS specification and Alfresco define it:

- ``GET {ATOM}`` — the service document (``application/atomsvc+xml``): one ``app:workspace``
  per repository with ``cmisra:repositoryInfo``, the root collection and the
  ``objectbyid`` / ``objectbypath`` URI templates;
- ``GET {ATOM}/id?id=…`` and ``GET {ATOM}/path?path=…`` (with the templates' parameters) —
  an ``atom:entry`` holding ``cmisra:object`` / ``cmis:properties``, the ``self``, ``edit``,
  ``down`` (folders) and ``edit-media`` links and ``atom:content src`` (documents);
- ``GET {ATOM}/children?id=…&maxItems=…&skipCount=…`` — an ``atom:feed`` with
  ``cmisra:numItems`` and a ``next`` link while more remain;
- ``POST {ATOM}/children?id=…`` — an ``atom:entry`` (``application/atom+xml;type=entry``)
  whose ``cmisra:object`` gives ``cmis:name``, ``cmis:objectTypeId`` and optionally
  ``cmis:description``; an inline base64 ``cmisra:content`` is accepted too;
- ``PUT {ATOM}/content?id=…`` — the content stream, raw, read as it arrives (201);
  ``GET {ATOM}/content?id=…`` — streamed back; ``DELETE {ATOM}/entry?id=…`` — 204.

Anything else is a 400; errors are text bodies with OpenCMIS's statuses (404
objectNotFound, 409 contentAlreadyExists/constraint, 401).
"""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.dom import minidom
from xml.sax.saxutils import escape, quoteattr

from ..protocol_server import Request, Response, file_chunks
from .server import _BAD_NAME, CmisError, CmisProtocol, Node, _now_ms

ATOM = "/alfresco/api/-default-/public/cmis/versions/1.1/atom"
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "app": "http://www.w3.org/2007/app",
    "cmis": "http://docs.oasis-open.org/ns/cmis/core/200908/",
    "cmisra": "http://docs.oasis-open.org/ns/cmis/restatom/200908/",
}
XMLNS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
ENTRY_TYPE = "application/atom+xml;type=entry"
FEED_TYPE = "application/atom+xml;type=feed"
TEMPLATE_PARAMS = (
    "filter",
    "includeAllowableActions",
    "includeACL",
    "includePolicyIds",
    "includeRelationships",
    "renditionFilter",
)
_XML_TYPES = {
    "id": "propertyId",
    "string": "propertyString",
    "integer": "propertyInteger",
    "boolean": "propertyBoolean",
    "datetime": "propertyDateTime",
}


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _value(ptype: str, value: Any) -> str:
    if ptype == "datetime":
        return _iso(int(value))
    if ptype == "boolean":
        return "true" if value else "false"
    return str(value)


class AtomPubProtocol(CmisProtocol):
    """The AtomPub binding of a :class:`CmisProtocol` repository (see the module doc)."""

    def handle(self, request: Request) -> Response:
        try:
            if request.headers.get("authorization") != self.credentials:
                raise CmisError(401, "unauthorized", "Unauthorized")
            return self._atom_route(request)
        except CmisError as error:
            headers = {"WWW-Authenticate": 'Basic realm="Alfresco"'} if error.status == 401 else {}
            body = f"{error.exception}: {error.message}".encode()
            return Response(error.status, body, headers, "text/plain;charset=UTF-8")

    # --- routing ----------------------------------------------------------------------------

    def _atom_route(self, request: Request) -> Response:
        path = request.raw_path.split("?", 1)[0]
        query, method = request.query, request.method
        base = f"http://{request.headers.get('host', 'localhost')}{ATOM}"
        if method == "GET" and path == ATOM:
            if query:
                raise CmisError(400, "invalidArgument", "the service document takes no query")
            return self._xml(self._service(base), "application/atomsvc+xml;charset=UTF-8")
        if not path.startswith(ATOM + "/"):
            raise CmisError(400, "invalidArgument", f"unknown route {method} {path}")
        resource = path[len(ATOM) + 1 :]
        if resource in ("id", "path") and method == "GET":
            self._only(query, {resource, *TEMPLATE_PARAMS}, required={resource})
            with self.lock:
                if resource == "id":
                    node = self._by_id(query["id"])
                else:
                    node = self._at_path(query["path"])
                return self._entry_response(node, base)
        if resource == "children" and method == "GET":
            self._only(query, {"id", "maxItems", "skipCount"}, required={"id"})
            with self.lock:
                return self._feed(self._by_id(query["id"]), query, base)
        if resource == "children" and method == "POST":
            self._only(query, {"id"}, required={"id"})
            return self._create(request, query["id"], base)
        if resource == "content" and method == "PUT":
            self._only(query, {"id"}, required={"id"})
            return self._set_content(request, query["id"], base)
        if resource == "content" and method == "GET":
            self._only(query, {"id"}, required={"id"})
            with self.lock:
                node = self._by_id(query["id"])
                if node.kind != "document" or node.content is None:
                    raise CmisError(409, "constraint", "Document has no content")
                content, mime = node.content, node.mime or "application/octet-stream"
            return Response(200, file_chunks(content), {}, mime)
        if resource == "entry" and method == "DELETE":
            self._only(query, {"id", "allVersions"}, required={"id"})
            with self.lock:
                self._delete(self._by_id(query["id"]))
            return Response(204, b"", {}, "text/plain")
        raise CmisError(400, "invalidArgument", f"unknown route {method} {path}")

    @staticmethod
    def _only(query: dict[str, str], allowed: set[str], *, required: set[str]) -> None:
        unknown = sorted(set(query) - allowed)
        if unknown:
            raise CmisError(400, "invalidArgument", f"unknown parameter(s) {unknown}")
        missing = sorted(required - set(query))
        if missing:
            raise CmisError(400, "invalidArgument", f"missing parameter(s) {missing}")

    def _at_path(self, path: str) -> Node:
        if not path.startswith("/"):
            raise CmisError(400, "invalidArgument", "path must be absolute")
        node = self._walk([s for s in path.split("/") if s])
        if node is None:
            raise CmisError(404, "objectNotFound", f"Object not found: {path}")
        return node

    # --- XML --------------------------------------------------------------------------------

    @staticmethod
    def _xml(text: str, content_type: str, status: int = 200, **headers: str) -> Response:
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
        return Response(status, body, dict(headers), content_type)

    def _service(self, base: str) -> str:
        workspaces = []
        for repo_id in self.repositories:
            templates = "&".join(f"{p}={{{p}}}" for p in TEMPLATE_PARAMS)
            workspaces.append(
                f"""<app:workspace><atom:title>{escape(repo_id)}</atom:title>
<cmisra:repositoryInfo><cmis:repositoryId>{escape(repo_id)}</cmis:repositoryId>
<cmis:repositoryName>Main Repository</cmis:repositoryName>
<cmis:repositoryDescription></cmis:repositoryDescription>
<cmis:vendorName>Alfresco</cmis:vendorName>
<cmis:productName>Alfresco Content Services</cmis:productName>
<cmis:productVersion>23.2.1 (r1 3b6a1f9)</cmis:productVersion>
<cmis:rootFolderId>{self.root_id}</cmis:rootFolderId>
<cmis:cmisVersionSupported>1.1</cmis:cmisVersionSupported>
<cmis:capabilities><cmis:capabilityContentStreamUpdatability>anytime</cmis:capabilityContentStreamUpdatability>
<cmis:capabilityUnfiling>false</cmis:capabilityUnfiling></cmis:capabilities>
</cmisra:repositoryInfo>
<app:collection href={quoteattr(f"{base}/children?id={self.root_id}")}>
<atom:title>Root Collection</atom:title><cmisra:collectionType>root</cmisra:collectionType>
</app:collection>
<cmisra:uritemplate><cmisra:template>{escape(f"{base}/id?id={{id}}&{templates}")}</cmisra:template>
<cmisra:type>objectbyid</cmisra:type><cmisra:mediatype>{ENTRY_TYPE}</cmisra:mediatype></cmisra:uritemplate>
<cmisra:uritemplate><cmisra:template>{escape(f"{base}/path?path={{path}}&{templates}")}</cmisra:template>
<cmisra:type>objectbypath</cmisra:type><cmisra:mediatype>{ENTRY_TYPE}</cmisra:mediatype></cmisra:uritemplate>
</app:workspace>"""
            )
        return f"<app:service {XMLNS}>{''.join(workspaces)}</app:service>"

    def _entry(self, node: Node, base: str, *, root: bool = True) -> str:
        properties = self._object_json(node)["properties"]
        props = []
        for prop in properties.values():
            tag = _XML_TYPES[prop["type"]]
            values = prop["value"] if isinstance(prop["value"], list) else [prop["value"]]
            inner = "".join(
                f"<cmis:value>{escape(_value(prop['type'], v))}</cmis:value>"
                for v in values
                if v is not None
            )
            props.append(
                f"<cmis:{tag} propertyDefinitionId={quoteattr(prop['id'])}>{inner}</cmis:{tag}>"
            )
        oid = quote(node.object_id, safe="")
        links = [
            f'<atom:link rel="self" href={quoteattr(f"{base}/entry?id={oid}")}/>',
            f'<atom:link rel="edit" href={quoteattr(f"{base}/entry?id={oid}")}/>',
        ]
        content = ""
        if node.kind == "folder":
            links.append(
                f'<atom:link rel="down" type="{FEED_TYPE}" '
                f"href={quoteattr(f'{base}/children?id={oid}')}/>"
            )
        else:
            media = f"{base}/content?id={oid}"
            links.append(f'<atom:link rel="edit-media" href={quoteattr(media)}/>')
            mime = quoteattr(node.mime or "application/octet-stream")
            content = f"<atom:content src={quoteattr(media)} type={mime}/>"
        namespaces = f" {XMLNS}" if root else ""
        return (
            f"<atom:entry{namespaces}><atom:id>urn:uuid:{node.node_id}</atom:id>"
            f"<atom:title>{escape(node.name)}</atom:title>"
            f"<atom:updated>{_iso(node.modified)}</atom:updated>"
            f"{''.join(links)}{content}"
            f"<cmisra:object><cmis:properties>{''.join(props)}</cmis:properties></cmisra:object>"
            "</atom:entry>"
        )

    def _entry_response(self, node: Node, base: str, status: int = 200) -> Response:
        headers = {}
        if status == 201:
            headers["Location"] = f"{base}/entry?id={quote(node.object_id, safe='')}"
        return self._xml(self._entry(node, base), ENTRY_TYPE, status, **headers)

    def _feed(self, node: Node, query: dict[str, str], base: str) -> Response:
        if node.kind != "folder":
            raise CmisError(400, "invalidArgument", "Object is not a folder")
        try:
            max_items = min(int(query.get("maxItems", self.page_size)), self.page_size)
            skip = int(query.get("skipCount", 0))
        except ValueError:
            raise CmisError(400, "invalidArgument", "maxItems and skipCount are numbers") from None
        children = sorted(
            (self.nodes[i] for i in node.children.values()), key=lambda n: n.name.casefold()
        )
        page = children[skip : skip + max_items]
        oid = quote(node.object_id, safe="")
        links = [f'<atom:link rel="self" href={quoteattr(f"{base}/children?id={oid}")}/>']
        if skip + len(page) < len(children):
            nxt = f"{base}/children?id={oid}&maxItems={max_items}&skipCount={skip + len(page)}"
            links.append(f'<atom:link rel="next" type="{FEED_TYPE}" href={quoteattr(nxt)}/>')
        entries = "".join(self._entry(child, base, root=False) for child in page)
        return self._xml(
            f"<atom:feed {XMLNS}><atom:id>urn:uuid:{node.node_id}-children</atom:id>"
            f"<atom:title>{escape(node.name)}</atom:title>{''.join(links)}"
            f"<cmisra:numItems>{len(children)}</cmisra:numItems>{entries}</atom:feed>",
            FEED_TYPE,
        )

    # --- writes -------------------------------------------------------------------------------

    def _create(self, request: Request, parent_id: str, base: str) -> Response:
        if request.headers.get("content-type", "").split(";")[0] != "application/atom+xml":
            raise CmisError(400, "invalidArgument", "POST an atom entry")
        try:
            doc = minidom.parseString(request.read_body(1 << 20))
        except Exception:
            raise CmisError(400, "invalidArgument", "the body is not an atom entry") from None
        entry = doc.documentElement
        if entry.namespaceURI != NS["atom"] or entry.localName != "entry":
            raise CmisError(400, "invalidArgument", "the body is not an atom entry")
        properties: dict[str, str] = {}
        for element in entry.getElementsByTagNameNS(NS["cmis"], "properties")[0].childNodes:
            if element.nodeType != element.ELEMENT_NODE:
                continue
            pid = element.getAttribute("propertyDefinitionId")
            values = element.getElementsByTagNameNS(NS["cmis"], "value")
            properties[pid] = values[0].firstChild.data if values and values[0].firstChild else ""
        inline = entry.getElementsByTagNameNS(NS["cmisra"], "content")
        kind = {"cmis:folder": "folder", "cmis:document": "document"}.get(
            properties.get("cmis:objectTypeId", "")
        )
        unknown = sorted(set(properties) - {"cmis:name", "cmis:objectTypeId", "cmis:description"})
        if kind is None or unknown:
            raise CmisError(
                400, "invalidArgument", f"unsupported properties {unknown or properties}"
            )
        name = properties.get("cmis:name", "")
        with self.lock:
            parent = self._by_id(parent_id)
            if parent.kind != "folder":
                raise CmisError(400, "invalidArgument", "the parent is not a folder")
            if _BAD_NAME.search(name):
                raise CmisError(409, "constraint", f"Invalid property value: cmis:name={name!r}")
            if name.casefold() in parent.children:
                raise CmisError(409, "contentAlreadyExists", f"An object named {name} exists")
            node = self._new_node(kind, name, parent.node_id, f"cmis:{kind}")
            node.description = properties.get("cmis:description")
            if inline and kind == "document":
                data = inline[0].getElementsByTagNameNS(NS["cmisra"], "base64")[0].firstChild.data
                node.content = self.store / f"{node.node_id}.bin"
                node.content.write_bytes(base64.b64decode(data))
                node.length, node.mime = node.content.stat().st_size, "application/octet-stream"
            parent.children[name.casefold()] = node.node_id
            return self._entry_response(node, base, 201)

    def _set_content(self, request: Request, object_id: str, base: str) -> Response:
        with self.lock:
            node = self._by_id(object_id)
            if node.kind != "document":
                raise CmisError(409, "constraint", "Object is not a document")
        if "content-length" not in request.headers:
            raise CmisError(400, "invalidArgument", "the content stream needs a Content-Length")
        expected = int(request.headers["content-length"])
        handle, name = tempfile.mkstemp(dir=self.store, prefix="upload-")
        path, size = Path(name), 0
        try:
            with open(handle, "wb") as out:
                for piece in request.iter_body():
                    out.write(piece)
                    size += len(piece)
                    with self.lock:
                        self.content_bytes += len(piece)
            if size != expected:
                raise CmisError(400, "invalidArgument", "the content stream was cut short")
            with self.lock:
                self.content_uploads += 1
                node = self._by_id(object_id)
                target = self.store / f"{node.node_id}.bin"
                path.rename(target)
                node.content, node.length = target, size
                node.mime = request.headers.get("content-type") or "application/octet-stream"
                node.modified = _now_ms()
        finally:
            path.unlink(missing_ok=True)
        return Response(201, b"", {"Location": f"{base}/content?id={quote(object_id, safe='')}"})
