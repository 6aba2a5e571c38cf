"""Schema management through Alembic: upgrade, downgrade, current revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Column, Connection, DateTime, Engine
from sqlalchemy.types import TypeEngine

from grc_core.errors import DatabaseError
from grc_core.models.base import UTCDateTime

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Tables the migrations create outside the models (full-text indexes and their shadows).
UNMODELLED_PREFIXES = ("exchange_fts", "exchange_search")


def compare_type(
    _context: object,
    _inspected_column: object,
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    _metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic ``compare_type`` hook: a UTC date-time is a DATETIME column whatever form
    the values take at run time (text on SQLite); other types use Alembic's comparison."""
    if isinstance(metadata_column.type, UTCDateTime):
        return not isinstance(inspected_type, DateTime)
    return None


def is_modelled(name: str | None, type_: str, _parent: object = None) -> bool:
    """Alembic ``include_name`` hook: leave the full-text tables out of comparisons."""
    return not (type_ == "table" and name is not None and name.startswith(UNMODELLED_PREFIXES))


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``; no ``alembic.ini`` is needed."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the latest).

    :raises DatabaseError: the database is at a revision this version does not know (a
        newer version of GRC migrated it), or ``revision`` is unknown; nothing is changed.
    """
    with _migrating(engine) as (cfg, conn):
        _require_known(cfg, conn, revision)
        command.upgrade(cfg, revision)
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            # The models match the schema only at the head: the search index is rewritten
            # (SQLite, once per change of its text form) with them.
            from grc_core.indexing import ensure_search_format

            ensure_search_format(conn)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema down to ``revision`` (``base`` removes every table).

    :raises DatabaseError: as :func:`upgrade`.
    """
    with _migrating(engine) as (cfg, conn):
        _require_known(cfg, conn, revision)
        command.downgrade(cfg, revision)
        if conn.dialect.name == "sqlite":  # whatever text the index is left with is rewritten
            conn.exec_driver_sql("PRAGMA user_version = 0")  # at the next upgrade to the head


def _require_known(cfg: Config, conn: Connection, target: str) -> None:
    """Refuse, before alembic starts, revisions this version does not ship (alembic's own
    failure is a long traceback that does not say what to do)."""
    scripts = ScriptDirectory.from_config(cfg)
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and not _ships(scripts, current):
        raise DatabaseError(
            f"the database is at schema revision {current!r}, which this version of GRC "
            f"(schema {scripts.get_current_head()}) does not know: a newer version of GRC "
            "migrated it; use that version or a later one"
        )
    plain = target.isalnum() and target not in ("head", "heads", "base")  # not "-1", "x@head"
    if plain and not _ships(scripts, target):
        known = ", ".join(s.revision for s in reversed(list(scripts.walk_revisions())))
        raise DatabaseError(f"there is no schema revision {target!r}; known: {known}")


def _ships(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


@contextmanager
def _migrating(engine: Engine) -> Iterator[tuple[Config, Connection]]:
    """One transaction for the migrations; on SQLite, with foreign keys off.

    SQLite changes a table by rebuilding it (create, copy, drop, rename); with foreign keys
    on, dropping a referenced table deletes or nulls the rows that refer to it.  The pragma
    only takes effect outside a transaction, so it is set before BEGIN, and every reference
    is checked before COMMIT instead (the procedure SQLite's ALTER TABLE documentation gives).
    """
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                yield cfg, conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise DatabaseError(
                            f"the migration left {len(broken)} broken references (first: "
                            f"{tuple(broken[0])}); nothing was changed"
                        )
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The latest revision this version of GRC ships."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head
