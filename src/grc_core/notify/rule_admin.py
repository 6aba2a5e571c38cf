"""Notification rules: saved by administrators, checked when saved, tried on past events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, GrcError, NotFound, ValidationError
from grc_core.models import Event, EventKind, Rule, User, rule_triggers
from grc_core.notify import messages
from grc_core.notify.fanout import resolve, rule_recipients
from grc_core.notify.subscriptions import check_channels, check_event_kinds
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.events import record_event
from grc_core.services.text import clean_line
from grc_core.services.users import get_user, require_admin
from grc_core.timeutil import utcnow

RECIPIENT_FLAGS = ("subscribers", "assignees", "author", "company_owner", "opportunity_owner")


def _recipients(session: Session, spec: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(spec) - {"users", *RECIPIENT_FLAGS}
    if unknown:
        accepted = ", ".join(("users", *RECIPIENT_FLAGS))
        raise ValidationError(
            f"unknown recipient option(s) {', '.join(sorted(unknown))}; accepted: {accepted}"
        )
    result: dict[str, Any] = {f: bool(spec.get(f)) for f in RECIPIENT_FLAGS}
    result["users"] = sorted({get_user(session, u).id for u in spec.get("users") or []})
    if not result["users"] and not any(result[f] for f in RECIPIENT_FLAGS):
        raise ValidationError("a rule needs at least one recipient")
    return result


def _check_texts(session: Session, condition: str, subject: str, body: str) -> None:
    from grc_core.notify.templates import check_template
    from grc_core.rules import Catalogue, compile_condition

    if condition.strip():
        compile_condition(condition, Catalogue.load(session))
    for text in (subject, body):
        if text:
            check_template(text)


def add_rule(
    session: Session,
    actor: User,
    name: str,
    *,
    triggers: Sequence[str] = (),
    condition: str = "",
    recipients: Mapping[str, Any],
    channels: Sequence[str] = ("inbox",),
    subject_template: str = "",
    body_template: str = "",
    escalation: bool = False,
    available_channels: Sequence[str] | None = None,
) -> Rule:
    """Save a rule after checking its condition, templates, recipients and channels.

    An event rule needs ``triggers`` (event kinds); an escalation rule has none and is
    checked by every worker sweep.
    """
    require_admin(actor, "defining notification rules")
    name = clean_line(name, "name", 100)
    if session.scalar(select(Rule.id).where(Rule.name == name)) is not None:
        raise Conflict(f"a rule named {name!r} already exists")
    kinds = [] if escalation else (check_event_kinds(list(triggers)) or [])
    if escalation and triggers:
        raise ValidationError("an escalation rule is checked periodically; it has no triggers")
    if escalation and not condition.strip():
        raise ValidationError("an escalation rule needs a condition")
    _check_texts(session, condition, subject_template, body_template)
    rule = Rule(
        name=name,
        enabled=True,
        escalation=escalation,
        condition=condition,
        recipients=_recipients(session, recipients),
        channels=check_channels(list(channels), available_channels) or ["inbox"],
        subject_template=subject_template,
        body_template=body_template,
        created_by=actor.id,
    )
    session.add(rule)
    session.flush()
    if kinds:
        session.execute(insert(rule_triggers), [{"kind": k, "rule_id": rule.id} for k in kinds])
    _record(
        session,
        actor,
        EventKind.RULE_ADDED,
        rule,
        {k: [None, v] for k, v in _rule_fields(rule, kinds).items()},
    )
    return rule


def _rule_fields(rule: Rule, triggers: Sequence[str]) -> dict[str, Any]:
    """What a rule is, for its audit events."""
    return {
        "name": rule.name,
        "enabled": rule.enabled,
        "escalation": rule.escalation,
        "triggers": sorted(triggers),
        "condition": rule.condition,
        "recipients": rule.recipients,
        "channels": rule.channels,
        "subject_template": rule.subject_template,
        "body_template": rule.body_template,
    }


def _record(
    session: Session, actor: User, kind: EventKind, rule: Rule, changes: dict[str, Any]
) -> None:
    record_event(
        session,
        actor,
        kind,
        entity_type="rule",
        entity_id=rule.id,
        company_id=None,
        changes=changes,
    )


def get_rule(session: Session, ref: int | str) -> Rule:
    """A rule by id or name."""
    stmt = select(Rule).where(Rule.id == ref if isinstance(ref, int) else Rule.name == ref)
    rule = session.scalar(stmt)
    if rule is None:
        raise NotFound(f"no notification rule {ref!r}")
    return rule


def rule_triggers_of(session: Session, rule: Rule) -> list[str]:
    """The event kinds that trigger ``rule``."""
    stmt = select(rule_triggers.c.kind).where(rule_triggers.c.rule_id == rule.id)
    return sorted(session.scalars(stmt))


def list_rules(session: Session) -> list[Rule]:
    """Every rule, by name."""
    return list(session.scalars(select(Rule).order_by(Rule.name)))


def set_enabled(
    session: Session,
    actor: User,
    ref: int | str,
    enabled: bool,
    *,
    expected_version: int | None = None,
) -> Rule:
    """Enable or disable a rule.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing notification rules")
    rule = get_rule(session, ref)
    rule = lock_for_update(session, Rule, rule.id) or rule
    check_version(rule, expected_version, f"rule {rule.name!r}")
    if rule.enabled == enabled:
        return rule
    rule.enabled = enabled
    with stale_as_conflict(rule, f"rule {rule.name!r}"):
        session.flush()
    _record(session, actor, EventKind.RULE_UPDATED, rule, {"enabled": [not enabled, enabled]})
    return rule


def delete_rule(session: Session, actor: User, ref: int | str) -> None:
    """Remove a rule (its deliveries keep their history)."""
    require_admin(actor, "changing notification rules")
    rule = get_rule(session, ref)
    fields = _rule_fields(rule, rule_triggers_of(session, rule))
    _record(session, actor, EventKind.RULE_DELETED, rule, {k: [v, None] for k, v in fields.items()})
    session.execute(delete(rule_triggers).where(rule_triggers.c.rule_id == rule.id))
    session.delete(rule)
    session.flush()


@dataclass(frozen=True)
class DryRun:
    """What a rule would do with an event, and why (not)."""

    fires: bool
    reasons: list[str]
    recipients: list[str]
    subject: str = ""
    body: str = ""


def test_rule(
    session: Session,
    ref: int | str,
    event_id: int,
    *,
    now: datetime | None = None,
    actor: User | None = None,
) -> DryRun:
    """Would ``ref`` fire on event ``event_id``?  Nothing is sent or recorded.

    The result shows the rendered message, which may quote a private exchange: pass the
    acting ``actor`` to require an administrator (the command line does).
    """
    if actor is not None:
        require_admin(actor, "trying a notification rule")
    rule = get_rule(session, ref)
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    now = now or utcnow()
    reasons: list[str] = []
    if not rule.enabled:
        reasons.append("the rule is disabled")
    kinds = rule_triggers_of(session, rule)
    if rule.escalation:
        reasons.append("an escalation rule is checked by the periodic sweep, not on events")
    elif event.kind not in kinds:
        reasons.append(f"event kind {event.kind!r} is not among its triggers ({', '.join(kinds)})")
    facts = resolve(session, event)
    condition = messages.condition_of(session, rule)
    if condition is not None:
        context = messages.rule_context(session, facts, now)
        if not condition.evaluate(context):
            reasons.append(f"the condition is false: {condition.explain(context)}")
    users = rule_recipients(session, rule, facts)
    allowed = [u for u in users if u.id != event.actor_id and facts.visible_to(u)]
    hidden = [u.login for u in users if u not in allowed]
    if hidden:
        reasons.append(
            f"left out: {', '.join(hidden)} (the author of the change, or may not see it)"
        )
    if not allowed:
        reasons.append("nobody to notify")
    fires = not any(r for r in reasons if not r.startswith("left out"))
    subject = body = ""
    if allowed:
        try:
            subject, body = messages.rule_message(session, rule, facts, allowed[0], now=now)
        except GrcError as exc:
            reasons.append(f"the message cannot be rendered: {exc}")
            fires = False
    return DryRun(fires, reasons, [u.login for u in allowed], subject, body)
