"""``grc search``: accent-free, prefix and phrase queries, filters, visibility, any text."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from grc_cli.output import HIGHLIGHT, highlighted

from .runner import Grc


@dataclass
class World:
    grc: Grc
    acme: str
    globex: str

    def hits(self, *args: str, as_: str = "admin") -> list[dict]:
        return self.grc.json("search", *args, as_=as_)

    def subjects(self, *args: str, as_: str = "admin") -> list[str]:
        return sorted(h["subject"] for h in self.hits(*args, as_=as_))


@pytest.fixture
def world(team: Grc) -> World:
    def new_id(*args: str) -> str:
        return str(team.json(*args, as_="admin")["id"])

    acme = new_id("company", "add", "ACME", "--status", "client")
    globex = new_id("company", "add", "Globex Énergie")

    def add(subject: str, start: str, *args: str, as_: str = "alice") -> None:
        team.ok("exchange", "add", "--subject", subject, "--start", start, *args, as_=as_)

    add(
        "Échéance du contrat de maintenance",
        "2026-03-02T10:00",
        *("--action", "call", "--company", acme, "--medium", "phone"),
        *("--details", "Le client attend notre proposition avant la fin du mois."),
    )
    add(
        "Réunion de lancement",
        "2026-03-03T14:00",
        *("--action", "meeting", "--company", globex),
        *("--details", "Maintenance préventive des chaudières, calendrier à fixer."),
        as_="bob",
    )
    add(
        "Note confidentielle sur l'échéance",
        "2026-03-04T18:00",
        *("--action", "note", "--company", acme, "--private"),
        *("--details", "Marge plancher : ne pas descendre sous 17 000 €."),
    )
    add("Comité : échéances du trimestre", "2026-03-05T17:00", "--action", "report", as_="admin")
    return World(team, acme, globex)


ECHEANCE = [
    "Comité : échéances du trimestre",
    "Note confidentielle sur l'échéance",
    "Échéance du contrat de maintenance",
]


def test_accent_and_case_free_query_finds_accented_subjects(world):
    assert world.subjects("echeance") == ECHEANCE
    assert world.subjects("ÉCHÉANCE") == ECHEANCE
    assert world.subjects("Echeance", "contrat") == ["Échéance du contrat de maintenance"]
    assert world.subjects("globex", "energie") == ["Réunion de lancement"]  # company names too
    assert world.subjects("chaudieres") == ["Réunion de lancement"]  # and details


def test_prefix_and_phrases(world):
    # The word being typed matches as a prefix (type-ahead).
    assert world.subjects("maint") == ["Réunion de lancement", "Échéance du contrat de maintenance"]
    assert world.subjects("contrat mainte") == ["Échéance du contrat de maintenance"]
    assert world.subjects('"contrat de maintenance"') == ["Échéance du contrat de maintenance"]
    assert world.subjects('"maintenance contrat"') == []
    assert world.subjects("lancement", "inexistant") == []


def test_json_keeps_the_raw_snippet_and_the_table_highlights_it(world):
    [hit] = world.hits("contrat")
    assert hit["subject"] == "Échéance du contrat de maintenance"
    assert "[contrat]" in hit["snippet"]
    assert hit["rank"] > 0
    assert hit["company"] == {"id": int(world.acme), "name": "ACME"}
    assert (hit["action"], hit["private"], hit["assignees"]) == ("call", False, ["alice"])
    assert hit["start"] == "2026-03-02T10:00:00+01:00"

    result = world.grc.ok("search", "contrat", as_="admin")
    out = result.stdout
    for column in ("Rank", "Start", "Subject", "Company", "Extract"):
        assert column in out
    line = next(row for row in out.splitlines() if "ACME" in row)
    # The table ranks by position (1 is the best), not by the database's raw relevance.
    assert line.split()[0] == "1"
    assert "2026-03-02 10:00" in line
    assert "contrat" in line
    assert "[contrat]" not in out  # the markers became a style


def test_best_match_first(world):
    hits = world.hits("echeance")
    ranks = [h["rank"] for h in hits]
    assert ranks == sorted(ranks, reverse=True)
    assert len(world.hits("echeance", "--limit", "1")) == 1
    assert "limit must be between 1 and 100" in world.grc.fails(
        2, "search", "echeance", "--limit", "0", as_="admin"
    )


def test_search_with_filters(world):
    assert world.subjects("echeance", "--company", world.acme) == ECHEANCE[1:]
    assert world.subjects("echeance", "--global") == [ECHEANCE[0]]
    assert world.subjects("echeance", "--action", "call") == [ECHEANCE[2]]
    assert world.subjects("echeance", "--private") == [ECHEANCE[1]]
    assert world.subjects("echeance", "--shared", "--author", "alice") == [ECHEANCE[2]]
    assert world.subjects("echeance", "--since", "2026-03-04") == ECHEANCE[:2]
    assert world.subjects("maintenance", "--medium", "phone") == [ECHEANCE[2]]
    assert world.subjects("echeance", "--without-attachments", "--until", "2026-03-03") == [
        ECHEANCE[2]
    ]


def test_private_exchanges_never_leak_through_search(world):
    assert world.subjects("confidentielle", as_="alice") == [ECHEANCE[1]]
    assert world.subjects("plancher", as_="admin") == [ECHEANCE[1]]
    assert world.subjects("confidentielle", as_="carol") == []
    assert world.subjects("plancher", as_="bob") == []
    assert ECHEANCE[1] not in world.subjects("echeance", as_="carol")
    result = world.grc.ok("search", "confidentielle", as_="carol")
    assert result.stdout == ""
    assert result.stderr.strip() == "no exchange matches"


HOSTILE = [
    '"',
    '"unclosed phrase',
    "(",
    "a AND OR NOT b",
    "NEAR(x y)",
    "*",
    "echeance*",
    "-echeance",
    "col:echeance",
    "'; DROP TABLE exchanges; --",
    "echeance & | ! <-> :*",
    "(((((",
    "\\",
    "%_",
    " ",
    "",
    "é" * 5000,
    "mot " * 300,
]


@pytest.mark.parametrize("json_flag", [False, True])
def test_hostile_text_never_fails(world, json_flag):
    flag = ["--json"] if json_flag else []
    for text in HOSTILE:
        result = world.grc.run(*flag, "search", "--", text, as_="carol")
        assert result.exit_code == 0, f"{text!r}: {result.output}"
        assert "Traceback" not in result.output
        assert "error" not in result.stderr
    # Symbols are ignored, the words still count.
    assert world.subjects("--", "-echeance*", as_="carol") == [ECHEANCE[0], ECHEANCE[2]]
    assert world.subjects('(echeance) "contrat', as_="carol") == [ECHEANCE[2]]
    # The database is intact.
    assert len(world.grc.json("exchange", "list", as_="admin")) == 4


def test_highlighted_marks_the_matched_words():
    text = highlighted("Le [contrat] de\nmaintenance [arrive]  à échéance")
    assert text.plain == "Le contrat de maintenance arrive à échéance"
    marked = [text.plain[s.start : s.end] for s in text.spans if s.style == HIGHLIGHT]
    assert marked == ["contrat", "arrive"]
    assert highlighted("sans marque").spans == []
