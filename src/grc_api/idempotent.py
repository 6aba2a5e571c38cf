"""Every ``POST`` in one way: ``Idempotency-Key`` → replay → act → remember → respond.

A client that lost the answer to a ``POST`` (a phone leaving coverage) sends it again with the
same ``Idempotency-Key``: the first answer is stored with the key in the transaction of the
change it reports, so the retry either finds it and gets it back (``Idempotent-Replayed:
true``) without anything being done twice, or finds nothing because the first attempt changed
nothing.  The key's fingerprint is the method, the path, the query and the request's body as
validated (so key order and spacing do not matter): the same key sent with another request —
another operation, or the same one with another body — is refused with 422, never answered
with the wrong response.

:func:`idempotent_post` runs the whole sequence for a route; :class:`Idempotency` gives its
steps to a route that cannot run them in one transaction (a streamed upload).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from grc_api.auth import Principal
from grc_api.context import IDEMPOTENCY_RETENTION, Api, etag_of, idempotency_key
from grc_api.problems import ApiProblem
from grc_api.rendering import FastJSONResponse
from grc_core import errors
from grc_core.facade import Work
from grc_core.models import IdempotencyKey
from grc_core.timeutil import utcnow

#: Builds the ``Location`` of a created resource from its representation (as JSON data, so
#: that a replayed response gets it too).
Locate = Callable[[Mapping[str, Any]], str]


@dataclass
class Outcome:
    """What an action returns when the defaults do not fit.

    :param version: the ``ETag`` when the representation carries no ``version`` of its own.
    """

    body: BaseModel
    status: int | None = None
    version: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(request: Request, body: BaseModel | Mapping[str, Any] | None) -> str:
    """What identifies a request for its key: method, path, query and validated body (or,
    for a streamed upload, what is known of it before it is stored: its file name)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    if body is not None:
        data = body.model_dump(mode="json") if isinstance(body, BaseModel) else dict(body)
        digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def respond(
    data: Mapping[str, Any],
    status: int,
    *,
    version: int | None = None,
    location: Locate | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON response, its ``ETag`` (the representation's version) and ``Location``."""
    extra = dict(headers or {})
    tag = etag_of(data.get("version", version) if isinstance(data, Mapping) else version)
    if tag:
        extra["ETag"] = tag
    if location is not None:
        extra["Location"] = location(data)
    return FastJSONResponse(dict(data), status_code=status, headers=extra)


class Idempotency:
    """The ``Idempotency-Key`` of one request and its fingerprint (checked on creation:
    a malformed key is a 400 before anything is done)."""

    def __init__(
        self,
        request: Request,
        body: BaseModel | Mapping[str, Any] | None = None,
        *,
        location: Locate | None = None,
    ) -> None:
        self.key = idempotency_key(request)
        # Only a request with a key is ever compared: the body is not written out for the
        # others (most creations send no key).
        self.fingerprint = fingerprint(request, body) if self.key is not None else ""
        self.location = location

    def replay(self, work: Work) -> JSONResponse | None:
        """The stored response of an earlier request with this key, if there was one."""
        if self.key is None:
            return None
        row = work.session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == work.actor.id,
                IdempotencyKey.key == self.key,
                IdempotencyKey.created_at >= utcnow() - IDEMPOTENCY_RETENTION,
            )
        )
        if row is None:
            return None
        if row.fingerprint != self.fingerprint:
            raise ApiProblem(
                422,
                "this Idempotency-Key was already used for another request (another operation "
                "or another body); use a new key",
                slug="idempotency-key-reused",
            )
        stored = row.response
        return respond(
            stored["body"],
            row.status_code,
            version=stored.get("version"),
            location=self.location,
            headers={"Idempotent-Replayed": "true"},
        )

    def remember(
        self, work: Work, status: int, body: BaseModel, *, version: int | None = None
    ) -> None:
        """Store the response under the key, in the transaction of the change it reports.

        The representation is stored with the version its ``ETag`` gives (not every
        representation carries it), so that a replay answers with the same headers.  Only
        requests fingerprinted here can match these rows, so this form is read back by
        :meth:`replay` alone.
        """
        if self.key is None:
            return
        data = {"body": json.loads(body.model_dump_json()), "version": version}
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
                        key=self.key,
                        fingerprint=self.fingerprint,
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


def idempotent_post(
    api: Api,
    principal: Principal,
    request: Request,
    act: Callable[[Work], BaseModel | Outcome],
    *,
    body: BaseModel | None = None,
    status: int = 201,
    location: Locate | None = None,
    read_only: bool = False,
    current: Callable[[Work], BaseModel | None] | None = None,
) -> JSONResponse:
    """Run a ``POST``: replay a stored answer, or act and remember the answer with the key.

    :param act: does the work in the caller's transaction and returns the representation
        (or an :class:`Outcome`).
    :param body: the validated request body (part of the key's fingerprint).
    :param status: the success status unless the outcome says otherwise.
    :param read_only: for a ``POST`` that changes nothing (a dry run): it is simply run again,
        the key is checked but nothing is stored.
    :param current: loads the representation of the record being changed, for the 412 of a
        concurrent change (see :meth:`grc_api.context.Api.work`).
    """
    idem = Idempotency(request, body, location=location)
    with api.work(principal, read_only=read_only, current=current) as work:
        if not read_only and (done := idem.replay(work)) is not None:
            return done
        result = act(work)
        outcome = result if isinstance(result, Outcome) else Outcome(result)
        code = outcome.status or status
        if not read_only:
            idem.remember(work, code, outcome.body, version=outcome.version)
        data = outcome.body.model_dump(mode="json")
    return respond(data, code, version=outcome.version, location=location, headers=outcome.headers)
