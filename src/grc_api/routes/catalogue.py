"""Picklists, categories and custom fields: read by everyone, written by administrators."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from grc_api.auth import Principal
from grc_api.context import Api, idempotency_key, remember, replay
from grc_api.routes import PrincipalDependency
from grc_api.schemas import (
    Activation,
    CategoryCreate,
    CategoryOut,
    FieldCreate,
    FieldOut,
    PicklistValueCreate,
    PicklistValueOut,
)
from grc_core.models import PicklistKind
from grc_core.services import categories, custom_fields, picklists

Kind = Annotated[PicklistKind, "a picklist"]


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["catalogue"])
    Caller = Annotated[Principal, Depends(auth)]
    Retired = Annotated[bool, Query(description="include retired values")]

    @r.get("/picklists/{kind}", response_model=list[PicklistValueOut])
    def list_picklist(
        principal: Caller, kind: PicklistKind, include_retired: Retired = False
    ) -> list[PicklistValueOut]:
        """The values of one picklist, in order."""
        with api.work(principal, read_only=True) as work:
            values = picklists.list_values(work.session, kind, include_retired=include_retired)
            return [PicklistValueOut.of(v) for v in values]

    @r.post("/picklists/{kind}", response_model=PicklistValueOut, status_code=201)
    def add_picklist_value(
        principal: Caller, kind: PicklistKind, body: PicklistValueCreate, request: Request
    ) -> JSONResponse:
        """Add a value at the end of a picklist (administrators)."""
        key = idempotency_key(request)
        with api.work(principal) as work:
            if (done := replay(work, request, key)) is not None:
                return done
            value = picklists.add_value(
                work.session,
                work.actor,
                kind,
                body.code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                is_closed=body.closed,
            )
            out = PicklistValueOut.of(value)
            remember(work, request, key, 201, out)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.post("/picklists/{kind}/{code}/activation", response_model=PicklistValueOut)
    def set_picklist_value_active(
        principal: Caller, kind: PicklistKind, code: str, body: Activation
    ) -> PicklistValueOut:
        """Retire or restore a value (administrators); records keep it either way."""
        with api.work(principal) as work:
            value = picklists.set_active(work.session, work.actor, kind, code, body.active)
            return PicklistValueOut.of(value)

    @r.get("/categories", response_model=list[CategoryOut])
    def list_categories(principal: Caller, include_retired: Retired = False) -> list[CategoryOut]:
        """The category tree, parents before their children."""
        with api.work(principal, read_only=True) as work:
            found = categories.list_categories(work.session, include_retired=include_retired)
            return [CategoryOut.of(c) for c in found]

    @r.post("/categories", response_model=CategoryOut, status_code=201)
    def add_category(principal: Caller, body: CategoryCreate, request: Request) -> JSONResponse:
        """Add a category (administrators)."""
        key = idempotency_key(request)
        with api.work(principal) as work:
            if (done := replay(work, request, key)) is not None:
                return done
            category = categories.add_category(
                work.session,
                work.actor,
                body.code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                parent=body.parent,
            )
            out = CategoryOut.of(category)
            remember(work, request, key, 201, out)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.post("/categories/{code}/activation", response_model=CategoryOut)
    def set_category_active(principal: Caller, code: str, body: Activation) -> CategoryOut:
        """Retire or restore a category (administrators)."""
        with api.work(principal) as work:
            return CategoryOut.of(
                categories.set_active(work.session, work.actor, code, body.active)
            )

    @r.get("/fields", response_model=list[FieldOut])
    def list_fields(principal: Caller, include_retired: Retired = False) -> list[FieldOut]:
        """The custom fields of exchanges."""
        with api.work(principal, read_only=True) as work:
            found = custom_fields.list_fields(work.session, include_retired=include_retired)
            return [FieldOut.of(f) for f in found]

    @r.post("/fields", response_model=FieldOut, status_code=201)
    def define_field(principal: Caller, body: FieldCreate, request: Request) -> JSONResponse:
        """Define a custom field (administrators)."""
        key = idempotency_key(request)
        with api.work(principal) as work:
            if (done := replay(work, request, key)) is not None:
                return done
            field = custom_fields.define_field(
                work.session,
                work.actor,
                body.code,
                label=body.label,
                type=body.type,
                required=body.required,
                choices=body.choices,
            )
            out = FieldOut.of(field)
            remember(work, request, key, 201, out)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.post("/fields/{code}/activation", response_model=FieldOut)
    def set_field_active(principal: Caller, code: str, body: Activation) -> FieldOut:
        """Retire or restore a custom field (administrators)."""
        with api.work(principal) as work:
            return FieldOut.of(
                custom_fields.set_active(work.session, work.actor, code, body.active)
            )

    return r
