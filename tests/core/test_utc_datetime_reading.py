"""Reading UTCDateTime values back from SQLite's stored text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    create_engine,
    literal_column,
    select,
    text,
)

from grc_core.models.base import UTCDateTime


def test_sqlite_text_reads_back_as_the_same_utc_instant() -> None:
    engine = create_engine("sqlite://")
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    meta.create_all(engine)
    paris = timezone(timedelta(hours=1))
    written = [datetime(2024, 3, 2, 9, 15, 0, 123456, tzinfo=paris), None]
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": value} for value in written])
        stored = conn.execute(text("SELECT at FROM t WHERE id = 1")).scalar_one()
        # Text written by another tool with its own offset is read as the instant it names.
        conn.execute(text("INSERT INTO t (id, at) VALUES (3, '2024-03-02 10:00:00+02:00')"))
        read = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    assert stored == "2024-03-02 08:15:00.123456"  # UTC, sortable as text
    assert read == [written[0], None, datetime(2024, 3, 2, 8, 0, tzinfo=UTC)]
    assert all(value.tzinfo is UTC for value in read if value is not None)


def test_postgresql_values_read_back_in_utc_whatever_the_session_zone(db_factory) -> None:
    # GRC's connections ask for UTC, so values come back as psycopg gives them; a host's
    # own zone is kept for its session, and its values are still read back in UTC.
    from grc_core.db import create_db_engine

    url = db_factory.url("postgresql")
    paris = timezone(timedelta(hours=1))
    written = datetime(2024, 3, 2, 9, 15, 0, 123456, tzinfo=paris)
    for connect_args, zone in (
        (None, "UTC"),
        ({"options": "-c timezone=Europe/Paris"}, "Europe/Paris"),
        ({"options": "-c TimeZone=America/New_York"}, "America/New_York"),
    ):
        engine = create_db_engine(url, **({"connect_args": connect_args} if connect_args else {}))
        meta = MetaData()
        table = Table("t", meta, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
        try:
            with engine.begin() as conn:
                meta.drop_all(conn)
                meta.create_all(conn)
                assert conn.scalar(text("SHOW timezone")) == zone
                # plan_cache_mode is still GRC's when only the zone is the caller's
                assert conn.scalar(text("SHOW plan_cache_mode")) == "auto"  # write transaction
                conn.execute(table.insert(), [{"id": 1, "at": written}, {"id": 2, "at": None}])
                # a plain timestamp (no zone) is read as UTC
                plain = conn.execute(
                    select(literal_column("TIMESTAMP '2024-03-02 08:00:00'", UTCDateTime()))
                ).scalar_one()
                read = conn.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
                meta.drop_all(conn)
        finally:
            engine.dispose()
        assert plain == datetime(2024, 3, 2, 8, 0, tzinfo=UTC) and plain.tzinfo is UTC
        assert read == [written, None]
        assert read[0].tzinfo is UTC
        assert read[0].isoformat() == "2024-03-02T08:15:00.123456+00:00"
