"""The local disk storage backend: one file per blob under a root directory.

Writing a blob (``put``) is crash-safe and never overwrites:

1. the key is turned into a path with :func:`~grc_core.storage.keys.safe_join`, so it
   cannot leave the root;
2. the bytes are streamed, chunk by chunk, into a temporary file created by
   :func:`tempfile.mkstemp` **in the target directory** (same file system, so the next step
   is atomic), named ``.tmp-…`` (keys cannot start with a dot, so no key names it);
3. the file is flushed and ``fsync``-ed, so its content is on disk before its name is;
4. it is published with ``os.link(tmp, final)``, which fails if ``final`` exists — unlike
   ``os.rename``, which would silently replace it — and the temporary name is unlinked;
5. the directory is ``fsync``-ed, so the new name survives a power cut.

On any failure the temporary file is removed.  A process killed with SIGKILL cannot clean
up: its ``.tmp-`` file stays.  Such files are never listed by :meth:`iter_blobs` (they are
not blobs: no database row can point at them); :meth:`LocalDiskBackend.stale_temp_files`
lists those untouched for longer than a grace period and
:meth:`LocalDiskBackend.remove_stale_temp_files` removes them (``grc storage verify
--repair`` calls it).  Files whose names are not valid keys are skipped by ``iter_blobs``
too, so that a verification never deletes a file GRC did not write.

Empty month directories are left in place after deletes: removing them would race with a
concurrent ``put`` into the same month.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat as stat_module
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from grc_core.config import default_storage_root
from grc_core.errors import (
    BlobExists,
    BlobNotFound,
    InvalidKey,
    StorageAuthError,
    StorageError,
)
from grc_core.files.modes import directory_mode, file_mode, make_private_dirs
from grc_core.storage.backend import CHUNK_SIZE, BlobInfo
from grc_core.storage.keys import check_key, safe_join

log = logging.getLogger(__name__)

#: The prefix of temporary files (a key segment cannot start with ".").
TEMP_PREFIX = ".tmp-"
#: A temporary file not written to for this long belongs to a dead process.
DEFAULT_TEMP_GRACE = timedelta(hours=1)

# Errors meaning "this file system cannot make hard links" (FAT, some FUSE and SMB mounts):
# fall back to claiming the name with O_EXCL and renaming over the claim.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def default_root() -> Path:
    """The embedded default root: ``$XDG_DATA_HOME/grc/attachments``.

    Beside the default SQLite database, so that an out-of-the-box installation keeps its
    attachments with its data; the same place the settings give (one definition).
    """
    return default_storage_root()


def _fsync_dir(directory: Path) -> None:
    """Make the directory's entries (a new or removed name) durable."""
    if os.name != "posix":  # Windows cannot open a directory; NTFS journals names itself.
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _storage_errors(action: str, key: str) -> Iterator[None]:
    """Turn the OS's errors into :class:`StorageError` subclasses, naming the key."""
    try:
        yield
    except StorageError:
        raise
    except PermissionError as exc:
        raise StorageAuthError(f"cannot {action} blob {key!r}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot {action} blob {key!r}: {exc}") from exc


class LocalDiskBackend:
    """Blobs as files under ``root``; the embedded default backend.

    Safe to share between threads and processes: it keeps no state but ``root``, and the
    file system arbitrates concurrent ``put`` calls on one key (exactly one wins).
    Files are created with mode ``0600`` and directories (the root included, when it is
    created) with ``0700``: only the account running GRC may read attachments, or even list
    them.  ``GRC_FILE_MODE`` sets another mode (see :mod:`grc_core.files.modes`).

    :param root: the directory holding the blobs; created (with its parents) if missing.
    :param temp_grace: how long a temporary file may go unwritten before it counts as
        abandoned.
    :raises StorageError: ``root`` cannot be created or is not a directory.
    """

    name = "local"

    def __init__(self, root: Path | str, *, temp_grace: timedelta = DEFAULT_TEMP_GRACE) -> None:
        with _storage_errors("create the root of", str(root)):
            make_private_dirs(Path(root).expanduser())
        #: The resolved root; every blob path is under it.
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise StorageError(f"the local storage root {str(self.root)!r} is not a directory")
        self.temp_grace = temp_grace

    def __repr__(self) -> str:
        return f"LocalDiskBackend({str(self.root)!r})"

    # --- writing --------------------------------------------------------------------------

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store ``stream`` under ``key`` (see :meth:`StorageBackend.put`).

        ``size`` and ``metadata`` are ignored: the file is named by its key only.
        """
        final = safe_join(self.root, key)
        if os.path.lexists(final):
            # Checked early to avoid streaming a large upload for nothing; the real guard
            # is the atomic publish below.
            raise BlobExists(f"a blob is already stored under {key!r}; blobs are never replaced")
        mode = file_mode()
        with _storage_errors("store", key):
            self._make_dirs(final.parent)
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=final.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                if mode != 0o600:  # mkstemp's
                    os.fchmod(out.fileno(), mode)
                while True:
                    # The stream's own exceptions propagate unchanged (contract).
                    chunk = stream.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    with _storage_errors("store", key):
                        out.write(chunk)
                with _storage_errors("store", key):
                    out.flush()
                    os.fsync(out.fileno())
            with _storage_errors("store", key):
                self._publish(tmp, final, key)
        finally:
            # After a successful link this removes the temporary name only (the blob keeps
            # the inode); after a failure it removes the partial file.
            with contextlib.suppress(OSError):
                tmp.unlink()
        with _storage_errors("store", key):
            _fsync_dir(final.parent)
        return key

    def _make_dirs(self, directory: Path) -> None:
        """Create the missing directories down to ``directory``, each made durable."""
        missing = []
        current = directory
        while current != self.root and not current.is_dir():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            try:
                path.mkdir(directory_mode())
                os.chmod(path, directory_mode())  # whatever the umask
            except FileExistsError:
                if not path.is_dir():  # a blob is stored where a directory is needed
                    raise StorageError(
                        f"cannot create directory {str(path)!r}: a file of that name exists"
                    ) from None
                continue  # a concurrent put made it
            _fsync_dir(path.parent)

    @staticmethod
    def _publish(tmp: Path, final: Path, key: str) -> None:
        """Give the complete temporary file its final name, atomically, never replacing."""
        try:
            os.link(tmp, final)
            return
        except FileExistsError:
            raise BlobExists(
                f"a blob is already stored under {key!r}; blobs are never replaced"
            ) from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
        # No hard links here: claim the name (O_EXCL fails if it exists), then rename the
        # complete file over our own empty claim.  A crash in between leaves an empty file,
        # which ``grc storage verify`` reports as an orphan (no row is written before put
        # returns).
        try:
            claim = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise BlobExists(
                f"a blob is already stored under {key!r}; blobs are never replaced"
            ) from None
        os.close(claim)
        os.replace(tmp, final)

    # --- reading --------------------------------------------------------------------------

    def _existing(self, key: str) -> tuple[Path, os.stat_result]:
        path = safe_join(self.root, key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(f"no blob is stored under {key!r}") from None
        except PermissionError as exc:
            raise StorageAuthError(f"cannot read blob {key!r}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read blob {key!r}: {exc}") from exc
        if not stat_module.S_ISREG(st.st_mode):
            raise BlobNotFound(f"no blob is stored under {key!r} (it is a directory)")
        return path, st

    def open(self, key: str) -> BinaryIO:
        """A buffered reader on the blob's file (see :meth:`StorageBackend.open`)."""
        path = safe_join(self.root, key)
        try:
            return path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise BlobNotFound(f"no blob is stored under {key!r}") from None
        except PermissionError as exc:
            raise StorageAuthError(f"cannot read blob {key!r}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read blob {key!r}: {exc}") from exc

    def stat(self, key: str) -> BlobInfo:
        """Size and modification time of the blob's file."""
        _, st = self._existing(key)
        return BlobInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, key: str) -> None:
        """Unlink the blob's file and make the removal durable."""
        path, _ = self._existing(key)
        try:
            path.unlink()
        except FileNotFoundError:  # deleted by someone else since _existing
            raise BlobNotFound(f"no blob is stored under {key!r}") from None
        except PermissionError as exc:
            raise StorageAuthError(f"cannot delete blob {key!r}: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"cannot delete blob {key!r}: {exc}") from exc
        with _storage_errors("delete", key):
            _fsync_dir(path.parent)

    # --- listing --------------------------------------------------------------------------

    def _walk(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """``(relative path, entry)`` for every regular file, hidden ones included.

        Iterative and one directory open at a time, so a deep or wide store costs no
        recursion and few file descriptors.  Symbolic links are not followed.
        """
        pending = [(self.root, "")]
        while pending:
            directory, prefix = pending.pop()
            subdirectories = []
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        relative = prefix + entry.name
                        if entry.is_dir(follow_symlinks=False):
                            subdirectories.append((Path(entry.path), relative + "/"))
                        elif entry.is_file(follow_symlinks=False):
                            yield relative, entry
            except FileNotFoundError:  # removed while listing
                continue
            except OSError as exc:
                raise StorageError(f"cannot list {str(directory)!r}: {exc}") from exc
            pending.extend(reversed(subdirectories))

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every blob file; temporary files and files not named by a valid key are skipped."""
        for relative, entry in self._walk():
            if entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                check_key(relative)
            except InvalidKey:
                log.warning("ignoring %r in the local store: not a GRC storage key", relative)
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # deleted while listing
                continue
            yield BlobInfo(relative, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def stale_temp_files(self, older_than: timedelta | None = None) -> list[Path]:
        """Temporary files not written to for ``older_than`` (default: ``temp_grace``).

        A ``put`` in progress writes its temporary file at least once per chunk, so a file
        untouched for the grace period belongs to a process that died.
        """
        limit = datetime.now(UTC) - (self.temp_grace if older_than is None else older_than)
        stale = []
        for _, entry in self._walk():
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            if modified < limit:
                stale.append(Path(entry.path))
        return sorted(stale)

    def remove_stale_temp_files(self, older_than: timedelta | None = None) -> list[Path]:
        """Remove the files :meth:`stale_temp_files` lists; return those removed."""
        removed = []
        for path in self.stale_temp_files(older_than):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        return removed

    def close(self) -> None:
        """Nothing to release: every file is closed when each call returns."""
