"""The GRC data model (SQLAlchemy 2 typed declarative).

A model module is imported when one of its names is first read from this package
(``from grc_core.models import Exchange`` imports the exchange module and the modules it
refers to, not the notification, device or attachment ones): declaring the models a
command does not use was a sixth of a short command's start-up.  No model refers to
another module's model except through an import of that module, so a mapper is always
declared with everything its relationships name.  ``Base`` itself imports every module:
what reads its metadata (Alembic, schema comparisons) sees every table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grc_core.models.api_token import ApiToken, IdempotencyKey
    from grc_core.models.attachment import Attachment, AttachmentPolicy, BlobDeletion
    from grc_core.models.base import Base, UTCDateTime
    from grc_core.models.category import Category
    from grc_core.models.company import Company, CompanyStatus, Contact
    from grc_core.models.custom_field import (
        CustomField,
        ExchangeFieldValue,
        FieldEntity,
        FieldType,
    )
    from grc_core.models.device import AuthFailure, Device, DeviceEnrolment, PushSubscription
    from grc_core.models.event import Event, EventKind
    from grc_core.models.exchange import (
        Exchange,
        exchange_assignees,
        exchange_contacts,
        exchange_opportunities,
    )
    from grc_core.models.installation import Installation
    from grc_core.models.notification import (
        Delivery,
        DeliveryStatus,
        Digest,
        EscalationMark,
        InboxItem,
        Preferences,
        Rule,
        Subscription,
        TargetKind,
        rule_triggers,
    )
    from grc_core.models.opportunity import Opportunity
    from grc_core.models.picklist import PicklistKind, PicklistValue
    from grc_core.models.timeline import Scope, exchange_timeline, exchange_timeline_choices
    from grc_core.models.user import User

#: The module under this package that declares each public name.
_MODULE_OF: dict[str, str] = {
    "ApiToken": "api_token",
    "IdempotencyKey": "api_token",
    "Attachment": "attachment",
    "AttachmentPolicy": "attachment",
    "BlobDeletion": "attachment",
    "Base": "base",
    "UTCDateTime": "base",
    "Category": "category",
    "Company": "company",
    "CompanyStatus": "company",
    "Contact": "company",
    "CustomField": "custom_field",
    "ExchangeFieldValue": "custom_field",
    "FieldEntity": "custom_field",
    "FieldType": "custom_field",
    "AuthFailure": "device",
    "Device": "device",
    "DeviceEnrolment": "device",
    "PushSubscription": "device",
    "Event": "event",
    "EventKind": "event",
    "Exchange": "exchange",
    "exchange_assignees": "exchange",
    "exchange_contacts": "exchange",
    "exchange_opportunities": "exchange",
    "Installation": "installation",
    "Delivery": "notification",
    "DeliveryStatus": "notification",
    "Digest": "notification",
    "EscalationMark": "notification",
    "InboxItem": "notification",
    "Preferences": "notification",
    "Rule": "notification",
    "Subscription": "notification",
    "TargetKind": "notification",
    "rule_triggers": "notification",
    "Opportunity": "opportunity",
    "PicklistKind": "picklist",
    "PicklistValue": "picklist",
    "Scope": "timeline",
    "exchange_timeline": "timeline",
    "exchange_timeline_choices": "timeline",
    "User": "user",
}

__all__ = [
    "ApiToken",
    "Attachment",
    "AttachmentPolicy",
    "AuthFailure",
    "Base",
    "BlobDeletion",
    "Category",
    "Company",
    "CompanyStatus",
    "Contact",
    "CustomField",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "DeviceEnrolment",
    "Digest",
    "EscalationMark",
    "Event",
    "EventKind",
    "Exchange",
    "ExchangeFieldValue",
    "FieldEntity",
    "FieldType",
    "IdempotencyKey",
    "InboxItem",
    "Installation",
    "Opportunity",
    "PicklistKind",
    "PicklistValue",
    "Preferences",
    "PushSubscription",
    "Rule",
    "Scope",
    "Subscription",
    "TargetKind",
    "UTCDateTime",
    "User",
    "exchange_assignees",
    "exchange_contacts",
    "exchange_opportunities",
    "exchange_timeline",
    "exchange_timeline_choices",
    "rule_triggers",
]


def _declare_all() -> None:
    """Declare every model (every table in ``Base.metadata``)."""
    for module in sorted(set(_MODULE_OF.values())):
        importlib.import_module(f"{__name__}.{module}")


def __getattr__(name: str) -> Any:
    """A public name, its module imported on first use (``Base``: every module)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name == "Base":
        _declare_all()
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later reads find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
