"""Every resource of the API, as routers built on one :class:`~grc_api.context.Api`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.security import HTTPBearer

from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.schemas import ProblemOut

_PROBLEM = {"model": ProblemOut, "content": {"application/problem+json": {}}}

#: Statuses any authenticated operation may answer with (documented once for all).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**_PROBLEM, "description": description}
    for status, description in {
        400: "Malformed request (a header, a cursor)",
        401: "Not authenticated (missing, invalid, expired or revoked credential)",
        403: "Authenticated, but not allowed (or deactivated, or unknown to GRC)",
        404: "No such record visible to the caller",
        409: "Conflicts with what is stored",
        412: "If-Match names an older version; the current one is in 'current'",
        413: "Request or file too large",
        415: "Unsupported media or file type",
        422: "Invalid input; 'errors' lists the fields",
        428: "If-Match is required",
        429: "Too many failed authentications from this client",
        503: "Database or storage unavailable",
    }.items()
}

PrincipalDependency = Callable[..., Awaitable[Principal]]


class _BearerAuthentication(HTTPBearer):
    """The bearer security scheme of the OpenAPI document, authenticating as it is called.

    One dependency instead of a function depending on the scheme: FastAPI resolves each level
    of dependencies on every request, and the scheme's own parsing of the header was unused
    (the authenticator reads the header itself).
    """

    def __init__(self, api: Api) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="bearer",
            description=(
                "A personal API token (`grc token create`) or an OpenID Connect access token"
            ),
        )
        self._api = api

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await self._api.authenticator.authenticate(request)


def principal_dependency(api: Api) -> PrincipalDependency:
    """The dependency that authenticates a request (401/403/429 otherwise)."""
    return _BearerAuthentication(api)


def include_routes(app: FastAPI, api: Api, prefix: str) -> None:
    """All the API's routes, each resource's router included in ``app`` itself.

    FastAPI walks the tree of included routers on every request (twice per level: to match,
    then to handle), so the routers are included side by side rather than one inside another:
    the same routes, in the same order, with the same documented responses.
    """
    from grc_api.routes import (
        admin,
        attachments,
        catalogue,
        exchanges,
        history,
        notifications,
        people,
        records,
        service,
    )

    auth = principal_dependency(api)
    app.include_router(service.public_router(api), prefix=prefix)
    # Routes are tried in order: the busiest (histories, exchanges) first.  No two routers'
    # paths overlap, so the order changes which route is found no sooner, never which.
    for module in (
        history,
        exchanges,
        service,
        people,
        records,
        catalogue,
        attachments,
        notifications,
        admin,
    ):
        app.include_router(module.router(api, auth), prefix=prefix, responses=COMMON_RESPONSES)
