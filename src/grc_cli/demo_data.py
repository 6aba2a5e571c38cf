"""The demo's sample data: a small French sales team, its companies and their exchanges.

The demo is a list of :class:`DemoStep` run in order, each in its own transactions and
through the services only, exactly as a host application would.  Later capabilities
(attachments, search, notifications) extend it by appending steps to :data:`STEPS`.
Dates are relative to the day the demo runs, so the sample always looks current.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from grc_cli.context import build_channels, close_channels, warn
from grc_cli.output import stats_data
from grc_core.facade import Grc
from grc_core.files import samples
from grc_core.notify import rule_admin, subscriptions
from grc_core.notify.worker import DeliveryWorker
from grc_core.services import (
    attachments,
    categories,
    companies,
    custom_fields,
    exchanges,
    opportunities,
    users,
)
from grc_core.timeutil import utcnow, zone

#: The zone the sample's appointments are set in (the team works in France).
DEMO_ZONE = "Europe/Paris"

#: The administrator of the sample; administrators see private exchanges too.
ADMIN = "admin"


@dataclass
class DemoWorld:
    """What the steps created, by key, for the steps that follow (ids only, no ORM objects)."""

    today: date
    companies: dict[str, int] = field(default_factory=dict)
    contacts: dict[str, int] = field(default_factory=dict)
    opportunities: dict[str, int] = field(default_factory=dict)
    exchanges: dict[str, int] = field(default_factory=dict)
    attachments: dict[str, int] = field(default_factory=dict)
    #: What happened to the sample along the way, in words, for the demo to tell.
    events: list[str] = field(default_factory=list)
    #: What the notification workers did: ``now`` and ``later`` (the escalation sweep run
    #: as if four days had passed), each a :func:`~grc_cli.output.stats_data` dict.
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def starting_today(cls) -> DemoWorld:
        """A world whose day zero is today in Paris."""
        return cls(today=utcnow().astimezone(zone(DEMO_ZONE)).date())

    def at(self, days: int, hour: int, minute: int = 0) -> datetime:
        """``days`` from today at ``hour:minute``, Paris time."""
        day = self.today + timedelta(days=days)
        return datetime.combine(day, time(hour, minute), tzinfo=zone(DEMO_ZONE))


@dataclass(frozen=True)
class DemoStep:
    """One stage of the demo: a title shown while it runs and the work it does."""

    title: str
    run: Callable[[Grc, DemoWorld], None]


# -- the team ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserSpec:
    login: str
    name: str
    email: str
    phone: str | None = None
    admin: bool = False


TEAM = (
    UserSpec(ADMIN, "Sophie Lambert", "sophie.lambert@exemple.fr", "+33 1 42 68 10 00", True),
    UserSpec("jdupont", "Julien Dupont", "julien.dupont@exemple.fr", "+33 6 12 34 56 78"),
    UserSpec("mmartin", "Marie Martin", "marie.martin@exemple.fr", "+33 6 23 45 67 89"),
    UserSpec("lbernard", "Lucas Bernard", "lucas.bernard@exemple.fr"),
    UserSpec("cpetit", "Camille Petit", "camille.petit@exemple.fr", "+33 6 45 67 89 01"),
)


def create_team(grc: Grc, world: DemoWorld) -> None:
    """The administrator bootstraps the empty database, then adds the sales team."""
    first, *others = TEAM
    with grc.session() as session:
        admin = users.create_user(
            session,
            None,
            login=first.login,
            display_name=first.name,
            email=first.email,
            phone=first.phone,
            is_admin=True,
        )
        for spec in others:
            users.create_user(
                session,
                admin,
                login=spec.login,
                display_name=spec.name,
                email=spec.email,
                phone=spec.phone,
                is_admin=spec.admin,
            )


# -- configuration: categories and custom fields -------------------------------------------

#: (code, French label, English label, parent code)
CATEGORIES = (
    ("commercial", "Commercial", "Sales", None),
    ("relance", "Relance", "Follow-up", "commercial"),
    ("devis", "Devis", "Quote", "commercial"),
    ("support", "Support", "Support", None),
    ("incident", "Incident", "Incident", "support"),
    ("formation", "Formation", "Training", "support"),
    ("administratif", "Administratif", "Administration", None),
    ("facturation", "Facturation", "Billing", "administratif"),
)


def configure(grc: Grc, world: DemoWorld) -> None:
    """The administrator sets up the category tree and two custom fields."""
    with grc.acting_as(ADMIN) as work:
        for code, label_fr, label_en, parent in CATEGORIES:
            categories.add_category(
                work.session, work.actor, code, label_fr=label_fr, label_en=label_en, parent=parent
            )
        custom_fields.define_field(
            work.session,
            work.actor,
            "priorite",
            label="Priorité",
            type="choice",
            choices=["basse", "normale", "haute"],
        )
        custom_fields.define_field(
            work.session, work.actor, "budget", label="Budget évoqué (€)", type="decimal"
        )
        custom_fields.define_field(
            work.session, work.actor, "rappel", label="Rappel attendu", type="boolean"
        )


# -- companies, contacts and opportunities -------------------------------------------------


@dataclass(frozen=True)
class ContactSpec:
    key: str
    first_name: str
    last_name: str
    title: str
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class CompanySpec:
    key: str
    name: str
    status: str
    owner: str
    contacts: tuple[ContactSpec, ...] = ()


COMPANIES = (
    CompanySpec(
        "boulangeries",
        "Boulangeries Martin SA",
        "client",
        "jdupont",
        (
            ContactSpec(
                "eric",
                "Éric",
                "Martin",
                "Directeur général",
                "e.martin@boulangeries-martin.fr",
                "+33 4 72 10 20 30",
            ),
            ContactSpec(
                "nathalie",
                "Nathalie",
                "Roux",
                "Responsable des achats",
                "n.roux@boulangeries-martin.fr",
            ),
        ),
    ),
    CompanySpec(
        "lefevre",
        "Transports Lefèvre & Fils",
        "client",
        "mmartin",
        (
            ContactSpec(
                "pierre",
                "Pierre",
                "Lefèvre",
                "Gérant",
                "pierre@transports-lefevre.fr",
                "+33 3 20 55 44 33",
            ),
        ),
    ),
    CompanySpec(
        "moreau",
        "Cabinet Moreau Avocats",
        "prospect",
        "lbernard",
        (ContactSpec("isabelle", "Isabelle", "Moreau", "Associée", "i.moreau@cabinet-moreau.fr"),),
    ),
    CompanySpec(
        "alpes",
        "Fromagerie des Alpes",
        "prospect",
        "cpetit",
        (
            ContactSpec(
                "jean",
                "Jean",
                "Girard",
                "Directeur de production",
                "j.girard@fromagerie-alpes.fr",
                "+33 4 50 11 22 33",
            ),
        ),
    ),
    CompanySpec(
        "garnier",
        "Atelier Garnier Design",
        "suspect",
        "jdupont",
        (ContactSpec("chloe", "Chloé", "Garnier", "Fondatrice", "chloe@garnier-design.fr"),),
    ),
    CompanySpec("fontaine", "Vignobles Fontaine", "suspect", "mmartin"),
)


@dataclass(frozen=True)
class OpportunitySpec:
    key: str
    company: str
    title: str
    stage: str
    amount: str
    close_in_days: int
    owner: str


OPPORTUNITIES = (
    OpportunitySpec(
        "maintenance",
        "boulangeries",
        "Renouvellement du contrat de maintenance",
        "negotiation",
        "18500.00",
        30,
        "jdupont",
    ),
    OpportunitySpec(
        "extension",
        "boulangeries",
        "Équipement de 12 nouveaux points de vente",
        "proposal",
        "42000.00",
        75,
        "jdupont",
    ),
    OpportunitySpec(
        "flotte", "lefevre", "Module de suivi de flotte", "qualification", "27000.00", 60, "mmartin"
    ),
    OpportunitySpec(
        "cabinet",
        "moreau",
        "Équipement du cabinet (15 postes)",
        "prospecting",
        "9800.00",
        90,
        "lbernard",
    ),
    OpportunitySpec(
        "tracabilite",
        "alpes",
        "Logiciel de traçabilité des lots",
        "proposal",
        "15600.00",
        45,
        "cpetit",
    ),
)


def create_companies(grc: Grc, world: DemoWorld) -> None:
    """Each owner records their companies and contacts."""
    for spec in COMPANIES:
        with grc.acting_as(spec.owner) as work:
            company = companies.create_company(
                work.session, work.actor, name=spec.name, status=spec.status, owner=spec.owner
            )
            world.companies[spec.key] = company.id
            for person in spec.contacts:
                contact = companies.create_contact(
                    work.session,
                    work.actor,
                    company.id,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    job_title=person.title,
                    email=person.email,
                    phone=person.phone,
                )
                world.contacts[person.key] = contact.id


def create_opportunities(grc: Grc, world: DemoWorld) -> None:
    """Each owner opens their opportunities."""
    for spec in OPPORTUNITIES:
        with grc.acting_as(spec.owner) as work:
            opportunity = opportunities.create_opportunity(
                work.session,
                work.actor,
                world.companies[spec.company],
                title=spec.title,
                stage=spec.stage,
                amount=spec.amount,
                expected_close=world.today + timedelta(days=spec.close_in_days),
            )
            world.opportunities[spec.key] = opportunity.id


# -- exchanges -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeSpec:
    """One sample exchange; ``complete`` records it as planned, then closes it."""

    key: str
    author: str
    action: str
    subject: str
    days: int
    start: tuple[int, int]
    minutes: int = 0
    status: str = "planned"
    medium: str | None = None
    category: str | None = None
    company: str | None = None
    opportunities: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    private: bool = False
    custom: Mapping[str, Any] = field(default_factory=dict)
    details: str = ""
    complete: bool = False


EXCHANGES = (
    ExchangeSpec(
        "appel_maintenance",
        "jdupont",
        "call",
        "Appel de suivi du contrat de maintenance",
        -6,
        (10, 0),
        20,
        medium="phone",
        category="relance",
        company="boulangeries",
        opportunities=("maintenance",),
        contacts=("eric",),
        custom={"priorite": "haute"},
        details="Éric Martin confirme le renouvellement sur trois ans ; il attend une remise "
        "de 5 % et une proposition écrite avant la fin du mois.",
        complete=True,
    ),
    ExchangeSpec(
        "note_negociation",
        "jdupont",
        "note",
        "Note interne : marge de négociation",
        -5,
        (18, 0),
        status="done",
        category="commercial",
        company="boulangeries",
        opportunities=("maintenance",),
        private=True,
        details="Ne pas descendre sous 17 000 € HT ; la remise se justifie par l'extension.",
    ),
    ExchangeSpec(
        "rdv_extension",
        "jdupont",
        "meeting",
        "Rendez-vous de présentation de l'extension",
        3,
        (14, 0),
        120,
        medium="on_site",
        category="commercial",
        company="boulangeries",
        opportunities=("maintenance", "extension"),
        contacts=("eric", "nathalie"),
        assignees=("jdupont", "mmartin"),
        custom={"budget": Decimal("42000"), "priorite": "normale"},
        details="Présenter le déploiement dans les 12 nouveaux points de vente et le "
        "calendrier du renouvellement.",
    ),
    ExchangeSpec(
        "courrier_devis",
        "mmartin",
        "letter",
        "Envoi du devis signé par courrier",
        -10,
        (9, 0),
        status="done",
        medium="letter",
        category="devis",
        company="lefevre",
        opportunities=("flotte",),
        contacts=("pierre",),
    ),
    ExchangeSpec(
        "incident_tournees",
        "mmartin",
        "email",
        "Incident de synchronisation des tournées",
        -1,
        (8, 45),
        status="in_progress",
        medium="email",
        category="incident",
        company="lefevre",
        contacts=("pierre",),
        custom={"priorite": "haute"},
        details="Les tournées du lundi n'apparaissent plus sur les terminaux des chauffeurs.",
    ),
    ExchangeSpec(
        "relance_proposition",
        "lbernard",
        "email",
        "Relance par e-mail de la proposition",
        -2,
        (11, 30),
        status="done",
        medium="email",
        category="relance",
        company="moreau",
        opportunities=("cabinet",),
        contacts=("isabelle",),
        custom={"rappel": True},
    ),
    ExchangeSpec(
        "demo_tracabilite",
        "cpetit",
        "todo",
        "Préparer la démonstration de traçabilité",
        1,
        (9, 0),
        180,
        status="in_progress",
        category="commercial",
        company="alpes",
        opportunities=("tracabilite",),
        custom={"priorite": "haute"},
    ),
    ExchangeSpec(
        "appel_qualification",
        "jdupont",
        "call",
        "Premier appel de qualification",
        -3,
        (15, 0),
        15,
        status="done",
        medium="phone",
        category="commercial",
        company="garnier",
        contacts=("chloe",),
    ),
    ExchangeSpec(
        "prise_contact",
        "mmartin",
        "call",
        "Prise de contact avec le domaine",
        2,
        (10, 0),
        30,
        medium="phone",
        category="commercial",
        company="fontaine",
    ),
    ExchangeSpec(
        "comite_commercial",
        ADMIN,
        "report",
        "Compte rendu du comité commercial mensuel",
        -1,
        (17, 0),
        60,
        status="done",
        category="administratif",
        assignees=("jdupont", "mmartin", "lbernard", "cpetit"),
        details="Objectif du trimestre atteint à 82 %. Priorités : renouvellements clients et "
        "qualification des suspects.",
    ),
    ExchangeSpec(
        "echeance_essai",
        "cpetit",
        "call",
        "Échéance de la période d'essai du logiciel de traçabilité",
        -20,
        (11, 0),
        25,
        status="done",
        medium="phone",
        category="relance",
        company="alpes",
        opportunities=("tracabilite",),
        contacts=("jean",),
        details="Jean Girard demande quinze jours d'essai de plus avant de décider ; le "
        "relancer après la démonstration.",
    ),
)


def record_exchanges(grc: Grc, world: DemoWorld) -> None:
    """Each author records their exchanges; the ones marked ``complete`` are then closed."""
    for spec in EXCHANGES:
        start = world.at(spec.days, *spec.start)
        with grc.acting_as(spec.author) as work:
            exchange = exchanges.create_exchange(
                work.session,
                work.actor,
                subject=spec.subject,
                start=start,
                end=start + timedelta(minutes=spec.minutes),
                action=spec.action,
                status=spec.status,
                medium=spec.medium,
                category=spec.category,
                details=spec.details,
                company_id=world.companies[spec.company] if spec.company else None,
                opportunity_ids=[world.opportunities[k] for k in spec.opportunities],
                contact_ids=[world.contacts[k] for k in spec.contacts],
                assignees=list(spec.assignees) or None,
                private=spec.private,
                custom=spec.custom,
            )
            world.exchanges[spec.key] = exchange.id
        if spec.complete:
            with grc.acting_as(spec.author) as work:
                exchanges.complete_exchange(work.session, work.actor, exchange.id)


# -- attachments ---------------------------------------------------------------------------


#: What a demo document is attached to.
OwnerKind = Literal["exchange", "company", "opportunity"]


@dataclass(frozen=True)
class AttachmentSpec:
    """A genuine small document, made by :mod:`grc_core.files.samples`, attached by ``author``.

    :param owner: ``("exchange" | "company" | "opportunity", key in the world)``.
    """

    key: str
    author: str
    owner: tuple[OwnerKind, str]
    filename: str
    content: Callable[[], bytes]


ATTACHMENTS = (
    AttachmentSpec(
        "compte_rendu",
        ADMIN,
        ("exchange", "comite_commercial"),
        "compte-rendu-comite-commercial.pdf",
        lambda: samples.pdf("Compte rendu du comite commercial mensuel"),
    ),
    AttachmentSpec(
        "presentation",
        "jdupont",
        ("exchange", "rdv_extension"),
        "presentation-extension.pptx",
        samples.pptx,
    ),
    AttachmentSpec(
        "logo",
        "jdupont",
        ("company", "boulangeries"),
        "logo-boulangeries-martin.png",
        lambda: samples.png(64, 64, (164, 94, 40)),
    ),
    AttachmentSpec(
        "proposition",
        "jdupont",
        ("opportunity", "extension"),
        "proposition-12-points-de-vente.docx",
        lambda: samples.docx("Proposition commerciale : 12 nouveaux points de vente"),
    ),
    AttachmentSpec(
        "devis",
        "mmartin",
        ("exchange", "courrier_devis"),
        "devis-suivi-de-flotte.xlsx",
        samples.xlsx,
    ),
)


def attach_documents(grc: Grc, world: DemoWorld) -> None:
    """Each author attaches real documents, through the same checks as any upload."""
    backends, scanners = grc.backends, grc.scanners()
    keyed = {
        "exchange": world.exchanges,
        "company": world.companies,
        "opportunity": world.opportunities,
    }
    for spec in ATTACHMENTS:
        kind, key = spec.owner
        owner_id = keyed[kind][key]
        with grc.acting_as(spec.author) as work:
            attachment = attachments.attach(
                work.session,
                work.actor,
                backends,
                io.BytesIO(spec.content()),
                spec.filename,
                scanners=scanners,
                exchange_id=owner_id if kind == "exchange" else None,
                company_id=owner_id if kind == "company" else None,
                opportunity_id=owner_id if kind == "opportunity" else None,
            )
            world.attachments[spec.key] = attachment.id


# -- people change employers ---------------------------------------------------------------

#: (contact, new company): Jean Girard leaves the cheese dairy for the bakeries.
NEW_EMPLOYER = ("jean", "boulangeries")


def change_employer(grc: Grc, world: DemoWorld) -> None:
    """A contact joins another company: their past exchanges follow them into its history."""
    contact_key, company_key = NEW_EMPLOYER
    with grc.acting_as("jdupont") as work:
        contact = companies.get_contact(work.session, world.contacts[contact_key])
        former = contact.company.name
        moved = companies.move_contact(
            work.session, work.actor, contact.id, world.companies[company_key]
        )
        world.events.append(
            f"{moved.full_name} left {former} for {moved.company.name}: the exchanges "
            f"recorded with {moved.first_name} at {former} now also appear in the history of "
            f"{moved.company.name}."
        )


# -- notifications -------------------------------------------------------------------------

#: (colleague, company): Marie Martin follows Julien Dupont's biggest client.
FOLLOWER = ("mmartin", "boulangeries")
#: The rule on meetings: its owner and the people assigned hear of each new one.
MEETING_RULE = "RDV clients"
MEETING_CONDITION = "exchange.action = 'meeting'"
MEETING_SUBJECT = "[GRC] RDV chez {{ company.name }} : {{ exchange.subject }}"
MEETING_BODY = (
    "Bonjour {{ recipient.name }},\n\n"
    "{{ actor.name }} a planifié « {{ exchange.subject }} » chez {{ company.name }} "
    "le {{ exchange.start }}.\n\n— GRC"
)
#: The escalation rule: a to-do more than two days late is escalated to its assignees.
LATE_RULE = "To-do en retard"
LATE_CONDITION = (
    "exchange.action = 'todo' and exchange.status != 'done' and exchange.end < now() - 2d"
)
LATE_SUBJECT = "[GRC] En retard : {{ exchange.subject }} ({{ company.name }})"
#: The channels of both rules; the e-mails go to a local mailbox file in the demo.
RULE_CHANNELS = ("email", "inbox")
#: How far ahead the second worker pass looks, for the escalation to have a late to-do.
LATER = timedelta(days=4)


def set_up_notifications(grc: Grc, world: DemoWorld) -> None:
    """A colleague follows a company; the administrator adds a rule on meetings and an
    escalation rule for late to-dos.  The exchanges recorded next are what they hear of."""
    login, company = FOLLOWER
    with grc.acting_as(login) as work:
        subscriptions.subscribe(
            work.session, work.actor, company_id=world.companies[company], channels=["inbox"]
        )
    with grc.acting_as(ADMIN) as work:
        rule_admin.add_rule(
            work.session,
            work.actor,
            MEETING_RULE,
            triggers=["exchange.created"],
            condition=MEETING_CONDITION,
            recipients={"company_owner": True, "assignees": True},
            channels=RULE_CHANNELS,
            subject_template=MEETING_SUBJECT,
            body_template=MEETING_BODY,
        )
        rule_admin.add_rule(
            work.session,
            work.actor,
            LATE_RULE,
            escalation=True,
            condition=LATE_CONDITION,
            recipients={"assignees": True},
            channels=RULE_CHANNELS,
            subject_template=LATE_SUBJECT,
        )


def deliver_notifications(grc: Grc, world: DemoWorld) -> None:
    """A worker delivers what the changes called for (e-mails into the demo's mailbox file,
    alerts into the inbox); a second pass, as if four days later, escalates the late to-do."""
    channels = build_channels(grc.registry, grc.settings, names=RULE_CHANNELS, warn=warn)
    try:
        now = DeliveryWorker(grc.session, channels, worker_id="demo").drain()
        later = DeliveryWorker(
            grc.session, channels, worker_id="demo-later", clock=lambda: utcnow() + LATER
        ).drain()
    finally:
        close_channels(channels)
    world.deliveries = {"now": stats_data(now), "later": stats_data(later)}


#: The demo, in order.  Later capabilities add their own steps.
STEPS: list[DemoStep] = [
    DemoStep("the team: an administrator and four sales people", create_team),
    DemoStep("categories and custom fields", configure),
    DemoStep("companies and contacts", create_companies),
    DemoStep("opportunities", create_opportunities),
    DemoStep(
        "notifications: a colleague follows a company, rules on meetings and late to-dos",
        set_up_notifications,
    ),
    DemoStep("exchanges", record_exchanges),
    DemoStep(
        "attachments: a report, a presentation, a logo, a proposal, a quote", attach_documents
    ),
    DemoStep("a contact changes employer", change_employer),
    DemoStep(
        "notifications delivered: inbox alerts, e-mails into a local mailbox file",
        deliver_notifications,
    ),
]
