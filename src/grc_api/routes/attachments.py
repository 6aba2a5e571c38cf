"""Attachments: streamed upload and download (with ``Range``), list, delete; the policy."""

import hashlib
import re
import tempfile
from collections.abc import Iterator
from typing import Annotated, BinaryIO, Literal, TypedDict
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from grc_api.admin_schemas import AttachmentPolicyOut, AttachmentPolicyUpdate
from grc_api.auth import Principal
from grc_api.context import Api, required_version
from grc_api.idempotent import Idempotency, respond
from grc_api.problems import ApiProblem
from grc_api.routes import PrincipalDependency
from grc_api.routes.preconditions import check
from grc_api.schemas import AttachmentOut
from grc_api.uploads import BlockingReader, MultipartFile, upload_origin
from grc_core.errors import FileTooLarge, PermissionDenied
from grc_core.files.names import clean_filename
from grc_core.files.rules import refusal
from grc_core.models import AttachmentPolicy
from grc_core.services import attachments, companies, exchanges, opportunities
from grc_core.services.concurrency import lock_for_update
from grc_core.services.users import require_admin
from grc_core.visibility import can_modify

CHUNK = 64 * 1024
Owner = Literal["exchanges", "companies", "opportunities"]


class _OwnerArg(TypedDict, total=False):
    """The one keyword naming an attachment's owner in the attachments service."""

    exchange_id: int
    company_id: int
    opportunity_id: int


def _owner_arg(owner: Owner, owner_id: int) -> _OwnerArg:
    """The service's keyword for ``owner`` (typed, unlike a dict built from its name)."""
    if owner == "exchanges":
        return {"exchange_id": owner_id}
    if owner == "companies":
        return {"company_id": owner_id}
    return {"opportunity_id": owner_id}


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC 8187)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range ``header`` asks for, as (first, last) inclusive; None = whole.

    :raises ApiProblem: 416 when the range lies outside the file.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # a syntax we do not serve (several ranges): the whole file, as allowed
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return None
    if first_s:
        first = int(first_s)
        last = min(int(last_s), size - 1) if last_s else size - 1
    else:  # the last N bytes
        length = int(last_s)
        first, last = max(size - length, 0), size - 1
    if first >= size or first > last or size == 0:
        raise ApiProblem(
            416,
            f"the range {header!r} is outside the file ({size} bytes)",
            slug="range-not-satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


def _stream(stream: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    """``length`` bytes from ``first``: seek when the backend allows it, else skip."""
    with stream:
        if first:
            seekable = getattr(stream, "seekable", lambda: False)()
            if seekable:
                stream.seek(first)
            else:
                skip = first
                while skip:
                    skipped = stream.read(min(CHUNK, skip))
                    if not skipped:
                        return
                    skip -= len(skipped)
        left = length
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["attachments"])
    Caller = Annotated[Principal, Depends(auth)]

    @r.get("/{owner}/{owner_id}/attachments", response_model=list[AttachmentOut])
    def list_attachments(principal: Caller, owner: Owner, owner_id: int) -> list[AttachmentOut]:
        """The attachments of an exchange, a company or an opportunity."""
        with api.work(principal, read_only=True) as work:
            found = attachments.list_attachments(
                work.session, work.actor, **_owner_arg(owner, owner_id)
            )
            return [AttachmentOut.of(a) for a in found]

    @r.post(
        "/{owner}/{owner_id}/attachments",
        response_model=AttachmentOut,
        status_code=201,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            }
        },
    )
    async def upload(
        principal: Caller, owner: Owner, owner_id: int, request: Request
    ) -> JSONResponse:
        """Attach a file (multipart/form-data, part ``file``), streamed into storage.

        The type is sniffed from the bytes; the policy's size limit is enforced while the
        body arrives.  With an ``Idempotency-Key``, a retried upload returns the attachment
        stored the first time.
        """
        source = MultipartFile(
            request.headers.get("content-type", ""), request.stream().__aiter__()
        )
        filename = await source.start()
        # The content is streamed, not known before it is stored: the key's fingerprint is
        # the path and the file name (the same key for another file name is refused).
        root = request.url.path.split("/api/v1/")[0]
        idem = Idempotency(
            request,
            {"filename": filename},
            location=lambda out: f"{root}/api/v1/attachments/{out['id']}",
        )
        if idem.key is not None:
            done = await anyio.to_thread.run_sync(_replayed, api, principal, idem)
            if done is not None:
                return done
        # Refuse before receiving the file: who may attach here, and which names and sizes.
        max_size = await anyio.to_thread.run_sync(
            _precheck, api, principal, owner, owner_id, filename
        )
        # The body is spooled to disk outside any write transaction (a slow phone must not
        # hold SQLite's write lock), measured as it arrives.
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        try:
            await anyio.to_thread.run_sync(_spool, BlockingReader(source), spool, max_size)
            spool.seek(0)

            def store() -> JSONResponse:
                with api.work(principal) as work:
                    # A concurrent retry may have finished while this one was arriving.
                    if (done := idem.replay(work)) is not None:
                        return done
                    attachment = attachments.attach(
                        work.session,
                        work.actor,
                        api.grc.backends,
                        spool,
                        filename,
                        scanners=api.grc.scanners(),
                        origin=upload_origin(principal, request.headers),
                        **_owner_arg(owner, owner_id),
                    )
                    out = AttachmentOut.of(attachment)
                    idem.remember(work, 201, out)
                return respond(out.model_dump(mode="json"), 201, location=idem.location)

            return await anyio.to_thread.run_sync(store)
        finally:
            spool.close()

    @r.get("/attachment-policy", response_model=AttachmentPolicyOut)
    def get_attachment_policy(principal: Caller) -> JSONResponse:
        """What uploads are accepted: largest size, extensions, archives, scanning (everyone:
        a client can refuse a file before sending it)."""
        with api.work(principal, read_only=True) as work:
            out, version = _policy(work.session)
        return respond(out.model_dump(mode="json"), 200, version=version)

    @r.patch("/attachment-policy", response_model=AttachmentPolicyOut)
    def set_attachment_policy(
        principal: Caller, body: AttachmentPolicyUpdate, request: Request
    ) -> JSONResponse:
        """Change the attachment policy (administrators; If-Match); fields left out are
        unchanged, files already stored are not checked again."""
        expected = required_version(request)
        with api.work(principal) as work:
            require_admin(work.actor, "changing the attachment policy")
            lock_for_update(work.session, AttachmentPolicy, 1)
            before, version = _policy(work.session)
            check(version, expected, lambda: before)
            attachments.set_policy(work.session, work.actor, **body.model_dump(exclude_none=True))
            work.session.flush()
            out, version = _policy(work.session)
        return respond(out.model_dump(mode="json"), 200, version=version)

    @r.get("/attachments/{attachment_id}", response_model=AttachmentOut)
    def get_attachment(principal: Caller, attachment_id: int) -> AttachmentOut:
        """An attachment's description."""
        with api.work(principal, read_only=True) as work:
            return AttachmentOut.of(
                attachments.get_attachment(work.session, work.actor, attachment_id)
            )

    @r.get(
        "/attachments/{attachment_id}/content",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/octet-stream": {}}, "description": "The file"},
            206: {"content": {"application/octet-stream": {}}, "description": "A byte range"},
            304: {"description": "Not modified (If-None-Match)"},
            416: {"description": "Range not satisfiable"},
        },
    )
    def download(principal: Caller, attachment_id: int, request: Request) -> Response:
        """The file, streamed; ``Range: bytes=first-last`` resumes a download."""
        with api.work(principal, read_only=True) as work:
            attachment, stream = attachments.open_attachment(
                work.session, work.actor, api.grc.backends, attachment_id
            )
            size, etag = attachment.size, f'"{attachment.sha256}"'
            mime, filename = attachment.mime_type, attachment.filename
        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-cache",
        }
        if request.headers.get("if-none-match") in (etag, f"W/{etag}"):
            stream.close()
            return Response(status_code=304, headers=headers)
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range != etag:
            wanted = None  # the file changed since the client's partial copy: send it whole
        try:
            part = parse_range(wanted, size)
        except ApiProblem:
            stream.close()
            raise
        if part is None:
            headers["Content-Length"] = str(size)
            return StreamingResponse(_stream(stream, 0, size), media_type=mime, headers=headers)
        first, last = part
        headers["Content-Length"] = str(last - first + 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return StreamingResponse(
            _stream(stream, first, last - first + 1),
            status_code=206,
            media_type=mime,
            headers=headers,
        )

    @r.delete("/attachments/{attachment_id}", status_code=204)
    def delete_attachment(principal: Caller, attachment_id: int, request: Request) -> Response:
        """Delete an attachment (If-Match: its ETag, the SHA-256, or *)."""
        tag = request.headers.get("if-match")
        if tag is None:
            raise ApiProblem(
                428,
                "deleting an attachment needs If-Match (its ETag, or *)",
                slug="if-match-required",
            )
        with api.work(principal) as work:
            attachment = attachments.get_attachment(work.session, work.actor, attachment_id)
            if tag.strip() != "*" and tag.strip().removeprefix("W/") != f'"{attachment.sha256}"':
                raise ApiProblem(
                    412,
                    "If-Match does not name this attachment's content",
                    slug="version-conflict",
                    extra={"current": AttachmentOut.of(attachment).model_dump(mode="json")},
                )
            attachments.delete_attachment(work.session, work.actor, api.grc.backends, attachment_id)
        return Response(status_code=204)

    return r


def _precheck(api: Api, principal: Principal, owner: str, owner_id: int, filename: str) -> int:
    """Refuse an upload before its content arrives; the policy's maximum size."""
    with api.work(principal, read_only=True) as work:
        if owner == "exchanges":
            exchange = exchanges.get_exchange(work.session, work.actor, owner_id)
            if not can_modify(work.actor, exchange):
                raise PermissionDenied(
                    "only the author, the assigned users or an administrator may attach files "
                    f"to exchange {exchange.id}"
                )
        elif owner == "companies":
            companies.get_company(work.session, owner_id)
        else:
            opportunities.get_opportunity(work.session, owner_id)
        policy = attachments.get_policy(work.session)
        _, extension = clean_filename(filename)
        if extension not in policy.allowed_extensions:
            raise refusal(
                "extension",
                f".{extension} files are not accepted; accepted: "
                f"{', '.join('.' + e for e in policy.allowed_extensions)}",
                field="filename",
            )
        return policy.max_size


def _spool(reader: BlockingReader, spool: BinaryIO, max_size: int) -> None:
    size = 0
    while chunk := reader.read(CHUNK):
        size += len(chunk)
        if size > max_size:
            # Refused as soon as the limit is crossed: the rest is never received.
            raise refusal(
                "size",
                f"the file is larger than the {max_size:,}-byte limit "
                f"({max_size / 1024 / 1024:g} MB); it was not stored",
                cls=FileTooLarge,
            )
        spool.write(chunk)
    spool.flush()


def _replayed(api: Api, principal: Principal, idem: Idempotency) -> JSONResponse | None:
    with api.work(principal, read_only=True) as work:
        return idem.replay(work)


def _policy(session: Session) -> tuple[AttachmentPolicyOut, int]:
    """The policy and its ETag version: the policy has no version column, so the tag is a
    digest of its settings (it changes exactly when one of them does)."""
    policy = attachments.get_policy(session)
    out = AttachmentPolicyOut.model_validate(
        {name: getattr(policy, name) for name in AttachmentPolicyOut.model_fields}
    )
    digest = hashlib.sha256(out.model_dump_json().encode()).hexdigest()
    return out, int(digest[:12], 16)
