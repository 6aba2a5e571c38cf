"""``grc db``: create, migrate and inspect the database schema."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import Shown, record
from grc_core import schema
from grc_core.queries import cursors


@click.group("db")
def db_group() -> None:
    """Create, migrate and inspect the database schema."""


def _revisions(state: CliContext) -> Shown:
    current = schema.current_revision(state.grc.engine)
    head = schema.head_revision()
    url = state.grc.engine.url.render_as_string(hide_password=True)
    data = {"database": url, "current": current, "head": head, "up_to_date": current == head}
    pairs = [
        ("Database", url),
        ("Current revision", current or "none (empty database)"),
        ("Head revision", head),
        ("Up to date", current == head),
    ]
    return Shown(data, record("Schema", pairs))


@db_group.command("upgrade")
@pass_cli
def upgrade(state: CliContext) -> None:
    """Create the schema, or migrate it to the latest revision."""
    state.grc.upgrade()
    shown = _revisions(state)
    state.out.status(f"database at revision {shown.data['current']}")
    state.out.emit(shown)


@db_group.command("current")
@pass_cli
def current(state: CliContext) -> None:
    """Show the database's schema revision and the latest one."""
    state.out.emit(_revisions(state))


@db_group.command("rotate-cursor-key")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def rotate_cursor_key(state: CliContext, yes: bool) -> None:
    """Replace the key that signs pagination cursors.

    Cursors issued before are refused afterwards (clients start again from the first page):
    by new commands at once, by processes already running (an HTTP server, workers) once
    their copy of the key is 30 seconds old.
    """
    if not yes:
        click.confirm(
            "Replace the cursor signing key? Every cursor issued so far will be refused",
            abort=True,
            err=True,
        )
    with state.session() as session:
        cursors.rotate_key(session)
    delay = cursors.KEY_REFRESH_SECONDS
    state.out.status(
        f"cursor signing key replaced: running processes refuse older cursors within {delay:g} s"
    )
    data = {"rotated": True, "refresh_seconds": delay}
    state.out.emit(Shown(data, record("Cursor key", [("Rotated", True), ("Refresh (s)", delay)])))


def register(cli: click.Group) -> None:
    """Add ``grc db`` to the root group."""
    cli.add_command(db_group)
