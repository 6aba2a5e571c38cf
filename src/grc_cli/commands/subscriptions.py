"""``grc subscribe``, ``unsubscribe``, ``subscriptions`` and ``preferences``: what I hear about.

A user follows a company (and its opportunities, unless ``--narrow``), an opportunity or a
category, for chosen event kinds, through chosen channels or their preferred ones; their
preferences say which channels they prefer per event kind, when they do not want to be
disturbed, and whether they want each notification at once or in an hourly or daily digest.
Everything here acts for the acting user, on their own subscriptions and preferences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import time

import click
from sqlalchemy.orm import Session

from grc_cli.context import CliContext, pass_cli
from grc_cli.failures import CliFailure, ExitCode
from grc_cli.output import show_preferences, show_subscription, show_subscriptions
from grc_core import representation
from grc_core.models import Digest, Subscription
from grc_core.notify import subscriptions
from grc_core.notify.subscriptions import EVENT_KINDS

_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def split_names(values: Sequence[str]) -> list[str]:
    """Repeated options that also accept commas: ``--event a,b --event c`` → a, b, c."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def follows(session: Session, subscription: Subscription) -> str:
    """What a subscription follows, in words: ``company 1: ACME`` (its ``follows`` field)."""
    return representation.follows(subscription)


@click.command("subscribe")
@click.option("--company", "company_id", type=int, metavar="ID", help="Follow this company.")
@click.option("--opportunity", "opportunity_id", type=int, metavar="ID", help="Follow this deal.")
@click.option("--category", metavar="CODE", help="Follow exchanges of this category (and below).")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="KIND",
    help=f"Only these event kinds (repeatable or comma-separated; default: all): "
    f"{', '.join(EVENT_KINDS)}.",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="NAME",
    help="Through these channels (repeatable or comma-separated; default: my preferred "
    "channels, see grc preferences).",
)
@click.option(
    "--narrow",
    is_flag=True,
    help="For a company: leave out the events of its opportunities.",
)
@pass_cli
def subscribe(
    state: CliContext,
    company_id: int | None,
    opportunity_id: int | None,
    category: str | None,
    events: tuple[str, ...],
    channels: tuple[str, ...],
    narrow: bool,
) -> None:
    """Follow a company, an opportunity or a category.

    Following the same record again changes how it is followed (one subscription per
    record). Private exchanges are only ever notified to those who may see them.
    """
    if sum(x is not None for x in (company_id, opportunity_id, category)) != 1:
        raise click.UsageError("give exactly one of --company, --opportunity or --category")
    available = state.registry.notification_channel_names()
    with state.work() as work:
        sub = subscriptions.subscribe(
            work.session,
            work.actor,
            company_id=company_id,
            opportunity_id=opportunity_id,
            category=category,
            event_kinds=split_names(events) or None,
            channels=split_names(channels) or None,
            narrow=narrow,
            available_channels=available,
        )
        label = follows(work.session, sub)
        shown = show_subscription(state.out, sub, label)
    state.out.status(f"subscription {sub.id}: you follow {label}")
    state.out.emit(shown)


@click.command("unsubscribe")
@click.argument("subscription_id", type=int)
@pass_cli
def unsubscribe(state: CliContext, subscription_id: int) -> None:
    """Stop following (one of your own subscriptions, by id: see grc subscriptions)."""
    with state.work() as work:
        subscriptions.unsubscribe(work.session, work.actor, subscription_id)
    state.out.status(f"subscription {subscription_id} removed")
    state.out.emit_data({"unsubscribed": subscription_id})


@click.command("subscriptions")
@pass_cli
def list_subscriptions(state: CliContext) -> None:
    """List what you follow, oldest first."""
    with state.work(read_only=True) as work:
        subs = subscriptions.list_subscriptions(work.session, work.actor)
        labels = {s.id: follows(work.session, s) for s in subs}
        shown = show_subscriptions(state.out, subs, labels)
    state.out.emit(shown)


@click.group("preferences")
def preferences_group() -> None:
    """Your notification preferences: channels, quiet hours, time zone, digest."""


@preferences_group.command("show")
@pass_cli
def show(state: CliContext) -> None:
    """Show your notification preferences (the defaults if you never changed them)."""
    with state.work(read_only=True) as work:
        prefs = subscriptions.get_preferences(work.session, work.actor.id)
        shown = show_preferences(state.out, work.actor.login, prefs)
    state.out.emit(shown)


def parse_quiet(text: str) -> tuple[time, time]:
    """``22:00-07:00`` → (22:00, 07:00); may cross midnight."""
    match = _QUIET.match(text)
    try:
        if match is None:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return time(h1, m1), time(h2, m2)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a period; write START-END in 24-hour time, e.g. 22:00-07:00",
            param_hint="--quiet",
        ) from None


def parse_channel_choices(values: Sequence[str]) -> dict[str, list[str]]:
    """``KIND=NAME,NAME`` options → ``{kind: [names]}`` (``*`` or ``default``: the default;
    an empty list removes the kind's choice)."""
    chosen: dict[str, list[str]] = {}
    for value in values:
        kind, sep, names = value.partition("=")
        kind = kind.strip()
        if not sep or not kind:
            raise click.BadParameter(
                f"{value!r} is not KIND=NAME,NAME (e.g. exchange.created=email,inbox, or "
                "*=inbox for every other kind)",
                param_hint="--channel",
            )
        chosen["*" if kind == "default" else kind] = split_names([names])
    return chosen


@preferences_group.command("set")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="KIND=NAME,NAME",
    help="Channels for an event kind; '*' (or 'default') for every other kind; "
    "'KIND=' removes a kind's choice. Repeatable; other kinds keep theirs.",
)
@click.option(
    "--reset-channels", is_flag=True, help="Forget every channel choice first (back to inbox)."
)
@click.option("--quiet", metavar="HH:MM-HH:MM", help="Quiet hours, e.g. 22:00-07:00.")
@click.option("--no-quiet", is_flag=True, help="Remove the quiet hours.")
@click.option("--tz", "zone", metavar="ZONE", help="Your IANA time zone (for quiet hours).")
@click.option(
    "--digest",
    type=click.Choice([d.value for d in Digest]),
    help="At once, or gathered in an hourly or daily digest.",
)
@pass_cli
def set_(
    state: CliContext,
    channels: tuple[str, ...],
    reset_channels: bool,
    quiet: str | None,
    no_quiet: bool,
    zone: str | None,
    digest: str | None,
) -> None:
    """Change your notification preferences; what is not given stays as it is.

    Notifications due during quiet hours wait for their end; a digest gathers them into one
    message per hour or per day.
    """
    if quiet is not None and no_quiet:
        raise click.UsageError("give --quiet or --no-quiet, not both")
    if not (channels or reset_channels or quiet or no_quiet or zone or digest):
        raise CliFailure(
            "nothing to change: give --channel, --reset-channels, --quiet, --no-quiet, --tz "
            "or --digest",
            ExitCode.USAGE,
        )
    quiet_hours: tuple[time, time] | bool | None = False
    if quiet is not None:
        quiet_hours = parse_quiet(quiet)
    elif no_quiet:
        quiet_hours = None
    chosen = parse_channel_choices(channels)
    available = state.registry.notification_channel_names()
    with state.work() as work:
        merged: dict[str, list[str]] | None = None
        if chosen or reset_channels:
            current = subscriptions.get_preferences(work.session, work.actor.id)
            merged = {} if reset_channels else dict(current.channels or {})
            merged.update(chosen)
            merged = {kind: names for kind, names in merged.items() if names}
        prefs = subscriptions.set_preferences(
            work.session,
            work.actor,
            channels=merged,
            quiet_hours=quiet_hours,
            timezone=zone,
            digest=digest,
            available_channels=available,
        )
        shown = show_preferences(state.out, work.actor.login, prefs)
    state.out.status("preferences saved")
    state.out.emit(shown)


def register(cli: click.Group) -> None:
    """Add ``grc subscribe``, ``unsubscribe``, ``subscriptions`` and ``preferences``."""
    for command in (subscribe, unsubscribe, list_subscriptions, preferences_group):
        cli.add_command(command)
