"""Health, readiness and the caller's own account."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from grc_api.auth import Principal
from grc_api.context import Api, with_etag
from grc_api.problems import problem_response
from grc_api.routes import PrincipalDependency
from grc_api.schemas import Health, ProblemOut, Ready, UserOut
from grc_core import schema
from grc_core.errors import DatabaseError


def public_router(api: Api) -> APIRouter:
    """Routes that need no authentication."""
    router = APIRouter(tags=["service"])

    @router.get("/health", response_model=Health, summary="The process is alive")
    async def health() -> Health:
        # Never touches the database: a load balancer restarts only dead processes.
        return Health(status="ok")

    @router.get(
        "/ready",
        response_model=Ready,
        summary="The database is reachable and at this version's schema",
        responses={503: {"model": ProblemOut, "content": {"application/problem+json": {}}}},
    )
    async def ready() -> Ready | JSONResponse:
        try:
            await run_in_threadpool(api.grc.check_schema)
        except DatabaseError as exc:
            return problem_response(None, 503, str(exc), slug="not-ready")
        return Ready(status="ready", revision=schema.head_revision())

    return router


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    """The caller's own account."""
    r = APIRouter(tags=["me"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get("/me", response_model=UserOut, summary="The authenticated user")
    def me(principal: Caller) -> JSONResponse:
        with api.work(principal, read_only=True) as work:
            return with_etag(UserOut.of(work.actor))

    return r
