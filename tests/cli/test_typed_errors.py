"""Failures that used to print tracebacks or raw driver errors are typed errors, and one
``error:`` line with the documented exit code in the CLI (issue 9, defect 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grc_core import schema
from grc_core.db import create_db_engine
from grc_core.errors import ConfigError, DatabaseError, ValidationError
from grc_core.files import samples
from grc_core.models import Exchange
from grc_core.queries.exchanges import ExchangeFilter, FieldCondition, list_exchanges
from grc_core.rules.errors import RuleError
from grc_core.rules.grammar import parse
from grc_core.services import custom_fields, users
from grc_core.services.bulk import ExchangeRecord, import_exchanges

from .runner import Grc

NEWER = "9999zz"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg2://grc@db.example/grc", "psycopg2"),
        ("postgresql://db.example:notaport/grc", "invalid database URL"),
        ("postgresql://grc:s3cret@db.example:99999/grc", "port 99999"),
        ("postgresql+nosuchdriver://db.example/grc", "unknown database driver"),
    ],
)
def test_unusable_database_urls_are_configuration_errors(tmp_path: Path, url, says):
    message = Grc(url, tmp_path).fails(2, "exchange", "list", as_="alice")
    assert says in message
    assert "s3cret" not in message
    with pytest.raises(ConfigError):
        create_db_engine(url)


def _set_revision(url: str, revision: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("update alembic_version set version_num = :r"), {"r": revision})
    finally:
        engine.dispose()


def test_a_database_newer_than_the_code_is_refused_cleanly(grc):
    _set_revision(grc.url, NEWER)
    message = grc.fails(6, "db", "upgrade")
    assert NEWER in message
    assert "newer version" in message
    grc.fails(6, "exchange", "list", as_="alice")
    engine = create_db_engine(grc.url)
    try:
        assert schema.current_revision(engine) == NEWER  # nothing was changed
        with pytest.raises(DatabaseError, match="newer version"):
            schema.downgrade(engine, "base")
        _set_revision(grc.url, schema.head_revision())
        with pytest.raises(DatabaseError, match="no schema revision '0042'"):
            schema.upgrade(engine, "0042")
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ("exchange.start < " + "1" * 5000, "at most 15 significant digits"),
        ("exchange.start < 1" + "0" * 5000, "15 digits before the decimal point"),
        ("exchange.start < now() - 99999999999d", "durations are limited"),
        ("exchange.start < now() - " + "9" * 5000 + "d", "durations are limited"),
        ("exchange.start < now() - 999999999d 999999999d", "durations are limited"),
        ("exchange.subject contains 'a\x00b'", "NUL"),
    ],
)
def test_hostile_rule_literals_are_refused(team, condition, says):
    message = team.fails(
        2, "rules", "add", "X", "--on", "exchange.created", "--when", condition, "--to",
        "author", "--channel", "inbox", as_="admin",
    )  # fmt: skip
    assert says in message
    assert team.json("rules", "list", as_="admin") == []


def test_nul_in_filters_is_an_input_error(team):
    team.ok("field", "add", "source", "--label", "Source", "--type", "text", as_="admin")
    assert "NUL" in team.fails(2, "exchange", "list", "--field", "source~a\x00b", as_="alice")
    assert "NUL" in team.fails(2, "company", "list", "--name", "a\x00b", as_="alice")


def test_nul_reaching_a_query_is_a_validation_error(session, world):
    """The engine refuses it before the driver (psycopg fails, SQLite would match nothing),
    and the transaction stays usable."""
    custom_fields.define_field(session, world.admin, code="nulsrc", label="Src", type="text")
    contains_nul = FieldCondition("nulsrc", "contains", "a\x00")
    with pytest.raises(ValidationError, match="NUL"):
        list_exchanges(session, world.alice, ExchangeFilter(custom=(contains_nul,)))
    with pytest.raises(ValidationError, match="NUL"):
        session.execute(text("select length(:t)"), {"t": "a\x00"})
    assert session.execute(text("select length(:t)"), {"t": "abc"}).scalar_one() == 3


def test_a_rule_with_nul_is_a_rule_error():
    with pytest.raises(RuleError, match="NUL") as err:
        parse("exchange.subject = 'x'\nand exchange.details contains 'a\x00'")
    assert (err.value.line, err.value.column) == (2, 33)


def test_a_bulk_import_cut_by_the_server_is_a_database_error(db_factory):
    url = db_factory.url("postgresql")
    engine = create_db_engine(url)
    admin_engine = db_factory.admin()
    try:
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            admin = users.create_user(session, None, login="admin", display_name="A", is_admin=True)
            author = admin.id
        start = datetime(2026, 3, 2, 9, tzinfo=UTC)
        records = [
            ExchangeRecord(subject=f"Import {i}", start=start + timedelta(hours=i), action="call",
                           author_id=author)
            for i in range(50)
        ]  # fmt: skip

        with Session(engine) as session:
            cut_off = pytest.raises(DatabaseError, match="stopped after 10 exchanges")
            with cut_off as err, session.begin():
                pid = session.execute(text("select pg_backend_pid()")).scalar_one()

                def cut(_done: int) -> None:  # after the first batch: the server ends it
                    with admin_engine.connect() as conn:
                        conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})

                admin = session.get(type(admin), author)
                import_exchanges(session, admin, records, batch_size=10, progress=cut)
            assert "nothing of this import is kept" in str(err.value)
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Exchange)) == 0
    finally:
        engine.dispose()


# -- found by tests/cli/test_no_traceback.py -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("inbox", "--before", "1" + "0" * 30), 2, "out of range"),
        (("exchange", "show", "99999999999999999999"), 2, "out of range"),
        (("storage", "verify", "--grace", "99999999999d"), 2, "too long a duration"),
        (("attachment", "policy", "set", "--max-size", "9" * 400 + "GB"), 2, "too large a size"),
    ],
)
def test_out_of_range_numbers_are_input_errors(team, args, code, says):
    result = team.run(*args, as_="admin")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert says in result.stderr


def test_a_binary_details_file_is_a_usage_error(team, tmp_path: Path):
    png = tmp_path / "logo.png"
    png.write_bytes(samples.png())
    stderr = team.usage_error(
        "exchange", "add", "--subject", "Appel", "--start", "2026-03-02 10:00", "--action",
        "call", "--details-file", str(png), as_="alice",
    )  # fmt: skip
    assert "is not UTF-8 text" in stderr
    assert team.json("exchange", "list", as_="alice") == []
