"""Attachments: checked, scanned, checksummed and streamed into a storage backend.

The order of operations is what keeps the database and the storage in step:

1. the upload is streamed into a temporary file (size bounded as it arrives, SHA-256 and
   scanners fed chunk by chunk), then its name, type and container are checked — nothing
   reaches a backend before the file is accepted;
2. the blob is stored under a key the core generates;
3. the row is added in the caller's transaction.  If that transaction rolls back, the blob
   is deleted; if the process dies first, the blob is an orphan that
   :func:`grc_core.services.storage_admin.verify_storage` finds and removes.

Deleting an attachment records the blob's deletion in the same transaction; the blob goes
once the transaction commits (or at the next repair, if the process died in between).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, Engine, delete, event, or_, select
from sqlalchemy.orm import Session

from grc_core.backends import Backends
from grc_core.errors import (
    AttachmentNotFound,
    AttachmentRefused,
    BlobNotFound,
    ConfigError,
    FileInfected,
    FileTooLarge,
    GrcError,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from grc_core.files.names import clean_filename
from grc_core.files.rules import SCANNING_MODES, STRIP_MODES, refusal
from grc_core.files.sniff import FILE_TYPES, SNIFF_BYTES, ContentLimits, check_content
from grc_core.models import (
    Attachment,
    AttachmentPolicy,
    BlobDeletion,
    EventKind,
    Exchange,
    User,
)
from grc_core.plugins.scanning import Scanner
from grc_core.services.companies import get_company
from grc_core.services.events import diff, record_event
from grc_core.services.exchanges import get_exchange
from grc_core.services.opportunities import get_opportunity
from grc_core.services.users import require_active, require_admin
from grc_core.storage.backend import CHUNK_SIZE, StorageBackend
from grc_core.storage.keys import new_key
from grc_core.visibility import audience_of_record, can_modify, visible_exchanges

log = logging.getLogger(__name__)

MAX_SIZE_CEILING = 10 * 1024**3
#: The ``origin`` of uploads sent by the mobile app (their images are stripped of location
#: and camera metadata under the default ``strip_image_metadata = mobile``).
MOBILE = "mobile"
_IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/gif"})
_NEW_BLOBS = "grc.new_blobs"
_FREED_BLOBS = "grc.freed_blobs"


# --- policy ---------------------------------------------------------------------------------


def get_policy(session: Session) -> AttachmentPolicy:
    """The attachment policy (seeded by the migrations)."""
    policy = session.get(AttachmentPolicy, 1)
    if policy is None:  # pragma: no cover - the migration inserts it
        raise StorageError("the attachment policy row is missing: run `grc db upgrade`")
    return policy


def set_policy(
    session: Session,
    actor: User,
    *,
    max_size: int | None = None,
    allowed_extensions: Sequence[str] | None = None,
    allow_macros: bool | None = None,
    zip_max_entries: int | None = None,
    zip_max_uncompressed: int | None = None,
    zip_max_ratio: int | None = None,
    allow_nested_archives: bool | None = None,
    allow_active_pdf: bool | None = None,
    max_image_pixels: int | None = None,
    scanning: str | None = None,
    strip_image_metadata: str | None = None,
) -> AttachmentPolicy:
    """Change the attachment policy; only the arguments given change.

    :param scanning: ``required`` (refuse every file while no virus scanner is active),
        ``optional`` (scan when a scanner is active) or ``off``.
    :param strip_image_metadata: ``always``, ``mobile`` (images sent by the mobile app) or
        ``never``.
    """
    require_admin(actor, "changing the attachment policy")
    policy = get_policy(session)
    before = _policy_fields(policy)
    for name, choice, choices in (
        ("scanning", scanning, SCANNING_MODES),
        ("strip_image_metadata", strip_image_metadata, STRIP_MODES),
    ):
        if choice is None:
            continue
        if choice not in choices:
            raise ValidationError(f"{name} must be one of {', '.join(choices)}", field=name)
        setattr(policy, name, choice)
    for flag, allowed in (
        ("allow_nested_archives", allow_nested_archives),
        ("allow_active_pdf", allow_active_pdf),
    ):
        if allowed is not None:
            if not isinstance(allowed, bool):
                raise ValidationError(f"{flag} must be true or false", field=flag)
            setattr(policy, flag, allowed)
    for name, value in (
        ("max_size", max_size),
        ("zip_max_entries", zip_max_entries),
        ("zip_max_uncompressed", zip_max_uncompressed),
        ("zip_max_ratio", zip_max_ratio),
        ("max_image_pixels", max_image_pixels),
    ):
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 < value <= MAX_SIZE_CEILING
        ):
            raise ValidationError(f"{name} must be a positive integer up to {MAX_SIZE_CEILING}")
        setattr(policy, name, value)
    if allowed_extensions is not None:
        cleaned = sorted({e.strip().lower().lstrip(".") for e in allowed_extensions})
        unknown = [e for e in cleaned if e not in FILE_TYPES]
        if unknown or not cleaned:
            raise ValidationError(
                f"extensions {', '.join(unknown) or '(none)'} cannot be verified; "
                f"accepted: {', '.join(sorted(FILE_TYPES))}",
                field="allowed_extensions",
            )
        policy.allowed_extensions = cleaned
    if allow_macros is not None:
        policy.allow_macros = allow_macros
    session.flush()
    changes = diff(before, _policy_fields(policy))
    if changes:
        record_event(
            session,
            actor,
            EventKind.ATTACHMENT_POLICY_CHANGED,
            entity_type="attachment_policy",
            entity_id=policy.id,
            company_id=None,
            changes=changes,
        )
    return policy


def _policy_fields(policy: AttachmentPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in _POLICY_FIELDS}


_POLICY_FIELDS = (
    "max_size",
    "allowed_extensions",
    "allow_macros",
    "zip_max_entries",
    "zip_max_uncompressed",
    "zip_max_ratio",
    "allow_nested_archives",
    "allow_active_pdf",
    "max_image_pixels",
    "scanning",
    "strip_image_metadata",
)


# --- visibility -----------------------------------------------------------------------------


def visible_attachments(actor: User) -> ColumnElement[bool]:
    """A ``WHERE`` predicate on :class:`Attachment`: those of exchanges ``actor`` may see,
    and every company or opportunity attachment."""
    return or_(
        Attachment.exchange_id.is_(None),
        Attachment.exchange_id.in_(select(Exchange.id).where(visible_exchanges(actor))),
    )


def get_attachment(session: Session, actor: User, attachment_id: int) -> Attachment:
    """An attachment ``actor`` may see (the same rule as its exchange)."""
    require_active(actor)
    found = session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, visible_attachments(actor))
    )
    if found is None:
        raise AttachmentNotFound(f"no attachment {attachment_id} visible to {actor.login!r}")
    return found


def list_attachments(
    session: Session,
    actor: User,
    *,
    exchange_id: int | None = None,
    company_id: int | None = None,
    opportunity_id: int | None = None,
) -> list[Attachment]:
    """The attachments of one record, oldest first (an invisible exchange has none)."""
    kind, ident = _owner(exchange_id, company_id, opportunity_id)
    stmt = (
        select(Attachment)
        .where(getattr(Attachment, f"{kind}_id") == ident, visible_attachments(actor))
        .order_by(Attachment.id)
    )
    return list(session.scalars(stmt))


def _owner(
    exchange_id: int | None, company_id: int | None, opportunity_id: int | None
) -> tuple[str, int]:
    given = [
        (kind, ident)
        for kind, ident in (
            ("exchange", exchange_id),
            ("company", company_id),
            ("opportunity", opportunity_id),
        )
        if ident is not None
    ]
    if len(given) != 1:
        raise ValidationError("give exactly one of exchange_id, company_id or opportunity_id")
    return given[0]


# --- attaching ------------------------------------------------------------------------------


class _Spool:
    """The upload copied to an anonymous temporary file while it is measured and hashed."""

    def __init__(self, spool_dir: Path | None) -> None:
        self.file: BinaryIO = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.head = b""

    def fill(self, stream: BinaryIO, max_size: int, scanners: Sequence[Scanner]) -> None:
        scans: list[Any] = []
        try:
            for scanner in scanners:
                scans.append(_scanning(scanner, scanner.start))
            while chunk := stream.read(CHUNK_SIZE):
                self.size += len(chunk)
                if self.size > max_size:
                    # Refused as soon as the limit is crossed: the rest is never read.
                    raise refusal(
                        "size",
                        f"the file is larger than the {max_size:,}-byte limit "
                        f"({max_size / 1024 / 1024:g} MB); it was not stored",
                        cls=FileTooLarge,
                    )
                if len(self.head) < SNIFF_BYTES:
                    self.head += chunk[: SNIFF_BYTES - len(self.head)]
                self.sha256.update(chunk)
                for scanner, scan in zip(scanners, scans, strict=True):
                    _scanning(scanner, scan.feed, chunk)
                self.file.write(chunk)
            for scanner, scan in zip(scanners, scans, strict=True):
                verdict = _scanning(scanner, scan.finish)
                if not verdict.clean:
                    raise refusal(
                        "antivirus",
                        f"the {_name_of(scanner)} scanner refused the file: {verdict.reason}",
                        cls=FileInfected,
                    )
        finally:
            for scan in scans:
                scan.close()
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _name_of(scanner: Scanner) -> str:
    return str(getattr(scanner, "name", type(scanner).__name__))


def _scanning(scanner: Scanner, step: Any, *args: Any) -> Any:
    """Run one step of a scan; a scanner that cannot decide refuses the file (fail closed)."""
    try:
        return step(*args)
    except GrcError as exc:
        if isinstance(exc, AttachmentRefused):
            raise
        why = str(exc)
    except Exception as exc:  # a plugin's bug or its daemon's failure: never store unscanned
        why = f"{type(exc).__name__}: {exc}"
    raise refusal(
        "antivirus",
        f"virus scanner unavailable ({_name_of(scanner)}: {why}); the file was not stored",
        cls=FileInfected,
    )


def attach(
    session: Session,
    actor: User,
    backends: Backends,
    stream: BinaryIO,
    filename: str,
    *,
    exchange_id: int | None = None,
    company_id: int | None = None,
    opportunity_id: int | None = None,
    scanners: Sequence[Scanner] = (),
    spool_dir: Path | None = None,
    origin: str | None = None,
) -> Attachment:
    """Attach the file read from ``stream`` to one exchange, company or opportunity.

    :param stream: read in chunks, never whole; the caller closes it.
    :param filename: the name the user gave; it is checked and kept for display only.
    :param scanners: content scanners (antivirus) that may refuse the file.
    :param spool_dir: where the upload is spooled while it is checked (default: the
        system's temporary directory).
    :param origin: where the upload comes from; :data:`MOBILE` for the mobile app, whose
        images are stripped of their metadata under the default policy.
    :raises AttachmentRefused: the name, size, type, container or a scanner refused the
        file (subclasses :class:`FileTooLarge`, :class:`FileInfected`); nothing is stored.
    :raises StorageError: the backend failed; nothing is stored.
    """
    require_active(actor)
    kind, ident = _owner(exchange_id, company_id, opportunity_id)
    owner_company, context = _check_owner(session, actor, kind, ident)
    display_name, extension = clean_filename(filename)
    policy = get_policy(session)
    if extension not in policy.allowed_extensions:
        raise refusal(
            "extension",
            f".{extension} files are not accepted; accepted: "
            f"{', '.join('.' + e for e in policy.allowed_extensions)}",
            field="filename",
        )
    scanners = _active_scanners(policy.scanning, scanners)

    spool = _Spool(spool_dir)
    stripped: BinaryIO | None = None
    try:
        spool.fill(stream, policy.max_size, scanners)
        if FILE_TYPES[extension].mime in _IMAGE_MIMES and _strips(policy, origin):
            stripped = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed below
        mime = check_content(
            spool.file,
            spool.head,
            extension,
            content_limits(policy),
            size=spool.size,
            strip_to=stripped,
        )
        stored, size, sha256 = spool.file, spool.size, spool.sha256.hexdigest()
        if stripped is not None:
            stored = stripped
            size, sha256 = _measure(stripped)
        stored.seek(0)
        backend = backends.default
        core_key = new_key()
        metadata = {**context, "filename": display_name, "author": actor.login}
        storage_key = backend.put(core_key, stored, size=size, metadata=metadata)
    finally:
        spool.close()
        if stripped is not None:
            stripped.close()

    attachment = Attachment(
        filename=display_name,
        extension=extension,
        mime_type=mime,
        size=size,
        sha256=sha256,
        core_key=core_key,
        backend=backends.default_name,
        storage_key=storage_key,
        author_id=actor.id,
        **{f"{kind}_id": ident},
    )
    _track(session, backends, _NEW_BLOBS, (backends.default_name, storage_key))
    try:
        session.add(attachment)
        session.flush()
    except Exception:
        _delete_quietly(backend, storage_key)
        raise
    record_event(
        session,
        actor,
        EventKind.ATTACHMENT_ADDED,
        entity_type="attachment",
        entity_id=attachment.id,
        company_id=owner_company,
        changes={
            "filename": [None, display_name],
            "size": [None, attachment.size],
            "mime_type": [None, mime],
            f"{kind}_id": [None, ident],
        },
        audience=audience_of_record(session, kind, ident),
    )
    return attachment


def content_limits(policy: AttachmentPolicy) -> ContentLimits:
    """The policy's settings for the content checks."""
    return ContentLimits(
        max_entries=policy.zip_max_entries,
        max_uncompressed=policy.zip_max_uncompressed,
        allow_macros=policy.allow_macros,
        max_ratio=policy.zip_max_ratio,
        allow_nested=policy.allow_nested_archives,
        allow_active_pdf=policy.allow_active_pdf,
        max_image_pixels=policy.max_image_pixels,
    )


def _active_scanners(scanning: str, scanners: Sequence[Scanner]) -> Sequence[Scanner]:
    if scanning == "off":
        return ()
    if scanning == "required" and not scanners:
        raise refusal(
            "antivirus",
            "no virus scanner is active and the policy requires one; an administrator must "
            "configure one (GRC_CLAMAV_ADDRESS for clamd) or change the policy's scanning",
            cls=FileInfected,
        )
    return scanners


def _strips(policy: AttachmentPolicy, origin: str | None) -> bool:
    return policy.strip_image_metadata == "always" or (
        policy.strip_image_metadata == MOBILE and origin == MOBILE
    )


def _measure(file: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 of a spooled file, read in chunks."""
    file.flush()
    file.seek(0)
    digest, size = hashlib.sha256(), 0
    while chunk := file.read(CHUNK_SIZE):
        size += len(chunk)
        digest.update(chunk)
    return size, digest.hexdigest()


def _check_owner(
    session: Session, actor: User, kind: str, ident: int
) -> tuple[int | None, dict[str, str]]:
    """Check that ``actor`` may attach to the record; its company id and layout hints."""
    if kind == "exchange":
        exchange = get_exchange(session, actor, ident)
        if not can_modify(actor, exchange):
            raise PermissionDenied(
                "only the author, the assigned users or an administrator may attach files "
                f"to exchange {exchange.id}"
            )
    return layout_hints(session, kind, ident)


def layout_hints(session: Session, kind: str, ident: int) -> tuple[int | None, dict[str, str]]:
    """The owner's company id, and the display hints a GED uses to file the document."""
    if kind == "exchange":
        exchange = session.get(Exchange, ident)
        if exchange is None:
            raise ValidationError(f"no exchange {ident}")
        hints = {
            "exchange_id": str(exchange.id),
            "subject": exchange.subject,
            "date": exchange.start_at.date().isoformat(),
        }
        if exchange.company is not None:
            hints["company"] = exchange.company.name
        return exchange.company_id, hints
    if kind == "company":
        company = get_company(session, ident)
        return company.id, {"company": company.name}
    opportunity = get_opportunity(session, ident)
    return opportunity.company_id, {
        "company": opportunity.company.name,
        "subject": opportunity.title,
    }


# --- reading and deleting -------------------------------------------------------------------


def open_attachment(
    session: Session, actor: User, backends: Backends, attachment_id: int
) -> tuple[Attachment, BinaryIO]:
    """The attachment and a stream of its content (use it in a ``with`` block)."""
    attachment = get_attachment(session, actor, attachment_id)
    return attachment, backends.get(attachment.backend).open(attachment.storage_key)


def iter_content(stream: BinaryIO) -> Iterable[bytes]:
    """The chunks of an opened attachment stream."""
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def delete_attachment(
    session: Session, actor: User, backends: Backends, attachment_id: int
) -> None:
    """Delete an attachment; its blob goes once the transaction commits."""
    attachment = get_attachment(session, actor, attachment_id)
    kind, ident = attachment.owner
    if kind == "exchange":
        exchange = get_exchange(session, actor, ident)
        if not can_modify(actor, exchange):
            raise PermissionDenied(f"you may not change the attachments of exchange {ident}")
    elif not (actor.is_admin or actor.id == attachment.author_id):
        raise PermissionDenied("only its author or an administrator may delete this attachment")
    remove_rows(session, backends, [attachment])
    record_event(
        session,
        actor,
        EventKind.ATTACHMENT_DELETED,
        entity_type="attachment",
        entity_id=attachment.id,
        company_id=_company_of(session, attachment),
        changes={"filename": [attachment.filename, None], f"{kind}_id": [ident, None]},
        audience=audience_of_record(session, kind, ident),
    )


def remove_rows(session: Session, backends: Backends | None, rows: Iterable[Attachment]) -> None:
    """Delete attachment rows and record their blobs' deletion.

    With ``backends`` the blobs are deleted as soon as the transaction commits; without, the
    recorded deletions wait for :func:`purge_pending` (``grc storage verify --repair``).

    :raises ConfigError: with ``backends``, a blob is on a backend that cannot be built here
        (not configured, client not installed); nothing was changed.
    """
    rows = list(rows)
    if backends is not None:
        # Checked before the first change: once committed, a deletion whose blob cannot be
        # reached would be reported as a failure although the row and its event are gone.
        for attachment in rows:
            for name, _key in _blobs_of(attachment):
                _require_backend(backends, name, attachment.id)
    for attachment in rows:
        for name, key in _blobs_of(attachment):
            session.add(BlobDeletion(backend=name, storage_key=key))
            if backends is not None:
                _track(session, backends, _FREED_BLOBS, (name, key))
        session.delete(attachment)
    session.flush()


def _require_backend(backends: Backends, name: str, attachment_id: int) -> None:
    try:
        backends.get(name)
    except GrcError as exc:
        raise ConfigError(
            f"attachment {attachment_id} is stored on the storage backend {name!r}, which "
            f"cannot be used here ({exc}); nothing was deleted: configure [grc.storage.{name}] "
            "as it was when the attachment was stored, then try again"
        ) from exc


def _blobs_of(attachment: Attachment) -> list[tuple[str, str]]:
    blobs = [(attachment.backend, attachment.storage_key)]
    if attachment.moving_to and attachment.moving_key:
        blobs.append((attachment.moving_to, attachment.moving_key))
    return blobs


def _company_of(session: Session, attachment: Attachment) -> int | None:
    kind, ident = attachment.owner
    if kind == "company":
        return ident
    if kind == "opportunity":
        return get_opportunity(session, ident).company_id
    return session.scalar(select(Exchange.company_id).where(Exchange.id == ident))


# --- keeping blobs in step with transactions ------------------------------------------------


def _track(session: Session, backends: Backends, bucket: str, blob: tuple[str, str]) -> None:
    if "grc.backends" not in session.info:
        session.info["grc.backends"] = backends
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    session.info.setdefault(bucket, []).append(blob)


def _after_commit(session: Session) -> None:
    session.info.pop(_NEW_BLOBS, None)
    freed: list[tuple[str, str]] = session.info.pop(_FREED_BLOBS, [])
    if not freed:
        return
    try:
        purge_blobs(session.get_bind(), session.info["grc.backends"], freed)
    except Exception as exc:
        # The deletion is committed: failing now would report it as not done.  The recorded
        # deletions stay for `grc storage verify --repair`.
        log.warning("deleted blobs left for repair (%d): %s", len(freed), exc)


def _after_rollback(session: Session) -> None:
    # The rows are gone with the transaction: their new blobs must go too.  Blobs that were
    # to be freed stay, since their rows are back.
    session.info.pop(_FREED_BLOBS, None)
    backends: Backends = session.info["grc.backends"]
    for name, key in session.info.pop(_NEW_BLOBS, []):
        backend = _backend_or_none(backends, name)
        if backend is not None:
            _delete_quietly(backend, key)


def _backend_or_none(backends: Backends, name: str) -> StorageBackend | None:
    try:
        return backends.get(name)
    except GrcError as exc:
        log.warning("storage backend %r cannot be used (%s); its blobs wait for repair", name, exc)
        return None


def _delete_quietly(backend: StorageBackend, key: str) -> bool:
    try:
        backend.delete(key)
    except BlobNotFound:
        return True
    except StorageError as exc:
        # Left for `grc storage verify --repair`: an orphan is harmless, a lost row is not.
        log.warning("could not delete blob %s from %s: %s", key, backend.name, exc)
        return False
    return True


def purge_blobs(bind: Any, backends: Backends, blobs: Iterable[tuple[str, str]]) -> int:
    """Delete blobs whose rows are gone, then their pending-deletion rows; return how many.

    ``bind`` is an engine (a new transaction is used) or a connection already in one.
    """
    done = []
    for name, key in blobs:
        # A backend that is no longer configured keeps its deletions pending, reported by
        # `grc storage verify`, instead of stopping every other deletion.
        backend = _backend_or_none(backends, name)
        if backend is not None and _delete_quietly(backend, key):
            done.append((name, key))
    if not done:
        return 0
    stmt = delete(BlobDeletion).where(
        or_(*((BlobDeletion.backend == n) & (BlobDeletion.storage_key == k) for n, k in done))
    )
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            conn.execute(stmt)
    else:
        bind.execute(stmt)
    return len(done)


def pending_deletions(session: Session, older_than: datetime | None = None) -> list[BlobDeletion]:
    """Blob deletions recorded but not yet carried out."""
    stmt = select(BlobDeletion).order_by(BlobDeletion.id)
    if older_than is not None:
        stmt = stmt.where(BlobDeletion.requested_at < older_than)
    return list(session.scalars(stmt))
