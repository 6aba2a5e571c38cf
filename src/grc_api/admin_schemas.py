"""Bodies and answers of the administration endpoints: catalogue editing, rule switches,
the storage's status.  The representations of the resources themselves are those of
:mod:`grc_api.schemas`; only what those do not cover is here.
"""

from __future__ import annotations

from pydantic import Field

from grc_api.schemas import In, Out
from grc_core.services.storage_admin import StorageStatus

# -- catalogue -------------------------------------------------------------------------------


class PicklistValueUpdate(In):
    """Fields left out are unchanged; the code never changes (records refer to it)."""

    label_fr: str | None = Field(default=None, max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    closed: bool | None = Field(default=None, description="the value ends an exchange or a deal")
    position: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="1-based place among every value of the picklist, retired ones included; "
        "past the end: last",
    )
    active: bool | None = Field(default=None, description="false retires, true restores")


class CategoryUpdate(In):
    """Fields left out are unchanged; ``parent``: a code, or null to move to the top."""

    label_fr: str | None = Field(default=None, max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    parent: str | None = Field(default=None, max_length=64)
    active: bool | None = Field(default=None, description="false retires, true restores")


class FieldUpdate(In):
    """Fields left out are unchanged; the code and the type never change."""

    label: str | None = Field(default=None, max_length=200)
    required: bool | None = Field(
        default=None, description="applies to the exchanges recorded from now on"
    )
    choices: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="choice fields only; a choice taken away stays on the exchanges that have it",
    )
    active: bool | None = Field(default=None, description="false retires, true restores")


# -- rules -----------------------------------------------------------------------------------


class RuleUpdate(In):
    enabled: bool = Field(description="false: the rule fires no more until enabled again")


# -- storage ---------------------------------------------------------------------------------


class BackendUseOut(Out):
    backend: str
    attachments: int = Field(description="attachments stored there")
    bytes: int = Field(description="their total size")
    arriving: int = Field(description="attachments being moved there")


class StorageStatusOut(Out):
    """Where the attachments are; ``settled``: all on ``default``, nothing moving or pending."""

    default: str = Field(description="the backend new attachments go to")
    backends: list[BackendUseOut]
    moving: int = Field(description="attachments with a move under way (resumed when run again)")
    pending_deletions: int = Field(description="blobs still to delete after a move or deletion")
    settled: bool

    @classmethod
    def of(cls, status: StorageStatus) -> StorageStatusOut:
        return cls(
            default=status.default,
            backends=[
                BackendUseOut(
                    backend=u.backend, attachments=u.attachments, bytes=u.bytes, arriving=u.arriving
                )
                for u in status.backends
            ],
            moving=status.moving,
            pending_deletions=status.pending_deletions,
            settled=status.settled,
        )
