"""``grc device``: enrolment codes and signed-in devices of the mobile web application;
``grc push keys``: the server's Web Push (VAPID) key.

An enrolment code is printed once, with the link that opens the application's enrolment
screen; only its hash is stored.  The link's address is ``GRC_API_BASE_URL`` (the address
users reach ``grc serve`` at), else ``http://127.0.0.1:8000``.
"""

from __future__ import annotations

import os
from datetime import tzinfo
from pathlib import Path
from typing import Any

import click

from grc_cli.context import CliContext, pass_cli
from grc_cli.output import Output, Shown, listing
from grc_core.models import Device, User
from grc_core.services import devices

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def base_url() -> str:
    """Where users reach the server (``GRC_API_BASE_URL``), for enrolment links."""
    return (os.environ.get("GRC_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def device_data(device: Device, login: str, tz: tzinfo | None = None) -> dict[str, Any]:
    """A device as JSON data (never its session secret)."""

    def when(value: Any) -> str | None:
        return value.astimezone(tz).isoformat() if value is not None else None

    return {
        "id": device.id,
        "user": login,
        "name": device.name,
        "method": device.method,
        "state": devices.device_state(device),
        "created_at": when(device.created_at),
        "last_used_at": when(device.last_used_at),
        "expires_at": when(device.expires_at),
        "revoked_at": when(device.revoked_at),
    }


def show_devices(out: Output, found: list[tuple[Device, str]]) -> Shown:
    rows = [
        (
            d.id,
            login,
            d.name,
            d.method,
            devices.device_state(d),
            out.when(d.created_at),
            out.when(d.last_used_at) or "never",
        )
        for d, login in found
    ]
    columns = ("Id", "User", "Name", "Signed in by", "State", "Enrolled", "Last used")
    data = [device_data(d, login, out.zone) for d, login in found]
    return Shown(data, listing(None, columns, rows), None if found else "no devices")


@click.group("device")
def device_group() -> None:
    """Enrol, list and revoke the devices signed in to the mobile web application."""


@device_group.command("enrol")
@click.argument("login")
@click.option("--name", "device_name", metavar="NAME", help="The device's name (Pixel 7).")
@click.option(
    "--minutes",
    default=devices.DEFAULT_CODE_MINUTES,
    show_default=True,
    type=click.IntRange(1, devices.MAX_CODE_MINUTES),
    help="How long the code is valid.",
)
@pass_cli
def enrol(state: CliContext, login: str, device_name: str | None, minutes: int) -> None:
    """Print a one-time code (and a link) that signs a device in as LOGIN.

    The user types the code in the application, or opens the link on the device.  It works
    once, within --minutes; the device then stays signed in until revoked.
    """
    with state.work() as work:
        new = devices.create_enrolment(
            work.session, work.actor, login, device_name=device_name, minutes=minutes
        )
        owner = work.session.get(User, new.enrolment.user_id)
        assert owner is not None
        link = f"{base_url()}/#/enrol/{new.code}"
        data = {
            "code": new.code,
            "link": link,
            "user": owner.login,
            "expires_at": new.enrolment.expires_at.astimezone(state.out.zone).isoformat(),
        }
        expires = state.out.when(new.enrolment.expires_at)
    if state.out.json_output:
        state.out.emit_data(data)
    else:
        click.echo(new.code)
        click.echo(link)
        state.out.status(
            f"one-time code for {data['user']!r}, valid until {expires}; it is shown only once"
        )


@device_group.command("list")
@click.argument("login", required=False)
@click.option("--all", "everyone", is_flag=True, help="Every user's devices (administrators).")
@pass_cli
def list_(state: CliContext, login: str | None, everyone: bool) -> None:
    """List your devices, LOGIN's, or everyone's (--all)."""
    with state.work(read_only=True) as work:
        found = devices.list_devices(work.session, work.actor, "*" if everyone else login)
        logins = {u.id: u.login for u in work.session.query(User).all()}
        shown = show_devices(state.out, [(d, logins.get(d.user_id, "?")) for d in found])
    state.out.emit(shown)


@device_group.command("revoke")
@click.argument("device_id", type=int)
@pass_cli
def revoke(state: CliContext, device_id: int) -> None:
    """Revoke a device (yours, or anyone's for an administrator).

    Its next request is refused and it wipes the data it keeps; running servers stop
    accepting it within their credential cache delay (5 s by default).
    """
    with state.work() as work:
        device = devices.revoke_device(work.session, work.actor, device_id)
        owner = work.session.get(User, device.user_id)
        data = device_data(device, owner.login if owner else "?", state.out.zone)
    state.out.status(f"revoked device {device_id}")
    state.out.emit_data(data)


@click.group("push")
def push_group() -> None:
    """Web Push alerts on the users' devices (the ``push`` notification channel)."""


@push_group.command("keys")
@click.option(
    "--file",
    "key_file",
    metavar="FILE",
    help="Where to write the private key (default: the push channel's vapid_private_key, "
    "else vapid_private.pem next to the configuration file).",
)
@click.option("--force", is_flag=True, help="Replace an existing key.")
@pass_cli
def keys(state: CliContext, key_file: str | None, force: bool) -> None:
    """Create the server's VAPID key pair and print its public key.

    Replacing the key (--force) stops the alerts of every device until the application
    subscribes again with the new key.
    """
    from grc_adapters.push import vapid

    # A plain string option: the key module checks the name (click's Path type would let
    # a NUL in the name escape as a traceback).
    path = Path(key_file) if key_file else vapid.key_path(state.settings.channel_config("push"))
    public = vapid.generate_key_file(path, overwrite=force)
    if state.out.json_output:
        state.out.emit_data({"private_key_file": str(path), "public_key": public})
    else:
        click.echo(public)
        state.out.status(f"VAPID private key written to {path} (keep it private)")


def register(cli: click.Group) -> None:
    """Add ``grc device`` and ``grc push``."""
    cli.add_command(device_group)
    cli.add_command(push_group)
