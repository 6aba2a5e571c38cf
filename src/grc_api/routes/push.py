"""Web Push: the server's application key, and the subscriptions of the caller's devices."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.problems import ApiProblem
from grc_api.routes import PrincipalDependency
from grc_api.schemas import In, Out
from grc_core.errors import ConfigError
from grc_core.services import devices


class PushKeyOut(Out):
    public_key: str = Field(description="VAPID application server key, base64url")


class PushKeys(In):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class PushSubscriptionIn(In):
    """What the browser's ``PushSubscription.toJSON()`` gives."""

    endpoint: str = Field(max_length=2000)
    expirationTime: int | float | None = None
    keys: PushKeys


class PushEndpointIn(In):
    endpoint: str = Field(max_length=2000)


class PushSubscriptionOut(Out):
    id: int
    endpoint: str


def application_server_key(api: Api) -> str | None:
    """The VAPID public key, or ``None`` when push is not configured."""
    from grc_adapters.push import vapid

    try:
        return vapid.application_server_key(api.grc.settings.channel_config("push"))
    except ConfigError:
        return None


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["push"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get(
        "/push/key",
        response_model=PushKeyOut,
        summary="The key browsers subscribe to push messages with",
    )
    def key(principal: Caller) -> PushKeyOut:
        public = application_server_key(api)
        if public is None:
            raise ApiProblem(
                503,
                "push alerts are not configured on this server (grc push keys)",
                slug="push-off",
            )
        return PushKeyOut(public_key=public)

    @r.post(
        "/push/subscriptions",
        response_model=PushSubscriptionOut,
        status_code=201,
        summary="Receive alerts on this device (its browser's push subscription)",
    )
    def subscribe(principal: Caller, body: PushSubscriptionIn) -> JSONResponse:
        with api.work(principal) as work:
            found = devices.subscribe_push(
                work.session,
                work.actor,
                endpoint=body.endpoint,
                p256dh=body.keys.p256dh,
                auth=body.keys.auth,
                device_id=principal.device_id,
            )
            out = PushSubscriptionOut(id=found.id, endpoint=found.endpoint)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.delete(
        "/push/subscriptions",
        status_code=204,
        summary="Stop alerts on this device (unknown endpoints are ignored)",
    )
    def unsubscribe(principal: Caller, body: PushEndpointIn) -> Response:
        with api.work(principal) as work:
            devices.unsubscribe_push(work.session, work.actor, body.endpoint)
        return Response(status_code=204)

    return r
