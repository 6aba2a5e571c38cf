"""Rendering: Rich tables on stdout for people, JSON on stdout for scripts, status on stderr.

Every command builds a :class:`Shown` (the JSON data and the Rich view of the same result)
while its session is open, then hands it to :meth:`Output.emit` once the transaction is over.
The JSON data of a record is its one representation (:mod:`grc_core.representation`, the
same the HTTP API sends).  Date-times are shown in the configured time zone; JSON carries them
as ISO 8601 with the offset of that zone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

import click
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

from grc_cli.safe_text import SafeConsole, escape_controls, escape_json
from grc_core.timeutil import zone

if TYPE_CHECKING:
    # The records' JSON representation, the notification, plugin and storage modules are
    # imported by the functions that use them: a listing of exchanges printed as a table
    # needs none of them, and they cost a tenth of a second at every start.
    from rich.tree import Tree
    from sqlalchemy.sql.base import ExecutableOption

    from grc_core.config import Settings
    from grc_core.models import (
        Attachment,
        AttachmentPolicy,
        Category,
        Company,
        Contact,
        CustomField,
        Delivery,
        Event,
        Exchange,
        Opportunity,
        PicklistValue,
        Preferences,
        Rule,
        Subscription,
        User,
    )
    from grc_core.notify.inbox import InboxEntry
    from grc_core.notify.rule_admin import DryRun
    from grc_core.notify.worker import RunStats
    from grc_core.plugins.registry import PluginInfo, StorageBackendInfo
    from grc_core.queries.history import Page, TimelineEntry
    from grc_core.queries.search import SearchHit
    from grc_core.services.storage_admin import MigrationReport, VerifyReport

#: Width of tables written to a pipe or a file when ``COLUMNS`` is not set (Rich uses 80).
PIPE_WIDTH = 200
#: The listings of exchanges, histories, search hits and alerts have three layouts, chosen by
#: the width of the output: below ``MEDIUM_FROM`` columns (a laptop's terminal, 80 columns),
#: the compact one (dates and times on two lines, action over status, the company under the
#: subject or beside it, the lower-value columns left out); up to ``WIDE_FROM``, the medium
#: one; from it (and with ``--wide``, and in pipes), every column.
MEDIUM_FROM = 100
WIDE_FROM = 160


class Layout(Enum):
    """How much a listing shows, by the width it has (see :data:`MEDIUM_FROM`)."""

    COMPACT = "compact"
    MEDIUM = "medium"
    WIDE = "wide"


@dataclass(frozen=True)
class Shown:
    """One result: ``data`` for ``--json``, ``view`` for people.

    ``data`` may be ``None`` when the output is not JSON and nothing else reads it (building
    it loads :mod:`grc_core.representation` and what it imports).

    :param empty: said on stderr instead of printing an empty listing.
    """

    data: Any
    view: RenderableType
    empty: str | None = None


class Output:
    """Where and how results and status messages are written."""

    def __init__(
        self, *, json_output: bool, timezone: str, language: str, wide: bool = False
    ) -> None:
        self.json_output = json_output
        self.timezone = timezone
        self.zone = zone(timezone)
        self.language = language
        self.wide = wide
        self.console = _console(stderr=False)
        if wide and self.console.width < PIPE_WIDTH:
            # Every column at the width it needs: lines longer than the terminal, for
            # `less -S` or a wider window, rather than columns squeezed to "…".
            self.console.width = PIPE_WIDTH
        self.err = _console(stderr=True)

    @property
    def layout(self) -> Layout:
        """The layout of listings at this output's width (every column with ``--wide``)."""
        width = self.console.width
        if self.wide or width >= WIDE_FROM:
            return Layout.WIDE
        return Layout.MEDIUM if width >= MEDIUM_FROM else Layout.COMPACT

    def caption(self, *parts: str) -> str:
        """A listing's caption: the time zone, ``parts``, and the ``--wide`` hint when
        columns were left out."""
        hint = () if self.layout is Layout.WIDE else ("--wide shows every column",)
        return "; ".join((f"times in {self.timezone}", *parts, *hint))

    # -- writing -------------------------------------------------------------------------

    def emit(self, shown: Shown) -> None:
        """Write a result on stdout, as JSON or as a Rich view."""
        if self.json_output:
            click.echo(self.to_json(shown.data))
        elif shown.empty is not None:
            self.status(shown.empty)
        else:
            self.console.print(shown.view)

    def emit_data(self, data: Any) -> None:
        """Write ``data`` on stdout with ``--json``; people got a status message instead."""
        if self.json_output:
            click.echo(self.to_json(data))

    def status(self, message: str, *, soft_wrap: bool = False) -> None:
        """A message for the person at the terminal, on stderr (never in the data).

        :param soft_wrap: leave long lines to the terminal instead of folding them, so a
            token in the message (a cursor) can be copied whole.
        """
        self.err.print(Text(escape_controls(message)), soft_wrap=soft_wrap)

    def to_json(self, data: Any) -> str:
        """``data`` as indented JSON, date-times in the configured zone."""
        dumped = json.dumps(data, default=self._json_default, ensure_ascii=False, indent=2)
        return escape_json(dumped)

    def _json_default(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(self.zone).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal | UUID):
            return str(value)
        if isinstance(value, Enum):
            return value.value
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    # -- formatting ----------------------------------------------------------------------

    def when(self, value: datetime | str | None, *, with_zone: bool = False) -> str:
        """A date-time (or its ISO 8601 text, as JSON data carries it) in the configured
        zone, to the minute."""
        if value is None:
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        local = value.astimezone(self.zone)
        return local.strftime("%Y-%m-%d %H:%M %Z" if with_zone else "%Y-%m-%d %H:%M")

    def label(self, value: PicklistValue | Category | None) -> str:
        """The label of a picklist value or category in the configured language."""
        return "" if value is None else value.label(self.language)


def _console(*, stderr: bool) -> Console:
    # No emoji codes (``:smile:``) in headers and captions either: what is typed is shown,
    # and loading Rich's table of codes cost a listing half a percent of its start-up.
    console = SafeConsole(stderr=stderr, highlight=False, emoji=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped output is read by grep and friends: do not fold it at 80 columns.
        console.width = PIPE_WIDTH
    return console


# -- building blocks -----------------------------------------------------------------------


def text(value: object) -> Text:
    """Data as plain text: never read as Rich markup (a subject may contain ``[…]``), control
    characters escaped (see :mod:`grc_cli.safe_text`)."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    return Text(escape_controls(str(value)))


def _title(title: str | None) -> Text | None:
    # A str title would be parsed as Rich markup, and titles carry names (companies, users).
    return None if title is None else text(title)


def listing(
    title: str | None, columns: Sequence[str | Column], rows: Iterable[Sequence[object]]
) -> Table:
    """A table with a header row."""
    table = Table(
        *columns,
        title=_title(title),
        box=box.SIMPLE_HEAD,
        title_justify="left",
        header_style="bold",
    )
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else text(cell) for cell in row))
    return table


def record(title: str, pairs: Iterable[tuple[str, object]]) -> Table:
    """A two-column "field: value" view of one record."""
    table = Table(
        title=_title(title), box=None, show_header=False, title_justify="left", padding=(0, 2)
    )
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in pairs:
        # Names include custom field labels, typed by administrators: text, never markup.
        table.add_row(text(name), value if isinstance(value, Text) else text(value))
    return table


def _flag(active: bool) -> str:
    return "" if active else "retired"


def stacked(first: object, *more: object) -> Text:
    """Several values in one cell, one a line, the ones after the first dimmed (a compact
    layout's way of keeping a column it has no room for)."""
    cell = text(first)
    for value in more:
        if value not in (None, ""):
            extra = text(value)
            extra.stylize("dim")
            cell.append("\n")
            cell.append_text(extra)
    return cell


def _marked(subject: str, private: bool) -> Text:
    """A subject with ``(private)`` after it, when no column says so."""
    cell = text(subject)
    if private:
        cell.append(" (private)", style="dim")
    return cell


def _two_lines(when: str) -> str:
    """``2026-03-02 10:30`` → ``2026-03-02`` over ``10:30`` (a compact layout's dates)."""
    return when.replace(" ", "\n", 1)


# -- users ---------------------------------------------------------------------------------


def user_data(user: User, tz: tzinfo | None = None) -> dict[str, Any]:
    """A user as JSON data (:func:`grc_core.representation.user`)."""
    from grc_core import representation

    return representation.user(user, tz)


def show_user(out: Output, user: User) -> Shown:
    """One user."""
    pairs = [
        ("Login", user.login),
        ("Name", user.display_name),
        ("E-mail", user.email),
        ("Phone", user.phone),
        ("Administrator", user.is_admin),
        ("Active", user.active),
        ("External ref.", user.external_ref),
        ("Created", out.when(user.created_at, with_zone=True)),
    ]
    return Shown(user_data(user, out.zone), record(f"User {user.login}", pairs))


def show_users(out: Output, users: Sequence[User]) -> Shown:
    """A list of users."""
    rows = [
        (u.login, u.display_name, u.email, u.phone, "admin" if u.is_admin else "", _active(u))
        for u in users
    ]
    table = listing(None, ("Login", "Name", "E-mail", "Phone", "Rights", "State"), rows)
    return Shown([user_data(u, out.zone) for u in users], table, None if users else "no users")


def _active(user: User) -> str:
    return "active" if user.active else "deactivated"


# -- companies and contacts ----------------------------------------------------------------


def company_data(company: Company, tz: tzinfo | None = None) -> dict[str, Any]:
    """A company as JSON data (:func:`grc_core.representation.company`)."""
    from grc_core import representation

    return representation.company(company, tz)


def _company_pairs(out: Output, company: Company) -> list[tuple[str, object]]:
    return [
        ("Id", company.id),
        ("Name", company.name),
        ("Status", company.status.value),
        ("Owner", company.owner.login if company.owner else None),
        ("External ref.", company.external_ref),
        ("Created", out.when(company.created_at, with_zone=True)),
        ("Updated", out.when(company.updated_at, with_zone=True)),
    ]


def show_company(
    out: Output,
    company: Company,
    contacts: Sequence[Contact] | None = None,
    opportunities: Sequence[Opportunity] | None = None,
) -> Shown:
    """One company, with its contacts and opportunities when they are given."""
    data = company_data(company, out.zone)
    parts: list[RenderableType] = [record(f"Company {company.id}", _company_pairs(out, company))]
    if contacts is not None:
        data["contacts"] = [contact_data(c, out.zone) for c in contacts]
        parts.append(_contacts_table(contacts, "Contacts"))
    if opportunities is not None:
        data["opportunities"] = [opportunity_data(o, out.zone) for o in opportunities]
        parts.append(_opportunities_table(out, opportunities, "Opportunities"))
    return Shown(data, Group(*parts))


def show_companies(out: Output, companies: Sequence[Company]) -> Shown:
    """A list of companies."""
    rows = [
        (c.id, c.name, c.status.value, c.owner.login if c.owner else "", c.external_ref)
        for c in companies
    ]
    table = listing(None, ("Id", "Name", "Status", "Owner", "External ref."), rows)
    return Shown(
        [company_data(c, out.zone) for c in companies], table, None if companies else "no companies"
    )


def contact_data(contact: Contact, tz: tzinfo | None = None) -> dict[str, Any]:
    """A contact as JSON data (:func:`grc_core.representation.contact`)."""
    from grc_core import representation

    return representation.contact(contact, tz)


def show_contact(out: Output, contact: Contact) -> Shown:
    """One contact."""
    pairs = [
        ("Id", contact.id),
        ("Company", contact.company_id),
        ("Name", contact.full_name),
        ("Job title", contact.job_title),
        ("E-mail", contact.email),
        ("Phone", contact.phone),
        ("External ref.", contact.external_ref),
    ]
    return Shown(contact_data(contact, out.zone), record(f"Contact {contact.id}", pairs))


def _contacts_table(contacts: Sequence[Contact], title: str | None = None) -> Table:
    rows = [(c.id, c.full_name, c.job_title, c.email, c.phone) for c in contacts]
    return listing(title, ("Id", "Name", "Job title", "E-mail", "Phone"), rows)


def show_contacts(out: Output, contacts: Sequence[Contact]) -> Shown:
    """The contacts of a company."""
    data = [contact_data(c, out.zone) for c in contacts]
    return Shown(data, _contacts_table(contacts), None if contacts else "no contacts")


# -- opportunities -------------------------------------------------------------------------


def opportunity_data(opportunity: Opportunity, tz: tzinfo | None = None) -> dict[str, Any]:
    """An opportunity as JSON data (:func:`grc_core.representation.opportunity`)."""
    from grc_core import representation

    return representation.opportunity(opportunity, tz)


def show_opportunity(out: Output, opportunity: Opportunity) -> Shown:
    """One opportunity."""
    pairs = [
        ("Id", opportunity.id),
        ("Title", opportunity.title),
        ("Company", f"{opportunity.company.name} ({opportunity.company_id})"),
        ("Stage", f"{out.label(opportunity.stage)} ({opportunity.stage.code})"),
        ("Amount", opportunity.amount),
        ("Expected close", opportunity.expected_close),
        ("Owner", opportunity.owner.login if opportunity.owner else None),
        ("External ref.", opportunity.external_ref),
        ("Updated", out.when(opportunity.updated_at, with_zone=True)),
    ]
    return Shown(
        opportunity_data(opportunity, out.zone), record(f"Opportunity {opportunity.id}", pairs)
    )


def _opportunities_table(
    out: Output, opportunities: Sequence[Opportunity], title: str | None = None
) -> Table:
    rows = [
        (
            o.id,
            o.title,
            o.company.name,
            out.label(o.stage),
            o.amount,
            o.expected_close,
            o.owner.login if o.owner else "",
        )
        for o in opportunities
    ]
    columns = ("Id", "Title", "Company", "Stage", "Amount", "Expected close", "Owner")
    return listing(title, columns, rows)


def show_opportunities(out: Output, opportunities: Sequence[Opportunity]) -> Shown:
    """A list of opportunities."""
    data = [opportunity_data(o, out.zone) for o in opportunities]
    empty = None if opportunities else "no opportunities"
    return Shown(data, _opportunities_table(out, opportunities), empty)


# -- picklists, categories, custom fields --------------------------------------------------


def picklist_data(value: PicklistValue, tz: tzinfo | None = None) -> dict[str, Any]:
    """A picklist value as JSON data (:func:`grc_core.representation.picklist_value`)."""
    from grc_core import representation

    return representation.picklist_value(value, tz)


def show_picklist_value(out: Output, value: PicklistValue) -> Shown:
    """One picklist value."""
    pairs = [
        ("Code", value.code),
        ("Label (fr)", value.label_fr),
        ("Label (en)", value.label_en),
        ("Position", value.position),
        ("Closing", value.is_closed),
        ("Active", value.active),
    ]
    return Shown(picklist_data(value, out.zone), record(f"{value.kind.value} {value.code}", pairs))


def show_picklist(out: Output, kind: str, values: Sequence[PicklistValue]) -> Shown:
    """The values of one picklist."""
    rows = [
        (v.code, v.label_fr, v.label_en, "closing" if v.is_closed else "", _flag(v.active))
        for v in values
    ]
    table = listing(kind, ("Code", "Label (fr)", "Label (en)", "Closing", "State"), rows)
    return Shown(
        [picklist_data(v, out.zone) for v in values], table, None if values else f"no {kind}"
    )


def category_data(category: Category, tz: tzinfo | None = None) -> dict[str, Any]:
    """A category as JSON data (:func:`grc_core.representation.category`)."""
    from grc_core import representation

    return representation.category(category, tz)


def show_category(out: Output, category: Category) -> Shown:
    """One category."""
    pairs = [
        ("Code", category.code),
        ("Label (fr)", category.label_fr),
        ("Label (en)", category.label_en),
        ("Parent", category.parent.code if category.parent else None),
        ("Active", category.active),
    ]
    return Shown(category_data(category, out.zone), record(f"Category {category.code}", pairs))


def show_category_tree(out: Output, categories: Sequence[Category]) -> Shown:
    """The category tree (``categories`` lists parents before their children)."""
    from rich.tree import Tree

    root = Tree(Text("categories"), guide_style="dim")
    nodes: dict[int, Tree] = {}
    for cat in categories:
        label = text(f"{cat.code} — {out.label(cat)}")
        if not cat.active:
            label.append("  (retired)", style="dim")
        # A child whose parent is not listed (retired and hidden) hangs from the root.
        parent = nodes.get(cat.parent_id, root) if cat.parent_id is not None else root
        nodes[cat.id] = parent.add(label)
    data = [category_data(c, out.zone) for c in categories]
    return Shown(data, root, None if categories else "no categories")


def field_data(field: CustomField, tz: tzinfo | None = None) -> dict[str, Any]:
    """A custom field definition as JSON data (:func:`grc_core.representation.field`)."""
    from grc_core import representation

    return representation.field(field, tz)


def show_field(out: Output, field: CustomField) -> Shown:
    """One custom field definition."""
    pairs = [
        ("Code", field.code),
        ("Label", field.label),
        ("Type", field.type.value),
        ("Required", field.required),
        ("Choices", ", ".join(field.choices or [])),
        ("Active", field.active),
    ]
    return Shown(field_data(field, out.zone), record(f"Custom field {field.code}", pairs))


def show_fields(out: Output, fields: Sequence[CustomField]) -> Shown:
    """A list of custom field definitions."""
    rows = [
        (
            f.code,
            f.label,
            f.type.value,
            "required" if f.required else "",
            ", ".join(f.choices or []),
            _flag(f.active),
        )
        for f in fields
    ]
    columns = ("Code", "Label", "Type", "Required", "Choices", "State")
    table = listing(None, columns, rows)
    return Shown(
        [field_data(f, out.zone) for f in fields], table, None if fields else "no custom fields"
    )


# -- exchanges -----------------------------------------------------------------------------


def exchange_data(exchange: Exchange, tz: tzinfo | None = None) -> dict[str, Any]:
    """An exchange as JSON data (:func:`grc_core.representation.exchange`)."""
    from grc_core import representation

    return representation.exchange(exchange, tz)


def _custom_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        # Stored with six decimals; people want 42000 or 12.5, not 42000.000000.
        return format(value.normalize(), "f")
    return str(value)


def show_exchange(out: Output, exchange: Exchange) -> Shown:
    """One exchange, with everything linked to it."""
    company = exchange.company
    pairs: list[tuple[str, object]] = [
        ("Id", exchange.id),
        ("UUID", exchange.uuid),
        ("Subject", exchange.subject),
        ("Start", out.when(exchange.start_at, with_zone=True)),
        ("End", out.when(exchange.end_at, with_zone=True)),
        ("Action", out.label(exchange.action)),
        ("Status", out.label(exchange.status)),
        ("Medium", out.label(exchange.medium)),
        ("Category", out.label(exchange.category)),
        ("Company", f"{company.name} ({company.id})" if company else "(global exchange)"),
        ("Opportunities", "\n".join(f"{o.title} ({o.id})" for o in exchange.opportunities)),
        ("Contacts", "\n".join(f"{c.full_name} ({c.id})" for c in exchange.contacts)),
        ("Author", exchange.author.login),
        ("Assigned to", ", ".join(u.login for u in exchange.assignees)),
        ("Visibility", "private" if exchange.private else "shared"),
    ]
    for fv in sorted(exchange.field_values, key=lambda fv: fv.field.code):
        pairs.append((fv.field.label, _custom_value(fv.value)))
    pairs += [
        ("Created", out.when(exchange.created_at, with_zone=True)),
        ("Updated", out.when(exchange.updated_at, with_zone=True)),
        ("Version", exchange.version),
    ]
    parts: list[RenderableType] = [record(f"Exchange {exchange.id}", pairs)]
    if exchange.details:
        parts += [Text(""), text(exchange.details)]
    data = exchange_data(exchange, out.zone) if out.json_output else None
    return Shown(data, Group(*parts))


def exchanges_table(out: Output, exchanges: Sequence[Exchange], title: str | None = None) -> Table:
    """Exchanges as a table, one row each, dates in the configured zone, laid out for the
    output's width (:attr:`Output.layout`): the subject always whole, wrapped if need be."""
    layout = out.layout
    rows: list[Sequence[object]] = []
    for ex in exchanges:
        company = ex.company.name if ex.company else "(global)"
        opportunities = [o.title for o in ex.opportunities]
        assignees = ", ".join(u.login for u in ex.assignees)
        if layout is Layout.WIDE:
            rows.append(
                (
                    ex.id,
                    out.when(ex.start_at),
                    out.label(ex.action),
                    ex.subject,
                    company,
                    "\n".join(opportunities),
                    out.label(ex.status),
                    "private" if ex.private else "",
                    assignees,
                )
            )
            continue
        if layout is Layout.MEDIUM:
            when, linked = out.when(ex.start_at), stacked(company, *opportunities)
        else:
            # Titles of opportunities are long: the compact layout counts them.
            count = len(opportunities)
            deals = f"{count} opportunit{'y' if count == 1 else 'ies'}" if count else ""
            when, linked = _two_lines(out.when(ex.start_at)), stacked(company, deals)
        row: list[object] = [
            ex.id,
            when,
            stacked(out.label(ex.action), out.label(ex.status)),
            _marked(ex.subject, ex.private),
            linked,
        ]
        if layout is Layout.MEDIUM:
            row.append(assignees)
        rows.append(row)
    # Short columns keep their natural width; the others share the rest, the subject most.
    if layout is Layout.WIDE:
        columns: tuple[Column, ...] = (
            Column("Id", justify="right", no_wrap=True),
            Column("Start", no_wrap=True),
            Column("Action"),
            Column("Subject", ratio=4),
            Column("Company", ratio=2),
            Column("Opportunities", ratio=2),
            Column("Status"),
            Column("Private"),
            Column("Assigned to", ratio=2),
        )
    else:
        columns = (
            Column("Id", justify="right", no_wrap=True),
            Column("Start", no_wrap=True),
            Column(Text("Action\nStatus")),
            Column("Subject", ratio=3),
            Column(
                Text("Company\nOpportunities" if layout is Layout.MEDIUM else "Company"), ratio=2
            ),
            *((Column("Assigned to", ratio=1),) if layout is Layout.MEDIUM else ()),
        )
    table = listing(title, columns, rows)
    table.expand = True
    table.caption = out.caption()
    table.caption_justify = "left"
    return table


def show_exchanges(out: Output, exchanges: Sequence[Exchange]) -> Shown:
    """A listing of exchanges (its JSON data built only for ``--json``: the representation
    module is not loaded for a table)."""
    data = [exchange_data(ex, out.zone) for ex in exchanges] if out.json_output else None
    empty = None if exchanges else "no exchanges match"
    return Shown(data, exchanges_table(out, exchanges), empty)


def exchanges_loads(out: Output) -> tuple[ExecutableOption, ...]:
    """Loader options for a query whose exchanges go to :func:`show_exchanges`.

    The models load every relationship of an exchange with it (seven joins and four more
    queries, one with four joins of its own).  A table shows the action, status, subject,
    company name, opportunity titles and assignees' logins only: the rest is not read (an
    access would still load it, one query per exchange).  In a fresh process each statement
    and join is compiled anew: three joins instead of seven, the opportunities without
    theirs and two queries fewer are 3 % of ``grc exchange list``.  JSON shows everything.
    """
    if out.json_output:
        return ()
    from sqlalchemy.orm import joinedload, lazyload, selectinload

    from grc_core.models import Company, Exchange

    return (
        lazyload(Exchange.medium),
        lazyload(Exchange.category),
        lazyload(Exchange.author),
        joinedload(Exchange.company).lazyload(Company.owner),
        selectinload(Exchange.opportunities).lazyload("*"),
        lazyload(Exchange.contacts),
        lazyload(Exchange.field_values),
    )


# -- histories and search ------------------------------------------------------------------

#: How the words a search matched are shown in snippets (the data keeps ``[…]`` markers).
HIGHLIGHT = "bold yellow"
_MARKED = re.compile(r"\[([^\[\]]*)\]")


class Labels:
    """Labels of the action and status codes that histories and search hits carry."""

    def __init__(self, values: Iterable[PicklistValue], language: str) -> None:
        self._labels = {(v.kind.value, v.code): v.label(language) for v in values}

    def __call__(self, kind: str, code: str | None) -> str:
        """The label of ``code`` in the picklist ``kind``; the code itself if unknown."""
        if code is None:
            return ""
        return self._labels.get((kind, code), code)

    def widest(self, kind: str, *, at_most: int = 16) -> int:
        """The length of the longest label of ``kind`` (a column that always fits them)."""
        lengths = [len(label) for (k, _), label in self._labels.items() if k == kind]
        return min(max(lengths, default=4), at_most)


def timeline_entry_data(entry: TimelineEntry, tz: tzinfo | None = None) -> dict[str, Any]:
    """A history entry as JSON data (:func:`grc_core.representation.entry`)."""
    from grc_core import representation

    return representation.entry(entry, tz)


def timeline_table(
    out: Output,
    entries: Sequence[TimelineEntry],
    labels: Labels,
    *,
    title: str | None = None,
    header: bool = True,
    caption: bool = True,
    steady: bool = False,
) -> Table:
    """History entries as a table, newest first, dates in the configured zone, laid out for
    the output's width (:attr:`Output.layout`): the subject always whole, wrapped if need be.

    :param steady: give every column a width that depends on the terminal and the labels
        only, not on the rows, so the tables of successive pages (``--all``) line up under
        the first one's header, with no blank line between them.
    """
    layout = out.layout
    rows: list[Sequence[object]] = []
    for e in entries:
        company = e.company if e.company is not None else "(global)"
        when = out.when(e.start_at)
        if layout is Layout.WIDE:
            rows.append(
                (
                    e.id,
                    when,
                    labels("action", e.action),
                    e.subject,
                    company,
                    labels("status", e.status),
                    "private" if e.private else "",
                    ", ".join(e.assignees),
                )
            )
            continue
        row: list[object] = [
            e.id,
            when if layout is Layout.MEDIUM else _two_lines(when),
            stacked(labels("action", e.action), labels("status", e.status)),
            _marked(e.subject, e.private),
            company,
        ]
        if layout is Layout.MEDIUM:
            row.append(", ".join(e.assignees))
        rows.append(row)
    widest = max(labels.widest("action"), labels.widest("status"))
    fixed: dict[str, int | None] = dict.fromkeys(("Id", "Start", "Action", "Status", "Private"))
    if steady:
        fixed = {
            "Id": 7,
            "Start": 16 if layout is not Layout.COMPACT else 10,
            "Action": labels.widest("action") if layout is Layout.WIDE else widest,
            "Status": labels.widest("status"),
            "Private": 7,
        }
    if layout is Layout.WIDE:
        columns: tuple[Column, ...] = (
            Column("Id", justify="right", no_wrap=True, width=fixed["Id"]),
            Column("Start", no_wrap=True, width=fixed["Start"]),
            Column("Action", width=fixed["Action"]),
            Column("Subject", ratio=4),
            Column("Company", ratio=2),
            Column("Status", width=fixed["Status"]),
            Column("Private", width=fixed["Private"]),
            Column("Assigned to", ratio=2),
        )
    else:
        columns = (
            Column("Id", justify="right", no_wrap=True, width=fixed["Id"]),
            Column("Start", no_wrap=True, width=fixed["Start"]),
            Column(Text("Action\nStatus"), width=fixed["Action"]),
            Column("Subject", ratio=3),
            Column("Company", ratio=2),
            *((Column("Assigned to", ratio=1),) if layout is Layout.MEDIUM else ()),
        )
    table = listing(title, columns, rows)
    table.expand = True
    table.show_header = header
    table.show_edge = not steady
    if caption:
        table.caption = out.caption()
        table.caption_justify = "left"
    return table


def show_timeline(out: Output, page: Page, labels: Labels, *, title: str | None = None) -> Shown:
    """One page of a history; the JSON data carries the cursor of the next page."""
    data = {
        "entries": [timeline_entry_data(e, out.zone) for e in page.entries],
        "next_cursor": page.next_cursor,
    }
    table = timeline_table(out, page.entries, labels, title=title)
    return Shown(data, table, None if page.entries else "no exchanges in this history")


def highlighted(snippet: str) -> Text:
    """A search snippet with the matched words (between ``[`` and ``]``) highlighted."""
    flat = escape_controls(" ".join(snippet.split()))
    shown = Text()
    position = 0
    for match in _MARKED.finditer(flat):
        shown.append(flat[position : match.start()])
        shown.append(match[1], style=HIGHLIGHT)
        position = match.end()
    shown.append(flat[position:])
    return shown


def search_hit_data(hit: SearchHit, tz: tzinfo | None = None) -> dict[str, Any]:
    """A search hit as JSON data (:func:`grc_core.representation.search_hit`)."""
    from grc_core import representation

    return representation.search_hit(hit, tz)


def search_table(out: Output, hits: Sequence[SearchHit], *, title: str | None = None) -> Table:
    """Search hits as a table, best first (``Rank`` 1 is the best: the raw relevance is
    the database's own scale, meaningless to people), the matched words highlighted in the
    extracts, laid out for the output's width (:attr:`Output.layout`)."""
    layout = out.layout
    rows: list[Sequence[object]] = []
    for position, h in enumerate(hits, start=1):
        company = h.entry.company if h.entry.company is not None else "(global)"
        when = out.when(h.entry.start_at)
        if layout is Layout.WIDE:
            rows.append(
                (
                    position,
                    h.entry.id,
                    when,
                    h.entry.subject,
                    company,
                    "private" if h.entry.private else "",
                    highlighted(h.snippet),
                )
            )
        elif layout is Layout.MEDIUM:
            subject = _marked(h.entry.subject, h.entry.private)
            rows.append((position, h.entry.id, when, subject, company, highlighted(h.snippet)))
        else:
            subject = _marked(h.entry.subject, h.entry.private)
            subject.append("\n")
            subject.append(escape_controls(company), style="dim")
            rows.append((position, h.entry.id, _two_lines(when), subject, highlighted(h.snippet)))
    columns: tuple[Column, ...] = (
        Column("Rank", justify="right", no_wrap=True),
        Column("Id", justify="right", no_wrap=True),
        Column("Start", no_wrap=True),
    )
    if layout is Layout.WIDE:
        columns += (
            Column("Subject", ratio=3),
            Column("Company", ratio=2),
            Column("Private"),
            Column("Extract", ratio=5),
        )
    elif layout is Layout.MEDIUM:
        columns += (Column("Subject", ratio=3), Column("Company", ratio=2))
        columns += (Column("Extract", ratio=4),)
    else:
        columns += (Column(Text("Subject\nCompany"), ratio=3), Column("Extract", ratio=4))
    table = listing(title, columns, rows)
    table.expand = True
    table.caption = out.caption("best matches first")
    table.caption_justify = "left"
    return table


def show_search(out: Output, hits: Sequence[SearchHit], *, title: str | None = None) -> Shown:
    """The hits of a quick search."""
    data = [search_hit_data(h, out.zone) for h in hits]
    empty = None if hits else "no exchange matches"
    return Shown(data, search_table(out, hits, title=title), empty)


# -- attachments ---------------------------------------------------------------------------

#: How many hex digits of a SHA-256 tables show (JSON carries all 64).
SHORT_SHA = 12


def human_size(size: int) -> str:
    """``1536`` → ``"1.5 KB"``: binary units, as the attachment policy counts them."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def attachment_data(attachment: Attachment, tz: tzinfo | None = None) -> dict[str, Any]:
    """An attachment as JSON data (:func:`grc_core.representation.attachment`)."""
    from grc_core import representation

    return representation.attachment(attachment, tz)


def attachments_table(
    out: Output,
    attachments: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    attached_to: Mapping[int, str] | None = None,
) -> Table:
    """Attachments (as :func:`attachment_data` gives them) as a table.

    :param attached_to: a label of each attachment's owner by attachment id, for listings
        that mix owners (the demo).  Such a listing is a short one: the owner replaces the
        type, checksum, backend and date columns.
    """
    short = attached_to is not None
    columns: list[str | Column] = [Column("Id", justify="right", no_wrap=True)]
    if short:
        columns.append(Column("Attached to", ratio=3))
    columns += [Column("Name", ratio=2, overflow="fold"), Column("Size", justify="right")]
    if not short:
        columns += [
            Column("Type", overflow="fold"),
            Column("SHA-256", no_wrap=True),
            Column("Backend", no_wrap=True),
        ]
    columns.append(Column("Author", no_wrap=True))
    if not short:
        columns.append(Column("Added", no_wrap=True))
    rows = []
    for a in attachments:
        if attached_to is not None:
            row: list[object] = [a["id"], attached_to.get(a["id"], ""), a["name"]]
            row += [human_size(a["size"]), a["author"]["login"]]
        else:
            row = [a["id"], a["name"], human_size(a["size"]), a["mime_type"]]
            row += [a["sha256"][:SHORT_SHA], a["backend"], a["author"]["login"]]
            row.append(out.when(a["created_at"]))
        rows.append(row)
    return listing(title, columns, rows)


def show_attachments(
    out: Output, attachments: Sequence[Mapping[str, Any]], *, title: str | None = None
) -> Shown:
    """A list of attachments (built from :func:`attachment_data` dicts)."""
    table = attachments_table(out, attachments, title=title)
    return Shown(list(attachments), table, None if attachments else "no attachments")


def policy_data(policy: AttachmentPolicy, scanners: Sequence[str] | None = None) -> dict[str, Any]:
    """The attachment policy as JSON data (sizes in bytes), with its named rules.

    :param scanners: the names of the active virus scanners, when known.
    """
    from grc_core.files.rules import describe_rules, scanner_warning

    data = {
        "max_size": policy.max_size,
        "allowed_extensions": sorted(policy.allowed_extensions),
        "allow_macros": policy.allow_macros,
        "zip_max_entries": policy.zip_max_entries,
        "zip_max_uncompressed": policy.zip_max_uncompressed,
        "zip_max_ratio": policy.zip_max_ratio,
        "allow_nested_archives": policy.allow_nested_archives,
        "allow_active_pdf": policy.allow_active_pdf,
        "max_image_pixels": policy.max_image_pixels,
        "scanning": policy.scanning,
        "strip_image_metadata": policy.strip_image_metadata,
        "rules": describe_rules(policy, None if scanners is None else list(scanners)),
    }
    if scanners is not None:
        data["scanners"] = list(scanners)
        data["scanner_warning"] = scanner_warning(policy.scanning, list(scanners))
    return data


#: Keys of a described rule that are not its settings (or are shown on their own line).
_NOT_SETTINGS = ("rule", "summary", "warning", "scanners", "allowed_extensions")


def show_policy(
    out: Output, policy: AttachmentPolicy, scanners: Sequence[str] | None = None
) -> Shown:
    """The attachment policy, each named rule with its settings."""
    data = policy_data(policy, scanners)
    pairs: list[tuple[str, object]] = [
        ("Maximum size", f"{human_size(data['max_size'])} ({data['max_size']:,} bytes)"),
        ("Extensions", ", ".join(data["allowed_extensions"])),
        ("Macros allowed", data["allow_macros"]),
        ("Zip entries at most", f"{data['zip_max_entries']:,}"),
        (
            "Zip uncompressed at most",
            f"{human_size(data['zip_max_uncompressed'])} ({data['zip_max_uncompressed']:,} bytes)",
        ),
    ]
    if scanners is not None:
        pairs.append(("Virus scanners", ", ".join(scanners) or "none active"))
    for rule in data["rules"]:
        settings = [f"{k}={v}" for k, v in rule.items() if k not in _NOT_SETTINGS]
        pairs.append((f"rule {rule['rule']}", "; ".join([*settings, rule["summary"]])))
    if data.get("scanner_warning"):
        pairs.append(("Warning", data["scanner_warning"]))
    return Shown(data, record("Attachment policy", pairs))


# -- storage -------------------------------------------------------------------------------

#: Problems ``grc storage verify --repair`` removes; the others need a person.
REPAIRABLE = frozenset({"orphan", "pending"})


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def verify_summary(report: VerifyReport, *, repair: bool) -> str:
    """One line: what was checked, what is wrong, what was repaired."""
    line = f"checked {_plural(report.checked, 'attachment')}: "
    if not report.problems:
        return line + "every blob is present and intact, no orphan"
    kinds: dict[str, int] = {}
    for problem in report.problems:
        kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    line += f"{_plural(len(report.problems), 'problem')} ({detail})"
    if repair:
        line += f"; {report.repaired} repaired"
    elif any(p.kind in REPAIRABLE for p in report.problems):
        line += "; --repair removes orphans and pending deletions"
    return line


def show_verify_report(out: Output, report: VerifyReport, *, repair: bool) -> Shown:
    """What ``grc storage verify`` found, as a table of problems and a summary line."""
    from grc_core.services.storage_admin import iter_problems

    problems = list(iter_problems(report))
    summary = verify_summary(report, repair=repair)
    data = {
        "ok": report.ok,
        "checked": report.checked,
        "repaired": report.repaired,
        "problems": [
            {
                "kind": p.kind,
                "backend": p.backend,
                "key": p.key,
                "attachment_id": p.attachment_id,
                "detail": p.detail,
                "repairable": p.kind in REPAIRABLE,
            }
            for p in problems
        ],
        "summary": summary,
    }
    parts: list[RenderableType] = []
    if problems:
        rows = [(p.kind, p.backend, p.key, p.attachment_id, p.detail) for p in problems]
        columns = ("Problem", "Backend", "Key", "Attachment", "Detail")
        parts += [listing(None, columns, rows), Text("")]
    parts.append(Text(summary))
    return Shown(data, Group(*parts))


def show_migration_report(out: Output, report: MigrationReport) -> Shown:
    """What ``grc storage migrate`` did: a summary line, and the failures with their reason."""
    summary = (
        f"{_plural(report.moved, 'attachment')} moved to {report.target!r}, "
        f"{report.already_there} already there, {len(report.failed)} failed"
    )
    data = {
        "target": report.target,
        "total": report.total,
        "moved": report.moved,
        "already_there": report.already_there,
        "failed": [{"attachment_id": ident, "reason": why} for ident, why in report.failed],
        "summary": summary,
    }
    parts: list[RenderableType] = []
    if report.failed:
        rows = sorted(report.failed)
        parts += [listing("Not moved", ("Attachment", "Reason"), rows), Text("")]
    parts.append(Text(summary))
    return Shown(data, Group(*parts))


@contextmanager
def progress_bar(out: Output, description: str) -> Iterator[Callable[[int, int, int], None]]:
    """A Rich progress bar on stderr, and the ``progress(done, total, id)`` callback feeding it.

    Disabled with ``--json`` and when stderr is not a terminal: a bar redrawn into a log file
    or a pipe is noise.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=out.err,
        disable=out.json_output or not out.err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int, _ident: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def backends_data(infos: Sequence[StorageBackendInfo], settings: Settings) -> dict[str, Any]:
    """Registered and configured storage backends as JSON data (secrets redacted)."""
    from grc_core.plugins.registry import redact

    default = settings.storage_backend
    names = sorted({*settings.storage, default})
    configured = []
    for name in names:
        config = dict(settings.backend_config(name))
        kind = str(config.pop("type", name))
        secrets = next((i.secrets for i in infos if i.name == kind), ())  # declared secret
        configured.append(
            {
                "name": name,
                "type": kind,
                "default": name == default,
                "config": redact(config, secrets),
            }
        )
    registered = [
        {
            "name": info.name,
            "plugin": info.plugin,
            "description": info.description,
            "available": info.available,
            "missing": list(info.missing),
            "install": info.install,
            "default": info.name == default,
        }
        for info in infos
    ]
    return {"default": default, "registered": registered, "configured": configured}


def show_backends(out: Output, infos: Sequence[StorageBackendInfo], settings: Settings) -> Shown:
    """The storage backends plugins registered, and the ones the configuration names."""
    data = backends_data(infos, settings)
    registered = listing(
        "Storage backends registered by plugins",
        ("Name", "Default", "Plugin", "Available", "Install", "Description"),
        [
            (
                b["name"],
                "default" if b["default"] else "",
                b["plugin"],
                "yes" if b["available"] else f"no: missing {', '.join(b['missing'])}",
                f"pip install '{b['install']}'" if b["install"] else "",
                b["description"],
            )
            for b in data["registered"]
        ],
    )
    configured = listing(
        "Configured backends (settings; secrets hidden)",
        ("Name", "Default", "Type", "Settings"),
        [
            (
                c["name"],
                "default" if c["default"] else "",
                c["type"],
                ", ".join(f"{k}={v}" for k, v in sorted(c["config"].items())),
            )
            for c in data["configured"]
        ],
    )
    empty = None if data["registered"] else "no storage backend is registered"
    return Shown(data, Group(registered, Text(""), configured), empty)


# -- plugins -------------------------------------------------------------------------------


def _provides(info: PluginInfo) -> str:
    parts = [
        (what, names)
        for what, names in (
            ("storage backends", info.storage_backends),
            ("scanners", info.scanners),
            ("notification channels", info.notification_channels),
            ("commands", info.commands),
        )
        if names
    ]
    return "\n".join(f"{what}: {', '.join(names)}" for what, names in parts) or "(nothing)"


def show_plugins(out: Output, infos: Sequence[PluginInfo]) -> Shown:
    """The installed plugins, their distribution and what each provides."""
    rows = [
        (i.name, i.distribution or "(none)", i.version or "", _provides(i), i.module) for i in infos
    ]
    table = listing(None, ("Plugin", "Distribution", "Version", "Provides", "Module"), rows)
    return Shown([i.as_dict() for i in infos], table, None if infos else "no plugins")


# -- notifications -------------------------------------------------------------------------


def _kinds(kinds: Sequence[str] | None) -> str:
    return ", ".join(kinds) if kinds else "every kind"


def subscription_data(subscription: Subscription, tz: tzinfo | None = None) -> dict[str, Any]:
    """A subscription as JSON data (:func:`grc_core.representation.subscription`)."""
    from grc_core import representation

    return representation.subscription(subscription, tz)


def _sub_channels(channels: Sequence[str] | None) -> str:
    return ", ".join(channels) if channels else "my preferred channels"


def show_subscription(out: Output, subscription: Subscription, follows: str) -> Shown:
    """One subscription."""
    pairs = [
        ("Id", subscription.id),
        ("Follows", follows + (" (without its opportunities)" if subscription.narrow else "")),
        ("Events", _kinds(subscription.event_kinds)),
        ("Channels", _sub_channels(subscription.channels)),
        ("Since", out.when(subscription.created_at, with_zone=True)),
    ]
    data = subscription_data(subscription, out.zone)
    return Shown(data, record(f"Subscription {subscription.id}", pairs))


def show_subscriptions(
    out: Output, subscriptions: Sequence[Subscription], follows: Mapping[int, str]
) -> Shown:
    """What a user follows (``follows``: each subscription's target in words, by id)."""
    rows = [
        (
            s.id,
            follows[s.id],
            "yes" if s.narrow else "",
            _kinds(s.event_kinds),
            _sub_channels(s.channels),
            out.when(s.created_at),
        )
        for s in subscriptions
    ]
    columns = ("Id", "Follows", "Narrowed", "Events", "Channels", "Since")
    data = [subscription_data(s, out.zone) for s in subscriptions]
    empty = None if subscriptions else "you follow nothing; see grc subscribe --help"
    return Shown(data, listing(None, columns, rows), empty)


def preferences_data(prefs: Preferences, tz: tzinfo | None = None) -> dict[str, Any]:
    """Notification preferences as JSON data (:func:`grc_core.representation.preferences`)."""
    from grc_core import representation

    return representation.preferences(prefs, tz)


def show_preferences(out: Output, login: str, prefs: Preferences) -> Shown:
    """A user's notification preferences."""
    data = preferences_data(prefs, out.zone)
    quiet = data["quiet_hours"]
    pairs: list[tuple[str, object]] = [
        ("Channels", ", ".join(data["default_channels"])),
    ]
    for kind, names in data["channels"].items():
        if kind != "*":
            pairs.append((f"  for {kind}", ", ".join(names)))
    pairs += [
        ("Quiet hours", f"{quiet['start']}–{quiet['end']}" if quiet else "none"),
        ("Time zone", data["timezone"]),
        ("Digest", data["digest"]),
    ]
    return Shown(data, record(f"Notification preferences of {login}", pairs))


def recipients_text(recipients: Mapping[str, Any]) -> str:
    """A rule's recipients as ``--to`` would give them: ``users:alice,bob; assignees``."""
    from grc_core.notify.rule_admin import RECIPIENT_FLAGS

    parts = []
    if recipients.get("users"):
        parts.append("users:" + ",".join(recipients["users"]))
    parts += [flag for flag in RECIPIENT_FLAGS if recipients.get(flag)]
    return "; ".join(parts)


def rule_data(
    rule: Rule,
    triggers: Sequence[str],
    logins: Mapping[int, str] | None = None,
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    """A notification rule as JSON data (:func:`grc_core.representation.rule`)."""
    from grc_core import representation

    return representation.rule(rule, triggers, tz, logins=logins)


def _rule_state(data: Mapping[str, Any]) -> str:
    # Parked by the safety limit (grc rules unpark NAME resumes it), whatever "enabled" says.
    if data.get("parked_at") is not None:
        return "PARKED"
    return "enabled" if data["enabled"] else "disabled"


def _when_it_runs(data: Mapping[str, Any]) -> str:
    return "escalation (periodic sweep)" if data["escalation"] else ", ".join(data["triggers"])


def show_rule(out: Output, data: Mapping[str, Any]) -> Shown:
    """One rule (built by :func:`rule_data`), templates included."""
    pairs: list[tuple[str, object]] = [
        ("Id", data["id"]),
        ("Name", data["name"]),
        ("State", _rule_state(data)),
        *(
            [("Parked", f"{out.when(data['parked_at'], with_zone=True)}: {data['parked_reason']}")]
            if data.get("parked_at") is not None
            else []
        ),
        ("On", _when_it_runs(data)),
        ("Condition", data["condition"] or "(none: always)"),
        ("To", recipients_text(data["recipients"])),
        ("Channels", ", ".join(data["channels"])),
        ("Subject", data["subject_template"] or "(the default wording)"),
        ("Body", data["body_template"] or "(the default wording)"),
        ("Created", out.when(data["created_at"], with_zone=True)),
    ]
    return Shown(dict(data), record(f"Rule {data['name']}", pairs))


def show_rules(out: Output, rules: Sequence[Mapping[str, Any]]) -> Shown:
    """Every rule (each built by :func:`rule_data`)."""
    rows = [
        (
            r["name"],
            _rule_state(r),
            _when_it_runs(r),
            r["condition"] or "(always)",
            recipients_text(r["recipients"]),
            ", ".join(r["channels"]),
        )
        for r in rules
    ]
    columns = (
        Column("Name", no_wrap=True),
        Column("State"),
        Column("On"),
        Column("Condition", ratio=3),
        Column("To", ratio=1),
        Column("Channels"),
    )
    empty = None if rules else "no notification rules; see grc rules add --help"
    return Shown([dict(r) for r in rules], listing(None, columns, rows), empty)


def dry_run_data(rule: str, event: Event, dry: DryRun) -> dict[str, Any]:
    """What ``grc rules test`` found, as JSON data."""
    return {
        "rule": rule,
        "event": {
            "id": event.id,
            "kind": event.kind,
            "entity": f"{event.entity_type} {event.entity_id}",
            "occurred_at": event.occurred_at,
        },
        "fires": dry.fires,
        "reasons": list(dry.reasons),
        "recipients": list(dry.recipients),
        "subject": dry.subject,
        "body": dry.body,
    }


def show_dry_run(out: Output, data: Mapping[str, Any]) -> Shown:
    """A rule's dry run on an event (built by :func:`dry_run_data`)."""
    event = data["event"]
    pairs: list[tuple[str, object]] = [
        ("Event", f"{event['id']}: {event['kind']} of {event['entity']}"),
        ("Fires", "yes" if data["fires"] else "no"),
        ("Why not" if not data["fires"] else "Notes", "\n".join(data["reasons"]) or "—"),
        ("Recipients", ", ".join(data["recipients"]) or "nobody"),
    ]
    if data["recipients"]:
        pairs += [
            (f"Subject ({data['recipients'][0]})", data["subject"]),
            ("Body", data["body"]),
        ]
    title = f"Dry run of rule {data['rule']!r} on event {event['id']} (nothing is sent)"
    return Shown(dict(data), record(title, pairs))


def stats_data(stats: RunStats) -> dict[str, int]:
    """What a worker did, as JSON data."""
    from grc_core.notify.worker import RunStats

    return {name: int(getattr(stats, name)) for name in RunStats.__dataclass_fields__}


def stats_summary(stats: RunStats) -> str:
    """One line: what a worker did."""
    deliveries = "delivery" if stats.claimed == 1 else "deliveries"
    parked = (
        f"; {_plural(stats.parked, 'runaway rule')} parked (see grc rules list)"
        if stats.parked
        else ""
    )
    return (
        f"{_plural(stats.events, 'event')} fanned out, {stats.escalated} escalated, "
        f"{stats.claimed} {deliveries} claimed: {stats.sent} sent, {stats.retried} to retry, "
        f"{stats.dead} dead, {stats.skipped} skipped (no longer visible){parked}"
    )


def delivery_data(delivery: Delivery, login: str) -> dict[str, Any]:
    """A delivery as JSON data (``recipient``: the user's login)."""
    return {
        "id": delivery.id,
        "status": delivery.status,
        "channel": delivery.channel,
        "recipient": login,
        "event_id": delivery.event_id,
        "rule_id": delivery.rule_id,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "subject": delivery.subject,
        "due_at": delivery.due_at,
        "created_at": delivery.created_at,
    }


def show_dead(out: Output, deliveries: Sequence[Mapping[str, Any]]) -> Shown:
    """Dead deliveries (each built by :func:`delivery_data`), newest first."""
    rows = [
        (
            d["id"],
            d["channel"],
            d["recipient"],
            d["attempts"],
            d["last_error"] or "",
            d["subject"],
            out.when(d["created_at"]),
        )
        for d in deliveries
    ]
    columns = (
        Column("Id", justify="right", no_wrap=True),
        Column("Channel"),
        Column("To"),
        Column("Attempts", justify="right"),
        Column("Last error", ratio=3),
        Column("Subject", ratio=2),
        Column("Created", no_wrap=True),
    )
    table = listing(None, columns, rows)
    if deliveries:
        table.caption = "grc notify retry ID … puts them back in the queue"
        table.caption_justify = "left"
    return Shown(list(deliveries), table, None if deliveries else "no dead deliveries")


def event_data(event: Event, actor: str | None) -> dict[str, Any]:
    """An audit event as JSON data (``actor``: a login)."""
    return {
        "id": event.id,
        "kind": event.kind,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "company_id": event.company_id,
        "actor": actor,
        "occurred_at": event.occurred_at,
        "fanned_out": event.fanned_out,
    }


def show_events(out: Output, events: Sequence[Mapping[str, Any]]) -> Shown:
    """Audit events (each built by :func:`event_data`), newest first."""
    rows = [
        (
            e["id"],
            out.when(e["occurred_at"]),
            e["kind"],
            f"{e['entity_type']} {e['entity_id']}",
            e["company_id"] or "",
            e["actor"] or "",
            "done" if e["fanned_out"] else "pending",
        )
        for e in events
    ]
    columns = (
        Column("Id", justify="right", no_wrap=True),
        Column("Occurred", no_wrap=True),
        "Kind",
        "About",
        Column("Company", justify="right"),
        "By",
        "Fan-out",
    )
    table = listing(None, columns, rows)
    table.caption = f"times in {out.timezone}; grc rules test RULE --event ID tries a rule on one"
    table.caption_justify = "left"
    return Shown(list(events), table, None if events else "no events")


def _about_text(about: Mapping[str, Any]) -> str:
    for key in ("exchange_id", "opportunity_id", "company_id"):
        if about.get(key) is not None:
            return f"{key.removesuffix('_id')} {about[key]}"
    return ""


def inbox_entry_data(entry: InboxEntry, tz: tzinfo | None = None) -> dict[str, Any]:
    """An inbox alert as JSON data (:func:`grc_core.representation.inbox_item`)."""
    from grc_core import representation

    return representation.inbox_item(entry, tz)


#: How much of an alert's text the inbox table shows.
INBOX_EXCERPT = 90


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= INBOX_EXCERPT else text[: INBOX_EXCERPT - 1] + "…"


def inbox_title(login: str, unread: int) -> str:
    """The header of an inbox listing: whose, and how many unread."""
    return f"Inbox of {login}: {_plural(unread, 'unread alert')}"


def show_inbox(out: Output, login: str, entries: Sequence[InboxEntry], unread: int) -> Shown:
    """A user's inbox, newest first, with the unread count in its header, laid out for the
    output's width (:attr:`Output.layout`)."""
    layout = out.layout
    rows: list[Sequence[object]] = []
    for e in entries:
        state = "unread" if e.unread else "read"
        when = out.when(e.created_at)
        about = _about_text(e.about)
        if layout is Layout.WIDE:
            rows.append((e.id, when, state, e.title, _excerpt(e.body), about))
        elif layout is Layout.MEDIUM:
            rows.append((e.id, when, state, stacked(e.title, about), _excerpt(e.body)))
        else:
            cells = (stacked(_two_lines(when), state), stacked(e.title, about), _excerpt(e.body))
            rows.append((e.id, *cells))
    columns: tuple[Column, ...] = (Column("Id", justify="right", no_wrap=True),)
    if layout is Layout.COMPACT:
        columns += (Column(Text("Received\nState"), no_wrap=True),)
    else:
        columns += (Column("Received", no_wrap=True), Column("State", no_wrap=True))
    if layout is Layout.WIDE:
        columns += (Column("Title", ratio=2), Column("Text", ratio=3), Column("About"))
    else:
        columns += (Column(Text("Title\nAbout"), ratio=2), Column("Text", ratio=3))
    table = listing(inbox_title(login, unread), columns, rows)
    table.expand = True
    if entries:
        table.caption = out.caption("grc inbox read ID … (or --all) marks them read")
        table.caption_justify = "left"
    data = {"unread": unread, "items": [inbox_entry_data(e, out.zone) for e in entries]}
    empty = None if entries else f"{inbox_title(login, unread)}; nothing to show"
    return Shown(data, table, empty)
