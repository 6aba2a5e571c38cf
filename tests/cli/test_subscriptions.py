"""``grc subscribe``, ``unsubscribe``, ``subscriptions`` and ``preferences``."""

from __future__ import annotations

import pytest

from .notifying import crm
from .runner import Grc


@pytest.fixture
def world(team: Grc) -> Grc:
    return crm(team)


def test_subscribe_list_change_and_unsubscribe(world):
    sub = world.json(
        "subscribe", "--company", "1", "--event", "exchange.created,exchange.completed",
        "--channel", "inbox", as_="alice",
    )  # fmt: skip
    assert sub["follows"] == "company 1: ACME"
    assert sub["target"] == {"kind": "company", "id": 1}
    assert sub["event_kinds"] == ["exchange.completed", "exchange.created"]
    assert (sub["channels"], sub["narrow"]) == (["inbox"], False)
    # Following the same company again changes the subscription, it does not add one.
    again = world.json("subscribe", "--company", "1", "--narrow", as_="alice")
    assert again["id"] == sub["id"]
    assert (again["event_kinds"], again["channels"], again["narrow"]) == (None, None, True)
    world.ok("opportunity", "add", "1", "--title", "Renouvellement", as_="carol")
    deal = world.json("subscribe", "--opportunity", "1", "--channel", "email", as_="alice")
    assert deal["follows"] == "opportunity 1: Renouvellement (ACME)"
    mine = world.json("subscriptions", as_="alice")
    assert [s["id"] for s in mine] == [sub["id"], deal["id"]]
    table = world.ok("subscriptions", as_="alice").stdout
    assert "company 1: ACME" in table and "my preferred channels" in table
    # Nobody else's business.
    assert world.json("subscriptions", as_="bob") == []
    assert "you follow nothing" in world.ok("subscriptions", as_="bob").stderr
    assert "no subscription" in world.fails(3, "unsubscribe", str(sub["id"]), as_="bob")
    assert world.json("unsubscribe", str(sub["id"]), as_="alice") == {"unsubscribed": sub["id"]}
    assert [s["id"] for s in world.json("subscriptions", as_="alice")] == [deal["id"]]


def test_subscribe_refuses_what_does_not_exist(world):
    message = world.fails(
        2, "subscribe", "--company", "1", "--event", "exchange.eaten", as_="alice"
    )
    assert "unknown event kind(s) exchange.eaten; accepted: exchange.created" in message
    message = world.fails(2, "subscribe", "--company", "1", "--channel", "fax", as_="alice")
    assert "unknown channel(s) fax; accepted: email, inbox, push, report, sms, task" in message
    assert world.fails(3, "subscribe", "--company", "42", as_="alice") == "no company 42"
    assert "exactly one" in world.usage_error("subscribe", as_="alice")
    assert "exactly one" in world.usage_error(
        "subscribe", "--company", "1", "--category", "x", as_="alice"
    )
    world.ok("opportunity", "add", "1", "--title", "Renouvellement", as_="carol")
    assert "only a company" in world.fails(
        2, "subscribe", "--opportunity", "1", "--narrow", as_="alice"
    )
    assert world.json("subscriptions", as_="alice") == []  # nothing was saved
    assert "no acting user" in world.fails(2, "subscribe", "--company", "1")


def test_preferences_show_and_set(world):
    assert world.json("preferences", "show", as_="alice") == {
        "channels": {},
        "default_channels": ["inbox"],
        "quiet_hours": None,
        "timezone": "Europe/Paris",
        "digest": "immediate",
    }
    prefs = world.json(
        "preferences", "set", "--channel", "exchange.created=email,inbox",
        "--channel", "*=inbox", "--quiet", "22:00-07:00", "--tz", "America/Montreal",
        "--digest", "daily", as_="alice",
    )  # fmt: skip
    assert prefs == {
        "channels": {"*": ["inbox"], "exchange.created": ["email", "inbox"]},
        "default_channels": ["inbox"],
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "timezone": "America/Montreal",
        "digest": "daily",
    }
    # What is not given stays; KIND= removes one kind's choice.
    prefs = world.json(
        "preferences", "set", "--channel", "exchange.created=", "--channel", "default=email",
        "--no-quiet", as_="alice",
    )  # fmt: skip
    assert prefs["channels"] == {"*": ["email"]}
    assert (prefs["quiet_hours"], prefs["timezone"], prefs["digest"]) == (
        None,
        "America/Montreal",
        "daily",
    )
    shown = world.ok("preferences", "show", as_="alice").stdout
    assert "Notification preferences of alice" in shown and "America/Montreal" in shown
    # Each user has their own.
    assert world.json("preferences", "show", as_="bob")["digest"] == "immediate"
    assert world.json("preferences", "set", "--reset-channels", as_="alice")["channels"] == {}


def test_preferences_refuse_bad_values(world):
    assert "22:00-07:00" in world.usage_error(
        "preferences", "set", "--quiet", "25:00-07", as_="alice"
    )
    assert "KIND=NAME" in world.usage_error("preferences", "set", "--channel", "email", as_="alice")
    assert "fax" in world.fails(2, "preferences", "set", "--channel", "*=fax", as_="alice")
    assert "unknown event kind" in world.fails(
        2, "preferences", "set", "--channel", "exchange.eaten=inbox", as_="alice"
    )
    assert "Mars/Olympus" in world.fails(
        2, "preferences", "set", "--tz", "Mars/Olympus", as_="alice"
    )
    assert "different end" in world.fails(
        2, "preferences", "set", "--quiet", "22:00-22:00", as_="alice"
    )
    assert "nothing to change" in world.fails(2, "preferences", "set", as_="alice")
    assert "immediate" in world.usage_error("preferences", "set", "--digest", "weekly", as_="alice")
    # Nothing was saved by the refused commands.
    assert world.json("preferences", "show", as_="alice")["channels"] == {}
