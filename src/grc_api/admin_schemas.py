"""Bodies and answers of the administration endpoints: catalogue editing, rule switches,
the storage's status.  The representations of the resources themselves are those of
:mod:`grc_api.schemas`; only what those do not cover is here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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


# -- notification deliveries -------------------------------------------------------------------


class DeliveryOut(Out):
    """A notification to one recipient through one channel (names as ``grc notify dead``)."""

    id: int
    status: str
    channel: str
    recipient: str = Field(description="login")
    event_id: int | None
    rule_id: int | None
    attempts: int
    last_error: str | None
    subject: str
    due_at: datetime
    created_at: datetime


class Retry(In):
    ids: list[int] = Field(min_length=1, max_length=1000, description="dead deliveries")


class Retried(Out):
    retried: list[int]


# -- attachment policy -------------------------------------------------------------------------


class AttachmentPolicyOut(Out):
    """What uploads are accepted (sizes in bytes)."""

    max_size: int
    allowed_extensions: list[str]
    allow_macros: bool
    zip_max_entries: int
    zip_max_uncompressed: int
    zip_max_ratio: int
    allow_nested_archives: bool
    allow_active_pdf: bool
    max_image_pixels: int
    scanning: str = Field(description="required, optional or off")
    strip_image_metadata: str = Field(description="always, mobile or never")


class AttachmentPolicyUpdate(In):
    """Fields left out are unchanged (``grc attachment policy set``)."""

    max_size: int | None = Field(default=None, ge=1, le=10 * 1024**3)
    allowed_extensions: list[str] | None = Field(default=None, min_length=1, max_length=200)
    allow_macros: bool | None = None
    zip_max_entries: int | None = Field(default=None, ge=1, le=1_000_000)
    zip_max_uncompressed: int | None = Field(default=None, ge=1, le=100 * 1024**3)
    zip_max_ratio: int | None = Field(default=None, ge=1, le=100_000)
    allow_nested_archives: bool | None = None
    allow_active_pdf: bool | None = None
    max_image_pixels: int | None = Field(default=None, ge=1, le=10**10)
    scanning: Literal["required", "optional", "off"] | None = None
    strip_image_metadata: Literal["always", "mobile", "never"] | None = None
