"""Cleaning and bounding the short texts people type."""

from __future__ import annotations

import unicodedata

from grc_core.errors import ValidationError


def _has_control(text: str) -> bool:
    # Cc (control) and Cf (format: bidi overrides, zero-width) characters have no place in a
    # one-line label; they hide or reorder what a reader sees.  isprintable() is a fast C test,
    # True for almost every real label, and excludes both categories.
    if text.isprintable():
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def clean_line(value: object, field: str, max_length: int) -> str:
    """A required one-line text: stripped, NFC-normalised, non-empty, bounded, printable."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, got {type(value).__name__}", field=field)
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError(f"{field} is required and cannot be blank", field=field)
    if len(text) > max_length:
        raise ValidationError(
            f"{field} is {len(text)} characters long; at most {max_length} are accepted",
            field=field,
        )
    if _has_control(text):
        raise ValidationError(
            f"{field} contains control or invisible formatting characters; use plain text",
            field=field,
        )
    return text


def optional_line(value: object, field: str, max_length: int) -> str | None:
    """Like :func:`clean_line`, but ``None`` or blank gives ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return clean_line(value, field, max_length)


def clean_text(value: object, field: str, max_length: int) -> str:
    """A long text (several lines allowed): NFC-normalised, bounded, no NUL."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text, got {type(value).__name__}", field=field)
    text = unicodedata.normalize("NFC", value)
    if len(text) > max_length:
        raise ValidationError(
            f"{field} is {len(text)} characters long; at most {max_length} are accepted",
            field=field,
        )
    if "\x00" in text:
        raise ValidationError(f"{field} contains a NUL character", field=field)
    return text
