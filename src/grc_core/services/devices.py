"""Devices: one-time enrolment codes, long-lived revocable device sessions, Web Push
subscriptions.

An *enrolment code* (``ABCD-EFGH``: eight characters from an alphabet without look-alikes,
about 40 bits) is created for a user by themself or an administrator, is valid a few
minutes and works once: consuming it is one conditional ``UPDATE``, so two devices racing
with the same code cannot both win.  It gives the device a *session secret* (256 random
bits) that the browser keeps in a cookie; only the SHA-256 of codes and secrets is stored.
A revoked device is refused at its next request, and its push subscriptions are removed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grc_core.errors import GrcError, NotFound, PermissionDenied, ValidationError
from grc_core.models import Device, DeviceEnrolment, PushSubscription, User
from grc_core.services.text import clean_line
from grc_core.services.users import UserRef, get_user, require_active, require_self_or_admin
from grc_core.timeutil import utcnow

#: No 0/O, 1/I/L: a code read aloud or copied from a screen is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
DEFAULT_CODE_MINUTES = 10
MAX_CODE_MINUTES = 60
#: How long a device stays signed in without being revoked.
DEFAULT_SESSION_DAYS = 180
SESSION_PREFIX = "grcs_"
METHODS = ("code", "oidc")


class EnrolmentInvalid(GrcError):
    """The enrolment code is unknown, expired or already used (one message for all three:
    telling them apart would help whoever guesses codes)."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_code(text: str) -> str:
    """A typed code in its stored form: upper case, without dashes or spaces."""
    return "".join(ch for ch in text.upper() if ch not in "- \t")


def show_code(code: str) -> str:
    """``ABCDEFGH`` as ``ABCD-EFGH``."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def session_hash(secret: str) -> str:
    """The stored form of a device's session secret."""
    return _digest(secret)


def looks_like_session(secret: str) -> bool:
    """True when ``secret`` has the shape of a device session secret."""
    return secret.startswith(SESSION_PREFIX) and 20 <= len(secret) <= 100


@dataclass(frozen=True)
class NewEnrolment:
    """An enrolment just created: ``code`` (``ABCD-EFGH``) is shown once."""

    enrolment: DeviceEnrolment
    code: str


@dataclass(frozen=True)
class NewDevice:
    """A device just signed in: ``secret`` goes into its cookie and is never shown again."""

    device: Device
    secret: str


def create_enrolment(
    session: Session,
    actor: User,
    user: UserRef,
    *,
    device_name: str | None = None,
    minutes: int = DEFAULT_CODE_MINUTES,
) -> NewEnrolment:
    """A one-time code that signs a device in as ``user`` within ``minutes`` minutes."""
    owner = get_user(session, user)
    require_self_or_admin(actor, owner, "enrolling a device")
    if not owner.active:
        raise ValidationError(f"user {owner.login!r} is deactivated; no device can be enrolled")
    if not 1 <= minutes <= MAX_CODE_MINUTES:
        raise ValidationError(
            f"an enrolment code is valid 1 to {MAX_CODE_MINUTES} minutes, not {minutes}",
            field="minutes",
        )
    name = clean_line(device_name, "device_name", 100) if device_name else None
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    enrolment = DeviceEnrolment(
        user_id=owner.id,
        code_hash=_digest(code),
        device_name=name,
        created_by_id=actor.id,
        expires_at=utcnow() + timedelta(minutes=minutes),
    )
    session.add(enrolment)
    session.flush()
    return NewEnrolment(enrolment, show_code(code))


def _new_device(
    session: Session, user: User, name: str, method: str, days: int = DEFAULT_SESSION_DAYS
) -> NewDevice:
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    device = Device(
        user_id=user.id,
        name=clean_line(name, "device_name", 100) or "device",
        method=method,
        session_hash=session_hash(secret),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(device)
    session.flush()
    return NewDevice(device, secret)


def enrol(
    session: Session,
    code: str,
    *,
    device_name: str | None = None,
    days: int = DEFAULT_SESSION_DAYS,
) -> NewDevice:
    """Consume ``code`` and sign a new device in as the user it was made for.

    :raises EnrolmentInvalid: unknown, expired or used code, or a deactivated user.
    """
    typed = normalise_code(code)
    if len(typed) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in typed):
        raise EnrolmentInvalid("this enrolment code is not valid")
    now = utcnow()
    digest = _digest(typed)
    # One statement decides who consumes the code: a concurrent enrolment finds it used.
    taken = session.execute(
        update(DeviceEnrolment)
        .where(
            DeviceEnrolment.code_hash == digest,
            DeviceEnrolment.used_at.is_(None),
            DeviceEnrolment.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise EnrolmentInvalid("this enrolment code is unknown, expired or already used")
    enrolment = session.scalar(select(DeviceEnrolment).where(DeviceEnrolment.code_hash == digest))
    assert enrolment is not None
    user = session.get(User, enrolment.user_id)
    if user is None or not user.active:
        raise EnrolmentInvalid("this enrolment code is for a deactivated user")
    new = _new_device(session, user, device_name or enrolment.device_name or "device", "code", days)
    enrolment.device_id = new.device.id
    session.flush()
    return new


def sign_in(
    session: Session, user: User, *, device_name: str, method: str, days: int = DEFAULT_SESSION_DAYS
) -> NewDevice:
    """A device session for ``user``, authenticated by other means (``oidc``)."""
    if method not in METHODS:
        raise ValidationError(f"unknown sign-in method {method!r}")
    require_active(user)
    return _new_device(session, user, device_name, method, days)


def find_device(session: Session, secret: str) -> Device | None:
    """The device whose session secret is ``secret`` (valid or not), or ``None``."""
    if not looks_like_session(secret):
        return None
    return session.scalar(select(Device).where(Device.session_hash == session_hash(secret)))


def device_state(device: Device, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if device.revoked_at is not None:
        return "revoked"
    if device.expires_at <= (now or utcnow()):
        return "expired"
    return "active"


def list_devices(session: Session, actor: User, user: UserRef | None = None) -> list[Device]:
    """The devices of ``user`` (default: the actor's; everyone's for ``"*"``, admins)."""
    require_active(actor)
    stmt = select(Device).order_by(Device.id)
    if user == "*":
        if not actor.is_admin:
            raise PermissionDenied("listing every user's devices needs an administrator")
    else:
        owner = actor if user is None else get_user(session, user)
        require_self_or_admin(actor, owner, "listing the devices")
        stmt = stmt.where(Device.user_id == owner.id)
    return list(session.scalars(stmt))


def revoke_device(session: Session, actor: User | None, device_id: int) -> Device:
    """Revoke a device at once (the actor's own or, for an administrator, anyone's; ``None``
    for the device itself signing out).  Its push subscriptions go with it."""
    device = session.get(Device, device_id)
    if actor is not None:
        require_active(actor)
        if device is None or (device.user_id != actor.id and not actor.is_admin):
            raise NotFound(f"no device {device_id} of yours")
    if device is None:
        raise NotFound(f"no device {device_id}")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    session.execute(delete(PushSubscription).where(PushSubscription.device_id == device.id))
    session.flush()
    return device


# -- Web Push subscriptions -------------------------------------------------------------------


def _b64url(value: str, field: str, size: int) -> str:
    text = value.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValidationError(f"{field} must be {size} bytes in base64url", field=field)
    return text.rstrip("=")


def _endpoint(url: str) -> str:
    text = url.strip()
    parts = urlsplit(text)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValidationError("a push endpoint is an https URL", field="endpoint")
    if not parts.hostname or len(text) > 2000:
        raise ValidationError("this push endpoint is not a valid URL", field="endpoint")
    return text


def subscribe_push(
    session: Session,
    actor: User,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    device_id: int | None = None,
) -> PushSubscription:
    """Record (or refresh) a browser's push subscription for the actor.

    An endpoint already known — for this user or, after a change of user on a shared
    browser, another — is taken over: a push service endpoint belongs to one browser.
    """
    require_active(actor)
    url = _endpoint(endpoint)
    key = _b64url(p256dh, "keys.p256dh", 65)
    secret = _b64url(auth, "keys.auth", 16)
    digest = _digest(url)
    found = session.scalar(select(PushSubscription).where(PushSubscription.endpoint_hash == digest))
    if found is None:
        found = PushSubscription(endpoint_hash=digest, endpoint=url)
        session.add(found)
    found.user_id = actor.id
    found.device_id = device_id
    found.p256dh = key
    found.auth = secret
    found.enabled = True
    session.flush()
    return found


def unsubscribe_push(session: Session, actor: User, endpoint: str) -> bool:
    """Forget the actor's subscription at ``endpoint``; ``False`` when there was none."""
    require_active(actor)
    done = session.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint_hash == _digest(endpoint.strip()),
            PushSubscription.user_id == actor.id,
        )
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def push_subscriptions_of(session: Session, user_id: int) -> list[PushSubscription]:
    """The enabled subscriptions of a user, on devices that are neither revoked nor expired
    (a signed-out phone gets no alert: it could not open it)."""
    signed_out = select(Device.id).where(
        (Device.revoked_at.is_not(None)) | (Device.expires_at <= utcnow())
    )
    stmt = (
        select(PushSubscription)
        .where(
            PushSubscription.user_id == user_id,
            PushSubscription.enabled.is_(True),
            (PushSubscription.device_id.is_(None))
            | (PushSubscription.device_id.not_in(signed_out)),
        )
        .order_by(PushSubscription.id)
    )
    return list(session.scalars(stmt))
