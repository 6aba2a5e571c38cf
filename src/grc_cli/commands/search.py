"""``grc search``: quick, French-aware full-text search over the exchanges one may see."""

from __future__ import annotations

import click

from grc_cli.commands.exchanges import FilterOptions, filter_options
from grc_cli.context import CliContext, pass_cli, wide_option
from grc_cli.output import show_search
from grc_core.queries import search as queries


@click.command("search")
@click.argument("words", metavar="TEXT...", nargs=-1, required=True)
@filter_options(scoping=True)
@wide_option
@click.option(
    "--limit",
    type=int,
    default=20,
    show_default=True,
    help=f"At most N hits (at most {queries.MAX_HITS}).",
)
@click.option("--all", "every_hit", is_flag=True, help=f"Up to {queries.MAX_HITS} hits.")
@pass_cli
def search(
    state: CliContext,
    words: tuple[str, ...],
    filters: FilterOptions,
    limit: int,
    every_hit: bool,
) -> None:
    """Search subjects, details, company and contact names; best matches first.

    Every word must match, in any case and with or without accents ("echeance" finds
    "Échéance"); "quoted words" must follow each other; the last word also matches as the
    start of a word (type-ahead: "maint" finds "maintenance") unless TEXT ends with a space.
    Any text is accepted: symbols, parentheses, stray quotes or * are ignored, never an error
    (AND, OR and NOT are plain words). Put -- before a TEXT that starts with a dash, the
    options before it: grc search --as alice -- "-40 %".
    """
    text = " ".join(words)
    if every_hit:
        limit = queries.MAX_HITS
    # One hit more than asked tells whether there are more (the hint below).
    asked = min(limit + 1, queries.MAX_HITS) if 1 <= limit < queries.MAX_HITS else limit
    with state.work(read_only=True) as work:
        flt = filters.build(state, work.session)
        hits = queries.search(work.session, work.actor, text, flt, limit=asked)
        more = len(hits) > limit
        shown = show_search(state.out, hits[:limit])
    state.out.emit(shown)
    if more and not state.out.json_output:
        state.out.status(
            f"more exchanges match: --limit N (up to {queries.MAX_HITS}) or --all shows "
            "more, or narrow the search"
        )


def register(cli: click.Group) -> None:
    """Add ``grc search`` to the root group."""
    cli.add_command(search)
