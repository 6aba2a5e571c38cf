"""When a delivery is due: now, after the recipient's quiet hours, or at their digest time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from grc_core.models import Digest, Preferences
from grc_core.timeutil import zone

#: Local time of the daily digest.
DAILY_AT = time(8, 0)


def _in_quiet(local: datetime, start: time, end: time) -> bool:
    t = local.timetz().replace(tzinfo=None)
    return start <= t < end if start < end else t >= start or t < end


def _after_quiet(local: datetime, start: time, end: time) -> datetime:
    if not _in_quiet(local, start, end):
        return local
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return candidate if candidate > local else candidate + timedelta(days=1)


def due(prefs: Preferences, now: datetime) -> tuple[datetime, str | None]:
    """``(due_at in UTC, digest key or None)`` for a notification created ``now``.

    Digest deliveries of one user, channel and key are sent together as one message.
    """
    tz = zone(prefs.timezone or "Europe/Paris")
    local = now.astimezone(tz)
    key = None
    if prefs.digest == Digest.HOURLY.value:
        local = (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        key = f"hourly:{local:%Y%m%d%H}"
    elif prefs.digest == Digest.DAILY.value:
        at = local.replace(hour=DAILY_AT.hour, minute=DAILY_AT.minute, second=0, microsecond=0)
        local = at if at > local else at + timedelta(days=1)
        key = f"daily:{local:%Y%m%d}"
    if prefs.quiet_start is not None and prefs.quiet_end is not None:
        local = _after_quiet(local, prefs.quiet_start, prefs.quiet_end)
    return local.astimezone(UTC), key
