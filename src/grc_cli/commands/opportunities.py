"""``grc opportunity``: the deals a company's exchanges are about."""

from __future__ import annotations

from datetime import date, datetime

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_opportunities, show_opportunity
from grc_core.services import opportunities

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.group("opportunity")
def opportunity_group() -> None:
    """Add, list and move opportunities."""


@opportunity_group.command("add")
@click.argument("company_id", metavar="COMPANY_ID", type=int)
@click.option("--title", required=True, help="What the deal is.")
@click.option("--stage", metavar="CODE", help="Stage code (default: prospecting).")
@click.option("--amount", help="Expected amount, e.g. 12500.00.")
@click.option("--close", "expected_close", type=DATE, help="Expected close date (YYYY-MM-DD).")
@click.option("--owner", metavar="LOGIN", help="The user in charge (default: the acting user).")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="Host application's reference.")
@pass_cli
def add(
    state: CliContext,
    company_id: int,
    title: str,
    stage: str | None,
    amount: str | None,
    expected_close: datetime | None,
    owner: str | None,
    external_ref: str | None,
) -> None:
    """Open an opportunity on a company."""
    extra = {"stage": stage} if stage else {}
    with state.work() as work:
        opportunity = opportunities.create_opportunity(
            work.session,
            work.actor,
            company_id,
            title=title,
            amount=amount,
            expected_close=_day(expected_close),
            owner=owner,
            external_ref=external_ref,
            **extra,
        )
        shown = show_opportunity(state.out, opportunity)
    state.out.status(f"created opportunity {opportunity.id}")
    state.out.emit(shown)


@opportunity_group.command("list")
@click.option("--company", "company_id", metavar="ID", type=int, help="Only this company's.")
@pass_cli
def list_(state: CliContext, company_id: int | None) -> None:
    """List opportunities, newest first."""
    with state.session(read_only=True) as session:
        shown = show_opportunities(state.out, opportunities.list_opportunities(session, company_id))
    state.out.emit(shown)


@opportunity_group.command("show")
@click.argument("opportunity_id", metavar="ID", type=int)
@pass_cli
def show(state: CliContext, opportunity_id: int) -> None:
    """Show one opportunity."""
    with state.session(read_only=True) as session:
        shown = show_opportunity(state.out, opportunities.get_opportunity(session, opportunity_id))
    state.out.emit(shown)


@opportunity_group.command("set-stage")
@click.argument("opportunity_id", metavar="ID", type=int)
@click.argument("stage", metavar="STAGE")
@pass_cli
def set_stage(state: CliContext, opportunity_id: int, stage: str) -> None:
    """Move an opportunity to another stage (the change is audited)."""
    with state.work() as work:
        opportunity = opportunities.set_opportunity_stage(
            work.session, work.actor, opportunity_id, stage
        )
        shown = show_opportunity(state.out, opportunity)
    state.out.status(f"opportunity {opportunity.id} is now at stage {opportunity.stage.code}")
    state.out.emit(shown)


@opportunity_group.command("update")
@click.argument("opportunity_id", metavar="ID", type=int)
@click.option("--title", help="New title.")
@click.option("--amount", help="New amount.")
@click.option("--close", "expected_close", type=DATE, help="New expected close date.")
@click.option("--owner", metavar="LOGIN", help="New owner.")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="New external reference.")
@pass_cli
def update(
    state: CliContext,
    opportunity_id: int,
    title: str | None,
    amount: str | None,
    expected_close: datetime | None,
    owner: str | None,
    external_ref: str | None,
) -> None:
    """Change an opportunity's details (its stage has ``set-stage``)."""
    with state.work() as work:
        opportunity = opportunities.update_opportunity(
            work.session,
            work.actor,
            opportunity_id,
            title=title,
            amount=amount,
            expected_close=_day(expected_close),
            owner=owner,
            external_ref=external_ref,
        )
        # The service sets owner_id only; reload so the new owner is shown, not the old one.
        work.session.refresh(opportunity)
        shown = show_opportunity(state.out, opportunity)
    state.out.status(f"updated opportunity {opportunity.id}")
    state.out.emit(shown)


@opportunity_group.command("transfer")
@click.argument("opportunity_id", metavar="OPP_ID", type=int)
@click.argument("company_id", metavar="COMPANY_ID", type=int)
@pass_cli
def transfer(state: CliContext, opportunity_id: int, company_id: int) -> None:
    """Move an opportunity to another company (a merger, a subsidiary taking over a deal).

    Its past exchanges keep their company and now also appear in the new company's history.
    """
    with state.work() as work:
        opportunity = opportunities.transfer_opportunity(
            work.session, work.actor, opportunity_id, company_id
        )
        target = opportunity.company.name
        shown = show_opportunity(state.out, opportunity)
    state.out.status(f"opportunity {opportunity.id} now belongs to company {company_id} ({target})")
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc opportunity`` to the root group."""
    cli.add_command(opportunity_group)
