"""``grc audit``: the trail with old → new values, filters, cursors, and what each user
may read."""

from __future__ import annotations

import json


def _company(team, name: str, owner: str) -> dict:
    return team.json("company", "add", name, "--owner", owner, as_=owner)


def test_administrators_read_every_change_with_logins(team):
    acme = _company(team, "ACME", "alice")
    team.ok("company", "update", str(acme["id"]), "--owner", "bob", as_="alice")
    trail = team.json("audit", "--record", f"company:{acme['id']}", as_="admin")
    assert [e["kind"] for e in trail["entries"]] == ["company.updated", "company.created"]
    updated = trail["entries"][0]
    assert updated["actor"] == "alice"
    assert updated["changes"]["owner_id"][1] == team.json("user", "show", "bob")["id"]
    assert updated["changes_named"] == {"owner_id": ["alice", "bob"]}
    assert trail["next_cursor"] is None
    human = team.ok("audit", "--record", f"company:{acme['id']}", as_="admin").stdout
    assert "owner_id: alice → bob" in human
    assert "company.created" in human and "name: ACME" in human

    # Administration is audited, and only administrators read it.
    users_trail = team.json("audit", "--record", "user", as_="admin")["entries"]
    assert {e["kind"] for e in users_trail} == {"user.created"}
    assert team.json("audit", "--record", "user", as_="alice")["entries"] == []
    assert all(
        not e["kind"].startswith("user.") for e in team.json("audit", as_="alice")["entries"]
    )

    shown = team.json("audit", "show", str(updated["id"]), as_="admin")
    assert shown["id"] == updated["id"]
    assert team.fails(3, "audit", "show", str(users_trail[0]["id"]), as_="alice") == (
        f"no audit event {users_trail[0]['id']}"
    )


def test_filters_and_pages(team):
    acme = _company(team, "ACME", "alice")
    for n in range(5):
        team.ok("company", "update", str(acme["id"]), "--name", f"ACME {n}", as_="alice")
    team.ok("company", "set-status", str(acme["id"]), "client", as_="alice")
    _company(team, "Globex", "bob")

    first = team.json(
        "audit", "--by", "alice", "--kind", "company.updated", "--limit", "2", as_="admin"
    )
    assert [e["changes"]["name"][1] for e in first["entries"]] == ["ACME 4", "ACME 3"]
    second = team.json(
        "audit", "--by", "alice", "--kind", "company.updated", "--limit", "2",
        "--cursor", first["next_cursor"], as_="admin",
    )  # fmt: skip
    assert [e["changes"]["name"][1] for e in second["entries"]] == ["ACME 2", "ACME 1"]
    # A cursor is bound to its query and reader.
    assert "another query" in team.fails(
        2, "audit", "--limit", "2", "--cursor", first["next_cursor"], as_="admin"
    )
    walked = team.json("audit", "--company", str(acme["id"]), "--all", "--limit", "2", as_="bob")
    assert [e["kind"] for e in walked["entries"]] == [
        "company.status_changed",
        *["company.updated"] * 5,
        "company.created",
    ]
    oldest = team.json(
        "audit", "--company", str(acme["id"]), "--oldest-first", "--limit", "1", as_="carol"
    )
    assert oldest["entries"][0]["kind"] == "company.created"
    assert oldest["resume_cursor"]
    future = team.json("audit", "--since", "2999-01-01", as_="admin")
    assert future["entries"] == []
    assert "--record" in team.usage_error("audit", "--record", "company:x", as_="admin")
    assert "unknown event kind" in team.fails(2, "audit", "--kind", "nope", as_="admin")
    assert "unknown record type" in team.fails(2, "audit", "--record", "planet", as_="admin")


def test_an_ordinary_user_never_reads_what_was_private(team):
    acme = _company(team, "ACME", "alice")
    exchange = team.json(
        "exchange", "add", "--company", str(acme["id"]), "--subject", "Narwhalsecret salary",
        "--details", "Zanzibar raise", "--start", "2026-03-02T10:00", "--action", "note",
        "--private", as_="alice",
    )  # fmt: skip
    team.ok("exchange", "update", str(exchange["id"]), "--subject", "Narwhalsecret 2", as_="alice")
    team.ok(
        "exchange", "update", str(exchange["id"]), "--shared", "--subject", "Team note",
        as_="alice",
    )  # fmt: skip
    for args in (["audit"], ["audit", "--record", f"exchange:{exchange['id']}"]):
        carol = team.ok("--json", *args, as_="carol").stdout
        assert "Narwhalsecret" not in carol and "Zanzibar" not in carol
        assert "Narwhalsecret" not in team.ok(*args, as_="carol").stdout
    entries = json.loads(
        team.ok("--json", "audit", "--record", f"exchange:{exchange['id']}", as_="carol").stdout
    )["entries"]
    [shared] = entries  # the events from while it was private are not listed
    assert shared["old_values_withheld"] is True
    assert shared["changes"]["subject"] == [None, "Team note"]
    assert shared["changes"]["private"] == [None, False]
    human = team.ok("audit", "--record", f"exchange:{exchange['id']}", as_="carol").stdout
    assert "earlier values are not shown" in human
    # Its author read every event, whole.
    alice = team.json("audit", "--record", f"exchange:{exchange['id']}", as_="alice")["entries"]
    assert [e["kind"] for e in alice] == ["exchange.updated"] * 2 + ["exchange.created"]
    assert alice[0]["changes"]["subject"] == ["Narwhalsecret 2", "Team note"]
    assert alice[0]["old_values_withheld"] is False
