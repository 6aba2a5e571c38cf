"""Fan-out: from audit events to deliveries, one per event × recipient × channel.

Events are written by the services in the same transaction as the change.  Fan-out claims
events not yet handled, finds who must hear of each — subscribers of its scope (looked up
by scope, never scanned), and the rules triggered by its kind (looked up by kind) whose
condition holds — drops anyone who may not see the exchange, renders the messages, and
inserts the deliveries with their due time, all in one transaction that also marks the
events done.  The unique constraint (event, user, channel) makes a repeated fan-out
harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import FromClause, Insert, Table, func, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from grc_core.errors import GrcError
from grc_core.models import (
    Category,
    Company,
    Delivery,
    Event,
    EventKind,
    Exchange,
    Opportunity,
    Preferences,
    Rule,
    Subscription,
    TargetKind,
    User,
    rule_triggers,
)
from grc_core.models.event import ADMIN_ONLY_KINDS
from grc_core.notify import messages

# Facts lives one floor down (messages read it too); both names stay importable from here.
from grc_core.notify.facts import Facts as Facts
from grc_core.notify.facts import exchange_id_of as exchange_id_of
from grc_core.notify.schedule import due
from grc_core.notify.subscriptions import (
    DEFAULT_CHANNELS,
    channels_for,
    default_preferences,
    get_preferences,
)
from grc_core.timeutil import utcnow
from grc_core.visibility import (
    audience_from_snapshot,
    audience_of,
    before_audience,
    can_see,
)

log = logging.getLogger(__name__)


#: How far back the provenance of a channel-made record is followed (each step is one
#: record a channel made from another); beyond it, rules are refused (fail closed).
MAX_ORIGIN_STEPS = 32


def _snapshot(event: Event) -> dict[str, Any]:
    """The exchange's values carried by its event (new values, or old ones on deletion)."""
    index = 0 if event.kind == EventKind.EXCHANGE_DELETED.value else 1
    return {k: v[index] for k, v in event.changes.items() if isinstance(v, list) and len(v) == 2}


def _stored_audience(event: Event) -> dict[str, Any] | None:
    """The audience written with the event; for events older than that column, the one a
    creation or deletion snapshot carries (an update's is unknown: ``None``)."""
    if event.audience:
        return dict(event.audience)
    if event.kind in (EventKind.EXCHANGE_CREATED.value, EventKind.EXCHANGE_DELETED.value):
        return audience_from_snapshot(_snapshot(event))
    return None


def _audience_then(session: Session, event: Event, exchange: Exchange) -> dict[str, Any] | None:
    """The audience right after an event written before events carried one: the exchange's
    audience now, with every later event's changes of privacy, author and assignees undone
    (newest first).  A later creation or deletion under the same id means the id was reused:
    unknown (``None``), so nobody is told."""
    audience: dict[str, Any] | None = audience_of(exchange)
    later = session.scalars(
        select(Event)
        .where(
            Event.entity_type == "exchange",
            Event.entity_id == exchange.id,
            Event.id > (event.id or 0),
        )
        .order_by(Event.id.desc())
    )
    for newer in later:
        if newer.kind in (EventKind.EXCHANGE_CREATED.value, EventKind.EXCHANGE_DELETED.value):
            return None
        audience = before_audience(audience, newer.changes or {})
        if audience is None:
            return None
    return audience


def _last_state(
    session: Session, event: Event, exchange_id: int, uuid: str | None
) -> dict[str, Any]:
    """What a deleted exchange was, from its deletion event's full snapshot.

    An update event only carries the fields it changed, and a creation event what the
    exchange was before later changes (it may have been made private since): every event
    about a deleted exchange is judged on its last state.  The deletion is the one of the
    same record (same uuid): ids were reused on old SQLite databases.  With no such state
    the snapshot stays empty and nobody is told (fail closed).
    """
    if event.kind == EventKind.EXCHANGE_DELETED.value:
        return _snapshot(event)
    deletions = session.scalars(
        select(Event)
        .where(
            Event.entity_type == "exchange",
            Event.entity_id == exchange_id,
            Event.kind == EventKind.EXCHANGE_DELETED.value,
            Event.id > (event.id or 0),
        )
        .order_by(Event.id)
    ).all()
    for deletion in deletions:
        state = _snapshot(deletion)
        if uuid is not None and str(state.get("uuid")) == uuid:
            return state
    if uuid is None and len(deletions) == 1:  # an event older than audiences: one candidate
        return _snapshot(deletions[0])
    return {}


def _category_chain(session: Session, category_id: int | None) -> list[int]:
    chain: list[int] = []
    while category_id is not None and category_id not in chain:
        chain.append(category_id)
        category_id = session.scalar(select(Category.parent_id).where(Category.id == category_id))
    return chain


def origin_rules(session: Session, exchange: Exchange | None) -> set[int]:
    """The rules that made ``exchange``, or the records it was made from, through a channel.

    Follows ``Exchange.origin`` (written by the task channel) from record to record.  A rule
    in this set must not fire on ``exchange``: it would feed on its own output.  A chain
    longer than :data:`MAX_ORIGIN_STEPS` yields ``{-1}`` plus what was found, and callers
    treat ``-1`` as "every rule" (fail closed).
    """
    rules: set[int] = set()
    seen: set[int] = set()
    todo: list[Exchange] = [exchange] if exchange is not None else []
    steps = 0
    while todo:
        current = todo.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        origin = current.origin or {}
        if not origin:
            continue
        steps += 1
        if steps > MAX_ORIGIN_STEPS:
            return rules | {-1}
        rules |= {int(r) for r in [origin.get("rule_id"), *(origin.get("rule_ids") or [])] if r}
        parents = [origin.get("exchange_id"), *(origin.get("exchange_ids") or [])]
        for parent_id in {int(p) for p in parents if p is not None} - seen:
            parent = session.get(Exchange, parent_id)
            if parent is not None:
                todo.append(parent)
    return rules


def judge(session: Session, event: Event) -> Facts:
    """What decides who may hear of ``event``: the record it was about (by uuid, never just
    by id), who could see it then, and who can see it now (its last state once deleted)."""
    facts = Facts(event, company_id=event.company_id)
    exchange_id = facts.exchange_id
    if exchange_id is None:
        return facts
    audience = _stored_audience(event)
    uuid = audience.get("uuid") if audience else None
    exchange = session.get(Exchange, exchange_id)
    if exchange is not None and uuid is not None and str(exchange.uuid) != uuid:
        exchange = None  # another record now has this id: the event's record is gone
    if audience is None and exchange is not None:
        audience = _audience_then(session, event, exchange)
    facts.audience = audience
    if audience is not None:
        facts.before = before_audience(audience, event.changes or {})
    facts.exchange = exchange
    if exchange is None:
        facts.snapshot = _last_state(session, event, exchange_id, uuid)
    return facts


def resolve(session: Session, event: Event) -> Facts:
    """Gather what fan-out needs to know about ``event``."""
    facts = judge(session, event)
    if event.entity_type == "opportunity":
        facts.opportunity_ids = [event.entity_id]
    exchange = facts.exchange
    if exchange is not None:
        facts.company_id = exchange.company_id
        facts.opportunity_ids = [o.id for o in exchange.opportunities]
        facts.category_ids = _category_chain(session, exchange.category_id)
        facts.origin_rules = origin_rules(session, exchange)
    elif facts.snapshot:
        facts.opportunity_ids = list(facts.snapshot.get("opportunity_ids") or [])
        code = facts.snapshot.get("category")
        if code:
            first = session.scalar(select(Category.id).where(Category.code == code))
            facts.category_ids = _category_chain(session, first)
    return facts


def still_visible(session: Session, delivery: Delivery, user: User) -> bool:
    """Re-check, just before sending, that ``user`` may still hear of what ``delivery`` is
    about: the same rule as at fan-out (:meth:`Facts.visible_to`), on the exchange as it is
    now.  An escalation (no event) must find the very exchange it was about (same uuid)."""
    if not user.active:
        return False
    about = delivery.about or {}
    if about.get("kind") in ADMIN_ONLY_KINDS and not user.is_admin:
        return False
    event = session.get(Event, delivery.event_id) if delivery.event_id else None
    if event is not None:
        return judge(session, event).visible_to(user)
    exchange_id = about.get("exchange_id")
    if exchange_id is None:
        return True
    exchange = session.get(Exchange, exchange_id)
    uuid = about.get("exchange_uuid")
    if exchange is None or (uuid is not None and str(exchange.uuid) != uuid):
        return False
    return can_see(user, exchange)


@dataclass
class Planned:
    """A delivery to insert."""

    user: User
    channel: str
    rule_id: int | None
    subject: str
    body: str
    html: str | None = None


def _subscribers(session: Session, facts: Facts) -> list[tuple[Subscription, User]]:
    if "subscribers" not in facts.lookups:
        facts.lookups["subscribers"] = _find_subscribers(session, facts)
    found: list[tuple[Subscription, User]] = facts.lookups["subscribers"]
    return found


def _find_subscribers(session: Session, facts: Facts) -> list[tuple[Subscription, User]]:
    scopes = []
    if facts.company_id is not None:
        scopes.append(
            (Subscription.target_kind == TargetKind.COMPANY.value)
            & (Subscription.target_id == facts.company_id)
        )
    if facts.opportunity_ids:
        scopes.append(
            (Subscription.target_kind == TargetKind.OPPORTUNITY.value)
            & Subscription.target_id.in_(facts.opportunity_ids)
        )
    if facts.category_ids:
        scopes.append(
            (Subscription.target_kind == TargetKind.CATEGORY.value)
            & Subscription.target_id.in_(facts.category_ids)
        )
    if not scopes:
        return []
    rows = session.execute(
        select(Subscription, User).join(User, User.id == Subscription.user_id).where(or_(*scopes))
    ).all()
    kind = facts.event.kind
    found = []
    for sub, user in rows:
        if sub.event_kinds is not None and kind not in sub.event_kinds:
            continue
        if _before(facts.event, sub.created_at):
            continue  # a subscription applies to what happens after it, not to the past
        about_opportunity = bool(facts.opportunity_ids)
        if sub.target_kind == TargetKind.COMPANY.value and sub.narrow and about_opportunity:
            continue
        found.append((sub, user))
    return found


def _before(event: Event, moment: datetime | None) -> bool:
    """Whether ``event`` happened before ``moment`` (a subscription's or rule's creation).

    An escalation (no event row) is about the exchange as it is now: never "before".
    """
    if event.id is None or event.occurred_at is None or moment is None:
        return False
    return event.occurred_at < moment


def _rules(session: Session, kind: str) -> list[Rule]:
    """The rules an event of ``kind`` may trigger, in id order (every one; see
    :func:`candidate_rules` for those worth evaluating on one event)."""
    return list(
        session.scalars(select(Rule).where(Rule.id.in_(_triggered(kind))).order_by(Rule.id))
    )


def _triggered(kind: str) -> Any:
    return (
        select(Rule.id)
        .join(rule_triggers, rule_triggers.c.rule_id == Rule.id)
        .where(
            rule_triggers.c.kind == kind,
            Rule.enabled.is_(True),
            Rule.escalation.is_(False),
            Rule.parked_at.is_(None),
        )
    )


# --- the rule index: which rules an event can possibly satisfy ------------------------------
#
# With thousands of rules triggered by the same kind of event, evaluating every condition on
# every event made fan-out linear in rules (10,000 rules: 50-200 ms per event).  Most
# conditions require a field to equal a constant ("exchange.action = 'meeting' and
# company.name = 'Dupont'", "custom.region in ['Nord', 'Est']"): a rule is filed under one
# such required equality, and an event looks up the values it actually has.  Only the rules
# found there, and those without any required equality, are evaluated — on a context built
# once per event.  Each rule is evaluated exactly as before, so the index only skips rules
# whose condition cannot hold.


@dataclass(frozen=True)
class _Indexed:
    id: int
    condition: Any  # a compiled Condition, None for "always", or _BROKEN
    created_at: datetime | None


_BROKEN = object()  # the condition does not compile: evaluated the slow way, which reports it


@dataclass
class RuleIndex:
    """The enabled rules of one event kind, filed by a value their condition requires."""

    signature: tuple[Any, ...]
    rules: dict[int, _Indexed] = field(default_factory=dict)
    #: field name -> (its spec, value -> ids of the rules requiring that value)
    keyed: dict[str, tuple[Any, dict[Any, list[int]]]] = field(default_factory=dict)
    #: rules evaluated on every event (no required equality, or not compiled)
    always: list[int] = field(default_factory=list)

    def candidates(self, context: Any) -> list[int]:
        """The ids of the rules whose condition may hold on ``context``, in id order."""
        found = set(self.always)
        for spec, by_value in self.keyed.values():
            for value in context.values_of(spec):
                try:
                    found.update(by_value.get(value, ()))
                except TypeError:  # an unhashable value equals no constant
                    continue
        return sorted(found)


#: Compiled conditions shared by every session of the process, by (text, escalation,
#: catalogue): compiling costs about a millisecond, and the same rules are indexed again by
#: each fan-out transaction.
_COMPILED: dict[tuple[str, bool, Any], Any] = {}
_COMPILED_MAX = 50_000


def _catalogue_key(session: Session) -> tuple[Any, Any]:
    from grc_core.rules import Catalogue

    catalogue = session.info.get("grc.rule_catalogue")
    if catalogue is None:
        catalogue = session.info["grc.rule_catalogue"] = Catalogue.load(session)
    key = session.info.get("grc.rule_catalogue_key")
    if key is None or key[0] is not catalogue:
        fields = tuple(catalogue.fields[name] for name in sorted(catalogue.fields))
        key = session.info["grc.rule_catalogue_key"] = (catalogue, hash(fields), fields)
    return key[0], key[1:]


def _compile(session: Session, source: str, escalation: bool) -> Any:
    if not source.strip():
        return None
    from grc_core.rules import compile_condition

    catalogue, signature = _catalogue_key(session)
    cache_key = (source, escalation, signature)
    found = _COMPILED.get(cache_key)
    if found is None:
        try:
            found = compile_condition(source, catalogue, escalation=escalation)
        except Exception:  # reported when the rule is evaluated (messages.rule_matches)
            found = _BROKEN
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[cache_key] = found
    return found


def _required_equalities(condition: Any) -> list[tuple[Any, tuple[Any, ...]]]:
    """``(field spec, values)`` pairs the condition requires: one of ``values`` must be a
    value of the field for it to hold (``field = 'x'`` or ``field in ['x', 'y']`` at its top
    level, alone or inside the top-level ``and``)."""
    from grc_core.rules.nodes import And, Compare, InList, Literal

    root = condition.root
    parts = root.parts if isinstance(root, And) else (root,)
    found = []
    for part in parts:
        if isinstance(part, Compare) and part.op == "=" and isinstance(part.operand, Literal):
            values: tuple[Any, ...] = (part.operand.literal,)
        elif isinstance(part, InList) and not part.negated and part.items:
            literals = [item for item in part.items if isinstance(item, Literal)]
            if len(literals) != len(part.items):
                continue
            values = tuple(item.literal for item in literals)
        else:
            continue
        try:
            hash(values)
        except TypeError:
            continue
        found.append((part.field, values))
    return found


def _rule_signature(session: Session, kind: str) -> tuple[Any, ...]:
    """What changes whenever the rules of ``kind`` change (created, deleted, enabled,
    disabled, parked, resumed, edited — every edit raises a rule's version): one aggregate
    over the triggered rules, checked before each event."""
    row = session.execute(
        _triggered(kind).with_only_columns(
            func.count(), func.coalesce(func.sum(Rule.id * 7919 + Rule.version), 0)
        )
    ).one()
    return (kind, row[0], int(row[1]))


#: How long a session trusts its rule index before checking the rules again (a change made
#: in the session itself is seen at once).
RULES_RECHECK_SECONDS = 1.0


def _forget_rule_indexes(session: Session, _flush_context: Any) -> None:
    # after_flush: new/dirty/deleted still list what was just written.
    if any(isinstance(o, Rule) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop("grc.rule_index", None)


def rule_index(session: Session, kind: str) -> RuleIndex:
    """The index of the rules triggered by ``kind``, kept for the session while the rules
    stay the same.

    Checking the rules costs an aggregate over those of the kind (3 ms for 1,500 rules on
    PostgreSQL): it is done at most every :data:`RULES_RECHECK_SECONDS` per session, and
    the session's own changes to rules drop the index at once.
    """
    if not session.info.get("grc.rule_index_watched"):
        sa_event.listen(session, "after_flush", _forget_rule_indexes)
        session.info["grc.rule_index_watched"] = True
    cache: dict[str, tuple[RuleIndex, float]] = session.info.setdefault("grc.rule_index", {})
    cached = cache.get(kind)
    clock = time.monotonic()
    if cached is not None and clock - cached[1] < RULES_RECHECK_SECONDS:
        return cached[0]
    signature = _rule_signature(session, kind)
    if cached is not None and cached[0].signature == signature:
        cache[kind] = (cached[0], clock)
        return cached[0]
    index = RuleIndex(signature)
    rows = session.execute(
        select(Rule.id, Rule.condition, Rule.escalation, Rule.created_at)
        .where(Rule.id.in_(_triggered(kind)))
        .order_by(Rule.id)
    ).all()
    required: dict[int, list[tuple[Any, tuple[Any, ...]]]] = {}
    distinct: dict[str, set[Any]] = {}
    for ident, source, escalation, created_at in rows:
        condition = _compile(session, source or "", bool(escalation))
        index.rules[ident] = _Indexed(ident, condition, created_at)
        if condition is None or condition is _BROKEN:
            continue
        required[ident] = _required_equalities(condition)
        for spec, values in required[ident]:
            distinct.setdefault(spec.name, set()).update(values)
    for ident in index.rules:
        choices = required.get(ident)
        if not choices:
            index.always.append(ident)
            continue
        # Filed under the field with the most distinct values among these rules: the one
        # that lets an event skip the most of them.
        spec, values = max(choices, key=lambda choice: len(distinct[choice[0].name]))
        _, by_value = index.keyed.setdefault(spec.name, (spec, {}))
        for value in values:
            by_value.setdefault(value, []).append(ident)
    cache[kind] = (index, clock)
    return index


def rule_recipients(session: Session, rule: Rule, facts: Facts) -> list[User]:
    """The users a rule names for this event (before the visibility check)."""
    spec = rule.recipients or {}
    ids: set[int] = set(spec.get("users") or [])
    ex, snap = facts.exchange, facts.snapshot
    if spec.get("assignees"):
        ids |= {u.id for u in ex.assignees} if ex else set(snap.get("assignee_ids") or [])
    if spec.get("author"):
        author = ex.author_id if ex else snap.get("author_id")
        if author:
            ids.add(int(author))
    memo = facts.lookups
    if spec.get("company_owner") and facts.company_id is not None:
        if "company_owner" not in memo:
            memo["company_owner"] = session.scalar(
                select(Company.owner_id).where(Company.id == facts.company_id)
            )
        if memo["company_owner"]:
            ids.add(memo["company_owner"])
    if spec.get("opportunity_owner") and facts.opportunity_ids:
        if "opportunity_owners" not in memo:
            memo["opportunity_owners"] = set(
                session.scalars(
                    select(Opportunity.owner_id).where(Opportunity.id.in_(facts.opportunity_ids))
                )
            ) - {None}
        ids |= memo["opportunity_owners"]
    if spec.get("subscribers"):
        ids |= {user.id for _, user in _subscribers(session, facts)}
    if not ids:
        return []
    known: dict[int, User | None] = memo.setdefault("users", {})
    missing = [i for i in ids if i not in known]
    if missing:
        for user in session.scalars(select(User).where(User.id.in_(missing))):
            known[user.id] = user
        for i in missing:
            known.setdefault(i, None)
    return [found for i in sorted(ids) if (found := known[i]) is not None]


def plan(session: Session, facts: Facts, *, now: datetime) -> list[Planned]:
    """Every delivery ``facts.event`` calls for (the actor is not told of their own act)."""
    planned: dict[tuple[int, str], Planned] = {}
    actor = facts.event.actor_id
    kind = facts.event.kind
    subscribed = _subscribers(session, facts)
    stored = preferences_of(session, [user.id for _, user in subscribed])

    def prefs(user_id: int) -> Preferences:
        return stored.get(user_id) or get_preferences(session, user_id)

    for sub, user in subscribed:
        if user.id == actor or not facts.visible_to(user):
            continue
        subject, body = messages.subscription_message(session, facts, user)
        for channel in sub.channels or channels_for(prefs(user.id), kind):
            planned.setdefault((user.id, channel), Planned(user, channel, None, subject, body))
    for rule, verdict in _matching_rules(session, facts, now):
        if isinstance(verdict, Exception):  # a broken rule must not block every other one
            log.warning("rule %s skipped for event %s: %s", rule.name, facts.event.id, verdict)
            continue
        if not verdict:
            continue
        for user in rule_recipients(session, rule, facts):
            if user.id == actor or not facts.visible_to(user):
                continue
            try:
                subject, body = messages.rule_message(session, rule, facts, user, now=now)
            except GrcError as exc:  # a template failing on these values: skip, tell the log
                log.warning("rule %s not rendered for event %s: %s", rule.name, facts.event.id, exc)
                break
            for channel in rule.channels or list(DEFAULT_CHANNELS):
                planned[(user.id, channel)] = Planned(user, channel, rule.id, subject, body)
    return list(planned.values())


def _matching_rules(
    session: Session, facts: Facts, now: datetime
) -> Iterator[tuple[Rule, bool | Exception]]:
    """The rules of the event's kind that may hold on it, in id order, each with whether
    it holds (or the exception its evaluation raised)."""
    index = rule_index(session, facts.event.kind)
    if not index.rules:
        return
    context: Any = None
    failure: Exception | None = None
    try:
        context = messages.rule_context(session, facts, now)
        candidates = index.candidates(context)
    except Exception as exc:  # every rule is told: it cannot be evaluated on this event
        failure, candidates = exc, sorted(index.rules)
    wanted = [
        i
        for i in candidates
        if not _before(facts.event, index.rules[i].created_at)
        and session.identity_map.get(identity_key(Rule, i)) is None
    ]
    if wanted:  # one query for the rules to evaluate, instead of one each
        session.scalars(select(Rule).where(Rule.id.in_(wanted))).all()
    for ident in candidates:
        indexed = index.rules[ident]
        if ident in facts.origin_rules or -1 in facts.origin_rules:
            # The record was made by this rule (or from records it made): firing again
            # would feed the rule on its own output, forever.
            rule = session.get(Rule, ident)
            name = rule.name if rule is not None else ident
            log.info("rule %s not applied to its own output (event %s)", name, facts.event.id)
            continue
        if _before(facts.event, indexed.created_at):
            continue  # like a subscription, a rule applies to what happens after it
        rule = session.get(Rule, ident)
        if rule is None:
            continue
        if failure is not None:
            yield rule, failure
            continue
        try:
            if indexed.condition is None:
                verdict = True
            elif indexed.condition is _BROKEN:
                verdict = messages.rule_matches(session, rule, facts, now=now)
            else:
                verdict = bool(indexed.condition.evaluate(context))
        except Exception as exc:
            yield rule, exc
            continue
        yield rule, verdict


def preferences_of(session: Session, user_ids: Iterable[int]) -> dict[int, Preferences]:
    """The preferences of many users in one query (the defaults for users who never set
    any: no query each, which cost ~1 ms per recipient of a widely followed company)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    stored = {
        p.user_id: p
        for p in session.scalars(select(Preferences).where(Preferences.user_id.in_(ids)))
    }
    return {i: stored.get(i) or default_preferences(i) for i in ids}


def _rows(
    session: Session, facts: Facts, deliveries: Sequence[Planned], now: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    stored = preferences_of(session, [d.user.id for d in deliveries])
    timing: dict[int, tuple[datetime, str | None]] = {}
    for d in deliveries:
        if d.user.id not in timing:
            prefs = stored.get(d.user.id) or get_preferences(session, d.user.id)
            timing[d.user.id] = due(prefs, now)
        due_at, digest = timing[d.user.id]
        about = facts.about() | {"rule_id": d.rule_id} | ({"digest": digest} if digest else {})
        rows.append(
            {
                "event_id": facts.event.id,
                "rule_id": d.rule_id,
                "user_id": d.user.id,
                "channel": d.channel,
                "status": "pending",
                "due_at": due_at,
                "attempts": 0,
                "subject": d.subject,
                "body": d.body,
                "html": d.html,
                "about": about,
                "created_at": now,
            }
        )
    return rows


def delivery_rows(session: Session, event: Event, *, now: datetime) -> list[dict[str, Any]]:
    """The deliveries ``event`` calls for, as rows to insert with :func:`insert_new` (this
    only reads: a worker on SQLite plans in a read-only transaction, then inserts)."""
    if event.kind == EventKind.EXCHANGES_IMPORTED.value:
        return []
    facts = resolve(session, event)
    return _rows(session, facts, plan(session, facts, now=now), now)


def insert_new(session: Session, table: FromClause) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING``: the unique constraints decide what is new.

    :param table: a model's ``__table__``.
    """
    # Declarative types ``__table__`` as a FromClause; every model here is mapped to a Table.
    target = cast(Table, table)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    return sqlite.insert(target).on_conflict_do_nothing()


def claim_events(session: Session, limit: int) -> Sequence[Event]:
    """Events not yet fanned out, locked for this transaction (others skip them)."""
    stmt = select(Event).where(Event.fanned_out.is_(False)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def fan_out(session: Session, *, limit: int = 200, now: datetime | None = None) -> int:
    """Turn up to ``limit`` pending events into deliveries; return how many events."""
    now = now or utcnow()
    events = claim_events(session, limit)
    for event in events:
        rows = delivery_rows(session, event, now=now)
        if rows:
            session.connection().execute(insert_new(session, Delivery.__table__), rows)
    if events:
        session.execute(
            update(Event).where(Event.id.in_([e.id for e in events])).values(fanned_out=True)
        )
    session.flush()
    return len(events)
