"""Serving the web application's built files (``static/``, committed, no Node.js needed).

* ``/`` and any path that names no file and has no extension → ``index.html`` (the
  application routes with ``#/…`` hashes, so deep links to paths still land on it);
* ``index.html``, ``sw.js``, ``manifest.webmanifest`` and other unhashed files:
  ``Cache-Control: no-cache`` (revalidated at every load, so a new version is seen at once);
* files under ``assets/`` (their names carry a hash of their content): cached a year,
  ``immutable``;
* ``/api/…`` is never answered here: an unknown API path stays a 404 problem.

Every response carries the application's Content-Security-Policy (:data:`WEB_CSP`, set by
the middleware for paths outside the API); no inline script or style is allowed.  When the
folder or its ``index.html`` is missing (a source checkout where the application was not
built) the answer is a 404 saying so.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from grc_api.problems import ApiProblem

STATIC_ROOT = Path(__file__).parent / "static"

WEB_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
NO_CACHE = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
#: Content types the platform's table may lack or get wrong.
TYPES = {
    ".webmanifest": "application/manifest+json",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
    ".map": "application/json",
}


class WebPath(Convertor[str]):
    """Any path outside ``/api``: the application's catch-all never even partly matches an
    API path, so an unknown API path (any method) stays the API's own 404."""

    regex = r"(?!api(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("webpath", WebPath())


def _content_type(path: Path) -> str:
    return (
        TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or ("application/octet-stream")
    )


def _file(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root``, never outside it (no ``..``, no
    symbolic link leading out), or ``None``."""
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    try:
        candidate = (root / relative).resolve()
        base = root.resolve()
    except OSError:
        return None
    if base not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def web_router(root: Path = STATIC_ROOT, *, api_prefix: str = "/api") -> APIRouter:
    """The routes serving the application in ``root`` (to include after the API's)."""
    r = APIRouter(include_in_schema=False)

    def serve(request: Request, path: str) -> Response:
        if f"/{path}".startswith(api_prefix + "/") or f"/{path}" == api_prefix:
            raise ApiProblem(404, f"no API operation at {request.url.path}", slug="not-found")
        index = root / "index.html"
        if not index.is_file():
            raise ApiProblem(
                404,
                "the web application is not built in this installation (its files belong "
                f"in {root}; run `make web` in a source checkout)",
                slug="web-app-missing",
            )
        found = _file(root, path) if path else None
        if found is None:
            last = path.rsplit("/", 1)[-1]
            if "." in last:  # a file that does not exist, not an application route
                raise ApiProblem(404, f"no file {request.url.path}", slug="not-found")
            found = index
        hashed = found.parent.name == "assets" and found.parent.parent == root.resolve()
        return FileResponse(
            found,
            media_type=_content_type(found),
            headers={"Cache-Control": IMMUTABLE if hashed else NO_CACHE},
        )

    @r.api_route("/", methods=["GET", "HEAD"])
    def home(request: Request) -> Response:
        return serve(request, "")

    @r.api_route("/{path:webpath}", methods=["GET", "HEAD"])
    def anything(request: Request, path: str) -> Response:
        return serve(request, path)

    return r
