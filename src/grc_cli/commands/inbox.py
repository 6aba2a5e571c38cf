"""``grc inbox``: the on-screen alerts the ``inbox`` channel delivered to the acting user."""

from __future__ import annotations

import click

from grc_cli.context import CliContext, pass_cli, wide_option
from grc_cli.output import show_inbox
from grc_core.notify import inbox
from grc_core.notify.inbox import MAX_PAGE, InboxEntry


@click.group("inbox", invoke_without_command=True)
@click.option("--unread", "unread_only", is_flag=True, help="Only the alerts not read yet.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_PAGE),
    default=20,
    show_default=True,
    help=f"At most this many (up to {MAX_PAGE}).",
)
@click.option("--before", type=int, metavar="ID", help="Only alerts older than this one.")
@click.option("--all", "every_alert", is_flag=True, help="Every alert (no limit).")
@wide_option
@click.pass_context
def inbox_group(
    ctx: click.Context, unread_only: bool, limit: int, before: int | None, every_alert: bool
) -> None:
    """Your alerts, newest first, with the unread count; `grc inbox read` marks them read."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliContext)
    assert state is not None
    with state.work(read_only=True) as work:
        entries: list[InboxEntry] = []
        while True:
            # One more than asked tells whether older alerts remain (the hint below).
            size = MAX_PAGE if every_alert else min(limit + 1, MAX_PAGE)
            page = inbox.list_inbox(
                work.session, work.actor, unread_only=unread_only, limit=size, before=before
            )
            entries += page
            if not every_alert or len(page) < size:
                break
            before = page[-1].id
        more = not every_alert and len(entries) > limit
        entries = entries if every_alert else entries[:limit]
        unread = inbox.unread_count(work.session, work.actor)
        shown = show_inbox(state.out, work.actor.login, entries, unread)
    state.out.emit(shown)
    if more and not state.out.json_output:
        state.out.status(
            f"older alerts: --before {entries[-1].id} shows the next ones, --all every one"
        )


@inbox_group.command("read")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "read_all", is_flag=True, help="Mark every unread alert read.")
@pass_cli
def read(state: CliContext, ids: tuple[int, ...], read_all: bool) -> None:
    """Mark alerts read, by id (see grc inbox), or --all of them."""
    if bool(ids) == read_all:
        raise click.UsageError("give the ids of the alerts, or --all (not both)")
    with state.work() as work:
        marked = inbox.mark_read(work.session, work.actor, "all" if read_all else list(ids))
        unread = inbox.unread_count(work.session, work.actor)
    state.out.status(f"{marked} marked read; {unread} unread left")
    state.out.emit_data({"marked": marked, "unread": unread})


def register(cli: click.Group) -> None:
    """Add ``grc inbox`` to the root group."""
    cli.add_command(inbox_group)
