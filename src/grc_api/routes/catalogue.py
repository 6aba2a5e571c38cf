"""Picklists, categories and custom fields: read by everyone, written by administrators.

Each value, category and field is a versioned resource: its ``GET`` carries an ``ETag``, its
``PATCH`` needs ``If-Match`` (428 without; 412 with the current representation when stale).
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from grc_api.admin_schemas import CategoryUpdate, FieldUpdate, PicklistValueUpdate
from grc_api.auth import Principal
from grc_api.context import Api, optional_version, required_version
from grc_api.idempotent import Outcome, idempotent_post, respond
from grc_api.routes import PrincipalDependency
from grc_api.routes.preconditions import check, current_of
from grc_api.schemas import (
    Activation,
    CategoryCreate,
    CategoryOut,
    FieldCreate,
    FieldOut,
    PicklistValueCreate,
    PicklistValueOut,
)
from grc_core import errors
from grc_core.facade import Work
from grc_core.models import Category, CustomField, PicklistKind, PicklistValue
from grc_core.services import categories, custom_fields, picklists

Kind = Annotated[PicklistKind, "a picklist"]


_T = TypeVar("_T")


def _found(lookup: Callable[[], _T]) -> _T:
    """A catalogue entry named in the path: unknown is 404 (the services say 422, for
    the codes given in bodies)."""
    try:
        return lookup()
    except errors.ValidationError as exc:
        raise errors.NotFound(str(exc)) from None


def _value(work: Work, kind: PicklistKind, code: str) -> PicklistValue:
    return _found(lambda: picklists.get_value(work.session, kind, code))


def _category(work: Work, code: str) -> Category:
    return _found(lambda: categories.get_category(work.session, code))


def _field(work: Work, code: str) -> CustomField:
    return _found(lambda: custom_fields.get_field(work.session, code))


def _versioned(out: BaseModel, record: Any) -> Outcome:
    """The representation with the record's version as its ETag."""
    return Outcome(out, version=record.version)


def _etag(out: BaseModel, record: Any) -> JSONResponse:
    return respond(out.model_dump(mode="json"), 200, version=record.version)


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["catalogue"])
    Caller = Annotated[Principal, Depends(auth)]
    Retired = Annotated[bool, Query(description="include retired values")]

    # -- picklists ---------------------------------------------------------------------------

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

        def act(work: Work) -> Outcome:
            value = picklists.add_value(
                work.session,
                work.actor,
                kind,
                body.code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                is_closed=body.closed,
            )
            return _versioned(PicklistValueOut.of(value), value)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['code']}",
        )  # fmt: skip

    @r.get("/picklists/{kind}/{code}", response_model=PicklistValueOut)
    def get_picklist_value(principal: Caller, kind: PicklistKind, code: str) -> JSONResponse:
        """One value, retired or not, with its ETag."""
        with api.work(principal, read_only=True) as work:
            value = _value(work, kind, code)
            return _etag(PicklistValueOut.of(value), value)

    @r.patch("/picklists/{kind}/{code}", response_model=PicklistValueOut)
    def update_picklist_value(
        principal: Caller,
        kind: PicklistKind,
        code: str,
        body: PicklistValueUpdate,
        request: Request,
    ) -> JSONResponse:
        """Relabel, reorder (``position``), mark closing, retire or restore a value
        (administrators; If-Match)."""
        expected = required_version(request)
        current = current_of(lambda w: _value(w, kind, code), PicklistValueOut.of)
        with api.work(principal, current=current) as work:
            value = _value(work, kind, code)
            check(value.version, expected, lambda: PicklistValueOut.of(value))
            picklists.update_value(
                work.session,
                work.actor,
                kind,
                code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                is_closed=body.closed,
                position=body.position,
                expected_version=expected,
            )
            if body.active is not None:
                picklists.set_active(work.session, work.actor, kind, code, body.active)
            work.session.flush()
            response = _etag(PicklistValueOut.of(value), value)
        return response

    @r.post("/picklists/{kind}/{code}/activation", response_model=PicklistValueOut)
    def set_picklist_value_active(
        principal: Caller, kind: PicklistKind, code: str, body: Activation, request: Request
    ) -> JSONResponse:
        """Retire or restore a value (administrators; If-Match optional); records keep it
        either way."""
        expected = optional_version(request)

        def act(work: Work) -> Outcome:
            value = _value(work, kind, code)
            check(value.version, expected, lambda: PicklistValueOut.of(value))
            value = picklists.set_active(work.session, work.actor, kind, code, body.active)
            work.session.flush()
            return _versioned(PicklistValueOut.of(value), value)

        return idempotent_post(
            api, principal, request, act, body=body, status=200,
            current=current_of(lambda w: _value(w, kind, code), PicklistValueOut.of),
        )  # fmt: skip

    # -- categories --------------------------------------------------------------------------

    @r.get("/categories", response_model=list[CategoryOut])
    def list_categories(principal: Caller, include_retired: Retired = False) -> list[CategoryOut]:
        """The category tree, parents before their children."""
        with api.work(principal, read_only=True) as work:
            found = categories.list_categories(work.session, include_retired=include_retired)
            return [CategoryOut.of(c) for c in found]

    @r.post("/categories", response_model=CategoryOut, status_code=201)
    def add_category(principal: Caller, body: CategoryCreate, request: Request) -> JSONResponse:
        """Add a category (administrators)."""

        def act(work: Work) -> Outcome:
            category = categories.add_category(
                work.session,
                work.actor,
                body.code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                parent=body.parent,
            )
            return _versioned(CategoryOut.of(category), category)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['code']}",
        )  # fmt: skip

    @r.get("/categories/{code}", response_model=CategoryOut)
    def get_category(principal: Caller, code: str) -> JSONResponse:
        """One category, retired or not, with its ETag."""
        with api.work(principal, read_only=True) as work:
            category = _category(work, code)
            return _etag(CategoryOut.of(category), category)

    @r.patch("/categories/{code}", response_model=CategoryOut)
    def update_category(
        principal: Caller, code: str, body: CategoryUpdate, request: Request
    ) -> JSONResponse:
        """Relabel, move in the tree (``parent``; null: to the top), retire or restore a
        category (administrators; If-Match)."""
        expected = required_version(request)
        current = current_of(lambda w: _category(w, code), CategoryOut.of)
        with api.work(principal, current=current) as work:
            category = _category(work, code)
            check(category.version, expected, lambda: CategoryOut.of(category))
            moved = "parent" in body.model_fields_set
            categories.update_category(
                work.session,
                work.actor,
                code,
                label_fr=body.label_fr,
                label_en=body.label_en,
                parent=body.parent if moved else categories.KEEP_PARENT,
                expected_version=expected,
            )
            if body.active is not None:
                categories.set_active(work.session, work.actor, code, body.active)
            work.session.flush()
            response = _etag(CategoryOut.of(category), category)
        return response

    @r.post("/categories/{code}/activation", response_model=CategoryOut)
    def set_category_active(
        principal: Caller, code: str, body: Activation, request: Request
    ) -> JSONResponse:
        """Retire or restore a category (administrators; If-Match optional)."""
        expected = optional_version(request)

        def act(work: Work) -> Outcome:
            category = _category(work, code)
            check(category.version, expected, lambda: CategoryOut.of(category))
            category = categories.set_active(work.session, work.actor, code, body.active)
            work.session.flush()
            return _versioned(CategoryOut.of(category), category)

        return idempotent_post(
            api, principal, request, act, body=body, status=200,
            current=current_of(lambda w: _category(w, code), CategoryOut.of),
        )  # fmt: skip

    # -- custom fields -----------------------------------------------------------------------

    @r.get("/fields", response_model=list[FieldOut])
    def list_fields(principal: Caller, include_retired: Retired = False) -> list[FieldOut]:
        """The custom fields of exchanges."""
        with api.work(principal, read_only=True) as work:
            found = custom_fields.list_fields(work.session, include_retired=include_retired)
            return [FieldOut.of(f) for f in found]

    @r.post("/fields", response_model=FieldOut, status_code=201)
    def define_field(principal: Caller, body: FieldCreate, request: Request) -> JSONResponse:
        """Define a custom field (administrators)."""

        def act(work: Work) -> Outcome:
            field = custom_fields.define_field(
                work.session,
                work.actor,
                body.code,
                label=body.label,
                type=body.type,
                required=body.required,
                choices=body.choices,
            )
            return _versioned(FieldOut.of(field), field)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['code']}",
        )  # fmt: skip

    @r.get("/fields/{code}", response_model=FieldOut)
    def get_field(principal: Caller, code: str) -> JSONResponse:
        """One custom field, retired or not, with its ETag."""
        with api.work(principal, read_only=True) as work:
            field = _field(work, code)
            return _etag(FieldOut.of(field), field)

    @r.patch("/fields/{code}", response_model=FieldOut)
    def update_field(
        principal: Caller, code: str, body: FieldUpdate, request: Request
    ) -> JSONResponse:
        """Relabel, make required or optional, change the choices, retire or restore a
        custom field (administrators; If-Match)."""
        expected = required_version(request)
        current = current_of(lambda w: _field(w, code), FieldOut.of)
        with api.work(principal, current=current) as work:
            field = _field(work, code)
            check(field.version, expected, lambda: FieldOut.of(field))
            custom_fields.update_field(
                work.session,
                work.actor,
                code,
                label=body.label,
                required=body.required,
                choices=body.choices,
                expected_version=expected,
            )
            if body.active is not None:
                custom_fields.set_active(work.session, work.actor, code, body.active)
            work.session.flush()
            response = _etag(FieldOut.of(field), field)
        return response

    @r.post("/fields/{code}/activation", response_model=FieldOut)
    def set_field_active(
        principal: Caller, code: str, body: Activation, request: Request
    ) -> JSONResponse:
        """Retire or restore a custom field (administrators; If-Match optional)."""
        expected = optional_version(request)

        def act(work: Work) -> Outcome:
            field = _field(work, code)
            check(field.version, expected, lambda: FieldOut.of(field))
            field = custom_fields.set_active(work.session, work.actor, code, body.active)
            work.session.flush()
            return _versioned(FieldOut.of(field), field)

        return idempotent_post(
            api, principal, request, act, body=body, status=200,
            current=current_of(lambda w: _field(w, code), FieldOut.of),
        )  # fmt: skip

    return r
