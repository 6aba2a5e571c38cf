"""A host application that mounts the GRC HTTP API behind its own authentication.

The host ("Négoce", as in ``host_app.py``) already signs its staff in and keeps a session
cookie.  It mounts :func:`grc_api.create_app` under ``/grc`` and hands it an *identity
resolver*: the API then takes the acting user from the host's session, and never looks at a
bearer token or at anything the client could choose.  The library's visibility and
permission rules apply unchanged: a colleague who may not see a private exchange gets 404.

Run it with ``python examples/api_host_app.py [DATABASE_URL]`` and open
http://127.0.0.1:8001/ (needs ``pip install 'grc-exchanges[server]'``).
"""

from __future__ import annotations

import secrets
import sys

from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from grc_api import create_app
from grc_core import Grc

COOKIE = "negoce_session"


class HostSessions(AuthenticationBackend):
    """The host's own sign-in: a session id in a cookie, mapped to a staff login."""

    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}

    def open(self, login: str) -> str:
        """Sign ``login`` in; the session id to set as the cookie."""
        session_id = secrets.token_urlsafe(24)
        self.sessions[session_id] = login
        return session_id

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        login = self.sessions.get(conn.cookies.get(COOKIE, ""))
        if login is None:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(login)


def grc_identity(request: Request) -> str | None:
    """The identity resolver given to the API: the host's signed-in user, or nobody."""
    user = request.scope.get("user")
    return user.username if user is not None and user.is_authenticated else None


def build(grc: Grc, sessions: HostSessions) -> Starlette:
    """The host's ASGI application, with GRC's API under ``/grc/api/v1``."""

    async def home(request: Request) -> Response:
        who = request.user.username if request.user.is_authenticated else None
        return JSONResponse({"app": "Négoce", "signed_in_as": who, "grc": "/grc/api/v1/docs"})

    return Starlette(
        routes=[
            Route("/", home),
            Mount("/grc", app=create_app(grc, identity_resolver=grc_identity)),
        ],
        middleware=[Middleware(AuthenticationMiddleware, backend=sessions)],
    )


def main(url: str = "sqlite:///host-app.sqlite3") -> None:  # pragma: no cover - interactive
    import uvicorn

    grc = Grc.from_url(url)
    grc.upgrade()
    sessions = HostSessions()
    print(f"sign in as admin with the cookie {COOKIE}={sessions.open('admin')}")
    uvicorn.run(build(grc, sessions), host="127.0.0.1", port=8001)


if __name__ == "__main__":  # pragma: no cover
    main(*sys.argv[1:2])
