"""``grc company``, ``grc contact`` and ``grc opportunity``."""

from __future__ import annotations


def test_companies_and_contacts(team):
    acme = team.json(
        "company",
        "add",
        "ACME",
        "--status",
        "client",
        "--owner",
        "alice",
        "--ref",
        "CRM-1",
        as_="bob",
    )
    assert (acme["name"], acme["status"], acme["owner"], acme["external_ref"]) == (
        "ACME",
        "client",
        "alice",
        "CRM-1",
    )
    globex = team.json("company", "add", "Globex", as_="bob")
    assert globex["status"] == "prospect"

    assert [c["name"] for c in team.json("company", "list")] == ["ACME", "Globex"]
    assert [c["name"] for c in team.json("company", "list", "--status", "prospect")] == ["Globex"]
    assert [c["name"] for c in team.json("company", "list", "--name", "glo")] == ["Globex"]

    contact = team.json(
        "contact",
        "add",
        str(acme["id"]),
        "--last-name",
        "Durand",
        "--first-name",
        "Élise",
        "--email",
        "elise@acme.example",
        "--title",
        "Acheteuse",
        as_="bob",
    )
    assert contact["name"] == "Élise Durand"
    assert contact["company_id"] == acme["id"]
    team.ok("contact", "add", str(acme["id"]), "--last-name", "Martin", as_="bob")
    assert [c["last_name"] for c in team.json("contact", "list", str(acme["id"]))] == [
        "Durand",
        "Martin",
    ]

    moved = team.json("company", "set-status", str(globex["id"]), "client", as_="carol")
    assert moved["status"] == "client"
    renamed = team.json(
        "company",
        "update",
        str(globex["id"]),
        "--name",
        "Globex SA",
        "--owner",
        "carol",
        as_="carol",
    )
    assert (renamed["name"], renamed["owner"]) == ("Globex SA", "carol")

    team.ok("opportunity", "add", str(acme["id"]), "--title", "Renouvellement", as_="alice")
    shown = team.json("company", "show", str(acme["id"]))
    assert [c["name"] for c in shown["contacts"]] == ["Élise Durand", "Martin"]
    assert [o["title"] for o in shown["opportunities"]] == ["Renouvellement"]
    human = team.ok("company", "show", str(acme["id"])).stdout
    assert "Élise Durand" in human
    assert "Renouvellement" in human


def test_company_errors(team):
    assert team.fails(3, "company", "show", "999") == "no company 999"
    assert team.fails(3, "contact", "add", "999", "--last-name", "X", as_="bob") == (
        "no company 999"
    )
    assert "'lead' is not one of" in team.usage_error(
        "company", "add", "X", "--status", "lead", as_="bob"
    )
    team.ok("company", "add", "ACME", "--ref", "CRM-1", as_="bob")
    assert "already used" in team.fails(5, "company", "add", "Other", "--ref", "CRM-1", as_="bob")
    assert "name is required" in team.fails(2, "company", "add", "  ", as_="bob")


def test_opportunities(team):
    acme = team.json("company", "add", "ACME", as_="bob")
    other = team.json("company", "add", "Globex", as_="bob")
    deal = team.json(
        "opportunity",
        "add",
        str(acme["id"]),
        "--title",
        "Extension",
        "--stage",
        "proposal",
        "--amount",
        "12500,5",
        "--close",
        "2026-06-30",
        "--owner",
        "carol",
        as_="bob",
    )
    assert (deal["stage"], deal["amount"], deal["expected_close"], deal["owner"]) == (
        "proposal",
        "12500.5",
        "2026-06-30",
        "carol",
    )
    team.ok("opportunity", "add", str(other["id"]), "--title", "Pilote", as_="bob")
    assert [o["title"] for o in team.json("opportunity", "list")] == ["Pilote", "Extension"]
    assert [o["title"] for o in team.json("opportunity", "list", "--company", str(acme["id"]))] == [
        "Extension"
    ]

    won = team.json("opportunity", "set-stage", str(deal["id"]), "won", as_="carol")
    assert (won["stage"], won["closed"]) == ("won", True)
    assert "Gagnée" in team.ok("opportunity", "show", str(deal["id"])).stdout
    updated = team.json(
        "opportunity",
        "update",
        str(deal["id"]),
        "--amount",
        "13000",
        "--owner",
        "alice",
        as_="carol",
    )
    assert (updated["amount"], updated["owner"]) == ("13000", "alice")

    assert "unknown stage 'signed'" in team.fails(
        2, "opportunity", "set-stage", str(deal["id"]), "signed", as_="carol"
    )
    assert "is not a number" in team.fails(
        2, "opportunity", "add", str(acme["id"]), "--title", "X", "--amount", "lots", as_="bob"
    )
    assert team.fails(3, "opportunity", "show", "999") == "no opportunity 999"
