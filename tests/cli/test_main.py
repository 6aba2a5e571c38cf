"""The root group: help, global options, settings sources and the error boundary."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from grc_cli.failures import CliFailure, ExitCode, exit_code_for, failure_for
from grc_core.errors import (
    ConfigError,
    Conflict,
    DatabaseError,
    ExchangeNotFound,
    GrcError,
    NotFound,
    PermissionDenied,
    ValidationError,
)

GROUPS = (
    "category",
    "company",
    "contact",
    "db",
    "demo",
    "exchange",
    "field",
    "opportunity",
    "picklist",
    "user",
)


def test_help_lists_every_command_group(bare):
    result = bare.ok("--help")
    for group in GROUPS:
        assert f"  {group} " in result.stdout


def test_help_and_usage_errors_build_no_engine(bare):
    # An invalid URL is only parsed when a command needs the database.
    bare.ok("--db", "nonsense://", "exchange", "list", "--help")
    assert "Usage: " in bare.usage_error("--db", "nonsense://", "picklist", "list", "colour")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationError("x"), 2),
        (ConfigError("x"), 2),
        (NotFound("x"), 3),
        (ExchangeNotFound("x"), 3),
        (PermissionDenied("x"), 4),
        (Conflict("x"), 5),
        (DatabaseError("x"), 6),
        (GrcError("x"), 1),
        (IntegrityError("insert", {}, Exception("dup")), 5),
        (OperationalError("select", {}, Exception("down")), 6),
    ],
)
def test_each_error_has_its_documented_exit_code(error, code):
    assert exit_code_for(error) == code
    failure = failure_for(error)
    assert isinstance(failure, CliFailure)
    assert failure.exit_code == code


def test_driver_errors_become_one_line():
    failure = failure_for(OperationalError("select 1", {}, Exception("server down\n  retry later")))
    assert failure is not None
    assert failure.message == "database error: server down retry later"


def test_unexpected_errors_are_not_hidden():
    assert failure_for(KeyError("bug")) is None
    assert exit_code_for(KeyError("bug")) == ExitCode.GENERIC


def test_invalid_database_url_is_a_clean_error(bare):
    message = bare.fails(2, "--db", "mysql://x@localhost/db", "user", "list")
    assert "unsupported database 'mysql'" in message


def test_unreachable_database_exits_6(bare):
    url = "postgresql://postgres@127.0.0.1:5432/grc_no_such_database_for_cli_tests"
    message = bare.fails(6, "--db", url, "user", "list")
    assert 'database "grc_no_such_database_for_cli_tests" does not exist' in message


def test_unknown_time_zone_exits_2(team):
    assert "unknown time zone 'Mars/Olympus'" in team.fails(
        2, "--tz", "Mars/Olympus", "user", "list"
    )


def test_unmigrated_database_says_to_upgrade(unmigrated):
    message = unmigrated.fails(6, "picklist", "list", "action")
    assert "run `grc db upgrade`" in message


def test_settings_come_from_the_environment(team, bare):
    users = bare.json("user", "list", GRC_DATABASE_URL=team.url)
    assert [u["login"] for u in users] == ["admin", "alice", "bob", "carol"]
    message = bare.fails(
        4,
        "picklist",
        "add",
        "action",
        "visit",
        "--fr",
        "Visite",
        GRC_DATABASE_URL=team.url,
        GRC_USER="alice",
    )
    assert "'alice' is not one" in message


def test_settings_come_from_the_configuration_file(team, bare, tmp_path):
    config = tmp_path / "grc.toml"
    config.write_text(
        f'[grc]\ndatabase_url = "{team.url}"\nuser = "admin"\ntimezone = "UTC"\n',
        encoding="utf-8",
    )
    team.ok(
        "exchange",
        "add",
        "--subject",
        "Appel",
        "--start",
        "2026-03-02T10:30",
        "--action",
        "call",
        as_="alice",
    )
    [row] = bare.json("--config", str(config), "exchange", "list")
    # Typed in the default zone (Paris, UTC+1), shown in the file's zone.
    assert row["start"] == "2026-03-02T09:30:00+00:00"
    # Options win over the file.
    [row] = bare.json("--config", str(config), "--tz", "Asia/Tokyo", "exchange", "list")
    assert row["start"] == "2026-03-02T18:30:00+09:00"


def test_a_missing_configuration_file_is_a_clean_error(bare, tmp_path):
    message = bare.fails(2, "--config", str(tmp_path / "none.toml"), "user", "list")
    assert "does not exist" in message


def test_global_options_may_follow_the_command(team):
    team.ok("company", "add", "ACME", as_="admin")
    result = team.run("company", "list", "--json")
    assert result.exit_code == 0
    assert [c["name"] for c in json.loads(result.stdout)] == ["ACME"]
    created = team.run("company", "add", "Globex", "--as", "alice", "--json")
    assert json.loads(created.stdout)["name"] == "Globex"


def _leaves(command):
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield command
        return
    for sub in subcommands.values():
        yield from _leaves(sub)


def test_no_command_has_two_parameters_with_one_name():
    from grc_cli.main import cli

    for command in _leaves(cli):
        names = [p.name for p in command.params]
        assert len(names) == len(set(names)), command.name
