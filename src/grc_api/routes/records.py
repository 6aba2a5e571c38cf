"""Companies, their contacts and opportunities (with moves between companies)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
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
from grc_api.idempotent import idempotent_post
from grc_api.routes import PrincipalDependency
from grc_api.schemas import (
    CompanyCreate,
    CompanyOut,
    CompanyUpdate,
    ContactCreate,
    ContactOut,
    Move,
    OpportunityCreate,
    OpportunityOut,
    OpportunityUpdate,
)
from grc_core.facade import Work
from grc_core.services import companies, opportunities


def _root(request: Request) -> str:
    """The API's root path (``/api/v1``) as this request reached it."""
    path = request.url.path
    return path[: path.index("/companies/")] if "/companies/" in path else ""


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]

    # -- companies ---------------------------------------------------------------------------

    @r.get("/companies", response_model=list[CompanyOut], tags=["companies"])
    def list_companies(
        principal: Caller,
        status: str | None = None,
        name: Annotated[str | None, Query(max_length=200, description="contains")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[CompanyOut]:
        """Companies by name."""
        with api.work(principal, read_only=True) as work:
            found = companies.list_companies(work.session, status=status, name=name)
            return [CompanyOut.of(c) for c in found[offset : offset + limit]]

    @r.get("/companies/{company_id}", response_model=CompanyOut, tags=["companies"])
    def get_company(principal: Caller, company_id: int) -> JSONResponse:
        """One company."""
        with api.work(principal, read_only=True) as work:
            return with_etag(CompanyOut.of(companies.get_company(work.session, company_id)))

    @r.post("/companies", response_model=CompanyOut, status_code=201, tags=["companies"])
    def create_company(principal: Caller, body: CompanyCreate, request: Request) -> JSONResponse:
        """Create a company."""

        def act(work: Work) -> CompanyOut:
            company = companies.create_company(
                work.session,
                work.actor,
                name=body.name,
                status=body.status,
                owner=body.owner,
                external_ref=body.external_ref,
            )
            return CompanyOut.of(company)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['id']}",
        )  # fmt: skip

    @r.patch("/companies/{company_id}", response_model=CompanyOut, tags=["companies"])
    def update_company(
        principal: Caller, company_id: int, body: CompanyUpdate, request: Request
    ) -> JSONResponse:
        """Rename, change the owner, the external reference or the status (If-Match)."""
        expected = required_version(request)
        with api.work(
            principal, current=lambda w: CompanyOut.of(companies.get_company(w.session, company_id))
        ) as work:
            company = companies.get_company(work.session, company_id)
            check_version(company, expected, lambda: CompanyOut.of(company))
            if body.name is not None or body.owner is not None or body.external_ref is not None:
                versioned_call(
                    companies.update_company,
                    work.session,
                    work.actor,
                    company_id,
                    expected=expected,
                    name=body.name,
                    owner=body.owner,
                    external_ref=body.external_ref,
                )
            if body.status is not None:
                companies.set_company_status(work.session, work.actor, company_id, body.status)
            work.session.flush()
            out = CompanyOut.of(company)
        return with_etag(out)

    # -- contacts ----------------------------------------------------------------------------

    @r.get("/companies/{company_id}/contacts", response_model=list[ContactOut], tags=["contacts"])
    def list_contacts(principal: Caller, company_id: int) -> list[ContactOut]:
        """The contacts of a company."""
        with api.work(principal, read_only=True) as work:
            return [ContactOut.of(c) for c in companies.list_contacts(work.session, company_id)]

    @r.post(
        "/companies/{company_id}/contacts",
        response_model=ContactOut,
        status_code=201,
        tags=["contacts"],
    )
    def create_contact(
        principal: Caller, company_id: int, body: ContactCreate, request: Request
    ) -> JSONResponse:
        """Add a contact to a company."""

        def act(work: Work) -> ContactOut:
            contact = companies.create_contact(
                work.session,
                work.actor,
                company_id,
                last_name=body.last_name,
                first_name=body.first_name,
                email=body.email,
                phone=body.phone,
                job_title=body.title,
                external_ref=body.external_ref,
            )
            return ContactOut.of(contact)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{_root(request)}/contacts/{out['id']}",
        )  # fmt: skip

    @r.get("/contacts/{contact_id}", response_model=ContactOut, tags=["contacts"])
    def get_contact(principal: Caller, contact_id: int) -> JSONResponse:
        """One contact."""
        with api.work(principal, read_only=True) as work:
            return with_etag(ContactOut.of(companies.get_contact(work.session, contact_id)))

    @r.post("/contacts/{contact_id}/move", response_model=ContactOut, tags=["contacts"])
    def move_contact(
        principal: Caller, contact_id: int, body: Move, request: Request
    ) -> JSONResponse:
        """Move a contact to another company (If-Match optional)."""
        expected = optional_version(request)

        def act(work: Work) -> ContactOut:
            contact = companies.get_contact(work.session, contact_id)
            check_version(contact, expected, lambda: ContactOut.of(contact))
            companies.move_contact(work.session, work.actor, contact_id, body.company_id)
            work.session.flush()
            return ContactOut.of(contact)

        return idempotent_post(
            api, principal, request, act, body=body, status=200,
            current=lambda w: ContactOut.of(companies.get_contact(w.session, contact_id)),
        )  # fmt: skip

    # -- opportunities -----------------------------------------------------------------------

    @r.get("/opportunities", response_model=list[OpportunityOut], tags=["opportunities"])
    def list_opportunities(
        principal: Caller,
        company_id: int | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> list[OpportunityOut]:
        """Opportunities, newest first, of one company or all."""
        with api.work(principal, read_only=True) as work:
            found = opportunities.list_opportunities(work.session, company_id)
            return [OpportunityOut.of(o) for o in found[offset : offset + limit]]

    @r.get("/opportunities/{opportunity_id}", response_model=OpportunityOut, tags=["opportunities"])
    def get_opportunity(principal: Caller, opportunity_id: int) -> JSONResponse:
        """One opportunity."""
        with api.work(principal, read_only=True) as work:
            found = opportunities.get_opportunity(work.session, opportunity_id)
            return with_etag(OpportunityOut.of(found))

    @r.post(
        "/companies/{company_id}/opportunities",
        response_model=OpportunityOut,
        status_code=201,
        tags=["opportunities"],
    )
    def create_opportunity(
        principal: Caller, company_id: int, body: OpportunityCreate, request: Request
    ) -> JSONResponse:
        """Open an opportunity on a company."""

        def act(work: Work) -> OpportunityOut:
            opportunity = opportunities.create_opportunity(
                work.session,
                work.actor,
                company_id,
                title=body.title,
                stage=body.stage,
                amount=body.amount,
                expected_close=body.expected_close,
                owner=body.owner,
                external_ref=body.external_ref,
            )
            return OpportunityOut.of(opportunity)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{_root(request)}/opportunities/{out['id']}",
        )  # fmt: skip

    @r.patch(
        "/opportunities/{opportunity_id}", response_model=OpportunityOut, tags=["opportunities"]
    )
    def update_opportunity(
        principal: Caller, opportunity_id: int, body: OpportunityUpdate, request: Request
    ) -> JSONResponse:
        """Change an opportunity's details or stage (If-Match)."""
        expected = required_version(request)
        with api.work(
            principal,
            current=lambda w: OpportunityOut.of(
                opportunities.get_opportunity(w.session, opportunity_id)
            ),
        ) as work:
            opportunity = opportunities.get_opportunity(work.session, opportunity_id)
            check_version(opportunity, expected, lambda: OpportunityOut.of(opportunity))
            fields = body.model_dump(exclude_unset=True, exclude={"stage"})
            if any(v is not None for v in fields.values()):
                versioned_call(
                    opportunities.update_opportunity,
                    work.session,
                    work.actor,
                    opportunity_id,
                    expected=expected,
                    title=body.title,
                    amount=body.amount,
                    expected_close=body.expected_close,
                    owner=body.owner,
                    external_ref=body.external_ref,
                )
            if body.stage is not None:
                opportunities.set_opportunity_stage(
                    work.session, work.actor, opportunity_id, body.stage
                )
            work.session.flush()
            out = OpportunityOut.of(opportunity)
        return with_etag(out)

    @r.post(
        "/opportunities/{opportunity_id}/transfer",
        response_model=OpportunityOut,
        tags=["opportunities"],
    )
    def transfer_opportunity(
        principal: Caller, opportunity_id: int, body: Move, request: Request
    ) -> JSONResponse:
        """Move an opportunity to another company (If-Match optional)."""
        expected = optional_version(request)

        def act(work: Work) -> OpportunityOut:
            opportunity = opportunities.get_opportunity(work.session, opportunity_id)
            check_version(opportunity, expected, lambda: OpportunityOut.of(opportunity))
            opportunities.transfer_opportunity(
                work.session, work.actor, opportunity_id, body.company_id
            )
            work.session.flush()
            return OpportunityOut.of(opportunity)

        return idempotent_post(
            api, principal, request, act, body=body, status=200,
            current=lambda w: OpportunityOut.of(
                opportunities.get_opportunity(w.session, opportunity_id)
            ),
        )  # fmt: skip

    return r
