"""Enrolled devices: enrolment codes for oneself (or, administrators, anyone), the list of
signed-in devices, revocation."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from grc_api import sessions
from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.routes import PrincipalDependency
from grc_api.routes.session import base_url
from grc_api.schemas import In, Out
from grc_core.models import Device, User
from grc_core.services import devices


class EnrolmentIn(In):
    login: str | None = Field(
        default=None, max_length=64, description="whose device (administrators); default: you"
    )
    device_name: str | None = Field(default=None, max_length=100)
    minutes: int = Field(default=devices.DEFAULT_CODE_MINUTES, ge=1, le=devices.MAX_CODE_MINUTES)


class EnrolmentOut(Out):
    code: str = Field(description="one-time code, shown once (ABCD-EFGH)")
    link: str = Field(description="opens the web application on the enrolment screen")
    expires_at: datetime
    login: str


class DeviceOut(Out):
    id: int
    name: str
    login: str
    method: str = Field(description="code or oidc")
    state: str = Field(description="active, expired or revoked")
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None
    current: bool = Field(description="the device making this request")


def device_out(device: Device, login: str, current: int | None) -> DeviceOut:
    return DeviceOut(
        id=device.id,
        name=device.name,
        login=login,
        method=device.method,
        state=devices.device_state(device),
        created_at=device.created_at,
        last_used_at=device.last_used_at,
        expires_at=device.expires_at,
        revoked_at=device.revoked_at,
        current=device.id == current,
    )


def enrolment_link(base: str, code: str) -> str:
    """The link that opens the application's enrolment screen with ``code``."""
    return f"{base.rstrip('/')}/#/enrol/{code}"


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["devices"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.post(
        "/devices/enrolments",
        response_model=EnrolmentOut,
        status_code=201,
        summary="A one-time code that signs a device in (yours; administrators: anyone's)",
    )
    def create_enrolment(principal: Caller, body: EnrolmentIn, request: Request) -> EnrolmentOut:
        # Never replayed through an Idempotency-Key: the code must not be stored.
        with api.work(principal) as work:
            new = devices.create_enrolment(
                work.session,
                work.actor,
                body.login or work.actor,
                device_name=body.device_name,
                minutes=body.minutes,
            )
            owner = work.session.get(User, new.enrolment.user_id)
            assert owner is not None
            return EnrolmentOut(
                code=new.code,
                link=enrolment_link(base_url(api, request), new.code),
                expires_at=new.enrolment.expires_at,
                login=owner.login,
            )

    @r.get("/devices", response_model=list[DeviceOut], summary="Signed-in devices")
    def list_devices(
        principal: Caller,
        user: Annotated[
            str | None,
            Query(
                max_length=64,
                description="login, or * for everyone's; default: yours, "
                "or everyone's for an administrator",
            ),
        ] = None,
    ) -> list[DeviceOut]:
        with api.work(principal, read_only=True) as work:
            who = user if user is not None else ("*" if work.actor.is_admin else None)
            found = devices.list_devices(work.session, work.actor, who)
            logins = dict(
                work.session.query(User.id, User.login).filter(
                    User.id.in_({d.user_id for d in found})
                )
            )
            return [device_out(d, logins[d.user_id], principal.device_id) for d in found]

    @r.delete("/devices/{device_id}", status_code=204, summary="Revoke a device")
    def revoke_device(principal: Caller, device_id: int) -> Response:
        """The device is refused at its next request (401 ``device-revoked``) and told to
        wipe what it keeps; its push subscriptions are removed."""
        with api.work(principal) as work:
            devices.revoke_device(work.session, work.actor, device_id)
        api.authenticator.forget_device(device_id)
        response = Response(status_code=204)
        if device_id == principal.device_id:
            sessions.clear_session_cookies(response)
        return response

    return r
