"""The *Aujourd'hui* screen: the caller's open to-dos and meetings up to the end of today."""

from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import or_, select

from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.routes import PrincipalDependency
from grc_api.schemas import ExchangeOut
from grc_core.errors import ValidationError
from grc_core.models import Exchange, PicklistValue, exchange_assignees
from grc_core.timeutil import utcnow, zone
from grc_core.visibility import visible_exchanges

#: The actions the agenda shows.
AGENDA_ACTIONS = ("todo", "meeting")
LIMIT = 200


def end_of_today(tz: str) -> datetime:
    """Midnight at the end of today in ``tz``."""
    try:
        where = zone(tz)
    except Exception:
        raise ValidationError(f"unknown time zone {tz!r}", field="tz") from None
    today = utcnow().astimezone(where).date()
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=where)


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["me"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get(
        "/me/today",
        response_model=list[ExchangeOut],
        summary="My open to-dos and meetings until the end of today, late ones first",
    )
    def today(
        principal: Caller,
        tz: Annotated[str, Query(max_length=64, description="IANA time zone")] = "UTC",
    ) -> list[ExchangeOut]:
        """Exchanges assigned to me or written by me, action to-do or meeting, status not
        closed, starting before the end of today in ``tz``, oldest (latest) first."""
        until = end_of_today(tz)
        with api.work(principal, read_only=True) as work:
            me = work.actor.id
            action = PicklistValue.__table__.alias("agenda_action")
            status = PicklistValue.__table__.alias("agenda_status")
            mine = select(exchange_assignees.c.exchange_id).where(
                exchange_assignees.c.user_id == me
            )
            stmt = (
                select(Exchange)
                .join(action, action.c.id == Exchange.action_id)
                .join(status, status.c.id == Exchange.status_id)
                .where(
                    action.c.code.in_(AGENDA_ACTIONS),
                    status.c.is_closed.is_(False),
                    Exchange.start_at < until,
                    or_(Exchange.author_id == me, Exchange.id.in_(mine)),
                    visible_exchanges(work.actor),
                )
                .order_by(Exchange.start_at, Exchange.id)
                .limit(LIMIT)
            )
            return [ExchangeOut.of(e) for e in work.session.scalars(stmt)]

    return r
