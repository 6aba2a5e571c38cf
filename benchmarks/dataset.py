"""A realistic French CRM dataset, generated through the library's bulk import.

Skewed like real books of business: company sizes follow a Zipf-like law (exponent 0.9),
so with 20,000 companies the largest has tens of thousands of exchanges; 20 % of exchanges
are private; a third are linked to an opportunity, a quarter to a contact; 5 % are global.
Imported in date order, as a chronological import (or years of daily use) would write them:
ids grow with dates.  Actions are skewed (calls and e-mails common, reports rare: 1 %);
70 % of exchanges have a category, from four top-level categories with children; a choice
custom field ``canal`` holds "salon" on 1 % of exchanges, "web" on 19 %, "telephone" on
30 % (written in SQL after the import, which takes no custom fields, with its timeline rows).
Deterministic for a given seed.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

from grc_core import Grc
from grc_core.models import Company, Contact, Opportunity, PicklistValue, User
from grc_core.models.timeline import GLOBAL_SCOPE, GLOBAL_SCOPE_ID
from grc_core.services import categories as category_service
from grc_core.services import custom_fields, users
from grc_core.services.bulk import ExchangeRecord, import_exchanges

PREFIXES = [
    "Groupe",
    "Société",
    "Établissements",
    "Cabinet",
    "Atelier",
    "Laboratoires",
    "SARL",
    "SAS",
]
ROOTS = [
    "Durand", "Lefèvre", "Moreau", "Garnier", "Fournier", "Rousseau", "Chevalier", "Bérard",
    "Mercier", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Gauthier", "Perrin",
    "Morel", "Girard", "André", "Mathieu", "Clément", "Guérin", "Boyer", "Roux", "Fabre",
]  # fmt: skip
TRADES = [
    "Bâtiment", "Énergie", "Logistique", "Santé", "Conseil", "Électricité", "Agroalimentaire",
    "Télécom", "Mécanique", "Numérique", "Pharmacie", "Transports", "Hôtellerie", "Industrie",
]  # fmt: skip
CITIES = [
    "Lyon",
    "Nantes",
    "Lille",
    "Bordeaux",
    "Rennes",
    "Grenoble",
    "Toulouse",
    "Orléans",
    "Nîmes",
    "Besançon",
]
FIRST = [
    "Élise",
    "Hélène",
    "Jérôme",
    "François",
    "Céline",
    "Benoît",
    "Anaïs",
    "Noémie",
    "Gaëlle",
    "Joël",
    "Loïc",
    "Zoé",
]
SUBJECTS = [
    "Relance facture impayée", "Échéance du contrat de maintenance", "Rendez-vous de présentation",
    "Compte rendu de réunion", "Appel de qualification", "Négociation tarifaire",
    "Demande de devis", "Réclamation livraison", "Renouvellement de l'abonnement",
    "Suivi du projet de déploiement", "Visite sur site", "Préparation de l'appel d'offres",
    "Point hebdomadaire", "Problème de facturation", "Présentation de la nouvelle offre",
]  # fmt: skip
SENTENCES = [
    "Le client souhaite revoir les conditions générales avant la fin du trimestre.",
    "Envoyer le devis révisé avec la remise accordée par la direction commerciale.",
    "La livraison a pris du retard à cause d'un problème chez le transporteur.",
    "Prévoir une démonstration du module de reporting pour l'équipe financière.",
    "L'interlocuteur principal change de poste le mois prochain.",
    "Relancer la comptabilité pour la facture de février toujours impayée.",
    "Le comité de direction validera le budget lors de sa prochaine séance.",
    "Contrat signé pour trois ans avec une option de renouvellement tacite.",
    "Échéance importante : la maintenance annuelle expire en septembre.",
    "Rédiger le compte rendu et le partager avec l'équipe technique.",
]  # fmt: skip
ACTIONS = ["call", "meeting", "email", "note", "letter", "todo", "report"]
ACTION_WEIGHTS = [30, 15, 25, 15, 8, 6, 1]
#: Top-level categories and their children (codes); the benchmark filters on a parent.
CATEGORIES = {
    "commercial": ["prospection", "devis", "relance"],
    "support": ["incident", "formation"],
    "administratif": ["facturation", "contrat"],
    "partenariat": [],
}
CHOICE_FIELD = "canal"
CHOICES = ["salon", "web", "telephone"]
STATUSES = ["done"] * 6 + ["planned", "in_progress", "cancelled"]
MEDIA = ["phone", "on_site", "video", "email", None]


@dataclass
class Dataset:
    """Ids the benchmark needs after generation."""

    reader_id: int
    largest_company: int
    largest_opportunity: int
    busiest_user: int
    exchanges: int
    import_seconds: float
    #: Companies for per-request measurements: half drawn by activity, half uniformly.
    sample_companies: list[int] = field(default_factory=list)


def _show(count: int) -> None:
    print(f"\r  imported {count:,}", end="", flush=True)


def _zipf_picker(n: int, exponent: float, rng: random.Random) -> Iterator[int]:
    cumulative = list(itertools.accumulate(1 / (k**exponent) for k in range(1, n + 1)))
    total = cumulative[-1]
    while True:
        yield bisect.bisect_left(cumulative, rng.random() * total)


def generate(
    grc: Grc,
    *,
    exchanges: int = 1_000_000,
    companies: int = 20_000,
    opportunities: int = 50_000,
    users_count: int = 60,
    seed: int = 2026,
    progress: bool = True,
) -> Dataset:
    """Fill an empty, migrated database; return what the measurements need."""
    rng = random.Random(seed)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        user_rows = [
            {"login": f"commercial{i:02d}",
             "display_name": f"{rng.choice(FIRST)} {rng.choice(ROOTS)}",
             "active": True, "is_admin": False}
            for i in range(users_count)
        ]  # fmt: skip
        s.execute(insert(User), user_rows)
        category_codes: list[str | None] = []
        for parent, children in CATEGORIES.items():
            category_service.add_category(s, admin, parent, label_fr=parent.title())
            category_codes.append(parent)
            for child in children:
                category_service.add_category(
                    s, admin, child, label_fr=child.title(), parent=parent
                )
                category_codes.append(child)
        custom_fields.define_field(
            s, admin, CHOICE_FIELD, label="Canal", type="choice", choices=CHOICES
        )
        user_ids = [
            u
            for u in s.scalars(User.__table__.select().with_only_columns(User.id))
            if u != admin.id
        ]
        company_rows = [
            {"name": " ".join((rng.choice(PREFIXES), rng.choice(ROOTS), rng.choice(TRADES),
                               rng.choice(CITIES), str(i))),
             "status": rng.choice(["client", "prospect", "suspect"]),
             "owner_id": rng.choice(user_ids)}
            for i in range(companies)
        ]  # fmt: skip
        s.execute(insert(Company), company_rows)
        company_ids = sorted(s.scalars(Company.__table__.select().with_only_columns(Company.id)))
        contact_rows = [
            {"company_id": cid, "first_name": rng.choice(FIRST), "last_name": rng.choice(ROOTS)}
            for cid in company_ids
            for _ in range(2)
        ]
        s.execute(insert(Contact), contact_rows)
        stage = s.scalar(
            PicklistValue.__table__.select()
            .with_only_columns(PicklistValue.id)
            .where(PicklistValue.code == "proposal")
        )
        pick = _zipf_picker(len(company_ids), 0.9, rng)
        opp_rows = [
            {"company_id": company_ids[next(pick)], "title": f"{rng.choice(SUBJECTS)} {i}",
             "stage_id": stage, "owner_id": rng.choice(user_ids)}
            for i in range(opportunities)
        ]  # fmt: skip
        s.execute(insert(Opportunity), opp_rows)
        opps_by_company: dict[int, list[int]] = {}
        for oid, cid in s.execute(
            Opportunity.__table__.select().with_only_columns(Opportunity.id, Opportunity.company_id)
        ):
            opps_by_company.setdefault(cid, []).append(oid)
        contacts_by_company: dict[int, list[int]] = {}
        for ctid, cid in s.execute(
            Contact.__table__.select().with_only_columns(Contact.id, Contact.company_id)
        ):
            contacts_by_company.setdefault(cid, []).append(ctid)

    start = datetime(2019, 1, 1, tzinfo=UTC)
    span = int(timedelta(days=7 * 365).total_seconds())
    pick = _zipf_picker(len(company_ids), 0.9, rng)

    generating = 0.0  # time spent making records, not importing them
    # Dates drawn first and sorted: the import writes them in chronological order.
    offsets = sorted(rng.randrange(span) for _ in range(exchanges))
    with_category = category_codes + [None] * round(len(category_codes) * 0.3 / 0.7)

    def records() -> Iterator[ExchangeRecord]:
        nonlocal generating
        for offset in offsets:
            began_one = time.perf_counter()
            company = None if rng.random() < 0.05 else company_ids[next(pick)]
            opps = contacts = ()
            if company is not None:
                if rng.random() < 0.33 and opps_by_company.get(company):
                    opps = (rng.choice(opps_by_company[company]),)
                if rng.random() < 0.25:
                    contacts = (rng.choice(contacts_by_company[company]),)
            author = rng.choice(user_ids)
            assignees = (author,) if rng.random() < 0.7 else (author, rng.choice(user_ids))
            when = start + timedelta(seconds=offset)
            record = ExchangeRecord(
                subject=rng.choice(SUBJECTS),
                details=" ".join(rng.sample(SENTENCES, rng.randint(1, 3))),
                start=when,
                end=when + timedelta(minutes=rng.choice([15, 30, 60, 90])),
                action=rng.choices(ACTIONS, ACTION_WEIGHTS)[0],
                category=rng.choice(with_category),
                status=rng.choice(STATUSES),
                medium=rng.choice(MEDIA),
                author_id=author,
                assignee_ids=assignees,
                company_id=company,
                opportunity_ids=opps,
                contact_ids=contacts,
                private=rng.random() < 0.2,
            )
            generating += time.perf_counter() - began_one
            yield record

    began = time.perf_counter()
    with grc.session() as s:
        admin = s.get(User, admin.id)
        report = import_exchanges(
            s, admin, records(), batch_size=5000,
            progress=_show if progress else None,
        )  # fmt: skip
    seconds = time.perf_counter() - began - generating
    if progress:
        print()
    _choice_values(grc)
    with grc.session() as s:
        from sqlalchemy import func

        from grc_core.models import Exchange, exchange_opportunities

        largest = s.execute(
            select(Exchange.company_id, func.count())
            .where(Exchange.company_id.is_not(None))
            .group_by(Exchange.company_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        opp = s.execute(
            select(exchange_opportunities.c.opportunity_id, func.count())
            .group_by(exchange_opportunities.c.opportunity_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        busiest = s.execute(
            select(Exchange.author_id, func.count())
            .group_by(Exchange.author_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        active = list(s.scalars(select(Exchange.company_id).where(Exchange.id % 997 == 0)))
    sample = [c for c in active if c is not None][:25]
    sample += rng.sample(company_ids, 25)
    return Dataset(
        sample_companies=sample,
        reader_id=user_ids[0],
        largest_company=largest[0],
        largest_opportunity=opp[0],
        busiest_user=busiest[0],
        exchanges=report.imported,
        import_seconds=seconds,
    )


def _choice_values(grc: Grc) -> None:
    """The ``canal`` values (by id: 1 % salon, 19 % web, 30 % telephone) and their rows in
    the choice-value timeline, as the services would write them (the global scope's
    included: :meth:`grc_core.indexing.IndexEntry.choice_rows`)."""
    with grc.session() as s:
        field_id = custom_fields.get_field(s, CHOICE_FIELD).id
        value = (
            "CASE WHEN id % 100 = 0 THEN 'salon' WHEN id % 100 < 20 THEN 'web' ELSE 'telephone' END"
        )
        s.execute(
            text(
                "INSERT INTO exchange_field_values (exchange_id, field_id, text_value)"
                f" SELECT id, :f, {value} FROM exchanges WHERE id % 100 < 50"
            ),
            {"f": field_id},
        )
        s.execute(
            text(
                "INSERT INTO exchange_timeline_choices"
                " (scope, scope_id, field_id, value, start_at, exchange_id)"
                " SELECT t.scope, t.scope_id, v.field_id, v.text_value, t.start_at, t.exchange_id"
                " FROM exchange_timeline t JOIN exchange_field_values v"
                " ON v.exchange_id = t.exchange_id WHERE v.field_id = :f"
            ),
            {"f": field_id},
        )
        # The global scope's rows, for the exchanges linked to no company (migration 0014).
        s.execute(
            text(
                "INSERT INTO exchange_timeline_choices"
                " (scope, scope_id, field_id, value, start_at, exchange_id)"
                " SELECT :g, :gid, v.field_id, v.text_value, e.start_at, e.id"
                " FROM exchanges e JOIN exchange_field_values v ON v.exchange_id = e.id"
                " WHERE v.field_id = :f AND e.company_id IS NULL"
            ),
            {"f": field_id, "g": GLOBAL_SCOPE, "gid": GLOBAL_SCOPE_ID},
        )


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATA = Path(__file__).parent / "data"


def label(size: int) -> str:
    """``200k``, ``1m``: how a size names its files and databases."""
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1000}k"


def open_dataset(
    kind: str, size: int, fresh: bool, files: str, database: str
) -> tuple[Grc, Dataset, str]:
    """The dataset of ``size`` exchanges in ``kind`` (``sqlite`` or ``postgresql``), built
    if missing (or ``fresh``), migrated to head; its Grc, description and URL.

    SQLite: ``DATA/{files}_{label}.sqlite``; PostgreSQL: the database ``database``.  The
    description is kept beside, in ``DATA/{files}_{kind}_{label}.json``: without it the
    dataset is rebuilt (an interrupted build is never reused).
    """
    info_path = DATA / f"{files}_{kind}_{label(size)}.json"
    if kind == "sqlite":
        db = DATA / f"{files}_{label(size)}.sqlite"
        url = f"sqlite:///{db}"
        if fresh or not info_path.exists():
            for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), info_path):
                p.unlink(missing_ok=True)
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}
            )
            if fresh or not exists or not info_path.exists():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{database}"'))
                info_path.unlink(missing_ok=True)
        admin.dispose()
    grc = Grc.from_url(url)
    grc.upgrade()  # a dataset built before the latest migration gets it (and its backfill)
    if info_path.exists():
        return grc, Dataset(**json.loads(info_path.read_text())), url
    print(f"[{kind}] generating {size:,} exchanges…", file=sys.stderr)
    dataset = generate(grc, exchanges=size)
    if kind == "postgresql":
        with grc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with grc.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    info_path.write_text(json.dumps(asdict(dataset)))
    print(f"[{kind}] imported at {size / dataset.import_seconds:,.0f} exchanges/s", file=sys.stderr)
    return grc, dataset, url
