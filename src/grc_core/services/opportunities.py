"""Opportunities.

Every change is recorded as an audit event (``opportunity.*``) in the caller's transaction;
who may change what is :mod:`grc_core.permissions`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.errors import NotFound, PermissionDenied, ValidationError
from grc_core.indexing import reindex
from grc_core.models import EventKind, Opportunity, PicklistKind, User
from grc_core.permissions import can_change_company, require_change
from grc_core.services import picklists
from grc_core.services.companies import check_external_ref, get_company, linked_exchanges
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.events import diff, json_safe, record_event
from grc_core.services.text import clean_line, optional_line
from grc_core.services.users import UserRef, get_user, require_active
from grc_core.timeutil import utcnow

AMOUNT_LIMIT = Decimal("1e12")


def _amount(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise ValidationError("amount must be a Decimal, an int or a string", field="amount")
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"amount {value!r} is not a number", field="amount") from None
    if not amount.is_finite() or amount < 0 or amount >= AMOUNT_LIMIT:
        raise ValidationError("amount must be between 0 and 999,999,999,999.99", field="amount")
    return amount.quantize(Decimal("0.01"))


def get_opportunity(session: Session, opportunity_id: int) -> Opportunity:
    """An opportunity by id."""
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound(f"no opportunity {opportunity_id}")
    return opportunity


def _locked(session: Session, opportunity_id: int, expected: int | None) -> Opportunity:
    """The opportunity locked for this transaction and read as committed, at ``expected``
    version if one is given (see :mod:`grc_core.services.concurrency`)."""
    found = lock_for_update(session, Opportunity, opportunity_id)
    if found is None:
        raise NotFound(f"no opportunity {opportunity_id}")
    check_version(found, expected, f"opportunity {opportunity_id}")
    return found


def get_opportunity_by_ref(session: Session, external_ref: str) -> Opportunity:
    """An opportunity by the host application's reference."""
    found = session.scalar(select(Opportunity).where(Opportunity.external_ref == external_ref))
    if found is None:
        raise NotFound(f"no opportunity with external reference {external_ref!r}")
    return found


def list_opportunities(session: Session, company_id: int | None = None) -> list[Opportunity]:
    """Opportunities, of one company or all, newest first."""
    stmt = select(Opportunity).order_by(Opportunity.id.desc())
    if company_id is not None:
        stmt = stmt.where(Opportunity.company_id == company_id)
    return list(session.scalars(stmt))


def create_opportunity(
    session: Session,
    actor: User,
    company_id: int,
    *,
    title: str,
    stage: str = "prospecting",
    amount: Decimal | int | str | None = None,
    expected_close: date | None = None,
    owner: UserRef | None = None,
    external_ref: str | None = None,
) -> Opportunity:
    """Open an opportunity on a company."""
    require_active(actor)
    company = get_company(session, company_id)
    external_ref = optional_line(external_ref, "external_ref", 200)
    check_external_ref(session, Opportunity, external_ref)
    opportunity = Opportunity(
        company_id=company.id,
        title=clean_line(title, "title", 200),
        stage_id=picklists.resolve_for_write(session, PicklistKind.STAGE, stage).id,
        amount=_amount(amount),
        expected_close=expected_close,
        owner_id=get_user(session, owner if owner is not None else actor).id,
        external_ref=external_ref,
    )
    session.add(opportunity)
    session.flush()
    record_event(
        session,
        actor,
        EventKind.OPPORTUNITY_CREATED,
        entity_type="opportunity",
        entity_id=opportunity.id,
        company_id=company.id,
        changes={
            k: [None, v] for k, v in _opportunity_fields(opportunity).items() if v is not None
        },
    )
    return opportunity


def _opportunity_fields(opportunity: Opportunity) -> dict[str, Any]:
    """The audited fields of an opportunity (but its company, see transfers), JSON-safe."""
    fields: dict[str, Any] = json_safe(
        {
            "title": opportunity.title,
            "stage": opportunity.stage.code if opportunity.stage is not None else None,
            "amount": opportunity.amount,
            "expected_close": opportunity.expected_close,
            "owner_id": opportunity.owner_id,
            "external_ref": opportunity.external_ref,
        }
    )
    return fields


def set_opportunity_stage(
    session: Session,
    actor: User,
    opportunity_id: int,
    stage: str,
    *,
    expected_version: int | None = None,
) -> Opportunity:
    """Move an opportunity to another stage and record the change.

    :param expected_version: as for :func:`update_opportunity`.
    :raises PermissionDenied: the actor may not change this opportunity.
    """
    require_active(actor)
    opportunity = _locked(session, get_opportunity(session, opportunity_id).id, expected_version)
    picklists.get_value(session, PicklistKind.STAGE, stage)  # an unknown stage is refused first
    require_change(actor, opportunity, "changing the stage")
    old = opportunity.stage
    new = picklists.resolve_for_write(session, PicklistKind.STAGE, stage, current=old)
    if new.id == old.id:
        return opportunity
    opportunity.stage_id = new.id
    opportunity.stage = new
    opportunity.updated_at = utcnow()
    with stale_as_conflict(opportunity, f"opportunity {opportunity.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.OPPORTUNITY_STAGE_CHANGED,
        entity_type="opportunity",
        entity_id=opportunity.id,
        company_id=opportunity.company_id,
        changes={"stage": [old.code, new.code]},
    )
    return opportunity


def transfer_opportunity(
    session: Session,
    actor: User,
    opportunity_id: int,
    company_id: int,
    *,
    expected_version: int | None = None,
) -> Opportunity:
    """Move an opportunity to another company (a merger, a subsidiary taking over a deal).

    Exchanges already recorded keep their company; they now also appear in the new
    company's history, through the opportunity.

    :param expected_version: as for :func:`update_opportunity`.
    :raises PermissionDenied: the actor may not change the opportunity, or the company
        it would go to.
    """
    require_active(actor)
    opportunity = _locked(session, get_opportunity(session, opportunity_id).id, expected_version)
    target = get_company(session, company_id)
    if opportunity.company_id == target.id:
        return opportunity
    require_change(actor, opportunity, "transferring")
    if not can_change_company(actor, target):
        raise PermissionDenied(
            f"transferring opportunity {opportunity.id} to company {target.id} needs the right "
            f"to change that company (its owner or an administrator); {actor.login!r} has not"
        )
    former = opportunity.company_id
    opportunity.company_id = target.id
    opportunity.company = target
    opportunity.updated_at = utcnow()
    with stale_as_conflict(opportunity, f"opportunity {opportunity.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.OPPORTUNITY_TRANSFERRED,
        entity_type="opportunity",
        entity_id=opportunity.id,
        company_id=target.id,
        changes={"company_id": [former, target.id]},
    )
    reindex(session, linked_exchanges(session, opportunity_id=opportunity.id))
    return opportunity


def update_opportunity(
    session: Session,
    actor: User,
    opportunity_id: int,
    *,
    title: str | None = None,
    amount: Decimal | int | str | None = None,
    expected_close: date | None = None,
    owner: UserRef | None = None,
    external_ref: str | None = None,
    expected_version: int | None = None,
) -> Opportunity:
    """Change an opportunity's details (its stage has :func:`set_opportunity_stage`).

    :param expected_version: the ``version`` the caller read; if the opportunity changed
        since, nothing is written and :class:`~grc_core.errors.VersionConflict` is raised.
    :raises PermissionDenied: the actor may not change this opportunity
        (:func:`grc_core.permissions.can_change_opportunity`).
    """
    require_active(actor)
    opportunity = _locked(session, get_opportunity(session, opportunity_id).id, expected_version)
    require_change(actor, opportunity, "changing the details")
    before = _opportunity_fields(opportunity)
    if title is not None:
        opportunity.title = clean_line(title, "title", 200)
    if amount is not None:
        opportunity.amount = _amount(amount)
    if expected_close is not None:
        opportunity.expected_close = expected_close
    if owner is not None:
        new_owner = get_user(session, owner)
        opportunity.owner_id = new_owner.id
        opportunity.owner = new_owner
    if external_ref is not None:
        ref = optional_line(external_ref, "external_ref", 200)
        check_external_ref(session, Opportunity, ref, opportunity.id)
        opportunity.external_ref = ref
    changes = diff(before, _opportunity_fields(opportunity))
    if not changes:
        return opportunity
    opportunity.updated_at = utcnow()
    with stale_as_conflict(opportunity, f"opportunity {opportunity.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.OPPORTUNITY_UPDATED,
        entity_type="opportunity",
        entity_id=opportunity.id,
        company_id=opportunity.company_id,
        changes=changes,
    )
    return opportunity
