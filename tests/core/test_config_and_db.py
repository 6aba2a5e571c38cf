"""Settings precedence and validation; SQLite pragmas; the committing facade."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, text

from grc_core import Grc
from grc_core.config import Settings, load_settings
from grc_core.db import create_db_engine
from grc_core.errors import ConfigError, DatabaseError, PermissionDenied, ValidationError
from grc_core.models import Exchange, User
from grc_core.services import exchanges, users


def test_file_then_environment_then_overrides(tmp_path):
    cfg = tmp_path / "grc.toml"
    cfg.write_text('[grc]\ndatabase_url = "sqlite:///file.db"\ntimezone = "UTC"\nuser = "ann"\n')
    assert load_settings(cfg, environ={}).database_url == "sqlite:///file.db"
    env = {"GRC_DATABASE_URL": "sqlite:///env.db", "GRC_USER": "bob"}
    settings = load_settings(cfg, environ=env)
    assert (settings.database_url, settings.user, settings.timezone) == (
        "sqlite:///env.db",
        "bob",
        "UTC",
    )
    settings = load_settings(cfg, environ=env, overrides={"database_url": "sqlite:///cli.db"})
    assert settings.database_url == "sqlite:///cli.db"
    assert load_settings(environ={"GRC_CONFIG": str(cfg)}).user == "ann"


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing"))
    settings = load_settings(environ={})
    assert settings.timezone == "Europe/Paris"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'grc' / 'grc.sqlite3'}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[grc]\ndatabse_url = 'x'\n", "unknown setting.*databse_url.*accepted"),
        ("[grc]\ntimezone = 'Paris'\n", "unknown time zone 'Paris'"),
        ("[grc]\nlanguage = 'de'\n", "accepted: fr, en"),
        ("[grc]\ntimezone = 3\n", "must be a string"),
        ("[grc\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_explained(tmp_path, content, message):
    cfg = tmp_path / "grc.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg, environ={})


def test_missing_file_and_bad_url(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        create_db_engine("mysql://root@localhost/test")
    with pytest.raises(ConfigError, match="invalid database URL"):
        create_db_engine("not a url")


def test_sqlite_runs_with_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    engine.dispose()


def test_facade_commits_or_rolls_back(fresh_url):
    grc = Grc.from_url(fresh_url)
    try:
        with pytest.raises(DatabaseError, match="grc db upgrade"):
            grc.check_schema()
        grc.upgrade()
        grc.check_schema()
        with grc.session() as s:
            users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        start = datetime(2026, 2, 1, 9, tzinfo=UTC)
        with pytest.raises(ValidationError), grc.acting_as("admin") as work:
            exchanges.create_exchange(
                work.session, work.actor, subject="gardé?", start=start, action="call"
            )
            exchanges.create_exchange(
                work.session, work.actor, subject="", start=start, action="call"
            )
        with grc.session(read_only=True) as s:
            # The failure rolled back the first exchange too: nothing half-written.
            assert s.scalar(select(func.count()).select_from(Exchange)) == 0
        with grc.acting_as("admin") as work:
            exchanges.create_exchange(
                work.session, work.actor, subject="gardé", start=start, action="call"
            )
        with grc.session(read_only=True) as s:
            assert s.scalar(select(Exchange.subject)) == "gardé"
        with grc.session() as s:
            admin = users.get_user(s, "admin")
            users.create_user(s, admin, login="gone", display_name="Gone")
            users.update_user(s, admin, "gone", active=False)
        with pytest.raises(PermissionDenied, match="deactivated"), grc.acting_as("gone"):
            pass
    finally:
        grc.dispose()


def test_default_sqlite_folder_is_created(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "deep" / "er"))
    grc = Grc(Settings())
    grc.upgrade()
    assert (tmp_path / "deep" / "er" / "grc" / "grc.sqlite3").exists()
    grc.dispose()


def test_a_sqlite_path_in_a_missing_folder_is_refused(tmp_path):
    """A mistyped path never creates folders and an empty database."""
    with pytest.raises(ConfigError, match="does not exist"):
        Grc.from_url(f"sqlite:///{tmp_path / 'nonexistent' / 'dir' / 'x.sqlite3'}")
    assert not (tmp_path / "nonexistent").exists()


def test_storage_tables_and_environment(tmp_path):
    cfg = tmp_path / "grc.toml"
    cfg.write_text(
        '[grc]\nstorage_backend = "my-ged"\n'
        '[grc.storage.my-ged]\nurl = "https://ged.example"\nretries = 3\n'
        '[grc.storage.local]\nroot = "/srv/grc"\n'
    )
    env = {"GRC_STORAGE__MY_GED__PASSWORD": "s3cret", "GRC_STORAGE__LOCAL__ROOT": "/data"}
    settings = load_settings(cfg, environ=env)
    assert settings.storage_backend == "my-ged"
    assert settings.backend_config("my-ged") == {
        "url": "https://ged.example",
        "retries": 3,
        "password": "s3cret",
    }
    assert settings.backend_config("local") == {"root": "/data"}
    with pytest.raises(ConfigError, match="GRC_STORAGE__<BACKEND>__<KEY>"):
        load_settings(environ={"GRC_STORAGE__LOCAL": "x"})
    cfg.write_text("[grc.storage]\nlocal = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_settings(cfg, environ={})


def test_local_root_defaults_to_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert load_settings(environ={}).backend_config("local") == {
        "root": str(tmp_path / "grc" / "attachments")
    }


def test_read_only_sessions_open_no_transaction(fresh_url):
    # Each statement reads its own snapshot, on SQLite as under PostgreSQL's READ COMMITTED:
    # no BEGIN and COMMIT to pay on every page, and no write lock to wait for.
    grc = Grc.from_url(fresh_url)
    try:
        grc.upgrade()
        sent: list[str] = []
        event.listen(grc.engine, "before_cursor_execute", lambda *a: sent.append(a[2].strip()))
        with grc.session(read_only=True) as reader:
            count = select(func.count()).select_from(User)
            assert reader.scalar(count) == 0
            with grc.session() as writer:  # committed while the reader is open
                users.create_user(writer, None, login="admin", display_name="A", is_admin=True)
            assert reader.scalar(count) == 1
        assert "BEGIN" not in [s.upper() for s in sent]
    finally:
        grc.dispose()
