"""Reading UTCDateTime values back from SQLite's stored text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select, text

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
