"""``grc picklist``: the configurable lists of actions, statuses, media and stages."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_picklist, show_picklist_value
from grc_core.models import PicklistKind
from grc_core.services import picklists

KINDS = click.Choice([k.value for k in PicklistKind])


@click.group("picklist")
def picklist_group() -> None:
    """List and configure picklists (KIND is action, status, medium or stage)."""


@picklist_group.command("list")
@click.argument("kind", type=KINDS)
@click.option("--all", "include_retired", is_flag=True, help="Include retired values.")
@pass_cli
def list_(state: CliContext, kind: str, include_retired: bool) -> None:
    """List the values of a picklist in display order."""
    with state.session(read_only=True) as session:
        values = picklists.list_values(session, kind, include_retired=include_retired)
        shown = show_picklist(state.out, kind, values)
    state.out.emit(shown)


@picklist_group.command("add")
@click.argument("kind", type=KINDS)
@click.argument("code")
@click.option("--fr", "label_fr", required=True, metavar="LABEL", help="French label.")
@click.option("--en", "label_en", metavar="LABEL", help="English label (default: French).")
@click.option("--closed", is_flag=True, help="The value closes (a done status, a won stage).")
@pass_cli
def add(
    state: CliContext, kind: str, code: str, label_fr: str, label_en: str | None, closed: bool
) -> None:
    """Add a value at the end of a picklist (administrators only)."""
    with state.work() as work:
        value = picklists.add_value(
            work.session,
            work.actor,
            kind,
            code,
            label_fr=label_fr,
            label_en=label_en,
            is_closed=closed,
        )
        shown = show_picklist_value(state.out, value)
    state.out.status(f"added {kind} {value.code!r}")
    state.out.emit(shown)


def _set_active(state: CliContext, kind: str, code: str, active: bool) -> None:
    with state.work() as work:
        value = picklists.set_active(work.session, work.actor, kind, code, active)
        shown = show_picklist_value(state.out, value)
    state.out.status(f"{'restored' if active else 'retired'} {kind} {value.code!r}")
    state.out.emit(shown)


@picklist_group.command("retire")
@click.argument("kind", type=KINDS)
@click.argument("code")
@pass_cli
def retire(state: CliContext, kind: str, code: str) -> None:
    """Retire a value: old records keep it, new ones cannot choose it."""
    _set_active(state, kind, code, False)


@picklist_group.command("restore")
@click.argument("kind", type=KINDS)
@click.argument("code")
@pass_cli
def restore(state: CliContext, kind: str, code: str) -> None:
    """Make a retired value choosable again."""
    _set_active(state, kind, code, True)


def register(cli: click.Group) -> None:
    """Add ``grc picklist`` to the root group."""
    cli.add_command(picklist_group)
