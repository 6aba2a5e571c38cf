"""The fields a condition may use, with their types and how SQL reaches them.

The standard fields are fixed; ``custom.<code>`` fields come from the custom field
definitions, read by :meth:`Catalogue.load`.  The catalogue also knows the valid codes of
picklists, categories, company statuses, event kinds and choice fields, so that a rule
comparing ``exchange.status = 'dnoe'`` is refused when it is saved rather than never firing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.models import (
    Category,
    Company,
    CompanyStatus,
    CustomField,
    EventKind,
    Exchange,
    FieldEntity,
    FieldType,
    Opportunity,
    PicklistKind,
    PicklistValue,
)
from grc_core.models.custom_field import VALUE_COLUMN
from grc_core.rules import sql
from grc_core.rules.values import Type

#: The type in the rule language of each custom field type.
CUSTOM_TYPES: dict[FieldType, Type] = {
    FieldType.TEXT: Type.TEXT,
    FieldType.CHOICE: Type.CODE,
    FieldType.INTEGER: Type.NUMBER,
    FieldType.DECIMAL: Type.NUMBER,
    FieldType.DATE: Type.DATE,
    FieldType.BOOLEAN: Type.BOOLEAN,
}


@dataclass(frozen=True)
class FieldSpec:
    """One field of the language.

    :param name: the dotted name written in conditions, also the key of the context.
    :param type: its type.
    :param description: one line for the documentation and the CLI.
    :param multi: a to-many field (``opportunity.*``, ``exchange.assignees``): its context
        value is a tuple and a comparison holds when *some* element satisfies it.
    :param reach: how SQL reaches it from ``exchanges``; ``None`` for the ``event.*``
        fields, which are constants of the triggering event.
    :param choices: the accepted codes of a code field, when they are known.
    :param what: what a code field holds, for messages (``"status code"``, ``"login"``).
    :param custom: the custom field type, for ``custom.*`` fields.
    """

    name: str
    type: Type
    description: str
    multi: bool = False
    reach: sql.Reach | None = field(default=None, compare=False, repr=False)
    choices: frozenset[str] | None = None
    what: str = ""
    custom: FieldType | None = None

    @property
    def is_event(self) -> bool:
        """True for ``event.*`` fields, known only when an event triggers the rule."""
        return self.name.startswith("event.")


@dataclass(frozen=True)
class CustomFieldInfo:
    """What the language needs of a custom field definition."""

    id: int
    code: str
    type: FieldType
    choices: tuple[str, ...] | None = None
    active: bool = True


def _standard(
    picklists: Mapping[PicklistKind, frozenset[str]] | None,
    categories: frozenset[str] | None,
) -> list[FieldSpec]:
    def codes(kind: PicklistKind) -> frozenset[str] | None:
        return picklists.get(kind, frozenset()) if picklists is not None else None

    text, code, number, boolean = Type.TEXT, Type.CODE, Type.NUMBER, Type.BOOLEAN
    moment, day = Type.DATETIME, Type.DATE
    return [
        FieldSpec(
            "exchange.subject",
            text,
            "the subject line",
            reach=sql.column(Exchange.subject, nullable=False),
        ),
        FieldSpec(
            "exchange.details",
            text,
            "the details (empty text when none were written)",
            reach=sql.column(Exchange.details, nullable=False),
        ),
        FieldSpec(
            "exchange.action",
            code,
            "the action code (todo, call, meeting…)",
            reach=sql.picklist(Exchange.action_id),
            choices=codes(PicklistKind.ACTION),
            what="action code",
        ),
        FieldSpec(
            "exchange.status",
            code,
            "the status code (planned, in_progress, done, cancelled…)",
            reach=sql.picklist(Exchange.status_id),
            choices=codes(PicklistKind.STATUS),
            what="status code",
        ),
        FieldSpec(
            "exchange.medium",
            code,
            "the medium code; empty when none",
            reach=sql.picklist(Exchange.medium_id),
            choices=codes(PicklistKind.MEDIUM),
            what="medium code",
        ),
        FieldSpec(
            "exchange.category",
            code,
            "the category code (exactly this category, not its sub-categories); empty when none",
            reach=sql.category(),
            choices=categories,
            what="category code",
        ),
        FieldSpec(
            "exchange.private",
            boolean,
            "true for a private exchange",
            reach=sql.column(Exchange.private, nullable=False),
        ),
        FieldSpec(
            "exchange.start",
            moment,
            "when the exchange starts",
            reach=sql.column(Exchange.start_at, nullable=False),
        ),
        FieldSpec(
            "exchange.end",
            moment,
            "when the exchange ends (its due date for a to-do)",
            reach=sql.column(Exchange.end_at, nullable=False),
        ),
        FieldSpec(
            "exchange.created",
            moment,
            "when the exchange was recorded",
            reach=sql.column(Exchange.created_at, nullable=False),
        ),
        FieldSpec(
            "exchange.updated",
            moment,
            "when the exchange was last changed",
            reach=sql.column(Exchange.updated_at, nullable=False),
        ),
        FieldSpec(
            "exchange.author",
            code,
            "the author's login",
            reach=sql.user_login(Exchange.author_id),
            what="login",
        ),
        FieldSpec(
            "exchange.assignees",
            code,
            "the assigned users' logins (any of them)",
            multi=True,
            reach=sql.assignee_login(),
            what="login",
        ),
        FieldSpec(
            "company.name",
            text,
            "the company's name; empty for a global exchange",
            reach=sql.company_column(Company.name),
        ),
        FieldSpec(
            "company.status",
            code,
            "the company's status (client, prospect, suspect)",
            reach=sql.company_status(),
            choices=frozenset(s.value for s in CompanyStatus),
            what="company status",
        ),
        FieldSpec(
            "company.owner",
            code,
            "the login of the company's owner; empty when none",
            reach=sql.company_owner(),
            what="login",
        ),
        FieldSpec(
            "opportunity.title",
            text,
            "the titles of the linked opportunities (any of them)",
            multi=True,
            reach=sql.opportunity_column(Opportunity.title),
        ),
        FieldSpec(
            "opportunity.stage",
            code,
            "the stage codes of the linked opportunities (any of them)",
            multi=True,
            reach=sql.opportunity_stage(),
            choices=codes(PicklistKind.STAGE),
            what="stage code",
        ),
        FieldSpec(
            "opportunity.amount",
            number,
            "the amounts of the linked opportunities (any of them)",
            multi=True,
            reach=sql.opportunity_column(Opportunity.amount),
        ),
        FieldSpec(
            "opportunity.expected_close",
            day,
            "the expected closing dates of the linked opportunities (any of them)",
            multi=True,
            reach=sql.opportunity_column(Opportunity.expected_close),
        ),
        FieldSpec(
            "opportunity.owner",
            code,
            "the owner logins of the linked opportunities (any of them)",
            multi=True,
            reach=sql.opportunity_owner(),
            what="login",
        ),
        FieldSpec(
            "event.kind",
            code,
            "the kind of the triggering event (event rules only)",
            choices=frozenset(k.value for k in EventKind),
            what="event kind",
        ),
        FieldSpec(
            "event.actor",
            code,
            "the login of who made the change (event rules only); empty when unknown",
            what="login",
        ),
    ]


def _custom_spec(info: CustomFieldInfo) -> FieldSpec:
    retired = "" if info.active else " (retired)"
    return FieldSpec(
        f"custom.{info.code}",
        CUSTOM_TYPES[info.type],
        f"custom field {info.code!r}, {info.type.value}{retired}",
        reach=sql.custom_value(info.id, VALUE_COLUMN[info.type]),
        choices=frozenset(info.choices or ()) if info.type is FieldType.CHOICE else None,
        what="choice",
        custom=info.type,
    )


class Catalogue:
    """The fields conditions may use.

    :param custom_fields: the custom field definitions (retired ones included: their values
        are still stored and may still be tested).
    :param picklists: the codes of each picklist (retired ones included); ``None`` accepts
        any code (for a catalogue built without a database).
    :param categories: the category codes; ``None`` accepts any.
    """

    def __init__(
        self,
        custom_fields: Iterable[CustomFieldInfo] = (),
        *,
        picklists: Mapping[PicklistKind, frozenset[str]] | None = None,
        categories: frozenset[str] | None = None,
    ) -> None:
        specs = _standard(picklists, categories)
        specs += [_custom_spec(info) for info in sorted(custom_fields, key=lambda i: i.code)]
        self.fields: dict[str, FieldSpec] = {spec.name: spec for spec in specs}

    @classmethod
    def load(cls, session: Session) -> Catalogue:
        """The catalogue of the database: custom fields, picklist and category codes."""
        infos = [
            CustomFieldInfo(
                id=f.id,
                code=f.code,
                type=FieldType(f.type),
                choices=tuple(f.choices) if f.choices else None,
                active=f.active,
            )
            for f in session.scalars(
                select(CustomField).where(CustomField.entity == FieldEntity.EXCHANGE)
            )
        ]
        picklists: dict[PicklistKind, set[str]] = {kind: set() for kind in PicklistKind}
        for kind, code in session.execute(select(PicklistValue.kind, PicklistValue.code)):
            picklists[PicklistKind(kind)].add(code)
        categories = frozenset(session.scalars(select(Category.code)))
        return cls(
            infos,
            picklists={kind: frozenset(codes) for kind, codes in picklists.items()},
            categories=categories,
        )

    def get(self, name: str) -> FieldSpec | None:
        """The field called ``name``, or ``None``."""
        return self.fields.get(name)

    def suggest(self, name: str) -> list[str]:
        """Field names close to a mistyped ``name`` (best first)."""
        names = list(self.fields)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        # "subject" alone is a prefix away from "exchange.subject": suggest it too.
        tail = [n for n in names if n.split(".", 1)[1] == name.rsplit(".", 1)[-1]]
        return list(dict.fromkeys(close + tail))[:3]

    def names(self, prefix: str = "") -> list[str]:
        """The field names starting with ``prefix``, in catalogue order."""
        return [n for n in self.fields if n.startswith(prefix)]
