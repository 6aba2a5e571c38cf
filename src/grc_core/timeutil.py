"""Time helpers: everything is stored in UTC and shown in the configured zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grc_core.errors import ConfigError, ValidationError

DEFAULT_TIMEZONE = "Europe/Paris"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name`` or raise :class:`ConfigError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from exc


def require_aware(value: datetime, field: str) -> datetime:
    """Return ``value`` in UTC, refusing naive date-times (their meaning is ambiguous)."""
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{field} must be a date-time, got {type(value).__name__}", field=field
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware (e.g. 2026-03-02T10:00+01:00), "
            f"got {value.isoformat()}",
            field=field,
        )
    return value.astimezone(UTC)


def parse_datetime(text: str, field: str, default_zone: str = DEFAULT_TIMEZONE) -> datetime:
    """Parse an ISO 8601 date-time typed by a person; a naive one is read in ``default_zone``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationError(
            f"{field}: {text!r} is not a date-time; expected ISO 8601 such as 2026-03-02T10:30",
            field=field,
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(default_zone))
    return value.astimezone(UTC)
