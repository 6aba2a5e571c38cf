"""The GRC data model (SQLAlchemy 2 typed declarative)."""

from grc_core.models.api_token import ApiToken, IdempotencyKey
from grc_core.models.attachment import Attachment, AttachmentPolicy, BlobDeletion
from grc_core.models.base import Base, UTCDateTime
from grc_core.models.category import Category
from grc_core.models.company import Company, CompanyStatus, Contact
from grc_core.models.custom_field import CustomField, ExchangeFieldValue, FieldEntity, FieldType
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
