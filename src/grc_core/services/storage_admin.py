"""Keeping storage honest: verify blobs against rows, repair, and migrate between backends.

Both operations work attachment by attachment in short transactions of their own, so they
can run on a live database and be interrupted at any point.  No transaction is open while a
backend is called (a GED may take seconds to answer, and on SQLite a write transaction holds
the database's one write lock): what is only read is read in a read-only transaction, and
pending-deletion rows are removed :data:`PURGE_BATCH` at a time once their blobs are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from grc_core.backends import Backends
from grc_core.errors import BlobExists, BlobNotFound, GrcError, StorageError, ValidationError
from grc_core.models import Attachment, BlobDeletion
from grc_core.services.attachments import layout_hints
from grc_core.storage.backend import CHUNK_SIZE, StorageBackend
from grc_core.timeutil import utcnow

log = logging.getLogger(__name__)

#: Opens a new transaction (``Grc.session``): each step commits on its own; called with
#: ``read_only=True`` for the steps that only read.
SessionScope = Callable[..., AbstractContextManager[Session]]
#: Called after each attachment: ``(done, total, attachment id)``.
Progress = Callable[[int, int, int], None]

DEFAULT_GRACE = timedelta(hours=1)
#: Pending-deletion rows removed per transaction, once their blobs are deleted.
PURGE_BATCH = 100


def checksum(backend: StorageBackend, key: str) -> tuple[int, str]:
    """Size and SHA-256 of a stored blob, streamed."""
    digest, size = hashlib.sha256(), 0
    with backend.open(key) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


@dataclass
class Problem:
    """One thing wrong between the database and a backend."""

    kind: str  # missing | size | checksum | unreadable | orphan | pending | temporary
    backend: str
    key: str
    attachment_id: int | None = None
    detail: str = ""


@dataclass
class VerifyReport:
    """What :func:`verify_storage` found (and repaired)."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: int = 0

    def of_kind(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]

    @property
    def ok(self) -> bool:
        """True when every row has its blob intact and no orphan remains unrepaired."""
        return not self.problems or len(self.problems) == self.repaired


def _in_use(session: Session, default: str) -> list[str]:
    names = {default}
    names.update(session.scalars(select(Attachment.backend).distinct()))
    names.update(n for n in session.scalars(select(Attachment.moving_to).distinct()) if n)
    names.update(session.scalars(select(BlobDeletion.backend).distinct()))
    return sorted(names)


def verify_storage(
    scope: SessionScope,
    backends: Backends,
    *,
    checksums: bool = True,
    grace: timedelta = DEFAULT_GRACE,
    repair: bool = False,
    progress: Progress | None = None,
) -> VerifyReport:
    """Compare every attachment row with its blob, and every blob with the rows.

    Reports rows whose blob is missing or differs in size or checksum (those are never
    "repaired": the data is gone, a person must decide), blobs no row refers to that are
    older than ``grace`` (younger ones may belong to an upload in progress), recorded
    deletions not yet carried out, and temporary files of interrupted uploads (for backends
    that have them).  With ``repair``, orphans, pending deletions and temporary files are
    deleted.
    """
    report = VerifyReport()
    with scope(read_only=True) as session:
        rows = list(
            session.execute(
                select(
                    Attachment.id,
                    Attachment.backend,
                    Attachment.storage_key,
                    Attachment.size,
                    Attachment.sha256,
                    Attachment.moving_to,
                    Attachment.moving_key,
                ).order_by(Attachment.id)
            )
        )
        pending = [(d.backend, d.storage_key) for d in session.scalars(select(BlobDeletion))]
        names = _in_use(session, backends.default_name)
    known: set[tuple[str, str]] = set()
    for done, row in enumerate(rows, start=1):
        known.add((row.backend, row.storage_key))
        if row.moving_to and row.moving_key:
            known.add((row.moving_to, row.moving_key))
        report.checked += 1
        try:
            backend = backends.get(row.backend)
        except GrcError as exc:  # a backend no longer configured or installed
            report.problems.append(
                Problem("unreadable", row.backend, row.storage_key, row.id, str(exc))
            )
            continue
        _check_row(backend, row, checksums, report)
        if progress:
            progress(done, len(rows), row.id)

    cutoff = utcnow() - grace
    pending_set = set(pending)
    for name in names:
        backend = backends.get(name)
        for blob in backend.iter_blobs():
            ref = (name, blob.key)
            if ref in known or ref in pending_set:
                continue
            if blob.modified < cutoff:
                report.problems.append(
                    Problem("orphan", name, blob.key, detail=f"{blob.size} bytes, no row")
                )
    report.problems += [
        Problem("pending", n, k, detail="deletion not carried out") for n, k in pending
    ]
    for name in names:
        # Backends that write through temporary files (local disk) may list those a killed
        # upload left behind; it is an optional capability, not part of the contract.
        stale = getattr(backends.get(name), "stale_temp_files", None)
        if stale is not None:
            report.problems += [
                Problem("temporary", name, str(path), detail="left by an interrupted upload")
                for path in stale(grace)
            ]

    if repair:
        orphans = [(p.backend, p.key) for p in report.of_kind("orphan")]
        for name, key in orphans:
            _delete_if_present(backends.get(name), key)
            report.repaired += 1
        report.repaired += _purge(scope, backends, pending)
        for name in {p.backend for p in report.of_kind("temporary")}:
            removed = backends.get(name).remove_stale_temp_files(grace)  # type: ignore[attr-defined]
            report.repaired += len(removed)
    return report


def _check_row(backend: StorageBackend, row: Any, checksums: bool, report: VerifyReport) -> None:
    ident, name, key = row.id, row.backend, row.storage_key
    try:
        if checksums:
            size, digest = checksum(backend, key)
        else:
            size, digest = backend.stat(key).size, row.sha256
    except BlobNotFound:
        report.problems.append(Problem("missing", name, key, ident, "the blob is gone"))
        return
    except StorageError as exc:
        report.problems.append(Problem("unreadable", name, key, ident, str(exc)))
        return
    if size != row.size:
        report.problems.append(
            Problem("size", name, key, ident, f"{size} bytes stored, {row.size} expected")
        )
    elif digest != row.sha256:
        report.problems.append(Problem("checksum", name, key, ident, "SHA-256 differs"))


# --- migration ------------------------------------------------------------------------------


@dataclass
class MigrationReport:
    """What :func:`migrate_storage` did."""

    target: str
    moved: int = 0
    already_there: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0


def migrate_storage(
    scope: SessionScope,
    backends: Backends,
    target: str,
    *,
    progress: Progress | None = None,
) -> MigrationReport:
    """Move every attachment to the backend ``target``, verified by checksum.

    For each attachment: record the intent, copy the blob, record where it landed, verify
    size and SHA-256 from the target, switch the row and record the source blob's deletion
    in one transaction, then delete the source blob.  Killed at any point and run again, it
    resumes from what was recorded: no attachment is lost and none is copied twice.
    """
    backends.get(target)  # fail early on an unknown or uninstalled backend
    report = MigrationReport(target)
    _finish_pending_deletions(scope, backends)
    with scope(read_only=True) as session:
        ids = list(
            session.scalars(
                select(Attachment.id).where(Attachment.backend != target).order_by(Attachment.id)
            )
        )
        report.already_there = (
            session.scalar(select(func.count()).where(Attachment.backend == target)) or 0
        )
    report.total = len(ids)
    for done, ident in enumerate(ids, start=1):
        try:
            _move_one(scope, backends, target, ident)
            report.moved += 1
        except (StorageError, ValidationError) as exc:
            report.failed.append((ident, str(exc)))
        if progress:
            progress(done, len(ids), ident)
    return report


def _finish_pending_deletions(scope: SessionScope, backends: Backends) -> None:
    with scope(read_only=True) as session:
        pending = [(d.backend, d.storage_key) for d in session.scalars(select(BlobDeletion))]
    _purge(scope, backends, pending)


def _purge(scope: SessionScope, backends: Backends, blobs: list[tuple[str, str]]) -> int:
    """Delete blobs whose rows are gone, then their pending-deletion rows, a batch per
    transaction; return how many were carried out.  A blob that cannot be deleted now keeps
    its row, for the next ``verify --repair``."""
    done = [(name, key) for name, key in blobs if _delete_pending(backends, name, key)]
    for start in range(0, len(done), PURGE_BATCH):
        batch = done[start : start + PURGE_BATCH]
        with scope() as session:
            session.execute(
                delete(BlobDeletion).where(
                    or_(
                        *(
                            (BlobDeletion.backend == name) & (BlobDeletion.storage_key == key)
                            for name, key in batch
                        )
                    )
                )
            )
    return len(done)


def _delete_pending(backends: Backends, name: str, key: str) -> bool:
    try:
        backends.get(name).delete(key)
    except BlobNotFound:
        return True
    except GrcError as exc:  # unreachable, refused, or a backend no longer configured
        log.warning("could not delete blob %s from %s: %s", key, name, exc)
        return False
    return True


def _move_one(scope: SessionScope, backends: Backends, target: str, ident: int) -> None:
    # Backends are named by configuration, not by their type's ``name`` (two local roots).
    destination = backends.get(target)
    with scope() as session:
        attachment = session.get(Attachment, ident)
        if attachment is None or attachment.backend == target:
            return  # deleted or moved meanwhile
        if attachment.moving_to != target:
            attachment.moving_to, attachment.moving_key = target, None
        source_name, source_key = attachment.backend, attachment.storage_key
        core_key, size, sha = attachment.core_key, attachment.size, attachment.sha256
        moving_key = attachment.moving_key
        _, hints = layout_hints(session, *attachment.owner)
        hints["filename"] = attachment.filename
    source = backends.get(source_name)

    if moving_key is None:
        moving_key = _copy(source, source_key, destination, core_key, size, sha, hints)
        with scope() as session:
            session.get(Attachment, ident).moving_key = moving_key  # type: ignore[union-attr]

    if checksum(destination, moving_key) != (size, sha):
        _delete_if_present(destination, moving_key)
        with scope() as session:
            row = session.get(Attachment, ident)
            if row is not None:
                row.moving_to = row.moving_key = None
        raise StorageError(f"attachment {ident}: the copy on {target} does not match; removed")

    with scope() as session:
        row = session.get(Attachment, ident)
        if row is None:  # deleted during the copy: the copy is an orphan to remove
            _delete_if_present(destination, moving_key)
            return
        session.add(BlobDeletion(backend=source_name, storage_key=source_key))
        row.backend, row.storage_key = target, moving_key
        row.moving_to = row.moving_key = None
    _purge(scope, backends, [(source_name, source_key)])


def _copy(
    source: StorageBackend,
    source_key: str,
    destination: StorageBackend,
    core_key: str,
    size: int,
    sha: str,
    hints: dict[str, str],
) -> str:
    with source.open(source_key) as stream:
        try:
            return destination.put(core_key, stream, size=size, metadata=hints)
        except BlobExists as exists:
            found = exists.key or core_key  # a GED names the copy by its own id
    # A previous run stored the copy but died before recording it: keep it if it is intact.
    try:
        if checksum(destination, found) == (size, sha):
            return destination.stat(found).key  # the key put would have returned
        destination.delete(found)
    except BlobNotFound:
        raise StorageError(
            f"{destination.name} says {core_key!r} is taken but cannot show it; "
            "run `grc storage verify --repair` and migrate again"
        ) from None
    with source.open(source_key) as stream:
        return destination.put(core_key, stream, size=size, metadata=hints)


def _delete_if_present(backend: StorageBackend, key: str) -> None:
    with contextlib.suppress(BlobNotFound):
        backend.delete(key)


def iter_problems(report: VerifyReport) -> Iterator[Problem]:
    """Problems in a stable order, for display."""
    yield from sorted(report.problems, key=lambda p: (p.kind, p.backend, p.key))


# --- checking a backend's configuration -------------------------------------------------------


@dataclass
class CheckStep:
    """One step of :func:`check_backend`: what was tried, whether it worked, how long."""

    name: str
    ok: bool
    seconds: float
    detail: str = ""


PROBE = b"GRC storage check \xe2\x80\x94 this document may be deleted.\n" * 64


def check_backend(
    backends: Backends, name: str, *, report: Callable[[CheckStep], None] | None = None
) -> list[CheckStep]:
    """Connect to backend ``name``, then write, read back, verify and delete a probe.

    The administrator's first question about a GED configuration is whether it works:
    each step is reported as it ends (``report``), and the first failure stops the check
    with the backend's own message.  Writing creates the root folder when it is missing.
    """
    from grc_core.storage.keys import new_key

    steps: list[CheckStep] = []
    state: dict[str, Any] = {}
    digest = hashlib.sha256(PROBE).hexdigest()

    def connect() -> str:
        state["backend"] = backends.get(name)
        return type(state["backend"]).__name__

    def write() -> str:
        hints = {
            "company": "GRC",
            "subject": "Vérification du stockage",
            "filename": "grc-check.txt",
        }
        state["key"] = state["backend"].put(
            new_key(), io.BytesIO(PROBE), size=len(PROBE), metadata=hints
        )
        return f"stored as {state['key']}"

    def stat() -> str:
        info = state["backend"].stat(state["key"])
        if info.size != len(PROBE):
            raise StorageError(f"the backend reports {info.size} bytes, {len(PROBE)} were written")
        return f"{info.size} bytes, written {info.modified:%Y-%m-%d %H:%M:%S} UTC"

    def read() -> str:
        size, found = checksum(state["backend"], state["key"])
        if (size, found) != (len(PROBE), digest):
            raise StorageError("the content read back differs from what was written")
        return "SHA-256 matches"

    def remove() -> str:
        state["backend"].delete(state["key"])
        try:
            state["backend"].stat(state["key"])
        except BlobNotFound:
            return "deleted"
        raise StorageError("the probe is still there after its deletion")

    for label, action in (
        ("connect", connect),
        ("write a probe", write),
        ("stat it", stat),
        ("read it back and verify", read),
        ("delete it", remove),
    ):
        began = time.perf_counter()
        try:
            detail, ok = action(), True
        except GrcError as exc:
            detail, ok = str(exc), False
        step = CheckStep(label, ok, time.perf_counter() - began, detail)
        steps.append(step)
        if report is not None:
            report(step)
        if not ok:
            if "key" in state and label != "delete it":
                with contextlib.suppress(GrcError):
                    state["backend"].delete(state["key"])
            break
    return steps


# --- status ---------------------------------------------------------------------------------


@dataclass
class BackendUse:
    """The attachments one backend holds, and those on their way to it."""

    backend: str
    attachments: int = 0
    bytes: int = 0
    arriving: int = 0


@dataclass
class StorageStatus:
    """Where the attachments are, for an administrator following a migration (read-only).

    ``settled`` says every attachment is on ``default`` (where new files go) with no move
    under way and no blob deletion pending: an earlier ``grc storage migrate`` finished.
    """

    default: str
    backends: list[BackendUse]
    moving: int
    pending_deletions: int

    @property
    def settled(self) -> bool:
        others = any(use.attachments for use in self.backends if use.backend != self.default)
        return not others and not self.moving and not self.pending_deletions


def storage_status(session: Session, default: str) -> StorageStatus:
    """Count the attachments per backend, the moves under way and the pending deletions."""
    uses: dict[str, BackendUse] = {default: BackendUse(default)}
    counted = select(Attachment.backend, func.count(), func.coalesce(func.sum(Attachment.size), 0))
    for name, count, size in session.execute(counted.group_by(Attachment.backend)):
        use = uses.setdefault(name, BackendUse(name))
        use.attachments, use.bytes = int(count), int(size)
    moving = 0
    arriving = select(Attachment.moving_to, func.count()).where(Attachment.moving_to.is_not(None))
    for target, count in session.execute(arriving.group_by(Attachment.moving_to)):
        uses.setdefault(str(target), BackendUse(str(target))).arriving = int(count)
        moving += int(count)
    pending = session.scalar(select(func.count()).select_from(BlobDeletion)) or 0
    return StorageStatus(
        default=default,
        backends=sorted(uses.values(), key=lambda u: u.backend),
        moving=moving,
        pending_deletions=int(pending),
    )
