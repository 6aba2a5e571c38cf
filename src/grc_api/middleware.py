"""The outermost layer of every request: id, client address, limits, headers, last resort.

One pure ASGI middleware (no response buffering, so streamed downloads stay streamed):

* ``X-Request-ID``: the caller's (if it is a short token) or a new one; on every response
  and in every log line about the request;
* the client address and scheme from ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only when
  the direct peer is a configured proxy;
* request bodies larger than ``max_body`` refused with 413 (attachment uploads are bounded
  by the attachment policy instead, as they stream);
* security headers on every response (the web application, outside the API's prefix, gets
  its own Content-Security-Policy, :data:`grc_api.web.WEB_CSP`);
* an unexpected exception becomes a 500 problem naming the request id (never a trace).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from grc_api.problems import PROBLEM_JSON, TITLES, BodyTooLarge, problem_type
from grc_api.settings import ApiSettings
from grc_api.web.serving import WEB_CSP

log = logging.getLogger("grc_api")
access = logging.getLogger("grc_api.access")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: The request headers this layer reads.
_READ = frozenset({"x-request-id", "content-length", "x-forwarded-for", "x-forwarded-proto"})

#: The API serves JSON and files only: nothing may run, load or frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The interactive documentation loads FastAPI's Swagger UI bundle from jsDelivr.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class ApiMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: Callable[..., Any],
        settings: ApiSettings,
        *,
        prefix: str = "/api/v1",
        streamed_uploads: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.prefix = prefix
        self.streamed_uploads = streamed_uploads or (lambda method, path: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Only the few headers read here are decoded (ASGI servers give names in lower case).
        headers = {
            name: value.decode("latin-1")
            for k, value in scope["headers"]
            if (name := k.decode("latin-1").lower()) in _READ
        }
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(16)
        scope = self._forwarded(scope, headers)
        scope.setdefault("state", {})["request_id"] = request_id
        secure = scope.get("scheme") == "https" or self.settings.tls
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # mounted by a host: match our own routes
            path = path[len(root) :]
        docs = path.startswith(f"{self.prefix}/docs") or path.startswith(f"{self.prefix}/redoc")
        web = not (path == self.prefix or path.startswith(self.prefix + "/"))
        state = {"started": False, "status": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                extra = _security_headers(request_id, secure=secure, docs=docs, web=web)
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present),
                ]
            await send(message)

        limited = receive
        if not self.streamed_uploads(scope["method"], path):
            declared = headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.settings.max_body:
                await self._refuse_size(scope, send_with_headers, request_id)
                return
            limited = self._limited(receive)
        try:
            await self.app(scope, limited, send_with_headers)
        except BodyTooLarge:
            if not state["started"]:
                await self._refuse_size(scope, send_with_headers, request_id)
        except Exception:
            log.exception("request %s failed unexpectedly", request_id)
            if not state["started"]:
                await _problem(
                    send_with_headers,
                    scope,
                    500,
                    "internal-error",
                    f"an unexpected error occurred; quote request id {request_id} to the "
                    "administrator",
                    request_id,
                )
        finally:
            client = scope.get("client")
            access.info(
                "%s %s %s %s %d %.1fms",
                request_id,
                client[0] if client else "-",
                scope["method"],
                path,
                state["status"],
                (time.perf_counter() - started) * 1000,
            )

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.settings.max_body

        async def limited_receive() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return limited_receive

    async def _refuse_size(self, scope: Scope, send: Send, request_id: str) -> None:
        await _problem(
            send,
            scope,
            413,
            "request-too-large",
            f"the request body is larger than {self.settings.max_body:,} bytes",
            request_id,
        )

    def _forwarded(self, scope: Scope, headers: dict[str, str]) -> Scope:
        """Believe forwarding headers only from a configured proxy."""
        client = scope.get("client")
        if not client or not self.settings.trusts(client[0]):
            return scope
        scope = dict(scope)
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        # The nearest address that is not itself a trusted proxy is the client.
        for hop in reversed(hops):
            if not self.settings.trusts(hop):
                scope["client"] = (hop, 0)
                break
        return scope


def _fixed_headers(csp: str, secure: bool) -> list[tuple[bytes, bytes]]:
    pairs = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", csp),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    ]
    if secure:
        pairs.append(("strict-transport-security", "max-age=31536000; includeSubDomains"))
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


#: The security headers of each kind of response, encoded once: (web, docs, secure) -> headers.
_FIXED = {
    (web, docs, secure): _fixed_headers(WEB_CSP if web else DOCS_CSP if docs else API_CSP, secure)
    for web in (False, True)
    for docs in (False, True)
    for secure in (False, True)
}


def _security_headers(
    request_id: str, *, secure: bool, docs: bool, web: bool = False
) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", request_id.encode("latin-1")), *_FIXED[web, docs, secure]]


async def _problem(
    send: Send, scope: Scope, status: int, slug: str, detail: str, request_id: str
) -> None:
    body = json.dumps(
        {
            "type": problem_type(slug),
            "title": TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "instance": scope.get("path", ""),
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
