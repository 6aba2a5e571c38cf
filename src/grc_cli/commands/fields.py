"""``grc field``: custom fields on exchanges, defined by administrators."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_field, show_fields
from grc_core.models import FieldType
from grc_core.services import custom_fields

TYPES = click.Choice([t.value for t in FieldType])


@click.group("field")
def field_group() -> None:
    """List and define custom fields of exchanges."""


@field_group.command("add")
@click.argument("code")
@click.option("--label", required=True, help="What people see.")
@click.option("--type", "field_type", type=TYPES, required=True, help="Value type.")
@click.option("--required", is_flag=True, help="Every new exchange must give a value.")
@click.option(
    "--choice",
    "choices",
    multiple=True,
    metavar="VALUE",
    help="An accepted value of a choice field (repeat for each).",
)
@pass_cli
def add(
    state: CliContext,
    code: str,
    label: str,
    field_type: str,
    required: bool,
    choices: tuple[str, ...],
) -> None:
    """Define a custom field (administrators only)."""
    with state.work() as work:
        field = custom_fields.define_field(
            work.session,
            work.actor,
            code,
            label=label,
            type=field_type,
            required=required,
            choices=list(choices) or None,
        )
        shown = show_field(state.out, field)
    state.out.status(f"defined custom field {field.code!r}")
    state.out.emit(shown)


@field_group.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired fields.")
@pass_cli
def list_(state: CliContext, include_retired: bool) -> None:
    """List custom fields by code."""
    with state.session(read_only=True) as session:
        found = custom_fields.list_fields(session, include_retired=include_retired)
        shown = show_fields(state.out, found)
    state.out.emit(shown)


def _set_active(state: CliContext, code: str, active: bool) -> None:
    with state.work() as work:
        field = custom_fields.set_active(work.session, work.actor, code, active)
        shown = show_field(state.out, field)
    state.out.status(f"{'restored' if active else 'retired'} custom field {field.code!r}")
    state.out.emit(shown)


@field_group.command("retire")
@click.argument("code")
@pass_cli
def retire(state: CliContext, code: str) -> None:
    """Retire a field: stored values are kept and shown, new ones are refused."""
    _set_active(state, code, False)


@field_group.command("restore")
@click.argument("code")
@pass_cli
def restore(state: CliContext, code: str) -> None:
    """Make a retired field usable again."""
    _set_active(state, code, True)


def register(cli: click.Group) -> None:
    """Add ``grc field`` to the root group."""
    cli.add_command(field_group)
