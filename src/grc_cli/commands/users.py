"""``grc user``: the colleagues who record and follow exchanges."""

from __future__ import annotations

from functools import partial

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_user, show_users
from grc_core.services import users


@click.group("user")
def user_group() -> None:
    """Add, list and change users."""


@user_group.command("add")
@click.argument("login")
@click.option("--name", required=True, help="Display name.")
@click.option("--email", help="E-mail address.")
@click.option("--phone", help="Phone number.")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="Host application's reference.")
@pass_cli
def add(
    state: CliContext,
    login: str,
    name: str,
    email: str | None,
    phone: str | None,
    admin: bool,
    external_ref: str | None,
) -> None:
    """Create a user.

    On a database with no user yet, this creates the first administrator (give --admin)
    and needs no acting user; afterwards an administrator must act (--as).
    """
    # The same fields either way; a partial keeps each keyword checked against the service.
    create = partial(
        users.create_user,
        login=login,
        display_name=name,
        email=email,
        phone=phone,
        is_admin=admin,
        external_ref=external_ref,
    )
    with state.session(read_only=True) as session:
        bootstrap = not users.list_users(session, include_inactive=True)
    if bootstrap:
        with state.session() as session:
            user = create(session, None)
            shown = show_user(state.out, user)
        state.out.status(f"created the first administrator {user.login!r}")
    else:
        with state.work() as work:
            user = create(work.session, work.actor)
            shown = show_user(state.out, user)
        state.out.status(f"created user {user.login!r}")
    state.out.emit(shown)


@user_group.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include deactivated users.")
@pass_cli
def list_(state: CliContext, include_inactive: bool) -> None:
    """List users by login."""
    with state.session(read_only=True) as session:
        shown = show_users(state.out, users.list_users(session, include_inactive=include_inactive))
    state.out.emit(shown)


@user_group.command("show")
@click.argument("login")
@pass_cli
def show(state: CliContext, login: str) -> None:
    """Show one user."""
    with state.session(read_only=True) as session:
        shown = show_user(state.out, users.get_user(session, login))
    state.out.emit(shown)


@user_group.command("update")
@click.argument("login")
@click.option("--name", help="New display name.")
@click.option("--email", help="New e-mail address (empty to clear).")
@click.option("--phone", help="New phone number (empty to clear).")
@click.option("--ref", "external_ref", metavar="EXTERNAL", help="New external reference.")
@click.option("--activate/--deactivate", "active", default=None, help="Allow or stop access.")
@click.option("--admin/--no-admin", "is_admin", default=None, help="Grant or remove admin rights.")
@pass_cli
def update(
    state: CliContext,
    login: str,
    name: str | None,
    email: str | None,
    phone: str | None,
    external_ref: str | None,
    active: bool | None,
    is_admin: bool | None,
) -> None:
    """Change a user's details or rights (rights need an administrator)."""
    with state.work() as work:
        user = users.update_user(
            work.session,
            work.actor,
            login,
            display_name=name,
            email=email,
            phone=phone,
            active=active,
            is_admin=is_admin,
            external_ref=external_ref,
        )
        shown = show_user(state.out, user)
    state.out.status(f"updated user {user.login!r}")
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc user`` to the root group."""
    cli.add_command(user_group)
