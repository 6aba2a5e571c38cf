"""Companies and contacts.

Every change is recorded as an audit event (``company.*``, ``contact.*``) in the caller's
transaction; who may change what is :mod:`grc_core.permissions`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, NotFound, ValidationError
from grc_core.french_text import fold
from grc_core.indexing import exchanges_of_company, reindex
from grc_core.models import (
    Company,
    CompanyStatus,
    Contact,
    EventKind,
    User,
    exchange_contacts,
    exchange_opportunities,
)
from grc_core.permissions import require_change, require_move_contact
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.events import diff, json_safe, record_event
from grc_core.services.text import clean_line, optional_line
from grc_core.services.users import UserRef, get_user, require_active
from grc_core.timeutil import utcnow

_R = TypeVar("_R", Company, Contact)


def _status(value: CompanyStatus | str) -> CompanyStatus:
    try:
        return CompanyStatus(value)
    except ValueError:
        accepted = ", ".join(s.value for s in CompanyStatus)
        raise ValidationError(
            f"unknown company status {value!r}; accepted: {accepted}", field="status"
        ) from None


def check_external_ref(
    session: Session, model: Any, ref: str | None, own_id: int | None = None
) -> None:
    """Refuse an external reference already used by another record of ``model``."""
    if ref is None:
        return
    other = session.scalar(select(model.id).where(model.external_ref == ref))
    if other is not None and other != own_id:
        raise Conflict(f"external reference {ref!r} is already used by {model.__name__} {other}")


def get_company(session: Session, company_id: int) -> Company:
    """A company by id."""
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(f"no company {company_id}")
    return company


def _locked(session: Session, model: type[_R], ident: int, expected: int | None) -> _R:
    """The record locked for this transaction and read as committed, at ``expected``
    version if one is given (see :mod:`grc_core.services.concurrency`)."""
    label = f"{model.__name__.lower()} {ident}"
    found = lock_for_update(session, model, ident)
    if found is None:
        raise NotFound(f"no {label}")
    check_version(found, expected, label)
    return found


def get_company_by_ref(session: Session, external_ref: str) -> Company:
    """A company by the host application's reference."""
    company = session.scalar(select(Company).where(Company.external_ref == external_ref))
    if company is None:
        raise NotFound(f"no company with external reference {external_ref!r}")
    return company


def list_companies(
    session: Session, *, status: CompanyStatus | str | None = None, name: str | None = None
) -> list[Company]:
    """Companies by name, optionally of one status or whose name contains ``name``."""
    stmt = select(Company).order_by(Company.name, Company.id)
    if status is not None:
        stmt = stmt.where(Company.status == _status(status))
    if name:
        stmt = stmt.where(_folded(session, Company.name).contains(fold(name), autoescape=True))
    return list(session.scalars(stmt))


def _folded(session: Session, column: Any) -> Any:
    """``column`` folded like search folds words (case, accents, œ/æ), on either database:
    "generale", "GÉNÉRALE" and "Generale" all find "Société Générale"."""
    if session.get_bind().dialect.name == "postgresql":
        # unaccent (installed by migration 0003) also spells out ligatures, as fold() does.
        return func.lower(func.unaccent(column))
    # SQLite has no such function: GRC's own, registered on the connection that runs it.
    raw = session.connection().connection.driver_connection
    raw.create_function("grc_fold", 1, _fold_or_none, deterministic=True)  # type: ignore[union-attr]
    return func.grc_fold(column)


def _fold_or_none(value: str | None) -> str | None:
    return None if value is None else fold(value)


def create_company(
    session: Session,
    actor: User,
    *,
    name: str,
    status: CompanyStatus | str = CompanyStatus.PROSPECT,
    owner: UserRef | None = None,
    external_ref: str | None = None,
) -> Company:
    """Create a company (a prospect unless told otherwise), owned by ``owner``."""
    require_active(actor)
    external_ref = optional_line(external_ref, "external_ref", 200)
    check_external_ref(session, Company, external_ref)
    company = Company(
        name=clean_line(name, "name", 200),
        status=_status(status),
        owner_id=get_user(session, owner).id if owner is not None else None,
        external_ref=external_ref,
    )
    session.add(company)
    session.flush()
    record_event(
        session,
        actor,
        EventKind.COMPANY_CREATED,
        entity_type="company",
        entity_id=company.id,
        company_id=company.id,
        changes={k: [None, v] for k, v in _company_fields(company).items() if v is not None},
    )
    return company


def _company_fields(company: Company) -> dict[str, Any]:
    """The audited fields of a company, JSON-safe."""
    fields: dict[str, Any] = json_safe(
        {
            "name": company.name,
            "status": company.status,
            "owner_id": company.owner_id,
            "external_ref": company.external_ref,
        }
    )
    return fields


def update_company(
    session: Session,
    actor: User,
    company_id: int,
    *,
    name: str | None = None,
    owner: UserRef | None = None,
    external_ref: str | None = None,
    expected_version: int | None = None,
) -> Company:
    """Rename a company, change its owner or its external reference.

    :param expected_version: the ``version`` the caller read; if the company changed since,
        nothing is written and :class:`~grc_core.errors.VersionConflict` is raised.
    :raises PermissionDenied: the actor may not change this company
        (:func:`grc_core.permissions.can_change_company`).
    """
    require_active(actor)
    company = get_company(session, company_id)
    company = _locked(session, Company, company.id, expected_version)
    require_change(actor, company, "changing the details")
    before = _company_fields(company)
    renamed = name is not None and clean_line(name, "name", 200) != company.name
    if name is not None:
        company.name = clean_line(name, "name", 200)
    if owner is not None:
        new_owner = get_user(session, owner)
        company.owner_id = new_owner.id
        company.owner = new_owner
    if external_ref is not None:
        ref = optional_line(external_ref, "external_ref", 200)
        check_external_ref(session, Company, ref, company.id)
        company.external_ref = ref
    changes = diff(before, _company_fields(company))
    if not changes:
        return company
    company.updated_at = utcnow()
    with stale_as_conflict(company, f"company {company.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.COMPANY_UPDATED,
        entity_type="company",
        entity_id=company.id,
        company_id=company.id,
        changes=changes,
    )
    if renamed:  # the search index holds the company's name
        reindex(session, exchanges_of_company(session, company.id))
    return company


def set_company_status(
    session: Session,
    actor: User,
    company_id: int,
    status: CompanyStatus | str,
    *,
    expected_version: int | None = None,
) -> Company:
    """Move a company to ``status`` (e.g. prospect → client) and record the change.

    :param expected_version: as for :func:`update_company`.
    :raises PermissionDenied: the actor may not change this company.
    """
    require_active(actor)
    company = get_company(session, company_id)
    new = _status(status)
    company = _locked(session, Company, company.id, expected_version)
    require_change(actor, company, "changing the status")
    old = company.status
    if new == old:
        return company
    company.status = new
    company.updated_at = utcnow()
    with stale_as_conflict(company, f"company {company.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.COMPANY_STATUS_CHANGED,
        entity_type="company",
        entity_id=company.id,
        company_id=company.id,
        changes={"status": [old, new]},
    )
    return company


def create_contact(
    session: Session,
    actor: User,
    company_id: int,
    *,
    last_name: str,
    first_name: str = "",
    email: str | None = None,
    phone: str | None = None,
    job_title: str | None = None,
    external_ref: str | None = None,
) -> Contact:
    """Add a contact person to a company."""
    require_active(actor)
    company = get_company(session, company_id)
    external_ref = optional_line(external_ref, "external_ref", 200)
    check_external_ref(session, Contact, external_ref)
    contact = Contact(
        company_id=company.id,
        first_name=optional_line(first_name, "first_name", 100) or "",
        last_name=clean_line(last_name, "last_name", 100),
        email=optional_line(email, "email", 320),
        phone=optional_line(phone, "phone", 40),
        job_title=optional_line(job_title, "job_title", 200),
        external_ref=external_ref,
    )
    session.add(contact)
    session.flush()
    record_event(
        session,
        actor,
        EventKind.CONTACT_CREATED,
        entity_type="contact",
        entity_id=contact.id,
        company_id=company.id,
        changes={k: [None, v] for k, v in _contact_fields(contact).items() if v not in (None, "")},
    )
    return contact


def _contact_fields(contact: Contact) -> dict[str, Any]:
    """The audited fields of a contact, JSON-safe."""
    fields: dict[str, Any] = json_safe(
        {
            "company_id": contact.company_id,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
            "job_title": contact.job_title,
            "external_ref": contact.external_ref,
        }
    )
    return fields


def update_contact(
    session: Session,
    actor: User,
    contact_id: int,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    job_title: str | None = None,
    external_ref: str | None = None,
    expected_version: int | None = None,
) -> Contact:
    """Change a contact's details; arguments left out (``None``) are unchanged, an empty
    string clears an optional one.

    :param expected_version: the ``version`` the caller read (see :func:`update_company`).
    :raises PermissionDenied: the actor may not change the contact's company.
    """
    require_active(actor)
    contact = get_contact(session, contact_id)
    contact = _locked(session, Contact, contact.id, expected_version)
    require_change(actor, contact, "changing the details")
    before = _contact_fields(contact)
    if first_name is not None:
        contact.first_name = optional_line(first_name, "first_name", 100) or ""
    if last_name is not None:
        contact.last_name = clean_line(last_name, "last_name", 100)
    if email is not None:
        contact.email = optional_line(email, "email", 320)
    if phone is not None:
        contact.phone = optional_line(phone, "phone", 40)
    if job_title is not None:
        contact.job_title = optional_line(job_title, "job_title", 200)
    if external_ref is not None:
        ref = optional_line(external_ref, "external_ref", 200)
        check_external_ref(session, Contact, ref, contact.id)
        contact.external_ref = ref
    changes = diff(before, _contact_fields(contact))
    if not changes:
        return contact
    with stale_as_conflict(contact, f"contact {contact.id}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.CONTACT_UPDATED,
        entity_type="contact",
        entity_id=contact.id,
        company_id=contact.company_id,
        changes=changes,
    )
    if "first_name" in changes or "last_name" in changes:  # names are searchable
        reindex(session, linked_exchanges(session, contact_id=contact.id))
    return contact


def get_contact(session: Session, contact_id: int) -> Contact:
    """A contact by id."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}")
    return contact


def get_contact_by_ref(session: Session, external_ref: str) -> Contact:
    """A contact by the host application's reference."""
    contact = session.scalar(select(Contact).where(Contact.external_ref == external_ref))
    if contact is None:
        raise NotFound(f"no contact with external reference {external_ref!r}")
    return contact


def move_contact(
    session: Session,
    actor: User,
    contact_id: int,
    company_id: int,
    *,
    expected_version: int | None = None,
) -> Contact:
    """Move a contact to another company (people change employers).

    Their past exchanges stay with the company they were recorded for, and now also appear
    in the new company's history, through the contact.

    :param expected_version: the ``version`` of the contact the caller read.
    :raises PermissionDenied: see :func:`grc_core.permissions.can_move_contact`.
    """
    require_active(actor)
    contact = get_contact(session, contact_id)
    target = get_company(session, company_id)
    contact = _locked(session, Contact, contact.id, expected_version)
    if contact.company_id == target.id:
        return contact
    require_move_contact(actor, contact, target)
    former = contact.company_id
    contact.company_id = target.id
    contact.company = target
    with stale_as_conflict(contact, f"contact {contact.id}"):
        session.flush()
    # Scoped to the company it joins, whose history now shows the contact's exchanges.
    record_event(
        session,
        actor,
        EventKind.CONTACT_MOVED,
        entity_type="contact",
        entity_id=contact.id,
        company_id=target.id,
        changes={"company_id": [former, target.id]},
    )
    reindex(session, linked_exchanges(session, contact_id=contact.id))
    return contact


def linked_exchanges(
    session: Session, *, contact_id: int | None = None, opportunity_id: int | None = None
) -> list[int]:
    """Ids of the exchanges linked to a contact or to an opportunity."""
    if contact_id is not None:
        link = exchange_contacts
        stmt = select(link.c.exchange_id).where(link.c.contact_id == contact_id)
    else:
        link = exchange_opportunities
        stmt = select(link.c.exchange_id).where(link.c.opportunity_id == opportunity_id)
    return list(session.scalars(stmt))


def list_contacts(session: Session, company_id: int) -> list[Contact]:
    """The contacts of a company, by name."""
    get_company(session, company_id)
    stmt = (
        select(Contact)
        .where(Contact.company_id == company_id)
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
    )
    return list(session.scalars(stmt))
