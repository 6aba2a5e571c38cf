"""Permissions of the files and directories GRC creates: private to the account running it.

The SQLite database (and its ``-wal``/``-shm`` files), the local storage backend's blobs and
folders, the e-mail channel's mbox file and the demo's folder hold private exchanges; with
the usual ``umask 022`` they would be readable by every local user.  They are created with
mode ``0600`` (directories ``0700``) whatever the umask.

``GRC_FILE_MODE`` (octal, e.g. ``0640`` to let the owner's group read) sets another mode for
files; directories get the same bits plus search (``x``) wherever reading is allowed
(``0640`` → ``0750``).  The owner always keeps read and write.  Files and folders that
already exist are left as they are: their owner chose their mode.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from grc_core.errors import ConfigError

FILE_MODE_ENV = "GRC_FILE_MODE"
DEFAULT_FILE_MODE = 0o600


def file_mode() -> int:
    """The mode of new files: ``GRC_FILE_MODE`` if set, else ``0600``.

    :raises ConfigError: the variable is not an octal mode that lets the owner read and
        write, and grants nothing beyond read and write.
    """
    text = os.environ.get(FILE_MODE_ENV, "").strip()
    if not text:
        return DEFAULT_FILE_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o666 or mode & 0o600 != 0o600:
        raise ConfigError(
            f"{FILE_MODE_ENV}={text!r} is not a usable file mode; give an octal mode with read "
            "and write for the owner and at most read and write for others, e.g. 0600 or 0640"
        )
    return mode


def directory_mode(mode: int | None = None) -> int:
    """The mode of new directories: the file mode plus ``x`` wherever ``r`` is given."""
    bits = file_mode() if mode is None else mode
    return bits | ((bits & 0o444) >> 2)


def create_private_file(path: Path | str) -> bool:
    """Create an empty file at ``path`` with :func:`file_mode`, unless it exists.

    Returns whether it was created.  Creating it before a library opens it (SQLite, the
    ``mailbox`` module) is what gives it the mode: they would create it from the umask.
    """
    mode = file_mode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits that were asked for
    finally:
        os.close(fd)
    return True


def make_private_dirs(path: Path | str) -> None:
    """Create ``path`` and its missing parents with :func:`directory_mode`.

    Directories that exist keep their mode.
    """
    mode = directory_mode()
    missing: list[Path] = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, not ours
        os.chmod(directory, mode)


def restrict_like(path: Path | str, reference: Path | str) -> None:
    """Remove from ``path``'s mode the bits ``reference`` does not have (if both exist).

    Used for SQLite's ``-wal`` and ``-shm`` files: they hold the same data as the database
    file, so they must be no more readable than it is.
    """
    # Best effort: a file another account created (or that vanished) is left alone.
    with contextlib.suppress(OSError):
        allowed = os.stat(reference).st_mode & 0o777
        current = os.stat(path).st_mode & 0o777
        if current & ~allowed:
            os.chmod(path, current & allowed)
