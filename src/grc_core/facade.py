"""The facade for hosts that want transactions handled for them.

```python
with Grc.from_url("sqlite:///crm.sqlite3") as grc:
    grc.upgrade()
    with grc.acting_as("alice") as work:  # commits on success, rolls back on error
        exchanges.create_exchange(
            work.session, work.actor, subject="Appel", start=start, action="call"
        )
```
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from grc_core import event_hooks
from grc_core.config import Settings, load_settings
from grc_core.db import (
    READ_ONLY,
    create_db_engine,
    create_replica_engine,
    read_only_options,
    session_factory,
)
from grc_core.errors import DatabaseError, PermissionDenied
from grc_core.files.modes import make_private_dirs
from grc_core.models import User
from grc_core.services.users import UserRef, get_user

if TYPE_CHECKING:
    # The plugins and storage backends load on first use (see Grc.registry): a command that
    # only reads the database never imports them.
    import pluggy

    from grc_core.backends import Backends
    from grc_core.plugins.registry import Registry
    from grc_core.plugins.scanning import Scanner

_VERSIONS = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r'^(down_)?revision(?:: [^=]+)? = "([^"]+)"', re.MULTILINE)


@functools.cache
def _shipped_head() -> str | None:
    """The latest migration shipped, read from the migration files without Alembic
    (importing it costs a tenth of a second per command); ``None`` when the files do not
    name exactly one head, and Alembic then decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (parents if down else revisions).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, or ``None`` (no table, several rows)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, ProgrammingError):
        return None  # no schema yet: the full check says so
    return rows[0][0] if len(rows) == 1 else None


@dataclass
class Work:
    """One unit of work: a session and the user acting in it."""

    session: Session
    actor: User


class Grc:
    """An engine, a session factory and the settings, built from a URL or settings.

    With ``read_url`` set (a PostgreSQL streaming replica), read-only sessions are served by
    the replica and every other session by the primary.  A replica lags behind: a read that
    must see a write just committed asks for ``primary=True``, and a user who committed a
    change through :meth:`acting_as` reads from the primary for
    :attr:`read_your_writes_window` seconds after it (in this process).
    """

    #: Seconds after a user's committed change during which their reads go to the primary.
    read_your_writes_window: float = 5.0

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        *,
        registry: Registry | None = None,
        backends: Backends | None = None,
    ) -> None:
        self.settings = settings
        self._plugins = _Plugins(registry)
        self._backends = backends
        if engine is None and settings.database_url.startswith("sqlite:///"):
            # The embedded default lives in a folder that may not exist yet.
            path = settings.database_url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                make_private_dirs(Path(path).parent)
        self.engine = engine or create_db_engine(settings.database_url)
        #: Where read-only sessions go: the replica when ``read_url`` is set, else the primary.
        self.read_engine = (
            create_replica_engine(settings.read_url, self.engine)
            if settings.read_url
            else self.engine
        )
        self._sessions: sessionmaker[Session] = session_factory(self.engine)
        self._primary_reads: sessionmaker[Session] = session_factory(
            self.engine.execution_options(**read_only_options(self.engine))
        )
        self._read_sessions = (
            self._primary_reads
            if self.read_engine is self.engine
            else session_factory(
                self.read_engine.execution_options(**read_only_options(self.read_engine))
            )
        )
        # When each user (by id and by login) last committed through acting_as.
        self._wrote_at: dict[int | str, float] = {}
        # Plugins observe committed events (grc_event_committed); loaded on first need.
        # SQLAlchemy keeps a session class's listeners for as long as the class lives, and
        # the class (this facade's sessionmaker's) as long as the facade: a listener holding
        # the facade kept both, and the engine with its caches, after dispose.
        event_hooks.watch(self._sessions, self._plugins.manager)

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> Grc:
        """A facade on the database at ``url``."""
        return cls(Settings(database_url=url, **settings))

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: str | None) -> Grc:
        """A facade on the configured database (file, ``GRC_*`` variables, overrides)."""
        return cls(load_settings(config_file, overrides=overrides))

    def upgrade(self) -> None:
        """Create or migrate the schema to the latest revision."""
        from grc_core import schema  # Alembic: only for the commands that migrate

        with self._reachable():
            schema.upgrade(self.engine)

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            raise DatabaseError(f"cannot reach the database {url}: {exc.orig}") from None

    def check_schema(self) -> None:
        """Refuse to work on a database that is unreachable or not at this version's schema."""
        # Read-only: on SQLite no transaction, so that a writer holding the write lock
        # never delays (or fails, after the busy timeout) a command that only reads.
        reader = self.engine.execution_options(**{READ_ONLY: True})
        with self._reachable():
            stored = _stored_revision(reader)
        if stored is not None and stored == _shipped_head():
            return  # the usual case, answered without loading Alembic
        from grc_core import schema

        with self._reachable():
            current = schema.current_revision(reader)
        head = schema.head_revision()
        if current != head:
            raise DatabaseError(
                f"the database is at revision {current or 'none (empty)'}, this version of GRC "
                f"needs {head}: run `grc db upgrade`"
            )

    @contextmanager
    def session(self, *, read_only: bool = False, primary: bool = False) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on any error.

        :param read_only: promise that the transaction only reads; it then runs without
            ``BEGIN``/``COMMIT``, each statement reading its own snapshot (as under
            PostgreSQL's READ COMMITTED), so a write in it would not be undone; on SQLite it
            does not wait for the write lock (concurrent writers queue for it otherwise).
            See :func:`grc_core.db.read_only_options`.
            With ``read_url`` set it is served by the replica, which refuses writes.
        :param primary: read from the primary even with a replica configured: for reads
            that must see what was just committed (authentication, a conflict's current
            state, a page shown right after a change).  Sessions that may write always
            use the primary.
        """
        if not read_only:
            factory = self._sessions
        elif primary:
            factory = self._primary_reads
        else:
            factory = self._read_sessions
        with factory() as session, session.begin():
            yield session

    @contextmanager
    def acting_as(
        self, user: UserRef, *, read_only: bool = False, primary: bool = False
    ) -> Iterator[Work]:
        """A transaction with ``user`` (login or id) loaded as the acting user.

        A read-only one goes to the primary (not the replica) when ``primary`` is set or
        when ``user`` committed a change here less than :attr:`read_your_writes_window`
        seconds ago, so that they see it.
        """
        if read_only and not primary and self.read_engine is not self.engine:
            primary = self._wrote_recently(user)
        with self.session(read_only=read_only, primary=primary) as session:
            actor = get_user(session, user)
            if not actor.active:
                raise PermissionDenied(f"user {actor.login!r} is deactivated")
            yield Work(session, actor)
        if not read_only and self.read_engine is not self.engine:
            self._wrote(actor)

    def _wrote(self, actor: User) -> None:
        now = time.monotonic()
        if len(self._wrote_at) > 10_000:  # forget the users whose window has passed
            horizon = now - self.read_your_writes_window
            snapshot = list(self._wrote_at.items())  # one step: other threads write to it
            self._wrote_at = {k: t for k, t in snapshot if t > horizon}
        self._wrote_at[actor.id] = self._wrote_at[actor.login] = now

    def _wrote_recently(self, user: UserRef) -> bool:
        key: int | str = (
            user.id
            if isinstance(user, User)
            else user.strip().lower()
            if isinstance(user, str)
            else user
        )
        at = self._wrote_at.get(key)
        return at is not None and time.monotonic() - at < self.read_your_writes_window

    @property
    def registry(self) -> Registry:
        """The plugins' storage backends, scanners and channels (loaded on first use)."""
        return self._plugins.registry()

    @property
    def backends(self) -> Backends:
        """The storage backends, the configured one receiving new attachments."""
        if self._backends is None:
            from grc_core.backends import Backends

            self._backends = Backends.from_settings(self.registry, self.settings)
        return self._backends

    def scanners(self) -> list[Scanner]:
        """The content scanners registered by plugins."""
        return self.registry.scanners()

    def dispose(self) -> None:
        """Close every pooled connection and storage backend."""
        if self._backends is not None:
            self._backends.close()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        self.engine.dispose()

    def close(self) -> None:
        """The same as :meth:`dispose`."""
        self.dispose()

    def __enter__(self) -> Grc:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()


class _Plugins:
    """A facade's plugin registry, loaded on first use; what its sessions' listeners hold
    instead of the facade itself."""

    def __init__(self, registry: Registry | None) -> None:
        self._registry = registry

    def registry(self) -> Registry:
        if self._registry is None:
            from grc_core.plugins.registry import Registry

            self._registry = Registry.load()
        return self._registry

    def manager(self) -> pluggy.PluginManager:
        return self.registry().plugin_manager
