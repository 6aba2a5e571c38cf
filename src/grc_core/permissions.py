"""Who may change what: written once, used by every service that changes a shared record.

Reading is open: every active user sees every company, contact and opportunity (the privacy
rule is about exchanges, :mod:`grc_core.visibility`).  Changing them is not.

* **Administrators** may change everything.
* A **company** — its name, owner, reference, status — is changed by its owner.  A company
  nobody owns yet is everybody's: any active user may change it, and so also take it
  (set themselves as its owner).
* A **contact** is changed by whoever may change its company.  *Moving* a contact to another
  company (they changed employers) is allowed to whoever may change the company they leave,
  and to the owner of the company they join: the account manager of the new employer is
  usually the one who learns of the move.  (Not to anyone merely because the company they
  join has no owner: that would let anyone move any contact.)
* An **opportunity** — stage, amount, close date, owner, title, transfer — is changed by its
  owner or by the owner of its company (who answers for the whole account).  An opportunity
  nobody owns follows its company's rule.
* **Creating** a company, a contact or an opportunity is open to every active user.
* Exchanges have their own rule, :func:`grc_core.visibility.can_modify` (author, assignees,
  administrators); configuration (picklists, categories, custom fields, users, rules, the
  attachment policy) is for administrators only
  (:func:`grc_core.services.users.require_admin`).

:func:`can_change` is the rule as a boolean (to show or hide an action);
:func:`require_change` raises :class:`~grc_core.errors.PermissionDenied` saying who may.
"""

from __future__ import annotations

from grc_core.errors import PermissionDenied
from grc_core.models import Company, Contact, Opportunity, User

#: The records this rule covers.
Record = Company | Contact | Opportunity


def _owns(actor: User, owner_id: int | None) -> bool:
    return owner_id is not None and owner_id == actor.id


def can_change_company(actor: User, company: Company) -> bool:
    """Administrators, the company's owner, or anyone if it has no owner."""
    if not actor.active:
        return False
    return actor.is_admin or company.owner_id is None or _owns(actor, company.owner_id)


def can_change_opportunity(actor: User, opportunity: Opportunity) -> bool:
    """Administrators, the opportunity's owner, or whoever may change its company when it
    has no owner; the company's owner always."""
    if not actor.active:
        return False
    if actor.is_admin or _owns(actor, opportunity.owner_id):
        return True
    company = opportunity.company
    if _owns(actor, company.owner_id):
        return True
    return opportunity.owner_id is None and can_change_company(actor, company)


def can_change(actor: User, record: Record) -> bool:
    """Whether ``actor`` may change ``record`` (a company, a contact or an opportunity)."""
    if isinstance(record, Company):
        return can_change_company(actor, record)
    if isinstance(record, Contact):
        return can_change_company(actor, record.company)
    if isinstance(record, Opportunity):
        return can_change_opportunity(actor, record)
    raise TypeError(f"no permission rule for {type(record).__name__}")


def can_move_contact(actor: User, contact: Contact, target: Company) -> bool:
    """Whether ``actor`` may move ``contact`` to ``target``: they may change the company the
    contact leaves, or they own the one it joins."""
    if can_change_company(actor, contact.company):
        return True
    return actor.active and _owns(actor, target.owner_id)


def _describe(record: Record) -> tuple[str, str]:
    """What the record is called in a message, and who may change it."""
    if isinstance(record, Company):
        return f"company {record.id}", "its owner or an administrator"
    if isinstance(record, Contact):
        return (
            f"contact {record.id}",
            f"the owner of company {record.company_id} or an administrator",
        )
    return (
        f"opportunity {record.id}",
        f"its owner, the owner of company {record.company_id} or an administrator",
    )


def require_change(actor: User, record: Record, what: str) -> None:
    """Refuse ``what`` (``"changing the status"``…) unless :func:`can_change` allows it.

    :raises PermissionDenied: naming the record and who may change it.
    """
    if can_change(actor, record):
        return
    name, who = _describe(record)
    if not actor.active:
        raise PermissionDenied(f"user {actor.login!r} is deactivated and cannot act")
    raise PermissionDenied(f"{what} of {name} is for {who}; {actor.login!r} is not")


def require_move_contact(actor: User, contact: Contact, target: Company) -> None:
    """Refuse to move ``contact`` unless :func:`can_move_contact` allows it.

    :raises PermissionDenied: naming both companies.
    """
    if can_move_contact(actor, contact, target):
        return
    raise PermissionDenied(
        f"moving contact {contact.id} from company {contact.company_id} to company "
        f"{target.id} is for whoever may change company {contact.company_id} (its owner, "
        f"anyone if it has none), the owner of company {target.id} or an administrator; "
        f"{actor.login!r} is none of them"
    )
