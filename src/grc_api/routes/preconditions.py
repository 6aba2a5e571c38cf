"""ETags for the representations that do not carry their record's ``version``.

Picklist values, categories, custom fields, rules and preferences are versioned records whose
representations (shared with the command line's ``--json``) have no ``version`` field: their
``ETag`` comes from the record itself, and so does the one of a 412's ``current``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from grc_api.context import etag_of
from grc_api.problems import ApiProblem
from grc_core.facade import Work


class WithVersion:
    """A representation and its record's version, for ``Api.work``'s ``current`` (which
    dumps what it is given and reads its ``version`` for the 412's ``ETag``)."""

    def __init__(self, model: BaseModel, version: int | None) -> None:
        self.model = model
        self.version = version

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        return dict(self.model.model_dump(**kwargs))


def current_of(
    load: Callable[[Work], Any], out: Callable[[Any], BaseModel]
) -> Callable[[Work], Any]:
    """``Api.work``'s ``current`` for a record loaded by ``load`` and shown by ``out``."""

    def current(work: Work) -> WithVersion:
        record = load(work)
        return WithVersion(out(record), record.version)

    return current


def check(version: int | None, expected: int | None, current: Callable[[], BaseModel]) -> None:
    """412 with the current representation and its ``ETag`` when ``version`` is not the
    ``expected`` one (``None``: ``If-Match: *`` or none given, no check)."""
    if expected is None or version == expected:
        return
    raise ApiProblem(
        412,
        f"the record is at version {version}, not {expected}: someone changed it since you "
        "read it; the current representation is in 'current'",
        slug="version-conflict",
        headers={"ETag": etag_of(version) or ""},
        extra={"current": current().model_dump(mode="json")},
    )
