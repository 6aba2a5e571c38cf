"""``grc search``: quick, French-aware full-text search over the exchanges one may see."""

from __future__ import annotations

import click

from grc_cli.commands.exchanges import FilterOptions, filter_options
from grc_cli.context import CliContext, pass_cli
from grc_cli.output import show_search
from grc_core.queries import search as queries


@click.command("search")
@click.argument("words", metavar="TEXT...", nargs=-1, required=True)
@filter_options(scoping=True)
@click.option(
    "--limit",
    type=int,
    default=20,
    show_default=True,
    help=f"At most N hits (at most {queries.MAX_HITS}).",
)
@pass_cli
def search(state: CliContext, words: tuple[str, ...], filters: FilterOptions, limit: int) -> None:
    """Search subjects, details, company and contact names; best matches first.

    Every word must match, in any case and with or without accents ("echeance" finds
    "Échéance"); "quoted words" must follow each other; the last word also matches as the
    start of a word (type-ahead: "maint" finds "maintenance") unless TEXT ends with a space.
    Any text is accepted: symbols, parentheses, stray quotes or * are ignored, never an error
    (AND, OR and NOT are plain words). Put -- before a TEXT that starts with a dash, the
    options before it: grc search --as alice -- "-40 %".
    """
    text = " ".join(words)
    with state.work(read_only=True) as work:
        flt = filters.build(state, work.session)
        hits = queries.search(work.session, work.actor, text, flt, limit=limit)
        shown = show_search(state.out, hits)
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc search`` to the root group."""
    cli.add_command(search)
