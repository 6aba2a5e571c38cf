"""``grc exchange``: record, show, change, complete, delete and list exchanges.

Date-times typed without a zone are read in the configured zone (``--tz``, ``GRC_TIMEZONE``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from uuid import UUID

import click
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import ExecutableOption

from grc_cli.context import CliContext, pass_cli, wide_option
from grc_cli.output import exchanges_loads, show_exchange, show_exchanges
from grc_cli.params import read_text
from grc_core.errors import ValidationError
from grc_core.ids import parse_id
from grc_core.models import Exchange, User
from grc_core.queries.exchanges import ExchangeFilter, FieldCondition, exchanges_query
from grc_core.timeutil import parse_datetime, zone

#: The most exchanges ``exchange list`` reads in one query (``--all`` reads page after page).
LIST_PAGE = 1000

#: ``--field`` operators of ``exchange list`` and the query operators they stand for.
FIELD_OPERATORS = {
    "=": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "~": "contains",
}
_CONDITION_RE = re.compile(r"^(?P<code>[^=<>!~]+)(?P<op>>=|<=|!=|=|<|>|~)(?P<value>.*)$", re.S)


# -- parsing what people type --------------------------------------------------------------


def exchange_ref(text: str) -> int | str:
    """An exchange id (digits) or UUID, as the services accept it."""
    number = parse_id(text)
    return text if number is None else number


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str | None]:
    """``CODE=VALUE`` options as a custom-field mapping; ``CODE=`` (no value) clears it."""
    values: dict[str, str | None] = {}
    for pair in pairs:
        code, sep, value = pair.partition("=")
        if not sep or not code.strip():
            raise click.BadParameter(f"{pair!r} is not CODE=VALUE", param_hint="'--field'")
        values[code.strip()] = value if value != "" else None
    return values


def parse_condition(text: str) -> FieldCondition:
    """``CODE=V``, ``CODE!=V``, ``CODE<V``, ``CODE<=V``, ``CODE>V``, ``CODE>=V`` or ``CODE~T``."""
    match = _CONDITION_RE.match(text)
    if match is None or not match["code"].strip():
        accepted = ", ".join(f"CODE{op}VALUE" for op in FIELD_OPERATORS)
        raise click.BadParameter(f"{text!r}: expected one of {accepted}", param_hint="'--field'")
    return FieldCondition(match["code"].strip(), FIELD_OPERATORS[match["op"]], match["value"])


def _when(state: CliContext, text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    return parse_datetime(text, field, state.settings.timezone)


def _details(text: str | None, file: IO[str] | None) -> str | None:
    _exclusive(("--details", text), ("--details-file", file))
    return read_text(file, "--details-file") if file is not None else text


def _exclusive(*options: tuple[str, object]) -> None:
    """Refuse options that contradict each other (``options`` are name and value pairs)."""
    given = [name for name, value in options if value not in (None, False, ())]
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} cannot be used together")


# -- options shared by add and update ------------------------------------------------------

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _options(*decorators: Decorator) -> Decorator:
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _record_options(*, adding: bool) -> Decorator:
    """The options that describe an exchange; only the ones ``add`` needs are required."""
    # On update, a repeated option replaces the whole list it names.
    several = "repeat for several" if adding else "repeat for several; replaces the current ones"
    return _options(
        click.option("--subject", required=adding, help="Short subject."),
        click.option(
            "--start",
            required=adding,
            metavar="DATETIME",
            help="Start, ISO 8601 (e.g. 2026-03-02T10:30; no zone = the configured one).",
        ),
        click.option(
            "--end", metavar="DATETIME", help="End (default: the start)." if adding else "End."
        ),
        click.option(
            "--action", required=adding, metavar="CODE", help="Action code (call, meeting…)."
        ),
        click.option(
            "--status",
            metavar="CODE",
            help="Status code (default: planned)." if adding else "Status code.",
        ),
        click.option("--medium", metavar="CODE", help="Medium code (phone, on_site…)."),
        click.option("--category", metavar="CODE", help="Category code."),
        click.option("--details", metavar="TEXT", help="Long text."),
        click.option(
            "--details-file",
            metavar="FILE",
            type=click.File("r", encoding="utf-8"),
            help="Read the details from FILE ('-' for stdin).",
        ),
        click.option("--company", "company_id", metavar="ID", type=int, help="Company id."),
        click.option(
            "--opportunity",
            "opportunity_ids",
            metavar="ID",
            type=int,
            multiple=True,
            help=f"Linked opportunity of the company ({several}).",
        ),
        click.option(
            "--contact",
            "contact_ids",
            metavar="ID",
            type=int,
            multiple=True,
            help=f"Linked contact of the company ({several}).",
        ),
        click.option(
            "--assign",
            "assignees",
            metavar="LOGIN",
            multiple=True,
            help=f"Assigned user ({several}; default: the author)."
            if adding
            else f"Assigned user ({several}).",
        ),
        click.option(
            "--field",
            "field_values",
            metavar="CODE=VALUE",
            multiple=True,
            help="Custom field value (repeat for several; CODE= clears it).",
        ),
    )


# -- filter options shared by every listing -------------------------------------------------


@dataclass(frozen=True)
class FilterOptions:
    """The filter options of a listing as they were typed; :meth:`build` makes the filter.

    ``exchange list``, ``history …`` and ``search`` take the same options (see
    :func:`filter_options`), so a criterion means the same everywhere.
    """

    since: str | None = None
    until: str | None = None
    actions: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    media: tuple[str, ...] = ()
    category: str | None = None
    author: str | None = None
    assignee: str | None = None
    private: bool | None = None
    attachments: bool | None = None
    conditions: tuple[FieldCondition, ...] = ()
    company_id: int | None = None
    global_only: bool = False

    def build(self, state: CliContext, session: Session) -> ExchangeFilter | None:
        """The query's filter, ``None`` if no criterion was given; date-times are read in the
        configured zone, logins looked up.

        (No filter and an empty one select the same exchanges, but a history's cursor belongs
        to its filter: ``None`` gives the cursors any host calling without a filter gets, and
        the unfiltered history's prepared statement.)

        Every criterion is checked as ``exchange add`` checks its values: an unknown code,
        category, company or user, or a period that ends before it starts, is refused
        (rather than matching nothing).  Retired codes are accepted: old exchanges carry them.
        """
        since = _when(state, self.since, "since")
        until = _when(state, self.until, "until")
        if since is not None and until is not None and since >= until:
            local = zone(state.settings.timezone)
            raise ValidationError(
                f"--since {since.astimezone(local):%Y-%m-%d %H:%M} is not before "
                f"--until {until.astimezone(local):%Y-%m-%d %H:%M} "
                f"({state.settings.timezone}): no exchange could match",
                field="since",
            )
        # The services are imported by the criteria that need them: a listing without them
        # loads neither the services nor the audit trail's model they import (nor, for
        # companies, the stemmers of their names).
        if self.actions or self.statuses or self.media:
            from grc_core.services import picklists
        if self.category is not None:
            from grc_core.services import categories
        if self.author or self.assignee:
            from grc_core.services import users
        for kind, codes in (("action", self.actions), ("status", self.statuses)):
            for code in codes:
                picklists.get_value(session, kind, code)
        for code in self.media:
            picklists.get_value(session, "medium", code)
        if self.category is not None:
            categories.get_category(session, self.category)
        if self.company_id is not None:
            from grc_core.services import companies

            companies.get_company(session, self.company_id)
        flt = ExchangeFilter(
            company_id=self.company_id,
            global_only=self.global_only,
            since=since,
            until=until,
            actions=self.actions,
            statuses=self.statuses,
            media=self.media,
            category=self.category,
            author_id=users.get_user(session, self.author).id if self.author else None,
            assignee_id=users.get_user(session, self.assignee).id if self.assignee else None,
            private=self.private,
            has_attachments=self.attachments,
            **({"custom": self.conditions} if self.conditions else {}),
        )
        return None if flt == ExchangeFilter() else flt


_SCOPING_OPTIONS = (
    click.option("--company", "company_id", metavar="ID", type=int, help="Only this company's."),
    click.option("--global", "global_only", is_flag=True, help="Only exchanges with no company."),
)
_FILTER_OPTIONS = (
    click.option(
        "--since", metavar="DATETIME", help="Starting at or after (no zone = configured)."
    ),
    click.option("--until", metavar="DATETIME", help="Starting before."),
    click.option("--action", "actions", metavar="CODE", multiple=True, help="Action (repeatable)."),
    click.option(
        "--status", "statuses", metavar="CODE", multiple=True, help="Status (repeatable)."
    ),
    click.option("--medium", "media", metavar="CODE", multiple=True, help="Medium (repeatable)."),
    click.option("--category", metavar="CODE", help="Category, sub-categories included."),
    click.option("--author", metavar="LOGIN", help="Recorded by this user."),
    click.option("--assignee", metavar="LOGIN", help="Assigned to this user."),
    click.option("--private/--shared", default=None, help="Only private, or only shared ones."),
    click.option(
        "--with-attachments/--without-attachments",
        "attachments",
        default=None,
        help="Only exchanges with attached files, or only those without.",
    ),
    click.option(
        "--field",
        "conditions",
        metavar="CONDITION",
        multiple=True,
        help="Custom field condition: CODE=V, CODE!=V, CODE<V, CODE<=V, CODE>V, CODE>=V, "
        "CODE~TEXT (contains); repeatable, all must hold.",
    ),
)
_FILTER_NAMES = (
    "since",
    "until",
    "actions",
    "statuses",
    "media",
    "category",
    "author",
    "assignee",
    "private",
    "attachments",
    "conditions",
)


def filter_options(*, scoping: bool) -> Decorator:
    """Add the filter options of listings to a command, gathered into one ``filters``
    argument (a :class:`FilterOptions`).

    :param scoping: also offer ``--company`` and ``--global`` (a history's scope already
        says whose exchanges it shows).
    """
    names = (*_FILTER_NAMES, *(("company_id", "global_only") if scoping else ()))
    decorators = (*(_SCOPING_OPTIONS if scoping else ()), *_FILTER_OPTIONS)

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def gathered(*args: Any, **kwargs: Any) -> Any:
            typed = {name: kwargs.pop(name) for name in names}
            typed["conditions"] = tuple(parse_condition(c) for c in typed["conditions"])
            return func(*args, filters=FilterOptions(**typed), **kwargs)

        return _options(*decorators)(gathered)

    return apply


@click.group("exchange")
def exchange_group() -> None:
    """Record, show, change and list exchanges."""


@exchange_group.command("add")
@_record_options(adding=True)
@click.option("--private", is_flag=True, help="Only the author, assignees and admins see it.")
@click.option("--uuid", metavar="UUID", help="Client-chosen UUID: repeating the call is harmless.")
@pass_cli
def add(
    state: CliContext,
    subject: str,
    start: str,
    end: str | None,
    action: str,
    status: str | None,
    medium: str | None,
    category: str | None,
    details: str | None,
    details_file: IO[str] | None,
    company_id: int | None,
    opportunity_ids: tuple[int, ...],
    contact_ids: tuple[int, ...],
    assignees: tuple[str, ...],
    field_values: tuple[str, ...],
    private: bool,
    uuid: str | None,
) -> None:
    """Record an exchange authored by the acting user."""
    from grc_core.services import exchanges

    text = _details(details, details_file)
    custom = parse_assignments(field_values)
    starts = parse_datetime(start, "start", state.settings.timezone)
    ends = _when(state, end, "end")
    _check_period(state, starts, ends)
    with state.work() as work:
        known = _recorded(work.session, uuid)
        exchange = exchanges.create_exchange(
            work.session,
            work.actor,
            subject=subject,
            start=starts,
            end=ends,
            action=action,
            medium=medium,
            category=category,
            details=text or "",
            company_id=company_id,
            opportunity_ids=opportunity_ids,
            contact_ids=contact_ids,
            assignees=list(assignees) or None,
            private=private,
            custom=custom,
            uuid=uuid,
            status=status or exchanges.DEFAULT_STATUS,
        )
        shown = show_exchange(state.out, exchange)
    if known:
        # The same request again (a retry): the service returned the exchange it recorded.
        state.out.status(
            f"exchange {exchange.id} was already recorded with this UUID; nothing recorded"
        )
    else:
        state.out.status(f"recorded exchange {exchange.id}")
    state.out.emit(shown)


def _recorded(session: Session, uuid: str | None) -> bool:
    """Whether an exchange with client UUID ``uuid`` exists already."""
    if uuid is None:
        return False
    try:
        key = UUID(uuid)
    except ValueError:
        return False  # the service refuses it with its own message
    return session.scalar(select(Exchange.id).where(Exchange.uuid == key)) is not None


def _check_period(state: CliContext, start: datetime | None, end: datetime | None) -> None:
    """Refuse an end before the start, both shown in the zone they were typed in (the
    service would say it in UTC)."""
    if start is not None and end is not None and end < start:
        raise ValidationError(
            f"end ({state.out.when(end, with_zone=True)}) is before start "
            f"({state.out.when(start, with_zone=True)})",
            field="end",
        )


@exchange_group.command("show")
@click.argument("ref", metavar="ID_OR_UUID")
@pass_cli
def show(state: CliContext, ref: str) -> None:
    """Show one exchange (a private one only to those who may see it)."""
    from grc_core.services import exchanges

    with state.work(read_only=True) as work:
        exchange = exchanges.get_exchange(work.session, work.actor, exchange_ref(ref))
        shown = show_exchange(state.out, exchange)
    state.out.emit(shown)


@exchange_group.command("update")
@click.argument("ref", metavar="ID_OR_UUID")
@_record_options(adding=False)
@click.option("--clear-medium", is_flag=True, help="Remove the medium.")
@click.option("--clear-category", is_flag=True, help="Remove the category.")
@click.option(
    "--global",
    "make_global",
    is_flag=True,
    help="Detach from its company (and so from its opportunities and contacts).",
)
@click.option("--clear-opportunities", is_flag=True, help="Unlink every opportunity.")
@click.option("--clear-contacts", is_flag=True, help="Unlink every contact.")
@click.option("--private/--shared", default=None, help="Make the exchange private or shared.")
@click.option(
    "--if-version",
    metavar="N",
    type=click.IntRange(min=1),
    help="Change it only if it is still at version N (else: conflict, nothing changed).",
)
@pass_cli
def update(
    state: CliContext,
    ref: str,
    subject: str | None,
    start: str | None,
    end: str | None,
    action: str | None,
    status: str | None,
    medium: str | None,
    category: str | None,
    details: str | None,
    details_file: IO[str] | None,
    company_id: int | None,
    opportunity_ids: tuple[int, ...],
    contact_ids: tuple[int, ...],
    assignees: tuple[str, ...],
    field_values: tuple[str, ...],
    clear_medium: bool,
    clear_category: bool,
    make_global: bool,
    clear_opportunities: bool,
    clear_contacts: bool,
    private: bool | None,
    if_version: int | None,
) -> None:
    """Change the given fields of an exchange; the others stay as they are."""
    from grc_core.services import exchanges

    _exclusive(("--medium", medium), ("--clear-medium", clear_medium))
    _exclusive(("--category", category), ("--clear-category", clear_category))
    _exclusive(("--company", company_id), ("--global", make_global))
    _exclusive(("--opportunity", opportunity_ids), ("--clear-opportunities", clear_opportunities))
    _exclusive(("--contact", contact_ids), ("--clear-contacts", clear_contacts))
    _exclusive(("--global", make_global), ("--opportunity", opportunity_ids))
    _exclusive(("--global", make_global), ("--contact", contact_ids))
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("subject", subject),
            ("action", action),
            ("status", status),
            ("medium", medium),
            ("category", category),
            ("details", _details(details, details_file)),
            ("company_id", company_id),
            ("private", private),
        )
        if value is not None
    }
    if start is not None:
        changes["start"] = parse_datetime(start, "start", state.settings.timezone)
    if end is not None:
        changes["end"] = parse_datetime(end, "end", state.settings.timezone)
    if clear_medium:
        changes["medium"] = None
    if clear_category:
        changes["category"] = None
    if make_global:
        changes.update(company_id=None, opportunity_ids=[], contact_ids=[])
    if opportunity_ids or clear_opportunities:
        changes["opportunity_ids"] = list(opportunity_ids)
    if contact_ids or clear_contacts:
        changes["contact_ids"] = list(contact_ids)
    if assignees:
        changes["assignees"] = list(assignees)
    if field_values:
        changes["custom"] = parse_assignments(field_values)
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")
    with state.work() as work:
        if "start" in changes or "end" in changes:
            current = exchanges.get_exchange(work.session, work.actor, exchange_ref(ref))
            _check_period(
                state, changes.get("start", current.start_at), changes.get("end", current.end_at)
            )
        exchange = exchanges.update_exchange(
            work.session, work.actor, exchange_ref(ref), expected_version=if_version, **changes
        )
        shown = show_exchange(state.out, exchange)
    state.out.status(f"updated exchange {exchange.id}")
    state.out.emit(shown)


@exchange_group.command("complete")
@click.argument("ref", metavar="ID_OR_UUID")
@click.option("--status", metavar="CODE", help="Closing status (default: done).")
@pass_cli
def complete(state: CliContext, ref: str, status: str | None) -> None:
    """Close an exchange with a closing status."""
    from grc_core.services import exchanges

    with state.work() as work:
        exchange = exchanges.complete_exchange(
            work.session, work.actor, exchange_ref(ref), status=status or exchanges.DONE_STATUS
        )
        shown = show_exchange(state.out, exchange)
    state.out.status(f"exchange {exchange.id} is {exchange.status.code}")
    state.out.emit(shown)


@exchange_group.command("delete")
@click.argument("ref", metavar="ID_OR_UUID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def delete(state: CliContext, ref: str, yes: bool) -> None:
    """Delete an exchange (its audit event keeps what it was)."""
    from grc_core.services import exchanges

    # Look it up in its own transaction: no lock is held while the question waits.
    with state.work(read_only=True) as work:
        exchange = exchanges.get_exchange(work.session, work.actor, exchange_ref(ref))
        exchange_id, uuid, subject = exchange.id, exchange.uuid, exchange.subject
    if not yes:
        click.confirm(f"Delete exchange {exchange_id} ({subject!r})?", abort=True, err=True)
    with state.work() as work:
        exchanges.delete_exchange(
            work.session, work.actor, exchange_id, backends=state.grc.backends
        )
    state.out.status(f"deleted exchange {exchange_id}")
    state.out.emit_data({"deleted": {"id": exchange_id, "uuid": uuid, "subject": subject}})


@exchange_group.command("list")
@filter_options(scoping=True)
@wide_option
@click.option(
    "--limit",
    type=click.IntRange(1, LIST_PAGE),
    default=50,
    show_default=True,
    help=f"At most N exchanges (up to {LIST_PAGE}).",
)
@click.option("--all", "list_all", is_flag=True, help="Every matching exchange (no limit).")
@pass_cli
def list_(state: CliContext, filters: FilterOptions, limit: int, list_all: bool) -> None:
    """List the exchanges the acting user may see, newest first."""
    with state.work(read_only=True) as work:
        flt = filters.build(state, work.session)
        loads = exchanges_loads(state.out)
        if list_all:
            found, more = _every_exchange(work.session, work.actor, flt, loads), 0
        else:
            found, more = _first_exchanges(work.session, work.actor, flt, limit, loads)
        shown = show_exchanges(state.out, found)
    state.out.emit(shown)
    if more and not state.out.json_output:
        state.out.status(
            f"{more} more exchange{'s' if more != 1 else ''} match: "
            f"--limit {min(limit + more, LIST_PAGE)} or --all shows them"
        )


def _first_exchanges(
    session: Session,
    actor: User,
    flt: ExchangeFilter | None,
    limit: int,
    loads: tuple[ExecutableOption, ...] = (),
) -> tuple[list[Exchange], int]:
    """The ``limit`` newest matches, and how many more match (counted only when there are);
    ``loads`` are the query's loader options (:func:`~grc_cli.output.exchanges_loads`)."""
    stmt = exchanges_query(session, actor, flt, limit=limit).options(*loads)
    found = list(session.scalars(stmt.limit(limit + 1)))
    if len(found) <= limit:
        return found, 0
    total = session.scalar(select(func.count()).select_from(stmt.limit(None).subquery()))
    return found[:limit], int(total or 0) - limit


def _every_exchange(
    session: Session,
    actor: User,
    flt: ExchangeFilter | None,
    loads: tuple[ExecutableOption, ...] = (),
) -> list[Exchange]:
    """Every match, newest first, read a page at a time after the last one read (keyset:
    the ``(start, id)`` order of the listing)."""
    stmt = exchanges_query(session, actor, flt, limit=LIST_PAGE).options(*loads)
    found: list[Exchange] = []
    while True:
        page = stmt
        if found:
            last = found[-1]
            page = stmt.where(
                or_(
                    Exchange.start_at < last.start_at,
                    and_(Exchange.start_at == last.start_at, Exchange.id < last.id),
                )
            )
        batch = list(session.scalars(page))
        found += batch
        if len(batch) < LIST_PAGE:
            return found


def register(cli: click.Group) -> None:
    """Add ``grc exchange`` to the root group."""
    cli.add_command(exchange_group)
