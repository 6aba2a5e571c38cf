"""``grc history``: the timelines of a company, an opportunity, a user, and global exchanges.

A history is read a page at a time, newest first.  Each page ends with an opaque cursor
(``--cursor``) that continues exactly where it stopped, even if exchanges were recorded in
the meantime; ``--all`` follows the cursors itself and prints the pages as they come, each
read in its own short transaction.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from sqlalchemy.orm import Session

from grc_cli.commands.exchanges import Decorator, FilterOptions, filter_options
from grc_cli.context import CliContext, pass_cli, wide_option
from grc_cli.output import (
    Labels,
    Output,
    show_timeline,
    timeline_entry_data,
    timeline_table,
)
from grc_core.models import User
from grc_core.queries import history
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.history import Page
from grc_core.services import companies, opportunities, picklists, users

#: Reads one page: ``(session, actor, filter, limit, cursor) -> Page``.
Fetch = Callable[[Session, User, ExchangeFilter | None, int, str | None], Page]


@dataclass(frozen=True)
class Timeline:
    """What a history command shows: a title and how to read a page of it."""

    title: str
    fetch: Fetch


def load_labels(session: Session, language: str) -> Labels:
    """The labels of every action and status, retired ones included (old exchanges keep
    theirs)."""
    values = [
        *picklists.list_values(session, "action", include_retired=True),
        *picklists.list_values(session, "status", include_retired=True),
    ]
    return Labels(values, language)


def _scoped(query: Callable[..., Page], *ids: int) -> Fetch:
    """A :data:`Fetch` calling a history function of :mod:`grc_core.queries.history`."""

    def fetch(
        session: Session, actor: User, flt: ExchangeFilter | None, limit: int, cursor: str | None
    ) -> Page:
        return query(session, actor, *ids, flt, limit=limit, cursor=cursor)

    return fetch


def page_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--limit``, ``--cursor`` and ``--all``."""
    decorators: tuple[Decorator, ...] = (
        click.option(
            "--limit",
            type=int,
            default=50,
            show_default=True,
            help=f"Exchanges per page (at most {history.MAX_PAGE}).",
        ),
        click.option(
            "--cursor",
            metavar="TOKEN",
            help="Continue after the page that printed this cursor (same filters).",
        ),
        click.option(
            "--all",
            "walk_all",
            is_flag=True,
            help="Print every page, following the cursors (--limit is then the page size).",
        ),
        wide_option,
    )
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


class _JsonEntries:
    """Writes ``{"entries": [...], "next_cursor": null}`` an entry at a time, as
    ``json.dumps(indent=2)`` would write it whole."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.count = 0

    def write(self, page: Page) -> None:
        for entry in page.entries:
            body = textwrap.indent(
                self.out.to_json(timeline_entry_data(entry, self.out.zone)), "    "
            )
            click.echo(('{\n  "entries": [\n' if self.count == 0 else ",\n") + body, nl=False)
            self.count += 1

    def close(self) -> None:
        if self.count == 0:
            click.echo('{\n  "entries": [],\n  "next_cursor": null\n}')
        else:
            click.echo('\n  ],\n  "next_cursor": null\n}')


def _walk_all(
    state: CliContext,
    filters: FilterOptions,
    resolve: Callable[[Session], Timeline],
    *,
    limit: int,
    cursor: str | None,
) -> None:
    out = state.out
    with state.work(read_only=True) as work:
        timeline = resolve(work.session)
        flt = filters.build(state, work.session)
        labels = load_labels(work.session, out.language)
        page = timeline.fetch(work.session, work.actor, flt, limit, cursor)
    writer = _JsonEntries(out) if out.json_output else None
    pages, count = 1, 0
    while True:
        count += len(page.entries)
        if writer is not None:
            writer.write(page)
        elif page.entries:
            table = timeline_table(
                out,
                page.entries,
                labels,
                title=timeline.title if pages == 1 else None,
                header=pages == 1,
                caption=page.next_cursor is None,
                steady=True,
            )
            out.console.print(table)
        if page.next_cursor is None:
            break
        # Each page in its own short transaction: the cursor carries the position.
        with state.work(read_only=True) as work:
            page = timeline.fetch(work.session, work.actor, flt, limit, page.next_cursor)
        pages += 1
    if writer is not None:
        writer.close()
    elif count:
        out.status(f"{count} exchange{'s' if count != 1 else ''}, {pages} page(s) of {limit}")
    else:
        out.status("no exchanges in this history")


def run_history(
    state: CliContext,
    filters: FilterOptions,
    resolve: Callable[[Session], Timeline],
    *,
    limit: int,
    cursor: str | None,
    walk_all: bool,
) -> None:
    """Print one page of a history (the next cursor on stderr), or every page."""
    if walk_all:
        _walk_all(state, filters, resolve, limit=limit, cursor=cursor)
        return
    with state.work(read_only=True) as work:
        timeline = resolve(work.session)
        flt = filters.build(state, work.session)
        page = timeline.fetch(work.session, work.actor, flt, limit, cursor)
        labels = load_labels(work.session, state.out.language)
        shown = show_timeline(state.out, page, labels, title=timeline.title)
    state.out.emit(shown)
    if page.next_cursor is not None and not state.out.json_output:
        state.out.status("more exchanges match: --all prints every page, or the next one with")
        state.out.status(f"next page: --cursor {page.next_cursor}", soft_wrap=True)


@click.group("history")
def history_group() -> None:
    """Timelines, newest first: a company's, an opportunity's, a user's, global exchanges."""


@history_group.command("company")
@click.argument("company_id", metavar="ID", type=int)
@filter_options(scoping=False)
@page_options
@pass_cli
def company(
    state: CliContext,
    company_id: int,
    filters: FilterOptions,
    limit: int,
    cursor: str | None,
    walk_all: bool,
) -> None:
    """A company's exchanges, and those linked to its opportunities and contacts (each once)."""

    def resolve(session: Session) -> Timeline:
        found = companies.get_company(session, company_id)
        title = f"History of {found.name} (company {found.id})"
        return Timeline(title, _scoped(history.company_history, found.id))

    run_history(state, filters, resolve, limit=limit, cursor=cursor, walk_all=walk_all)


@history_group.command("opportunity")
@click.argument("opportunity_id", metavar="ID", type=int)
@filter_options(scoping=False)
@page_options
@pass_cli
def opportunity(
    state: CliContext,
    opportunity_id: int,
    filters: FilterOptions,
    limit: int,
    cursor: str | None,
    walk_all: bool,
) -> None:
    """The exchanges linked to an opportunity."""

    def resolve(session: Session) -> Timeline:
        found = opportunities.get_opportunity(session, opportunity_id)
        title = f"History of opportunity {found.id}: {found.title} ({found.company.name})"
        return Timeline(title, _scoped(history.opportunity_history, found.id))

    run_history(state, filters, resolve, limit=limit, cursor=cursor, walk_all=walk_all)


@history_group.command("user")
@click.argument("login", metavar="LOGIN")
@filter_options(scoping=False)
@page_options
@pass_cli
def user(
    state: CliContext,
    login: str,
    filters: FilterOptions,
    limit: int,
    cursor: str | None,
    walk_all: bool,
) -> None:
    """The exchanges a user recorded or is assigned (those the acting user may see)."""

    def resolve(session: Session) -> Timeline:
        found = users.get_user(session, login)
        title = f"History of {found.display_name} ({found.login}): recorded or assigned"
        return Timeline(title, _scoped(history.user_history, found.id))

    run_history(state, filters, resolve, limit=limit, cursor=cursor, walk_all=walk_all)


@history_group.command("global")
@filter_options(scoping=False)
@page_options
@pass_cli
def global_(
    state: CliContext,
    filters: FilterOptions,
    limit: int,
    cursor: str | None,
    walk_all: bool,
) -> None:
    """Global exchanges: those linked to no company."""

    def resolve(session: Session) -> Timeline:
        return Timeline("Global exchanges (no company)", _scoped(history.global_history))

    run_history(state, filters, resolve, limit=limit, cursor=cursor, walk_all=walk_all)


def register(cli: click.Group) -> None:
    """Add ``grc history`` to the root group."""
    cli.add_command(history_group)
