"""Exchanges: create (idempotent on the client's UUID), read, update, complete, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from grc_api.auth import Principal
from grc_api.context import (
    Api,
    check_version,
    optional_version,
    required_version,
    versioned_call,
    with_etag,
)
from grc_api.idempotent import Outcome, idempotent_post
from grc_api.routes import PrincipalDependency
from grc_api.schemas import Completion, ExchangeCreate, ExchangeOut, ExchangeUpdate
from grc_core.facade import Work
from grc_core.ids import parse_id
from grc_core.services import exchanges
from grc_core.services.exchanges import UNSET


def _ref(value: str) -> int | str:
    number = parse_id(value)
    return value if number is None else number


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["exchanges"])
    Caller = Annotated[Principal, Depends(auth)]
    # An id or a UUID: anything else cannot name an exchange.
    ExchangeRef = Annotated[
        str,
        Path(
            max_length=36,
            pattern=r"^([0-9]{1,18}|[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12})$",
        ),
    ]

    @r.post("/exchanges", response_model=ExchangeOut, status_code=201)
    def create_exchange(principal: Caller, body: ExchangeCreate, request: Request) -> JSONResponse:
        """Record an exchange authored by the caller.

        With a ``uuid`` chosen by the client, repeating the request returns the exchange
        recorded the first time (200) instead of a second one.
        """

        def act(work: Work) -> Outcome:
            existed = body.uuid is not None and _exists(work.session, body.uuid)
            exchange = exchanges.create_exchange(
                work.session,
                work.actor,
                uuid=body.uuid,
                subject=body.subject,
                details=body.details,
                start=body.start,
                end=body.end,
                action=body.action,
                status=body.status,
                medium=body.medium,
                category=body.category,
                private=body.private,
                company_id=body.company_id,
                opportunity_ids=body.opportunity_ids,
                contact_ids=body.contact_ids,
                assignees=body.assignees,
                custom=body.custom,
            )
            return Outcome(ExchangeOut.of(exchange), status=200 if existed else 201)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['id']}",
        )  # fmt: skip

    @r.get("/exchanges/{ref}", response_model=ExchangeOut)
    def get_exchange(principal: Caller, ref: ExchangeRef) -> JSONResponse:
        """One exchange, by id or UUID (404 when the caller may not see it)."""
        with api.work(principal, read_only=True) as work:
            return with_etag(
                ExchangeOut.of(exchanges.get_exchange(work.session, work.actor, _ref(ref)))
            )

    @r.patch("/exchanges/{ref}", response_model=ExchangeOut)
    def update_exchange(
        principal: Caller, ref: ExchangeRef, body: ExchangeUpdate, request: Request
    ) -> JSONResponse:
        """Change the fields given (If-Match required)."""
        expected = required_version(request)
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        with api.work(
            principal,
            current=lambda w: ExchangeOut.of(exchanges.get_exchange(w.session, w.actor, _ref(ref))),
        ) as work:
            exchange = exchanges.get_exchange(work.session, work.actor, _ref(ref))
            check_version(exchange, expected, lambda: ExchangeOut.of(exchange))
            kwargs = {k: UNSET if v is None and k in _NOT_NULL else v for k, v in changes.items()}
            for name in _NOT_NULL & kwargs.keys():
                if kwargs[name] is UNSET:
                    del kwargs[name]
            exchange = versioned_call(
                exchanges.update_exchange,
                work.session,
                work.actor,
                exchange.id,
                expected=expected,
                **kwargs,
            )
            work.session.flush()
            out = ExchangeOut.of(exchange)
        return with_etag(out)

    @r.post("/exchanges/{ref}/complete", response_model=ExchangeOut)
    def complete_exchange(
        principal: Caller, ref: ExchangeRef, request: Request, body: Completion | None = None
    ) -> JSONResponse:
        """Close an exchange (status ``done`` unless another closing status is given)."""
        completion = body or Completion()
        expected = optional_version(request)

        def act(work: Work) -> ExchangeOut:
            exchange = exchanges.get_exchange(work.session, work.actor, _ref(ref))
            check_version(exchange, expected, lambda: ExchangeOut.of(exchange))
            # No details in the body leaves the exchange's details as they are (UNSET), which
            # a typed keyword says to mypy where a ``**extra`` dict could not.
            details = exchanges.UNSET if completion.details is None else completion.details
            exchange = exchanges.complete_exchange(
                work.session, work.actor, exchange.id, status=completion.status, details=details
            )
            work.session.flush()
            return ExchangeOut.of(exchange)

        return idempotent_post(
            api, principal, request, act, body=completion, status=200,
            current=lambda w: ExchangeOut.of(exchanges.get_exchange(w.session, w.actor, _ref(ref))),
        )  # fmt: skip

    @r.delete("/exchanges/{ref}", status_code=204)
    def delete_exchange(principal: Caller, ref: ExchangeRef, request: Request) -> Response:
        """Delete an exchange and its attachments (If-Match required)."""
        expected = required_version(request)
        with api.work(
            principal,
            current=lambda w: ExchangeOut.of(exchanges.get_exchange(w.session, w.actor, _ref(ref))),
        ) as work:
            exchange = exchanges.get_exchange(work.session, work.actor, _ref(ref))
            check_version(exchange, expected, lambda: ExchangeOut.of(exchange))
            versioned_call(
                exchanges.delete_exchange,
                work.session,
                work.actor,
                exchange.id,
                expected=expected,
                backends=api.grc.backends,
            )
        return Response(status_code=204)

    @r.get("/exchanges", response_model=list[ExchangeOut])
    def list_exchanges(
        principal: Caller,
        company_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> list[ExchangeOut]:
        """The newest exchanges the caller may see (use the histories to page further)."""
        from grc_core.queries.exchanges import ExchangeFilter, list_exchanges

        with api.work(principal, read_only=True) as work:
            flt = ExchangeFilter(company_id=company_id)
            return [
                ExchangeOut.of(e)
                for e in list_exchanges(work.session, work.actor, flt, limit=limit)
            ]

    return r


#: Fields that cannot be cleared: ``null`` for them means "unchanged".
_NOT_NULL = {
    "subject",
    "details",
    "start",
    "end",
    "action",
    "status",
    "private",
    "opportunity_ids",
    "contact_ids",
    "assignees",
    "custom",
}


def _exists(session: Any, uuid: Any) -> bool:
    from sqlalchemy import select

    from grc_core.models import Exchange

    return session.scalar(select(Exchange.id).where(Exchange.uuid == uuid)) is not None
