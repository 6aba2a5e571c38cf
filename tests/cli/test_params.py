"""Sizes and durations as people type them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grc_cli.params import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        ("512B", 512),
        ("1KB", 1024),
        ("1kb", 1024),
        ("20MB", 20 * 1024 * 1024),
        ("20 MB", 20 * 1024 * 1024),
        ("1.5MB", 1572864),
        ("1,5 MB", 1572864),
        ("2GB", 2 * 1024**3),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "12XB", "-1MB", "1e3", "1 K B", "20MiB"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("0", 0), ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_durations_combine():
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration("1d 2h") == timedelta(days=1, hours=2)


@pytest.mark.parametrize("text", ["", "h", "soon", "1x", "1h30", "-1h", "1hh"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["63932189938", "36501d", "9" * 20])
def test_durations_longer_than_a_century_are_refused(text):
    # storage verify subtracts its --grace from now: 2,000 years overflowed the date-time.
    with pytest.raises(ValueError, match="too long a duration"):
        parse_duration(text)
    assert parse_duration("36500d") == timedelta(days=36500)
