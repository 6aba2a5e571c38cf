"""Subscriptions and notification preferences: what each user chose to hear about.

A user follows a company (with its opportunities, unless narrowed), an opportunity or a
category, for some or all event kinds, through chosen channels or their preferred ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.errors import NotFound, ValidationError
from grc_core.models import Digest, EventKind, Preferences, Subscription, TargetKind, User
from grc_core.notify.channels import unservable_reason
from grc_core.services import categories
from grc_core.services.companies import get_company
from grc_core.services.opportunities import get_opportunity
from grc_core.services.users import require_active
from grc_core.timeutil import zone

#: What a user receives through when they chose nothing.
DEFAULT_CHANNELS = ("inbox",)
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: The event kinds a subscription or preference may name.
EVENT_KINDS = tuple(k.value for k in EventKind if k is not EventKind.EXCHANGES_IMPORTED)


def check_event_kinds(kinds: Sequence[str] | None) -> list[str] | None:
    """Validate event kinds (``None`` means all)."""
    if kinds is None:
        return None
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown or not kinds:
        raise ValidationError(
            f"unknown event kind(s) {', '.join(unknown) or '(none given)'}; "
            f"accepted: {', '.join(EVENT_KINDS)}",
            field="event_kinds",
        )
    return sorted(set(kinds))


def check_channels(
    channels: Sequence[str] | None, available: Sequence[str] | None = None
) -> list[str] | None:
    """Validate channel names (``None`` means the user's preferred channels)."""
    if channels is None:
        return None
    bad = [c for c in channels if not CHANNEL_NAME.match(c)]
    if available is not None:
        bad += [c for c in channels if c not in available and c not in bad]
    if bad or not channels:
        accepted = ", ".join(available) if available is not None else "registered channel names"
        raise ValidationError(
            f"unknown channel(s) {', '.join(bad) or '(none given)'}; accepted: {accepted}",
            field="channels",
        )
    return list(dict.fromkeys(channels))


def check_servable(user: User, channels: Sequence[str] | None) -> None:
    """Refuse channels that cannot reach ``user`` (no e-mail address for ``email`` and
    ``report``, no phone number for ``sms``): every notification would fail."""
    for channel in channels or ():
        reason = unservable_reason(channel, user)
        if reason is not None:
            raise ValidationError(reason, field="channels")


def _target(
    session: Session,
    company_id: int | None,
    opportunity_id: int | None,
    category: str | None,
) -> tuple[TargetKind, int]:
    given = [x for x in (company_id, opportunity_id, category) if x is not None]
    if len(given) != 1:
        raise ValidationError("follow exactly one of a company, an opportunity or a category")
    if company_id is not None:
        return TargetKind.COMPANY, get_company(session, company_id).id
    if opportunity_id is not None:
        return TargetKind.OPPORTUNITY, get_opportunity(session, opportunity_id).id
    return TargetKind.CATEGORY, categories.get_category(session, str(category)).id


def subscribe(
    session: Session,
    actor: User,
    *,
    company_id: int | None = None,
    opportunity_id: int | None = None,
    category: str | None = None,
    event_kinds: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    narrow: bool = False,
    available_channels: Sequence[str] | None = None,
) -> Subscription:
    """Follow a record (or change how it is followed: one subscription per target).

    A subscription applies to the events that happen after it (never to the past, even
    if those events are still waiting for fan-out).

    :param narrow: for a company, leave out the events of its opportunities.
    :param available_channels: when given, channel names are checked against it.
    :raises ValidationError: an unknown event kind or channel, or a channel that cannot
        reach ``actor`` (see :data:`grc_core.notify.channels.CHANNEL_NEEDS`).
    """
    require_active(actor)
    kind, target = _target(session, company_id, opportunity_id, category)
    if narrow and kind is not TargetKind.COMPANY:
        raise ValidationError("only a company subscription can be narrowed")
    sub = session.scalar(
        select(Subscription).where(
            Subscription.user_id == actor.id,
            Subscription.target_kind == kind.value,
            Subscription.target_id == target,
        )
    )
    if sub is None:
        sub = Subscription(user_id=actor.id, target_kind=kind.value, target_id=target)
        session.add(sub)
    sub.event_kinds = check_event_kinds(event_kinds)
    sub.channels = check_channels(channels, available_channels)
    check_servable(actor, sub.channels)
    sub.narrow = narrow
    session.flush()
    return sub


def unsubscribe(session: Session, actor: User, subscription_id: int) -> None:
    """Stop following (only one's own subscriptions)."""
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.user_id != actor.id:
        raise NotFound(f"you have no subscription {subscription_id}")
    session.delete(sub)
    session.flush()


def list_subscriptions(session: Session, actor: User) -> list[Subscription]:
    """What ``actor`` follows, oldest first."""
    stmt = select(Subscription).where(Subscription.user_id == actor.id).order_by(Subscription.id)
    return list(session.scalars(stmt))


def get_preferences(session: Session, user_id: int) -> Preferences:
    """A user's preferences (defaults when never set; not added to the session)."""
    prefs = session.get(Preferences, user_id)
    return prefs or default_preferences(user_id)


def default_preferences(user_id: int) -> Preferences:
    """The preferences of a user who never set any (not added to the session)."""
    return Preferences(
        user_id=user_id, channels={}, timezone="Europe/Paris", digest=Digest.IMMEDIATE.value
    )


def set_preferences(
    session: Session,
    actor: User,
    *,
    channels: Mapping[str, Sequence[str]] | None = None,
    quiet_hours: tuple[time, time] | bool | None = False,
    timezone: str | None = None,
    digest: Digest | str | None = None,
    available_channels: Sequence[str] | None = None,
) -> Preferences:
    """Change ``actor``'s preferences; arguments left out are unchanged.

    :param channels: channels per event kind; the key ``"*"`` is the default.
    :param quiet_hours: ``(start, end)`` in the user's zone (may cross midnight), or
        ``None`` to remove them.
    :param digest: ``immediate``, ``hourly`` or ``daily``.
    """
    require_active(actor)
    prefs = session.get(Preferences, actor.id)
    if prefs is None:
        prefs = get_preferences(session, actor.id)
        session.add(prefs)
    if channels is not None:
        checked: dict[str, list[str]] = {}
        for kind, names in channels.items():
            if kind != "*":
                check_event_kinds([kind])
            checked[kind] = check_channels(names, available_channels) or []
            check_servable(actor, checked[kind])
        prefs.channels = checked
    if quiet_hours is not False:
        if quiet_hours is None:
            prefs.quiet_start = prefs.quiet_end = None
        else:
            start, end = quiet_hours  # type: ignore[misc]
            if start == end:
                raise ValidationError("quiet hours need a start and a different end")
            prefs.quiet_start, prefs.quiet_end = start, end
    if timezone is not None:
        zone(timezone)
        prefs.timezone = timezone
    if digest is not None:
        try:
            prefs.digest = Digest(digest).value
        except ValueError:
            accepted = ", ".join(d.value for d in Digest)
            raise ValidationError(f"unknown digest {digest!r}; accepted: {accepted}") from None
    session.flush()
    return prefs


def channels_for(prefs: Preferences, kind: str) -> list[str]:
    """The channels a user wants for an event kind."""
    chosen = prefs.channels or {}
    return list(chosen.get(kind) or chosen.get("*") or DEFAULT_CHANNELS)
