"""``grc picklist``, ``grc category`` and ``grc field``: what administrators configure."""

from __future__ import annotations


def test_picklists(team):
    actions = team.json("picklist", "list", "action")
    assert [a["code"] for a in actions] == [
        "todo",
        "call",
        "letter",
        "note",
        "meeting",
        "report",
        "email",
    ]
    assert "Rendez-vous physique" in team.ok("picklist", "list", "medium").stdout

    added = team.json(
        "picklist",
        "add",
        "status",
        "postponed",
        "--fr",
        "Reporté",
        "--en",
        "Postponed",
        as_="admin",
    )
    assert added == {
        "kind": "status",
        "code": "postponed",
        "label_fr": "Reporté",
        "label_en": "Postponed",
        "position": 5,
        "closed": False,
        "active": True,
    }
    assert (
        team.json(
            "picklist", "add", "stage", "abandoned", "--fr", "Abandon", "--closed", as_="admin"
        )["closed"]
        is True
    )

    retired = team.json("picklist", "retire", "status", "postponed", as_="admin")
    assert retired["active"] is False
    assert "postponed" not in [v["code"] for v in team.json("picklist", "list", "status")]
    everything = team.json("picklist", "list", "status", "--all")
    assert {v["code"]: v["active"] for v in everything}["postponed"] is False
    assert "retired" in team.ok("picklist", "list", "status", "--all").stdout
    team.ok("picklist", "restore", "status", "postponed", as_="admin")
    assert "postponed" in [v["code"] for v in team.json("picklist", "list", "status")]


def test_picklist_errors(team):
    assert "needs an administrator; 'alice' is not one" in team.fails(
        4, "picklist", "add", "action", "visit", "--fr", "Visite", as_="alice"
    )
    assert "already exists" in team.fails(
        5, "picklist", "add", "action", "call", "--fr", "Appel", as_="admin"
    )
    assert "unknown action 'visit'" in team.fails(
        2, "picklist", "retire", "action", "visit", as_="admin"
    )
    assert "is invalid" in team.fails(
        2, "picklist", "add", "action", "Bad Code", "--fr", "X", as_="admin"
    )
    assert "'colour' is not one of" in team.usage_error("picklist", "list", "colour")
    assert team.fails(2, "picklist", "retire", "action", "call") == (
        "no acting user: pass --as LOGIN or set GRC_USER"
    )


def test_categories_form_a_tree(team):
    team.ok("category", "add", "commercial", "--fr", "Commercial", "--en", "Sales", as_="admin")
    child = team.json(
        "category", "add", "relance", "--fr", "Relance", "--parent", "commercial", as_="admin"
    )
    assert child == {
        "code": "relance",
        "label_fr": "Relance",
        "label_en": "Relance",
        "parent": "commercial",
        "active": True,
    }
    team.ok("category", "add", "support", "--fr", "Support", as_="admin")

    tree = team.ok("category", "list").stdout
    lines = tree.splitlines()
    commercial = next(i for i, line in enumerate(lines) if "commercial — Commercial" in line)
    relance = next(i for i, line in enumerate(lines) if "relance — Relance" in line)
    assert relance == commercial + 1
    # The child is drawn one level deeper than its parent.
    assert lines[relance].index("relance") > lines[commercial].index("commercial")
    assert "Sales" in team.ok("category", "list", LANG="C", GRC_LANGUAGE="en").stdout

    team.ok("category", "retire", "support", as_="admin")
    assert [c["code"] for c in team.json("category", "list")] == ["commercial", "relance"]
    assert "(retired)" in team.ok("category", "list", "--all").stdout
    team.ok("category", "restore", "support", as_="admin")
    assert len(team.json("category", "list")) == 3

    assert "needs an administrator" in team.fails(4, "category", "add", "x", "--fr", "X", as_="bob")
    assert "unknown category 'nope'" in team.fails(
        2, "category", "add", "x", "--fr", "X", "--parent", "nope", as_="admin"
    )


def test_custom_fields(team):
    field = team.json(
        "field",
        "add",
        "priority",
        "--label",
        "Priorité",
        "--type",
        "choice",
        "--choice",
        "low",
        "--choice",
        "high",
        as_="admin",
    )
    assert field == {
        "code": "priority",
        "label": "Priorité",
        "type": "choice",
        "required": False,
        "choices": ["low", "high"],
        "active": True,
    }
    team.ok(
        "field",
        "add",
        "budget",
        "--label",
        "Budget",
        "--type",
        "decimal",
        "--required",
        as_="admin",
    )
    listed = team.json("field", "list")
    assert [(f["code"], f["required"]) for f in listed] == [("budget", True), ("priority", False)]

    team.ok("field", "retire", "budget", as_="admin")
    assert [f["code"] for f in team.json("field", "list")] == ["priority"]
    assert [f["active"] for f in team.json("field", "list", "--all")] == [False, True]
    team.ok("field", "restore", "budget", as_="admin")

    assert "needs a list of distinct" in team.fails(
        2, "field", "add", "tone", "--label", "Ton", "--type", "choice", as_="admin"
    )
    assert "'colour' is not one of" in team.usage_error(
        "field", "add", "c", "--label", "C", "--type", "colour", as_="admin"
    )
    assert "needs an administrator" in team.fails(
        4, "field", "add", "n", "--label", "N", "--type", "text", as_="carol"
    )
