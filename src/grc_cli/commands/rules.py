"""``grc rules``: notification rules, defined by administrators, and their dry run.

A rule says *when* (event kinds, or ``--escalation`` for a periodic check), *if* (a
condition in the rule language, see ``docs/rules.md``), *who* (named users, subscribers,
assignees, the author, the owners) and *how* (channels, and subject and body templates with
mail-merge fields).  Conditions and templates are checked when the rule is saved: a mistake
is one line with its position, exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import IO, Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_cli.commands.subscriptions import split_names
from grc_cli.context import CliContext, pass_cli
from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import dry_run_data, rule_data, show_dry_run, show_rule, show_rules
from grc_cli.params import read_text
from grc_core.errors import NotFound
from grc_core.ids import parse_id
from grc_core.models import Event, Rule, User
from grc_core.notify import rule_admin, runaway
from grc_core.notify.rule_admin import RECIPIENT_FLAGS
from grc_core.notify.subscriptions import EVENT_KINDS
from grc_core.services.users import require_admin

TO_HELP = (
    "Who is told (repeatable): users:LOGIN,LOGIN, or "
    + ", ".join(RECIPIENT_FLAGS)
    + " (the exchange's author, the company's owner, the opportunities' owners)."
)


def parse_recipients(values: Sequence[str]) -> dict[str, Any]:
    """``--to`` values → the recipients of :func:`grc_core.notify.rule_admin.add_rule`."""
    spec: dict[str, Any] = {}
    logins: list[str] = []
    for value in values:
        for part in value.split(";"):
            part = part.strip()
            if not part:
                continue
            head, sep, rest = part.partition(":")
            if head == "users" and sep:
                names = split_names([rest])
                if not names:
                    raise click.BadParameter(
                        "users: needs logins, e.g. users:alice,bob", param_hint="--to"
                    )
                logins += names
            elif part in RECIPIENT_FLAGS:
                spec[part] = True
            else:
                accepted = ", ".join(("users:LOGIN,LOGIN", *RECIPIENT_FLAGS))
                raise click.BadParameter(
                    f"{part!r} is not a recipient; accepted: {accepted}", param_hint="--to"
                )
    if logins:
        spec["users"] = list(dict.fromkeys(logins))
    return spec


def _text(value: str | None, file: IO[str] | None, option: str) -> str:
    if value is not None and file is not None:
        raise click.UsageError(f"give {option} or {option}-file, not both")
    if file is not None:
        return read_text(file, f"{option}-file")
    return value or ""


def find_rule(session: Session, ref: str) -> Rule:
    """A rule by name, or by id when no rule has that name and it is a number."""
    try:
        return rule_admin.get_rule(session, ref)
    except NotFound:
        if (rule_id := parse_id(ref)) is not None:
            return rule_admin.get_rule(session, rule_id)
        raise


def logins_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """The logins of users ``ids`` (``None`` ignored)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = select(User.id, User.login).where(User.id.in_(wanted))
    return {ident: login for ident, login in session.execute(stmt)}


def describe(session: Session, rule: Rule, tz: tzinfo | None = None) -> dict[str, Any]:
    """The JSON data of ``rule`` (its triggers read, named users as logins)."""
    logins = logins_by_id(session, (rule.recipients or {}).get("users") or [])
    return rule_data(rule, rule_admin.rule_triggers_of(session, rule), logins, tz)


@click.group("rules")
def rules_group() -> None:
    """Notification rules: add, list, show, enable, disable, delete and test them."""


@rules_group.command("add")
@click.argument("name")
@click.option(
    "--on",
    "triggers",
    multiple=True,
    metavar="KIND",
    help=f"Event kinds that trigger it (repeatable or comma-separated): {', '.join(EVENT_KINDS)}.",
)
@click.option(
    "--escalation",
    is_flag=True,
    help="A periodic check instead: every worker pass looks for exchanges meeting the "
    "condition, and notifies each once.",
)
@click.option("--when", "condition", metavar="CONDITION", help="The condition (docs/rules.md).")
@click.option(
    "--when-file",
    "condition_file",
    type=click.File("r", encoding="utf-8"),
    help="Read the condition from a file ('-': stdin).",
)
@click.option("--to", "recipients", multiple=True, required=True, metavar="WHO", help=TO_HELP)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="NAME",
    help="Channels (repeatable or comma-separated; default: inbox).",
)
@click.option("--subject", metavar="TEMPLATE", help="Subject template (mail-merge fields).")
@click.option("--body", metavar="TEMPLATE", help="Body template (mail-merge fields).")
@click.option(
    "--body-file",
    type=click.File("r", encoding="utf-8"),
    help="Read the body template from a file ('-': stdin).",
)
@pass_cli
def add(
    state: CliContext,
    name: str,
    triggers: tuple[str, ...],
    escalation: bool,
    condition: str | None,
    condition_file: IO[str] | None,
    recipients: tuple[str, ...],
    channels: tuple[str, ...],
    subject: str | None,
    body: str | None,
    body_file: IO[str] | None,
) -> None:
    """Save a rule (administrators), after checking its condition and templates.

    \b
    grc rules add "RDV clients" --on exchange.created \\
        --when "exchange.action = 'meeting' and company.status = 'client'" \\
        --to company_owner --to assignees --channel email,inbox \\
        --subject "RDV chez {{ company.name }} : {{ exchange.subject }}"
    """
    kinds = split_names(triggers)
    if bool(kinds) == escalation:
        raise click.UsageError("give the event kinds with --on, or --escalation (not both)")
    spec = parse_recipients(recipients)
    available = state.registry.notification_channel_names()
    with state.work() as work:
        rule = rule_admin.add_rule(
            work.session,
            work.actor,
            name,
            triggers=kinds,
            condition=_text(condition, condition_file, "--when"),
            recipients=spec,
            channels=split_names(channels) or ("inbox",),
            subject_template=subject or "",
            body_template=_text(body, body_file, "--body"),
            escalation=escalation,
            available_channels=available,
        )
        data = describe(work.session, rule, state.out.zone)
    state.out.status(f"saved rule {data['name']!r} (rule {data['id']})")
    state.out.emit(show_rule(state.out, data))


@rules_group.command("list")
@pass_cli
def list_(state: CliContext) -> None:
    """List the rules by name."""
    with state.session(read_only=True) as session:
        rules = [describe(session, r, state.out.zone) for r in rule_admin.list_rules(session)]
    state.out.emit(show_rules(state.out, rules))


@rules_group.command("show")
@click.argument("name")
@pass_cli
def show(state: CliContext, name: str) -> None:
    """Show one rule (by name or id), with its templates."""
    with state.session(read_only=True) as session:
        data = describe(session, find_rule(session, name), state.out.zone)
    state.out.emit(show_rule(state.out, data))


def _set_enabled(state: CliContext, name: str, enabled: bool) -> None:
    with state.work() as work:
        rule = find_rule(work.session, name)
        rule = rule_admin.set_enabled(work.session, work.actor, rule.id, enabled)
        data = describe(work.session, rule, state.out.zone)
    state.out.status(f"rule {data['name']!r} {'enabled' if enabled else 'disabled'}")
    state.out.emit(show_rule(state.out, data))


@rules_group.command("enable")
@click.argument("name")
@pass_cli
def enable(state: CliContext, name: str) -> None:
    """Enable a rule (administrators)."""
    _set_enabled(state, name, True)


@rules_group.command("disable")
@click.argument("name")
@pass_cli
def disable(state: CliContext, name: str) -> None:
    """Disable a rule (administrators): it fires no more until enabled."""
    _set_enabled(state, name, False)


@rules_group.command("unpark")
@click.argument("name")
@pass_cli
def unpark(state: CliContext, name: str) -> None:
    """Resume a rule the safety limit parked (administrators); its delivery count starts
    again from now. Fix what made it run away first (see grc rules show NAME)."""
    with state.work() as work:
        rule = find_rule(work.session, name)
        rule = runaway.unpark(work.session, work.actor, rule.id)
        data = describe(work.session, rule, state.out.zone)
    state.out.status(f"rule {data['name']!r} resumed")
    state.out.emit(show_rule(state.out, data))


@rules_group.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def delete(state: CliContext, name: str, yes: bool) -> None:
    """Delete a rule (administrators); the notifications it sent keep their history."""
    with state.work(read_only=True) as work:
        require_admin(work.actor, "changing notification rules")
        rule = find_rule(work.session, name)
        ident, rule_name = rule.id, rule.name
    if not yes:
        click.confirm(f"Delete rule {rule_name!r}?", abort=True, err=True)
    with state.work() as work:
        rule_admin.delete_rule(work.session, work.actor, ident)
    state.out.status(f"deleted rule {rule_name!r}")
    state.out.emit_data({"deleted": rule_name, "id": ident})


@rules_group.command("test")
@click.argument("name")
@click.option(
    "--event",
    "event_id",
    type=int,
    required=True,
    metavar="ID",
    help="The audit event to try it on (see grc notify events).",
)
@pass_cli
def test(state: CliContext, name: str, event_id: int) -> None:
    """Say whether a rule would fire on an event, and why not (administrators).

    Nothing is sent or recorded. Prints the reasons, the recipients and the message the
    first of them would receive. Exits with 0 whether it fires or not.
    """
    with state.work(read_only=True) as work:
        # The dry run renders the message, which may quote a private exchange.
        require_admin(work.actor, "testing notification rules")
        rule = find_rule(work.session, name)
        event = work.session.get(Event, event_id)
        if event is None:
            raise CliFailure(f"no event {event_id}; see grc notify events", ExitCode.NOT_FOUND)
        dry = rule_admin.test_rule(work.session, rule.id, event_id)
        data = dry_run_data(rule.name, event, dry)
    state.out.emit(show_dry_run(state.out, data))


def register(cli: click.Group) -> None:
    """Add ``grc rules`` to the root group."""
    cli.add_command(rules_group)
