"""RFC 9457 problem details: every error the API returns, mapped from the GrcError hierarchy.

A response never carries a stack trace: an unexpected exception is logged with the request's
id and answered with a bare 500 problem naming that id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from grc_core import errors

log = logging.getLogger("grc_api")

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


def problem_type(slug: str) -> str:
    """The ``type`` URI of a problem (a URN: the API names problems, it hosts no pages)."""
    return f"urn:grc:problem:{slug}"


class BodyTooLarge(Exception):
    """The request body crossed the configured limit while it was read."""


class ApiProblem(Exception):
    """An HTTP-level failure raised by the API itself (authentication, preconditions…)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or TITLES.get(status, "error").lower().replace(" ", "-")
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    slug: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update(extra or {})
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _status_of(exc: errors.GrcError) -> tuple[int, str]:
    """The HTTP status and problem slug of a library error (most specific class first)."""
    version_conflict = getattr(errors, "VersionConflict", None)
    table: list[tuple[type[BaseException] | None, int, str]] = [
        (errors.FileTooLarge, 413, "file-too-large"),
        (errors.FileInfected, 422, "file-refused"),
        (errors.AttachmentRefused, 415, "attachment-refused"),
        (errors.ValidationError, 422, "validation-error"),
        (errors.NotFound, 404, "not-found"),
        (errors.PermissionDenied, 403, "forbidden"),
        (version_conflict, 412, "version-conflict"),
        (errors.Conflict, 409, "conflict"),
        (errors.DatabaseError, 503, "database-unavailable"),
        (errors.StorageUnavailable, 503, "storage-unavailable"),
        (errors.StorageError, 502, "storage-error"),
        (errors.PluginError, 503, "not-configured"),
        (errors.ConfigError, 503, "not-configured"),
    ]
    for cls, status, slug in table:
        if cls is not None and isinstance(exc, cls):
            return status, slug
    return 400, "error"


def grc_error_response(request: Request, exc: errors.GrcError) -> JSONResponse:
    """The problem response for a library error."""
    status, slug = _status_of(exc)
    extra: dict[str, Any] = {}
    field = getattr(exc, "field", None)
    if isinstance(exc, errors.ValidationError):
        extra["errors"] = [{"field": field, "message": str(exc)}]
    if rule := getattr(exc, "rule", None):
        extra["rule"] = rule  # the attachment policy's rule that refused the file
    headers = getattr(exc, "headers", None)
    return problem_response(request, status, str(exc), slug=slug, extra=extra, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "request")


#: SQLSTATE of PostgreSQL's "integer out of range" and the largest value its columns hold.
NUMERIC_OUT_OF_RANGE = "22003"
INT_MAX = 2**31 - 1


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem response."""

    @app.exception_handler(errors.GrcError)
    async def on_grc_error(request: Request, exc: errors.GrcError) -> JSONResponse:
        response = grc_error_response(request, exc)
        if response.status_code >= 500:
            log.warning("request %s failed: %s", getattr(request.state, "request_id", "-"), exc)
        return response

    @app.exception_handler(ApiProblem)
    async def on_api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, slug=exc.slug, headers=exc.headers, extra=exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = [
            {"field": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in found) or "invalid request"
        return problem_response(
            request, 422, detail, slug="validation-error", extra={"errors": found}
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(status, "")
        if isinstance(exc.__cause__, BodyTooLarge):  # a chunked body crossed the limit
            status, detail = 413, "the request body is too large"
        slug = TITLES.get(status, "error").lower().replace(" ", "-")
        return problem_response(
            request, status, detail, slug=slug, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(DataError)
    async def on_out_of_range(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL's integer columns stop at 2**31 - 1: a larger id or number in a request
        # is the client's mistake, never a server error (SQLite has no such limit).
        if getattr(exc.orig, "sqlstate", None) == NUMERIC_OUT_OF_RANGE:
            return problem_response(
                request,
                422,
                f"a number in the request is out of range: ids and numbers go up to {INT_MAX:,}",
                slug="out-of-range",
            )
        log.warning(
            "request %s: database refused a value: %s",
            getattr(request.state, "request_id", "-"),
            exc.orig,
        )
        return problem_response(
            request, 422, "a value in the request was refused by the database", slug="invalid-value"
        )

    @app.exception_handler(OperationalError)
    async def on_database(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning(
            "request %s: database error: %s", getattr(request.state, "request_id", "-"), exc.orig
        )
        return problem_response(
            request, 503, "the database is unavailable; retry later", slug="database-unavailable"
        )
