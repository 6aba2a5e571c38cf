"""Files GRC creates are private: 0600, directories 0700, whatever the umask
(issue 9, defect 10); ``GRC_FILE_MODE`` sets another mode."""

from __future__ import annotations

import io
import os
import shutil
import stat
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import text

from grc_adapters.email.transport import Envelope, MboxTransport
from grc_adapters.local.backend import LocalDiskBackend
from grc_cli.commands.demo import fresh_folder
from grc_core.db import create_db_engine
from grc_core.errors import ConfigError
from grc_core.files.modes import FILE_MODE_ENV, restrict_like

from .runner import Grc


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The usual umask, which alone would make every new file world-readable."""
    monkeypatch.delenv(FILE_MODE_ENV, raising=False)
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_sqlite_database_and_its_wal_and_shm_files_are_private(tmp_path: Path):
    tmp_path.chmod(0o755)
    path = tmp_path / "new" / "folder" / "grc.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("create table t (x integer)"))
            conn.execute(text("insert into t values (1)"))
        with engine.connect() as conn:  # keeps -wal and -shm while open
            conn.execute(text("select * from t")).all()
            assert mode(path) == 0o600
            assert mode(Path(f"{path}-wal")) == 0o600
            assert mode(Path(f"{path}-shm")) == 0o600
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700
        assert mode(tmp_path) == 0o755  # folders that existed keep their mode
    finally:
        engine.dispose()


def test_grc_db_upgrade_creates_a_private_database(tmp_path: Path):
    # A configured path must name an existing folder (a typo is refused, not created).
    path = tmp_path / "data" / "grc.sqlite3"
    path.parent.mkdir(mode=0o755)
    Grc(f"sqlite:///{path}", tmp_path).ok("db", "upgrade")
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o755  # an existing folder keeps its mode


def test_grc_db_upgrade_refuses_a_database_in_a_missing_folder(tmp_path: Path):
    path = tmp_path / "missing" / "grc.sqlite3"
    result = Grc(f"sqlite:///{path}", tmp_path).run("db", "upgrade")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not path.parent.exists()


def test_sidecar_files_left_readable_are_restricted_on_connect(tmp_path: Path):
    path = tmp_path / "grc.sqlite3"
    create_db_engine(f"sqlite:///{path}").dispose()
    wal = Path(f"{path}-wal")
    wal.touch()
    wal.chmod(0o644)  # as an older version left it
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        assert mode(wal) == 0o600
    finally:
        engine.dispose()
    other = tmp_path / "other"
    other.touch()
    other.chmod(0o640)
    restrict_like(other, path)
    assert mode(other) == 0o600


def test_local_storage_blobs_and_folders_are_private(tmp_path: Path):
    backend = LocalDiskBackend(tmp_path / "root" / "attachments")
    key = backend.put("2026/03/0123456789abcdef0123456789abcdef", io.BytesIO(b"secret"))
    blob = backend.root / key
    assert mode(blob) == 0o600
    for folder in (blob.parent, blob.parent.parent, backend.root, backend.root.parent):
        assert mode(folder) == 0o700, folder


def _envelope() -> Envelope:
    message = Message()
    message["Subject"] = "Note privée"
    message.set_payload("Salaire de Dupont")
    return Envelope(1, "bob@example.com", message, "<1@example.com>")


def test_the_email_channels_mbox_is_private(tmp_path: Path):
    mbox = tmp_path / "mail" / "out.mbox"
    (result,) = MboxTransport(mbox).send([_envelope()])
    assert result.ok, result
    assert mode(mbox) == 0o600
    assert mode(mbox.parent) == 0o700
    assert "Salaire de Dupont" in mbox.read_text()


def test_the_demo_folder_is_private():
    folder = fresh_folder(None)
    try:
        assert mode(folder) == 0o700
    finally:
        shutil.rmtree(folder)


def test_another_mode_can_be_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(FILE_MODE_ENV, "0640")
    path = tmp_path / "db" / "grc.sqlite3"
    create_db_engine(f"sqlite:///{path}").dispose()
    assert (mode(path), mode(path.parent)) == (0o640, 0o750)
    backend = LocalDiskBackend(tmp_path / "blobs")
    key = backend.put("2026/03/0123456789abcdef0123456789abcdef", io.BytesIO(b"x"))
    assert (mode(backend.root / key), mode(backend.root)) == (0o640, 0o750)


@pytest.mark.parametrize("value", ["rw-r--r--", "0400", "0777", "1777", "-1"])
def test_an_unusable_mode_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value):
    monkeypatch.setenv(FILE_MODE_ENV, value)
    with pytest.raises(ConfigError, match=FILE_MODE_ENV):
        create_db_engine(f"sqlite:///{tmp_path / 'grc.sqlite3'}")
    assert not (tmp_path / "grc.sqlite3").exists()
    message = Grc(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path).fails(2, "db", "upgrade")
    assert "0600" in message
