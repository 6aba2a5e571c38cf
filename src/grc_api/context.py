"""What every route shares: the facade, the authenticator, transactions, ETags, idempotency."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from grc_api.auth import Authenticator, Principal
from grc_api.problems import ApiProblem
from grc_api.rendering import FastJSONResponse
from grc_api.settings import ApiSettings
from grc_core import errors
from grc_core.facade import Grc, Work
from grc_core.ids import parse_id
from grc_core.models import IdempotencyKey
from grc_core.timeutil import utcnow

IDEMPOTENCY_KEY_MAX = 255
#: How long a stored response can be replayed; older keys are forgotten.
IDEMPOTENCY_RETENTION = timedelta(hours=24)


class Api:
    """The state of one application built by :func:`grc_api.create_app`."""

    def __init__(self, grc: Grc, settings: ApiSettings, authenticator: Authenticator) -> None:
        self.grc = grc
        self.settings = settings
        self.authenticator = authenticator

    @contextmanager
    def work(
        self,
        principal: Principal,
        *,
        read_only: bool = False,
        current: Callable[[Work], BaseModel | None] | None = None,
    ) -> Iterator[Work]:
        """A transaction as the authenticated user: committed on success.

        :param current: loads the representation of the record being changed; when a
            concurrent writer wins the race (the library's :class:`VersionConflict`, or the
            ORM's ``StaleDataError``), the 412 carries what is stored now.
        """
        try:
            with self.grc.acting_as(principal.user_id, read_only=read_only) as work:
                yield work
        except (errors.VersionConflict, StaleDataError) as exc:
            detail = (
                str(exc)
                if isinstance(exc, errors.VersionConflict)
                else "the record was changed by someone else meanwhile; read it again"
            )
            extra: dict[str, Any] = {}
            headers: dict[str, str] = {}
            if current is not None:
                with self.grc.acting_as(principal.user_id, read_only=True, primary=True) as fresh:
                    now = current(fresh)
                if now is not None:
                    extra["current"] = now.model_dump(mode="json")
                    headers["ETag"] = etag_of(getattr(now, "version", None)) or ""
            raise ApiProblem(
                412, detail, slug="version-conflict", headers=headers, extra=extra
            ) from None


# -- ETags and preconditions -----------------------------------------------------------------


def etag_of(version: int | None) -> str | None:
    """The entity tag of a record at ``version`` (a strong tag: If-Match compares strongly)."""
    return None if version is None else f'"{version}"'


def with_etag(
    model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response carrying the representation's version as its ``ETag``."""
    extra = dict(headers or {})
    tag = etag_of(getattr(model, "version", None))
    if tag:
        extra["ETag"] = tag
    return FastJSONResponse(model.model_dump(mode="json"), status_code=status, headers=extra)


def required_version(request: Request) -> int | None:
    """The version ``If-Match`` names: required (428 without); ``*`` means any version."""
    header = request.headers.get("if-match")
    if header is None:
        raise ApiProblem(
            428,
            "this request needs an If-Match header with the ETag of the record as you read it "
            '(e.g. If-Match: "3"), or If-Match: * to overwrite whatever is there',
            slug="if-match-required",
        )
    return parse_if_match(header)


def optional_version(request: Request) -> int | None:
    """The version ``If-Match`` names, if the header is there."""
    header = request.headers.get("if-match")
    return None if header is None else parse_if_match(header)


def parse_if_match(header: str) -> int | None:
    value = header.strip()
    if value == "*":
        return None
    tags = [t.strip() for t in value.split(",") if t.strip()]
    if len(tags) != 1:
        raise ApiProblem(400, "If-Match takes one entity tag (or *)", slug="bad-if-match")
    tag = tags[0].removeprefix("W/")
    version = parse_id(tag[1:-1]) if len(tag) >= 3 and tag[0] == tag[-1] == '"' else None
    if version is None:
        raise ApiProblem(
            400, f"If-Match {header!r} is not an ETag given by this API", slug="bad-if-match"
        )
    return version


def check_version(record: Any, expected: int | None, current: Callable[[], BaseModel]) -> None:
    """412 with the current representation when ``record`` is not at ``expected``."""
    if expected is None:
        return
    version = getattr(record, "version", None)
    if version is not None and version != expected:
        raise ApiProblem(
            412,
            f"the record is at version {version}, not {expected}: someone changed it since "
            "you read it; the current representation is in 'current'",
            slug="version-conflict",
            headers={"ETag": etag_of(version) or ""},
            extra={"current": current().model_dump(mode="json")},
        )


def versioned_call(
    function: Callable[..., Any], *args: Any, expected: int | None, **kwargs: Any
) -> Any:
    """Call a service, passing ``expected_version`` when it takes one (the library's own
    optimistic check then runs inside the same statement as the write)."""
    if expected is not None and "expected_version" in inspect.signature(function).parameters:
        kwargs["expected_version"] = expected
    return function(*args, **kwargs)


# -- idempotency -----------------------------------------------------------------------------


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, checked."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ApiProblem(
            400,
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters "
            "(a UUID is a good choice)",
            slug="bad-idempotency-key",
        )
    return key


def _fingerprint(request: Request) -> str:
    return hashlib.sha256(f"{request.method} {request.url.path}".encode()).hexdigest()


def replay(work: Work, request: Request, key: str | None) -> JSONResponse | None:
    """The stored response of an earlier request with this key, if there was one."""
    if key is None:
        return None
    row = work.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == work.actor.id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at >= utcnow() - IDEMPOTENCY_RETENTION,
        )
    )
    if row is None:
        return None
    if row.fingerprint != _fingerprint(request):
        raise ApiProblem(
            422,
            "this Idempotency-Key was already used for another request; use a new key",
            slug="idempotency-key-reused",
        )
    headers = {"Idempotent-Replayed": "true"}
    version = row.response.get("version") if isinstance(row.response, dict) else None
    if version is not None:
        headers["ETag"] = etag_of(version) or ""
    return JSONResponse(row.response, status_code=row.status_code, headers=headers)


def remember(work: Work, request: Request, key: str | None, status: int, body: BaseModel) -> None:
    """Store the response under the key, in the transaction of the change it reports."""
    if key is None:
        return
    data = json.loads(body.model_dump_json())
    # The user's expired keys go as new ones come: the table stays small without a sweeper.
    work.session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == work.actor.id,
            IdempotencyKey.created_at < utcnow() - IDEMPOTENCY_RETENTION,
        )
    )
    try:
        with work.session.begin_nested():
            work.session.add(
                IdempotencyKey(
                    user_id=work.actor.id,
                    key=key,
                    fingerprint=_fingerprint(request),
                    status_code=status,
                    response=data,
                )
            )
            work.session.flush()
    except IntegrityError:
        # A concurrent request with the same key got there first; this one's change is
        # rolled back with it (the caller's transaction fails), the client retries.
        raise errors.Conflict(
            "a request with this Idempotency-Key is being processed; retry in a moment"
        ) from None
