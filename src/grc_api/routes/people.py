"""Users (administrators manage them) and personal API tokens."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from grc_api.auth import Principal
from grc_api.context import (
    Api,
    check_version,
    required_version,
    versioned_call,
    with_etag,
)
from grc_api.idempotent import idempotent_post
from grc_api.routes import PrincipalDependency
from grc_api.schemas import In, Out, TokenOut, UserCreate, UserOut, UserUpdate
from grc_core.facade import Work
from grc_core.services import api_tokens, users


class TokenCreate(In):
    name: str = Field(default="api", max_length=100)
    expires_at: datetime | None = Field(default=None, description="timezone-aware; null: never")
    user: str | None = Field(default=None, description="login (administrators); default: you")


class NewTokenOut(Out):
    token: TokenOut
    secret: str = Field(description="shown once: store it now")


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]

    @r.get("/users", response_model=list[UserOut], tags=["users"], summary="List users")
    def list_users(
        principal: Caller,
        include_inactive: Annotated[bool, Query(description="administrators only")] = False,
    ) -> list[UserOut]:
        with api.work(principal, read_only=True) as work:
            if include_inactive:
                users.require_admin(work.actor, "listing deactivated users")
            found = users.list_users(work.session, include_inactive=include_inactive)
            return [UserOut.of(u) for u in found]

    @r.get("/users/{login}", response_model=UserOut, tags=["users"], summary="One user")
    def get_user(principal: Caller, login: str) -> JSONResponse:
        with api.work(principal, read_only=True) as work:
            return with_etag(UserOut.of(users.get_user(work.session, login)))

    @r.post(
        "/users",
        response_model=UserOut,
        status_code=201,
        tags=["users"],
        summary="Create a user (administrators)",
    )
    def create_user(principal: Caller, body: UserCreate, request: Request) -> JSONResponse:
        def act(work: Work) -> UserOut:
            user = users.create_user(
                work.session,
                work.actor,
                login=body.login,
                display_name=body.name,
                email=body.email,
                phone=body.phone,
                is_admin=body.admin,
                external_ref=body.external_ref,
            )
            return UserOut.of(user)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['login']}",
        )  # fmt: skip

    @r.patch(
        "/users/{login}",
        response_model=UserOut,
        tags=["users"],
        summary="Change a user (administrators; users their own contact details)",
    )
    def update_user(
        principal: Caller, login: str, body: UserUpdate, request: Request
    ) -> JSONResponse:
        expected = required_version(request)
        with api.work(
            principal, current=lambda w: UserOut.of(users.get_user(w.session, login))
        ) as work:
            user = users.get_user(work.session, login)
            check_version(user, expected, lambda: UserOut.of(user))
            versioned_call(
                users.update_user,
                work.session,
                work.actor,
                user,
                expected=expected,
                display_name=body.name,
                email=body.email,
                phone=body.phone,
                active=body.active,
                is_admin=body.admin,
                external_ref=body.external_ref,
            )
            work.session.flush()
            out = UserOut.of(user)
        return with_etag(out)

    @r.get("/tokens", response_model=list[TokenOut], tags=["tokens"], summary="API tokens")
    def list_tokens(
        principal: Caller,
        user: Annotated[
            str | None, Query(description="login, or * for everyone's (administrators)")
        ] = None,
    ) -> list[TokenOut]:
        with api.work(principal, read_only=True) as work:
            found = api_tokens.list_tokens(work.session, work.actor, user)
            return [TokenOut.of(t, api_tokens.token_state(t)) for t in found]

    @r.post(
        "/tokens",
        response_model=NewTokenOut,
        status_code=201,
        tags=["tokens"],
        summary="Create an API token (its secret is shown once)",
    )
    def create_token(principal: Caller, body: TokenCreate) -> NewTokenOut:
        # Never replayed through an Idempotency-Key: the secret must not be stored.
        with api.work(principal) as work:
            new = api_tokens.create_token(
                work.session,
                work.actor,
                body.user or work.actor,
                name=body.name,
                expires_at=body.expires_at,
            )
            return NewTokenOut(
                token=TokenOut.of(new.token, api_tokens.token_state(new.token)), secret=new.secret
            )

    @r.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke a token")
    def revoke_token(principal: Caller, token_id: int) -> Response:
        with api.work(principal) as work:
            api_tokens.revoke_token(work.session, work.actor, token_id)
        api.authenticator.forget_token(token_id)
        return Response(status_code=204)

    return r
