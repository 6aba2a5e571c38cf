"""``grc audit``: the audit trail — who changed what, when, old → new — as the acting user
may read it (administrators read everything; see :mod:`grc_core.queries.audit`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
from rich.table import Column
from sqlalchemy.orm import Session

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import Output, Shown, listing, record
from grc_core.queries import audit
from grc_core.queries.audit import AuditEntry, AuditFilter, AuditPage
from grc_core.services import users
from grc_core.timeutil import parse_datetime

#: Fields of ``changes`` that hold user ids, shown as logins.
USER_FIELDS = {"owner_id", "author_id", "assignee_ids", "user_id", "created_by"}
#: Values longer than this are cut in tables (``--json`` has them whole).
VALUE_WIDTH = 60


def _record_option(value: str | None) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    kind, _, ident = value.partition(":")
    if not ident:
        return kind, None
    try:
        return kind, int(ident)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected TYPE or TYPE:ID, e.g. company:12", param_hint="--record"
        ) from None


def _user_ids(entries: Iterable[AuditEntry]) -> set[int]:
    ids: set[int] = set()
    for entry in entries:
        for name, pair in entry.changes.items():
            if name not in USER_FIELDS or not isinstance(pair, list):
                continue
            for value in pair:
                ids |= {v for v in (value if isinstance(value, list) else [value]) if _is_id(v)}
    return ids


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _named(value: Any, logins: Mapping[int, str]) -> Any:
    if isinstance(value, list):
        return [_named(v, logins) for v in value]
    return logins.get(value, value) if _is_id(value) else value


def readable_changes(entry: AuditEntry, logins: Mapping[int, str]) -> dict[str, list[Any]]:
    """``changes`` with user ids replaced by logins (the JSON output keeps ``changes`` as
    recorded and adds this as ``changes_named``)."""
    named: dict[str, list[Any]] = {}
    for name, pair in entry.changes.items():
        if name in USER_FIELDS and isinstance(pair, list):
            named[name] = [_named(v, logins) for v in pair]
        else:
            named[name] = pair
    return named


def _shown_value(value: Any) -> str:
    if value is None:
        return "∅"
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    shown = " ".join(shown.split())
    return shown if len(shown) <= VALUE_WIDTH else shown[: VALUE_WIDTH - 1] + "…"


def changes_text(entry: AuditEntry, logins: Mapping[int, str]) -> str:
    """One ``field: old → new`` line per changed field."""
    lines = []
    for name, pair in readable_changes(entry, logins).items():
        if isinstance(pair, list) and len(pair) == 2:
            old, new = pair
            if old is None and not entry.old_values_withheld:
                lines.append(f"{name}: {_shown_value(new)}")
            else:
                lines.append(f"{name}: {_shown_value(old)} → {_shown_value(new)}")
        else:
            lines.append(f"{name}: {_shown_value(pair)}")
    if entry.old_values_withheld:
        lines.append("(earlier values are not shown: you could not see them then)")
    return "\n".join(lines)


def entry_data(entry: AuditEntry, logins: Mapping[int, str]) -> dict[str, Any]:
    """An audit entry as JSON data."""
    return {
        "id": entry.id,
        "occurred_at": entry.occurred_at,
        "kind": entry.kind,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "company_id": entry.company_id,
        "actor": entry.actor,
        "changes": entry.changes,
        "changes_named": readable_changes(entry, logins),
        "old_values_withheld": entry.old_values_withheld,
    }


def _rows(out: Output, entries: Sequence[AuditEntry], logins: Mapping[int, str]) -> list[Any]:
    return [
        (
            e.id,
            out.when(e.occurred_at),
            e.actor or "",
            e.kind,
            f"{e.entity_type} {e.entity_id}",
            changes_text(e, logins),
        )
        for e in entries
    ]


def show_trail(out: Output, page: AuditPage, logins: Mapping[int, str]) -> Shown:
    """A page of the trail: a table, or ``{"entries": [...], "next_cursor": ...}``."""
    columns = (
        Column("Id", justify="right", no_wrap=True),
        Column("When", no_wrap=True),
        "By",
        "Kind",
        Column("Record", no_wrap=True),
        "Changes",
    )
    table = listing(None, columns, _rows(out, page.entries, logins))
    table.caption = f"times in {out.timezone}"
    table.caption_justify = "left"
    data = {
        "entries": [entry_data(e, logins) for e in page.entries],
        "next_cursor": page.next_cursor,
    }
    if page.resume_cursor is not None:
        data["resume_cursor"] = page.resume_cursor
    return Shown(data, table, None if page.entries else "no events")


def _read(
    state: CliContext, flt_options: dict[str, Any], limit: int, cursor: str | None, oldest: bool
) -> tuple[AuditPage, dict[int, str]]:
    with state.work(read_only=True) as work:
        flt = _filter(state, work.session, flt_options)
        page = audit.audit_events(
            work.session, work.actor, flt, limit=limit, cursor=cursor, oldest_first=oldest
        )
        logins = dict(audit.logins(work.session, _user_ids(page.entries)))
    return page, logins


def _filter(state: CliContext, session: Session, options: dict[str, Any]) -> AuditFilter:
    entity_type, entity_id = _record_option(options["record"])
    zone = state.settings.timezone
    by = options["by"]
    return AuditFilter(
        entity_type=entity_type,
        entity_id=entity_id,
        company_id=options["company"],
        actor_id=users.get_user(session, by).id if by else None,
        kinds=tuple(options["kinds"]),
        since=parse_datetime(options["since"], "since", zone) if options["since"] else None,
        until=parse_datetime(options["until"], "until", zone) if options["until"] else None,
    )


@click.group("audit", invoke_without_command=True)
@click.option(
    "--record",
    metavar="TYPE[:ID]",
    help="Events about one record (company:12, exchange:15) or one type of record (user).",
)
@click.option("--company", type=int, metavar="ID", help="Events about a company and its records.")
@click.option("--by", metavar="LOGIN", help="Changes made by this user.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help="Only this kind (repeatable).")
@click.option("--since", metavar="DATE-TIME", help="At or after (ISO 8601, e.g. 2026-03-01).")
@click.option("--until", metavar="DATE-TIME", help="Before (ISO 8601).")
@click.option(
    "--limit",
    type=click.IntRange(1, audit.MAX_PAGE),
    default=50,
    show_default=True,
    help="Events per page.",
)
@click.option("--cursor", metavar="TOKEN", help="Continue after the page that printed it.")
@click.option("--all", "walk_all", is_flag=True, help="Print every page, following cursors.")
@click.option("--oldest-first", is_flag=True, help="Read forward (as a feed consumer does).")
@click.pass_context
def audit_group(
    ctx: click.Context,
    record: str | None,
    company: int | None,
    by: str | None,
    kinds: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int,
    cursor: str | None,
    walk_all: bool,
    oldest_first: bool,
) -> None:
    """The audit trail, newest first: who changed what, when, old → new.

    Administrators read every event; other users the events about what they may see, and
    never a value they could not see when it was current.
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(CliContext)
    assert state is not None
    _record_option(record)  # a usage error before touching the database
    options = {
        "record": record,
        "company": company,
        "by": by,
        "kinds": kinds,
        "since": since,
        "until": until,
    }
    out = state.out
    if not walk_all:
        page, logins = _read(state, options, limit, cursor, oldest_first)
        out.emit(show_trail(out, page, logins))
        if page.next_cursor is not None and not out.json_output:
            out.status(f"next page: --cursor {page.next_cursor}", soft_wrap=True)
        return
    entries: list[dict[str, Any]] = []
    count = 0
    while True:
        # Each page in its own short transaction: the cursor carries the position.
        page, logins = _read(state, options, limit, cursor, oldest_first)
        count += len(page.entries)
        if out.json_output:
            entries += [entry_data(e, logins) for e in page.entries]
        elif page.entries:
            out.console.print(show_trail(out, page, logins).view)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if out.json_output:
        out.emit_data({"entries": entries, "next_cursor": None})
    else:
        out.status(f"{count} event{'s' if count != 1 else ''}")


@audit_group.command("show")
@click.argument("event_id", metavar="ID", type=int)
@pass_cli
def show(state: CliContext, event_id: int) -> None:
    """One event, with every changed field whole."""
    with state.work(read_only=True) as work:
        entry = audit.get_event(work.session, work.actor, event_id)
        logins = dict(audit.logins(work.session, _user_ids([entry])))
    out = state.out
    pairs: list[tuple[str, object]] = [
        ("When", out.when(entry.occurred_at, with_zone=True)),
        ("By", entry.actor or ""),
        ("Kind", entry.kind),
        ("Record", f"{entry.entity_type} {entry.entity_id}"),
        ("Company", entry.company_id or ""),
    ]
    for name, pair in readable_changes(entry, logins).items():
        if isinstance(pair, list) and len(pair) == 2:
            old, new = (json.dumps(v, ensure_ascii=False) for v in pair)
            pairs.append((name, f"{old} → {new}"))
    if entry.old_values_withheld:
        pairs.append(("", "earlier values are not shown: you could not see them then"))
    view = record(f"Audit event {entry.id}", pairs)
    out.emit(Shown(entry_data(entry, logins), view))


def register(cli: click.Group) -> None:
    """Add ``grc audit`` to the root group."""
    cli.add_command(audit_group)
