"""``grc token``: personal API tokens for the HTTP API (``grc serve``).

A token is printed once, when it is created; only its hash is stored.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import Output, Shown, listing
from grc_core import representation
from grc_core.errors import ValidationError
from grc_core.models import ApiToken
from grc_core.services import api_tokens
from grc_core.timeutil import utcnow, zone

_DURATION = re.compile(r"^(\d{1,5})([hdw])$")


def parse_expiry(value: str, timezone: str) -> datetime:
    """``90d``, ``12h``, ``4w``, a date (the end of that day) or a date-time."""
    value = value.strip()
    if match := _DURATION.match(value):
        amount, unit = int(match.group(1)), match.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7}[unit]
        return utcnow() + timedelta(hours=amount * hours)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--expires {value!r} is not a duration (90d, 12h, 4w), a date (2027-01-31) or a "
            "date-time",
            field="expires",
        ) from None
    if len(value) == 10:  # a date: valid through that whole day
        parsed = datetime.combine(parsed.date(), time.max)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(timezone))
    return parsed


def token_data(token: ApiToken, tz: tzinfo | None = None) -> dict[str, Any]:
    """A token as JSON data, never its secret (:func:`grc_core.representation.token`)."""
    return representation.token(token, api_tokens.token_state(token), tz)


def show_tokens(out: Output, tokens: list[tuple[ApiToken, str]]) -> Shown:
    rows = [
        (
            t.id,
            login,
            t.name,
            t.prefix + "…",
            api_tokens.token_state(t),
            out.when(t.created_at),
            out.when(t.expires_at) or "never",
            out.when(t.last_used_at) or "never",
        )
        for t, login in tokens
    ]
    columns = ("Id", "User", "Name", "Token", "State", "Created", "Expires", "Last used")
    data = [token_data(t, out.zone) for t, _ in tokens]
    return Shown(data, listing(None, columns, rows), None if tokens else "no tokens")


@click.group("token")
def token_group() -> None:
    """Create, list and revoke personal API tokens (Authorization: Bearer …)."""


@token_group.command("create")
@click.argument("login")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@click.option(
    "--expires",
    metavar="WHEN",
    help="90d, 12h, 4w, a date or a date-time (default: valid until revoked).",
)
@pass_cli
def create(state: CliContext, login: str, name: str, expires: str | None) -> None:
    """Create a token for LOGIN (yourself, or anyone for an administrator).

    The token is printed once on stdout; store it now, it cannot be shown again.
    """
    expires_at = parse_expiry(expires, state.settings.timezone) if expires else None
    with state.work() as work:
        new = api_tokens.create_token(
            work.session, work.actor, login, name=name, expires_at=expires_at
        )
        data = {**token_data(new.token, state.out.zone), "token": new.secret}
    if state.out.json_output:
        state.out.emit_data(data)
    else:
        click.echo(new.secret)
        state.out.status(
            f"created token {data['id']} ({data['prefix']}…) for {data['user']!r}; "
            "it is shown only this once"
        )


@token_group.command("list")
@click.argument("login", required=False)
@click.option("--all", "everyone", is_flag=True, help="Every user's tokens (administrators).")
@pass_cli
def list_(state: CliContext, login: str | None, everyone: bool) -> None:
    """List your tokens, LOGIN's, or everyone's (--all)."""
    from grc_core.models import User

    with state.work(read_only=True) as work:
        found = api_tokens.list_tokens(work.session, work.actor, "*" if everyone else login)
        logins = {u.id: u.login for u in work.session.query(User).all()}
        shown = show_tokens(state.out, [(t, logins.get(t.user_id, "?")) for t in found])
    state.out.emit(shown)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@pass_cli
def revoke(state: CliContext, token_id: int) -> None:
    """Revoke a token at once (yours, or anyone's for an administrator)."""
    with state.work() as work:
        token = api_tokens.revoke_token(work.session, work.actor, token_id)
        data = token_data(token, state.out.zone)
    state.out.status(f"revoked token {token_id}")
    state.out.emit_data(data)


def register(cli: click.Group) -> None:
    """Add ``grc token``."""
    cli.add_command(token_group)
