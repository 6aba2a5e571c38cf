"""``grc user``: bootstrap, administration and the acting user."""

from __future__ import annotations

import json


def test_first_user_bootstraps_as_an_administrator(grc):
    message = grc.fails(2, "user", "add", "paul", "--name", "Paul")
    assert "first user of a database must be an administrator" in message

    result = grc.run("--json", "user", "add", "admin", "--name", "Admin", "--admin")
    assert result.exit_code == 0, result.output
    assert "first administrator" in result.stderr
    admin = json.loads(result.stdout)
    assert admin["login"] == "admin"
    assert admin["admin"] is True
    assert admin["active"] is True


def test_after_bootstrap_an_acting_administrator_is_needed(grc):
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    message = grc.fails(2, "user", "add", "bob", "--name", "Bob")
    assert message == "no acting user: pass --as LOGIN or set GRC_USER"
    grc.ok("user", "add", "alice", "--name", "Alice", as_="admin")
    assert "'alice' is not one" in grc.fails(4, "user", "add", "bob", "--name", "Bob", as_="alice")
    assert "already exists" in grc.fails(
        5, "user", "add", "alice", "--name", "Alice bis", as_="admin"
    )
    assert "no user 'nobody'" in grc.fails(3, "user", "add", "bob", "--name", "Bob", as_="nobody")


def test_add_show_update_list(team):
    added = team.json(
        "user",
        "add",
        "dave",
        "--name",
        "Dave Durand",
        "--email",
        "dave@example.com",
        "--phone",
        "+33 6 00 00 00 00",
        "--ref",
        "HR-42",
        as_="admin",
    )
    assert added["email"] == "dave@example.com"
    assert added["external_ref"] == "HR-42"
    assert added["admin"] is False

    shown = team.ok("user", "show", "dave")
    assert "Dave Durand" in shown.stdout
    assert "HR-42" in shown.stdout

    # Users may edit their own details, not their rights.
    assert team.json("user", "update", "dave", "--phone", "", as_="dave")["phone"] is None
    team.fails(4, "user", "update", "dave", "--admin", as_="dave")

    updated = team.json("user", "update", "dave", "--deactivate", "--admin", as_="admin")
    assert (updated["active"], updated["admin"]) == (False, True)
    assert "dave" not in [u["login"] for u in team.json("user", "list")]
    assert "dave" in [u["login"] for u in team.json("user", "list", "--all")]
    assert "deactivated" in team.fails(4, "company", "add", "X", as_="dave")

    listing = team.ok("user", "list", "--all").stdout
    assert "Dave Durand" in listing
    assert "deactivated" in listing


def test_unknown_user_exits_3(team):
    assert team.fails(3, "user", "show", "zoe") == "no user 'zoe'"
