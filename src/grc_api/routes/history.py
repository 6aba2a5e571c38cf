"""Histories (a company's, an opportunity's, a user's, the global one) and search.

Every filter of :class:`~grc_core.queries.exchanges.ExchangeFilter` is a query parameter;
pages are keyset pages behind signed cursors, with the next page's URL in ``next``.
"""

import functools
import inspect
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, get_args, get_origin

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.rendering import FastJSONResponse
from grc_api.routes import PrincipalDependency
from grc_api.schemas import EntryOut, HistoryPage, SearchHitOut, SearchResults
from grc_core.errors import ValidationError
from grc_core.models import User
from grc_core.queries import history as histories
from grc_core.queries.exchanges import OPERATORS, ExchangeFilter, FieldCondition
from grc_core.queries.search import MAX_HITS, search
from grc_core.services import companies, opportunities, users


class Filters:
    """The filters shared by histories and search, as query parameters."""

    def __init__(
        self,
        since: Annotated[datetime | None, Query(description="start ≥ (timezone-aware)")] = None,
        until: Annotated[datetime | None, Query(description="start < (timezone-aware)")] = None,
        action: Annotated[list[str] | None, Query(max_length=20)] = None,
        status: Annotated[list[str] | None, Query(max_length=20)] = None,
        medium: Annotated[list[str] | None, Query(max_length=20)] = None,
        category: Annotated[str | None, Query(description="with its sub-categories")] = None,
        author: Annotated[str | None, Query(description="login")] = None,
        assignee: Annotated[str | None, Query(description="login")] = None,
        private: bool | None = None,
        has_attachments: bool | None = None,
        field: Annotated[
            list[str] | None,
            Query(
                max_length=20,
                description="custom-field condition CODE:OP:VALUE, OP one of "
                + ", ".join(OPERATORS),
            ),
        ] = None,
    ) -> None:
        self.since, self.until = since, until
        self.action, self.status, self.medium = action or [], status or [], medium or []
        self.category, self.author, self.assignee = category, author, assignee
        self.private, self.has_attachments = private, has_attachments
        self.field = field or []

    def build(self, session: Session, **scope: object) -> ExchangeFilter:
        conditions = []
        for raw in self.field:
            code, sep, rest = raw.partition(":")
            op, sep2, value = rest.partition(":")
            if not sep or not sep2 or not code:
                raise ValidationError(
                    f"field filter {raw!r} is not CODE:OP:VALUE (e.g. budget:ge:1000)",
                    field="field",
                )
            conditions.append(FieldCondition(code, op, value))
        return ExchangeFilter(
            since=self.since,
            until=self.until,
            actions=tuple(self.action),
            statuses=tuple(self.status),
            media=tuple(self.medium),
            category=self.category,
            author_id=users.get_user(session, self.author).id if self.author else None,
            assignee_id=users.get_user(session, self.assignee).id if self.assignee else None,
            private=self.private,
            has_attachments=self.has_attachments,
            custom=tuple(conditions),
            **scope,  # type: ignore[arg-type]
        )


async def _declared_filters(**params: Any) -> Filters:
    return Filters(**params)


# The filters' query parameters as FastAPI documents them: a dependency with the signature of
# ``Filters`` (only used to write the OpenAPI document, see ``_filter_parameters``).
_declared_filters.__signature__ = inspect.signature(Filters)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _FilterParameter:
    name: str
    many: bool  # a list: every occurrence of the parameter, as FastAPI reads one
    check: TypeAdapter[Any]


def _is_list(annotation: Any) -> bool:
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    return any(get_origin(each) is list for each in (base, *get_args(base)))


def _field_info(annotation: Any) -> Any:
    """The annotation FastAPI validates a query parameter with: its type and its ``Query``."""
    if get_origin(annotation) is Annotated:
        return annotation
    return Annotated[annotation, Query()]


_FILTER_PARAMETERS = [
    _FilterParameter(name, _is_list(p.annotation), TypeAdapter(_field_info(p.annotation)))
    for name, p in inspect.signature(Filters).parameters.items()
]


_FILTER_NAMES = frozenset(p.name for p in _FILTER_PARAMETERS)


async def _filters(request: Request) -> Filters:
    """The filters read straight from the query string.

    FastAPI would solve eleven declared parameters on every page, most of them absent, which
    cost more CPU than the page's query; this reads only those present, with the same
    validation (the parameter's type and ``Query`` constraints, through pydantic) and the
    same errors (a 422 naming ``query.<name>``).  The routes still document the parameters
    (``_filter_parameters``), so the OpenAPI document is unchanged.
    """
    query = request.query_params
    if _FILTER_NAMES.isdisjoint(query.keys()):
        return Filters()  # most pages: no filter at all
    values: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for parameter in _FILTER_PARAMETERS:
        if parameter.name not in query:
            continue
        raw = query.getlist(parameter.name) if parameter.many else query.get(parameter.name)
        try:
            values[parameter.name] = parameter.check.validate_python(raw, from_attributes=True)
        except PydanticValidationError as exc:
            problems.extend(
                {**error, "loc": ("query", parameter.name, *error["loc"])}
                for error in exc.errors(include_url=False)
            )
    if problems:
        raise RequestValidationError(problems + _route_problems(request))
    return Filters(**values)


def _route_problems(request: Request) -> list[Any]:
    """What FastAPI finds wrong with the route's own path and query parameters: it reports
    them with a dependency's, after them, and raising here would otherwise hide them."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return []
    _, in_path = request_params_to_args(route.dependant.path_params, request.path_params)
    _, in_query = request_params_to_args(route.dependant.query_params, request.query_params)
    return [*in_path, *in_query]


@functools.cache
def _filter_parameters() -> list[dict[str, Any]]:
    """The filters' OpenAPI parameters, exactly as FastAPI writes them for a dependency with
    ``Filters``' signature (the routes list them in ``openapi_extra``, after their own)."""
    probe = FastAPI()

    @probe.get("/probe")
    async def probe_route(filters: Annotated[Filters, Depends(_declared_filters)]) -> None:
        """Never served."""

    parameters: list[dict[str, Any]] = probe.openapi()["paths"]["/probe"]["get"]["parameters"]
    return parameters


def next_page_url(request: Request, cursor: str) -> str:
    """The URL of the page after this one: the request's, with ``cursor`` set.

    ``include_query_params`` parses the URL's query and writes it again, which costs as
    much as building the URL in the first place.  When the query is plain ``name=value``
    pairs of URL-safe characters without a cursor (``?limit=50``, or none at all) and the
    cursor is URL-safe base64 around a dot, that rewriting changes nothing: the cursor is
    appended directly.
    """
    query = request.scope.get("query_string", b"")
    if _URL_SAFE.fullmatch(cursor) and (
        not query or (_PLAIN_QUERY.fullmatch(query) and not _HAS_CURSOR.search(query))
    ):
        return f"{request.url}{'&' if query else '?'}cursor={cursor}"
    return str(request.url.include_query_params(cursor=cursor))


_URL_SAFE = re.compile(r"[A-Za-z0-9_.-]+")
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*(?:&[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*)*")
_HAS_CURSOR = re.compile(rb"(?:^|&)cursor=")


def _page(request: Request, page: histories.Page) -> JSONResponse:
    """The page as :class:`HistoryPage` sends it, its entries given directly to the renderer
    (:meth:`EntryOut.wire`): the routes' hottest path skips a second validation."""
    next_url = None
    if page.next_cursor:
        next_url = next_page_url(request, page.next_cursor)
    return FastJSONResponse(
        {
            "items": [EntryOut.wire(e) for e in page.entries],
            "next_cursor": page.next_cursor,
            "next": next_url,
        }
    )


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["history"])
    Caller = Annotated[Principal, Depends(auth)]
    Limit = Annotated[int, Query(ge=1, le=histories.MAX_PAGE)]
    Cursor = Annotated[str | None, Query(max_length=2000, description="from the previous page")]
    Filtered = Annotated[Filters, Depends(_filters)]
    # Every route taking the filters documents them after its own parameters, as FastAPI
    # did when it read them itself.
    documented = {"parameters": _filter_parameters()}

    @r.get("/companies/{company_id}/history", response_model=HistoryPage, openapi_extra=documented)
    def company_history(
        principal: Caller, company_id: int, request: Request, filters: Filtered,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> JSONResponse:  # fmt: skip
        """A company's exchanges and those linked to its opportunities and contacts."""
        with api.work(principal, read_only=True) as work:
            page = histories.company_history(
                work.session, work.actor, company_id, filters.build(work.session),
                limit=limit, cursor=cursor,
            )  # fmt: skip
            if not page.entries:
                # Only an empty page may be that of a missing company (404): timeline rows
                # name existing companies (a company is never deleted), so a page with
                # entries spares a round trip.
                companies.get_company(work.session, company_id)
            return _page(request, page)

    @r.get(
        "/opportunities/{opportunity_id}/history",
        response_model=HistoryPage,
        openapi_extra=documented,
    )
    def opportunity_history(
        principal: Caller, opportunity_id: int, request: Request, filters: Filtered,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> JSONResponse:  # fmt: skip
        """The exchanges linked to an opportunity."""
        with api.work(principal, read_only=True) as work:
            opportunities.get_opportunity(work.session, opportunity_id)
            page = histories.opportunity_history(
                work.session, work.actor, opportunity_id, filters.build(work.session),
                limit=limit, cursor=cursor,
            )  # fmt: skip
            return _page(request, page)

    @r.get("/users/{login}/history", response_model=HistoryPage, openapi_extra=documented)
    def user_history(
        principal: Caller, login: str, request: Request, filters: Filtered,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> JSONResponse:  # fmt: skip
        """The exchanges a user authored or is assigned, as the caller may see them."""
        with api.work(principal, read_only=True) as work:
            user: User = users.get_user(work.session, login)
            page = histories.user_history(
                work.session, work.actor, user.id, filters.build(work.session),
                limit=limit, cursor=cursor,
            )  # fmt: skip
            return _page(request, page)

    @r.get("/history", response_model=HistoryPage, openapi_extra=documented)
    def global_history(
        principal: Caller, request: Request, filters: Filtered,
        limit: Limit = 50, cursor: Cursor = None,
    ) -> JSONResponse:  # fmt: skip
        """Global exchanges (linked to no company)."""
        with api.work(principal, read_only=True) as work:
            page = histories.global_history(
                work.session, work.actor, filters.build(work.session), limit=limit, cursor=cursor
            )
            return _page(request, page)

    @r.get("/search", response_model=SearchResults, openapi_extra=documented)
    def search_exchanges(
        principal: Caller,
        filters: Filtered,
        q: Annotated[str, Query(max_length=500, description='words, "phrases", prefix')],
        company_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_HITS)] = 20,
    ) -> SearchResults:
        """Full-text search (accent-insensitive, French stemming), best first."""
        with api.work(principal, read_only=True) as work:
            flt = filters.build(work.session, company_id=company_id)
            hits = search(work.session, work.actor, q, flt, limit=limit)
            return SearchResults(items=[SearchHitOut.of_hit(h) for h in hits])

    return r
