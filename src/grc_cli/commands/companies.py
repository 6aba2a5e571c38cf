"""``grc company`` and ``grc contact``: clients, prospects, suspects and the people there."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_companies, show_company, show_contact, show_contacts
from grc_core.models import CompanyStatus
from grc_core.services import companies, opportunities

STATUSES = click.Choice([s.value for s in CompanyStatus])


@click.group("company")
def company_group() -> None:
    """Add, list and change companies."""


@company_group.command("add")
@click.argument("name")
@click.option("--status", type=STATUSES, help="Relationship status (default: prospect).")
@click.option("--owner", metavar="LOGIN", help="The user in charge of the company.")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="Host application's reference.")
@pass_cli
def add(
    state: CliContext,
    name: str,
    status: str | None,
    owner: str | None,
    external_ref: str | None,
) -> None:
    """Create a company."""
    extra = {"status": status} if status else {}
    with state.work() as work:
        company = companies.create_company(
            work.session, work.actor, name=name, owner=owner, external_ref=external_ref, **extra
        )
        shown = show_company(state.out, company)
    state.out.status(f"created company {company.id}")
    state.out.emit(shown)


@company_group.command("list")
@click.option("--status", type=STATUSES, help="Only companies with this status.")
@click.option("--name", metavar="TEXT", help="Only companies whose name contains TEXT.")
@pass_cli
def list_(state: CliContext, status: str | None, name: str | None) -> None:
    """List companies by name."""
    with state.session(read_only=True) as session:
        found = companies.list_companies(session, status=status, name=name)
        shown = show_companies(state.out, found)
    state.out.emit(shown)


@company_group.command("show")
@click.argument("company_id", metavar="ID", type=int)
@pass_cli
def show(state: CliContext, company_id: int) -> None:
    """Show a company with its contacts and opportunities."""
    with state.session(read_only=True) as session:
        company = companies.get_company(session, company_id)
        shown = show_company(
            state.out,
            company,
            companies.list_contacts(session, company_id),
            opportunities.list_opportunities(session, company_id),
        )
    state.out.emit(shown)


@company_group.command("set-status")
@click.argument("company_id", metavar="ID", type=int)
@click.argument("status", type=STATUSES)
@pass_cli
def set_status(state: CliContext, company_id: int, status: str) -> None:
    """Move a company to another status (the change is audited)."""
    with state.work() as work:
        company = companies.set_company_status(work.session, work.actor, company_id, status)
        shown = show_company(state.out, company)
    state.out.status(f"company {company.id} is now a {company.status.value}")
    state.out.emit(shown)


@company_group.command("update")
@click.argument("company_id", metavar="ID", type=int)
@click.option("--name", help="New name.")
@click.option("--owner", metavar="LOGIN", help="New owner.")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="New external reference.")
@pass_cli
def update(
    state: CliContext,
    company_id: int,
    name: str | None,
    owner: str | None,
    external_ref: str | None,
) -> None:
    """Rename a company, or change its owner or external reference."""
    with state.work() as work:
        company = companies.update_company(
            work.session, work.actor, company_id, name=name, owner=owner, external_ref=external_ref
        )
        # The service sets owner_id only; reload so the new owner is shown, not the old one.
        work.session.refresh(company)
        shown = show_company(state.out, company)
    state.out.status(f"updated company {company.id}")
    state.out.emit(shown)


@click.group("contact")
def contact_group() -> None:
    """Add, list and move the contacts of a company."""


@contact_group.command("add")
@click.argument("company_id", metavar="COMPANY_ID", type=int)
@click.option("--last-name", required=True, help="Family name.")
@click.option("--first-name", default="", help="Given name.")
@click.option("--email", help="E-mail address.")
@click.option("--phone", help="Phone number.")
@click.option("--title", "job_title", help="Job title.")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="Host application's reference.")
@pass_cli
def add_contact(
    state: CliContext,
    company_id: int,
    last_name: str,
    first_name: str,
    email: str | None,
    phone: str | None,
    job_title: str | None,
    external_ref: str | None,
) -> None:
    """Add a contact to a company."""
    with state.work() as work:
        contact = companies.create_contact(
            work.session,
            work.actor,
            company_id,
            last_name=last_name,
            first_name=first_name,
            email=email,
            phone=phone,
            job_title=job_title,
            external_ref=external_ref,
        )
        shown = show_contact(state.out, contact)
    state.out.status(f"created contact {contact.id}")
    state.out.emit(shown)


@contact_group.command("list")
@click.argument("company_id", metavar="COMPANY_ID", type=int)
@pass_cli
def list_contacts(state: CliContext, company_id: int) -> None:
    """List the contacts of a company."""
    with state.session(read_only=True) as session:
        shown = show_contacts(state.out, companies.list_contacts(session, company_id))
    state.out.emit(shown)


@contact_group.command("move")
@click.argument("contact_id", metavar="CONTACT_ID", type=int)
@click.argument("company_id", metavar="COMPANY_ID", type=int)
@pass_cli
def move_contact(state: CliContext, contact_id: int, company_id: int) -> None:
    """Move a contact to another company (they changed employer).

    Their past exchanges keep their company and now also appear in the new company's history.
    """
    with state.work() as work:
        contact = companies.move_contact(work.session, work.actor, contact_id, company_id)
        target = contact.company.name
        shown = show_contact(state.out, contact)
    state.out.status(f"contact {contact.id} now works at company {company_id} ({target})")
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc company`` and ``grc contact`` to the root group."""
    cli.add_command(company_group)
    cli.add_command(contact_group)
