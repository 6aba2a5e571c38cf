"""The audit trail and the storage's state (administrators, read-only)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from grc_api.admin_schemas import StorageStatusOut
from grc_api.auth import Principal
from grc_api.context import Api
from grc_api.routes import PrincipalDependency
from grc_api.schemas import Out
from grc_core.queries import audit
from grc_core.services import storage_admin, users
from grc_core.services.users import require_admin


class AuditEntryOut(Out):
    """One change: ``changes`` maps each field to ``[old, new]``."""

    id: int
    occurred_at: datetime
    kind: str
    entity_type: str
    entity_id: int
    company_id: int | None
    actor: str | None
    changes: dict[str, Any]
    old_values_withheld: bool

    @classmethod
    def of(cls, entry: audit.AuditEntry) -> "AuditEntryOut":
        return cls(
            id=entry.id,
            occurred_at=entry.occurred_at,
            kind=entry.kind,
            entity_type=entry.entity_type,
            entity_id=entry.entity_id,
            company_id=entry.company_id,
            actor=entry.actor,
            changes=entry.changes,
            old_values_withheld=entry.old_values_withheld,
        )


class AuditPageOut(Out):
    items: list[AuditEntryOut]
    next_cursor: str | None
    next: str | None
    resume_cursor: str | None


class ProblemEntry(Out):
    kind: str = Field(description="missing, size, checksum, unreadable, orphan, pending, temporary")
    backend: str
    key: str
    attachment_id: int | None
    detail: str


class StorageReport(Out):
    ok: bool
    checked: int
    problems: list[ProblemEntry]


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["administration"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get("/audit", response_model=AuditPageOut)
    def audit_events(
        principal: Caller,
        request: Request,
        entity_type: Annotated[
            Literal[audit.ENTITY_TYPES] | None, Query()  # type: ignore[valid-type]
        ] = None,
        entity_id: int | None = None,
        company_id: int | None = None,
        actor: Annotated[str | None, Query(description="login")] = None,
        kind: Annotated[list[str] | None, Query(max_length=20)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        oldest_first: bool = False,
        limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> AuditPageOut:
        """Who changed what, when — as the caller may see it (administrators: everything)."""
        with api.work(principal, read_only=True) as work:
            flt = audit.AuditFilter(
                entity_type=entity_type,
                entity_id=entity_id,
                company_id=company_id,
                actor_id=users.get_user(work.session, actor).id if actor else None,
                kinds=tuple(kind or ()),
                since=since,
                until=until,
            )
            page = audit.audit_events(
                work.session, work.actor, flt, limit=limit, cursor=cursor,
                oldest_first=oldest_first,
            )  # fmt: skip
        next_url = None
        if page.next_cursor:
            next_url = str(request.url.include_query_params(cursor=page.next_cursor))
        return AuditPageOut(
            items=[AuditEntryOut.of(e) for e in page.entries],
            next_cursor=page.next_cursor,
            next=next_url,
            resume_cursor=page.resume_cursor,
        )

    @r.get("/audit/{event_id}", response_model=AuditEntryOut)
    def audit_event(principal: Caller, event_id: int) -> AuditEntryOut:
        """One change (404 when the caller may not see it)."""
        with api.work(principal, read_only=True) as work:
            return AuditEntryOut.of(audit.get_event(work.session, work.actor, event_id))

    @r.get("/storage/verify", response_model=StorageReport)
    def verify_storage(
        principal: Caller,
        checksums: Annotated[bool, Query(description="read every blob (slow)")] = False,
    ) -> StorageReport:
        """Compare attachment rows with their blobs (administrators; repairs nothing)."""
        with api.work(principal, read_only=True) as work:
            require_admin(work.actor, "verifying the storage")
        report = storage_admin.verify_storage(
            api.grc.session, api.grc.backends, checksums=checksums, repair=False
        )
        problems = [
            ProblemEntry(
                kind=p.kind,
                backend=p.backend,
                key=p.key,
                attachment_id=p.attachment_id,
                detail=p.detail,
            )
            for p in storage_admin.iter_problems(report)
        ]
        return StorageReport(ok=report.ok, checked=report.checked, problems=problems)

    @r.get("/storage/status", response_model=StorageStatusOut)
    def storage_status(principal: Caller) -> StorageStatusOut:
        """Where the attachments are, per backend, and whether a migration is under way or
        finished (administrators; read-only: migrating is ``grc storage migrate``'s)."""
        with api.work(principal, read_only=True) as work:
            require_admin(work.actor, "reading the storage's status")
            status = storage_admin.storage_status(work.session, api.grc.settings.storage_backend)
            return StorageStatusOut.of(status)

    return r
