"""The application factory: :func:`create_app` builds the API on a :class:`~grc_core.Grc`."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from grc_api import problems, sessions
from grc_api.auth import Authenticator, DeviceRevoked, IdentityResolver
from grc_api.context import Api
from grc_api.middleware import ApiMiddleware
from grc_api.routes import COMMON_RESPONSES, include_routes, principal_dependency
from grc_api.settings import ApiSettings
from grc_api.web import STATIC_ROOT, web_router
from grc_core import __version__
from grc_core.facade import Grc

PREFIX = "/api/v1"

#: Uploads stream through the attachment policy's size check, not the generic body limit.
_UPLOAD = re.compile(rf"^{PREFIX}/(exchanges|companies|opportunities)/[^/]+/attachments$")

DESCRIPTION = """\
Everything GRC exchanges does, over HTTP: exchanges, histories, search, attachments,
notifications and their administration.  The acting user comes from authentication
(`Authorization: Bearer` with a personal API token or an OpenID Connect access token, the
session cookie of an enrolled device — unsafe methods then need `X-CSRF-Token` —, or the
host application's own resolver); the library's visibility and permission rules apply
unchanged.  Errors are RFC 9457 problem details; mutable resources carry an `ETag` and their
`PATCH`/`DELETE` need `If-Match`; `POST`s accept an `Idempotency-Key`.
"""


def create_app(
    grc: Grc,
    *,
    identity_resolver: IdentityResolver | None = None,
    settings: ApiSettings | None = None,
    web_root: Path | None = None,
) -> FastAPI:
    """The HTTP API on ``grc``, as an ASGI application served under ``/api/v1``.

    :param grc: the facade on the database (the caller disposes of it).
    :param identity_resolver: for a host application that authenticates its users
        itself: called with each request, it returns the acting user's login or id, or
        ``None`` (the request is then refused with 401).  When given, bearer tokens are
        not looked at.
    :param settings: authentication, CORS, trusted proxies and limits
        (default: API tokens only, CORS closed, no proxy trusted, 1 MiB bodies).
    :param web_root: the folder of the built web application served at ``/`` (default:
        the one shipped in the package); not served when ``settings.web`` is false.
    """
    settings = settings or ApiSettings()
    api = Api(grc, settings, Authenticator(grc, settings, identity_resolver))
    app = FastAPI(
        title="GRC exchanges",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs" if settings.docs else None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.api = api
    problems.install(app)
    include_routes(app, api, PREFIX)
    _include_mobile(app, api)

    @app.exception_handler(DeviceRevoked)
    async def on_device_revoked(request: Request, exc: DeviceRevoked) -> JSONResponse:
        # A more specific handler than ApiProblem's: the cookies go with the session.
        response = problems.problem_response(
            request, exc.status, exc.detail, slug=exc.slug, headers=exc.headers
        )
        sessions.clear_session_cookies(response)
        return response

    if settings.web:
        # Last: only paths no API route matched reach the web application.
        app.include_router(web_router(web_root or STATIC_ROOT, api_prefix="/api"))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "X-CSRF-Token",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "If-Range",
                "Range",
                "Idempotency-Key",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Content-Disposition",
                "Content-Range",
            ],
            max_age=600,
        )
    app.add_middleware(
        ApiMiddleware,
        settings=settings,
        prefix=PREFIX,
        streamed_uploads=lambda method, path: method == "POST" and bool(_UPLOAD.match(path)),
    )
    return app


def _include_mobile(app: FastAPI, api: Api) -> None:
    """Sign-in, devices, push subscriptions and the agenda of the web application."""
    from grc_api.routes import devices, push, session, today

    app.include_router(session.public_router(api), prefix=PREFIX)
    for module in (session, devices, push, today):
        app.include_router(
            module.router(api, principal_dependency(api)),
            prefix=PREFIX,
            responses=COMMON_RESPONSES,
        )
