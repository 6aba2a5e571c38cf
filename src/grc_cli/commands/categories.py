"""``grc category``: the configurable tree of exchange categories."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_category, show_category_tree
from grc_core.services import categories


@click.group("category")
def category_group() -> None:
    """List and configure the category tree."""


@category_group.command("add")
@click.argument("code")
@click.option("--fr", "label_fr", required=True, metavar="LABEL", help="French label.")
@click.option("--en", "label_en", metavar="LABEL", help="English label (default: French).")
@click.option("--parent", metavar="CODE", help="Parent category (default: a top-level one).")
@pass_cli
def add(
    state: CliContext, code: str, label_fr: str, label_en: str | None, parent: str | None
) -> None:
    """Add a category (administrators only)."""
    with state.work() as work:
        category = categories.add_category(
            work.session, work.actor, code, label_fr=label_fr, label_en=label_en, parent=parent
        )
        shown = show_category(state.out, category)
    state.out.status(f"added category {category.code!r}")
    state.out.emit(shown)


@category_group.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired categories.")
@pass_cli
def list_(state: CliContext, include_retired: bool) -> None:
    """Show the category tree."""
    with state.session(read_only=True) as session:
        found = categories.list_categories(session, include_retired=include_retired)
        shown = show_category_tree(state.out, found)
    state.out.emit(shown)


def _set_active(state: CliContext, code: str, active: bool) -> None:
    with state.work() as work:
        category = categories.set_active(work.session, work.actor, code, active)
        shown = show_category(state.out, category)
    state.out.status(f"{'restored' if active else 'retired'} category {category.code!r}")
    state.out.emit(shown)


@category_group.command("retire")
@click.argument("code")
@pass_cli
def retire(state: CliContext, code: str) -> None:
    """Retire a category: exchanges keep it, new ones cannot choose it."""
    _set_active(state, code, False)


@category_group.command("restore")
@click.argument("code")
@pass_cli
def restore(state: CliContext, code: str) -> None:
    """Make a retired category choosable again."""
    _set_active(state, code, True)


def register(cli: click.Group) -> None:
    """Add ``grc category`` to the root group."""
    cli.add_command(category_group)
