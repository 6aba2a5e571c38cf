"""What people type is checked, what they see is true: list filters refused like ``exchange
add`` refuses bad values, hints when a listing stops at its limit, messages in the zone
times were typed in, a repeated ``--uuid`` named as such, alerts that say which file."""

from __future__ import annotations

from pathlib import Path

import pytest

from grc_core.files import samples

from .runner import Grc


@pytest.fixture
def acme(team: Grc) -> Grc:
    team.ok("company", "add", "ACME", "--owner", "alice", as_="admin")
    return team


def add(grc: Grc, subject: str, start: str, *args: str, as_: str = "alice") -> dict:
    return grc.json(
        "exchange", "add", "--subject", subject, "--start", start, "--action", "call", *args,
        as_=as_,
    )  # fmt: skip


@pytest.mark.parametrize("command", [("exchange", "list"), ("search", "visite")])
def test_list_filters_are_checked_like_exchange_add(acme: Grc, command: tuple[str, ...]):
    bogus = acme.fails(2, *command, "--action", "bogus", as_="alice")
    assert "unknown action 'bogus'; accepted: todo, call" in bogus
    assert "unknown status 'gone'" in acme.fails(2, *command, "--status", "gone", as_="alice")
    assert "unknown medium 'fax'" in acme.fails(2, *command, "--medium", "fax", as_="alice")
    assert "unknown category 'x'" in acme.fails(2, *command, "--category", "x", as_="alice")
    assert acme.fails(3, *command, "--company", "999", as_="alice") == "no company 999"
    backwards = acme.fails(
        2, *command, "--since", "2026-03-05", "--until", "2026-03-01", as_="alice"
    )
    assert backwards == (
        "--since 2026-03-05 00:00 is not before --until 2026-03-01 00:00 (Europe/Paris): "
        "no exchange could match"
    )


def test_history_filters_are_checked_too(acme: Grc):
    assert "unknown action 'bogus'" in acme.fails(
        2, "history", "company", "1", "--action", "bogus", as_="alice"
    )


def test_a_retired_code_still_filters_old_exchanges(acme: Grc):
    add(acme, "Ancien appel", "2026-03-02T10:00", "--company", "1")
    acme.ok("picklist", "retire", "action", "call", as_="admin")
    listed = acme.json("exchange", "list", "--action", "call", as_="alice")
    assert [e["subject"] for e in listed] == ["Ancien appel"]


def test_exchange_list_says_how_many_more_match_and_all_lists_them(acme: Grc):
    for day in range(1, 6):
        add(acme, f"Appel {day}", f"2026-03-0{day}T10:00", "--company", "1")
    result = acme.ok("exchange", "list", "--limit", "2", as_="alice")
    assert result.stderr.strip() == "3 more exchanges match: --limit 5 or --all shows them"
    assert "Appel 5" in result.stdout and "Appel 3" not in result.stdout
    every = acme.json("exchange", "list", "--limit", "2", "--all", as_="alice")
    assert [e["subject"] for e in every] == [f"Appel {d}" for d in range(5, 0, -1)]
    assert acme.ok("exchange", "list", "--limit", "5", as_="alice").stderr == ""
    # JSON stays clean: the hint is for people only.
    assert acme.run("--json", "exchange", "list", "--limit", "2", as_="alice").stderr == ""


def test_every_page_of_exchange_list_all_follows_start_then_id(acme: Grc, monkeypatch):
    from grc_cli.commands import exchanges as command

    monkeypatch.setattr(command, "LIST_PAGE", 2)
    for n in range(5):  # one start for all: the id orders them
        add(acme, f"Même heure {n}", "2026-03-02T10:00", "--company", "1")
    every = acme.json("exchange", "list", "--all", as_="alice")
    assert [e["subject"] for e in every] == [f"Même heure {n}" for n in range(4, -1, -1)]


def test_search_and_inbox_hint_at_more(acme: Grc):
    for day in range(1, 4):
        add(acme, f"Visite {day}", f"2026-03-0{day}T10:00", "--company", "1")
    result = acme.ok("search", "visite", "--limit", "2", as_="alice")
    assert "more exchanges match: --limit N (up to" in result.stderr
    assert len(acme.json("search", "visite", "--limit", "2", as_="alice")) == 2
    assert len(acme.json("search", "visite", "--limit", "2", "--all", as_="alice")) == 3
    acme.ok("subscribe", "--company", "1", "--channel", "inbox", as_="bob")
    for day in range(4, 7):
        add(acme, f"Visite {day}", f"2026-03-0{day}T10:00", "--company", "1")
    acme.ok("notify", "run-once")
    box = acme.ok("inbox", "--limit", "2", as_="bob")
    second = acme.json("inbox", "--limit", "2", as_="bob")["items"][-1]["id"]
    assert f"older alerts: --before {second} shows the next ones, --all every one" in box.stderr
    assert len(acme.json("inbox", "--all", as_="bob")["items"]) == 3


def test_end_before_start_is_told_in_the_zone_it_was_typed_in(acme: Grc):
    message = acme.fails(
        2, "exchange", "add", "--subject", "x", "--action", "call",
        "--start", "2026-03-02T10:00", "--end", "2026-03-02T09:00",
        as_="alice",
    )  # fmt: skip
    assert message == "end (2026-03-02 09:00 CET) is before start (2026-03-02 10:00 CET)"
    ident = str(add(acme, "Appel", "2026-03-02T10:00")["id"])
    message = acme.fails(2, "exchange", "update", ident, "--end", "2026-03-02T08:30", as_="alice")
    assert message == "end (2026-03-02 08:30 CET) is before start (2026-03-02 10:00 CET)"
    assert acme.json("exchange", "show", ident, as_="alice")["end"] == "2026-03-02T10:00:00+01:00"


def test_the_same_uuid_again_says_nothing_was_recorded(acme: Grc):
    key = "0b9f0a47-5d43-4c9e-9d1c-2b5e0a1f6c11"
    args = ("exchange", "add", "--subject", "Appel", "--action", "call", "--uuid", key)
    first = acme.ok(*args, "--start", "2026-03-02T10:00", as_="alice")
    assert first.stderr.strip() == "recorded exchange 1"
    again = acme.ok(*args, "--start", "2026-03-02T10:00", as_="alice")
    assert again.stderr.strip() == (
        "exchange 1 was already recorded with this UUID; nothing recorded"
    )
    assert len(acme.json("exchange", "list", as_="alice")) == 1


def test_attachment_alerts_name_the_file(acme: Grc, tmp_path: Path):
    acme.ok("subscribe", "--company", "1", "--channel", "inbox", as_="bob")
    for name in ("logo.png", "plan.png"):
        path = tmp_path / name
        path.write_bytes(samples.png())
        acme.ok("attachment", "add", str(path), "--company", "1", as_="alice")
    acme.ok("notify", "run-once")
    titles = [item["title"] for item in acme.json("inbox", as_="bob")["items"]]
    assert titles == [
        "[GRC] Pièce jointe ajoutée — ACME : plan.png",
        "[GRC] Pièce jointe ajoutée — ACME : logo.png",
    ]


def test_the_to_do_label_is_accented(acme: Grc):
    labels = {v["code"]: v["label_fr"] for v in acme.json("picklist", "list", "action")}
    assert labels["todo"] == "À faire"


def test_extracts_never_show_empty_parts(acme: Grc):
    add(acme, "Relance sans détails", "2026-03-02T10:00", "--company", "1")
    [hit] = acme.json("search", "relance", as_="alice")
    assert "— —" not in hit["snippet"] and not hit["snippet"].rstrip("…").endswith("—")
    assert "[Relance]" in hit["snippet"]


def test_unconfigured_channels_are_named_in_one_warning_and_broken_ones_each(acme: Grc):
    quiet = acme.ok("notify", "run-once")
    warnings = [line for line in quiet.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "not configured, their deliveries wait" in warnings[0]
    broken = acme.ok("notify", "run-once", GRC_CHANNEL__SMS__METHOD="POST")
    warnings = [line for line in broken.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: notification channel 'sms' is not usable")
    assert "'sms'" not in warnings[1] and "not configured" in warnings[1]
