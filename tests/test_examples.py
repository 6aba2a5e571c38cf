"""The examples are code the tests run, on SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import func, select

from grc_core import Grc
from grc_core.models import Company, CompanyStatus, Event, EventKind, Exchange, User

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a module (the examples are not a package)."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"grc_example_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def host_app() -> Iterator[ModuleType]:
    module = load_example("host_app")
    yield module
    sys.modules.pop(module.__name__, None)


@pytest.fixture
def inspect_db(fresh_url: str) -> Iterator[Grc]:
    grc = Grc.from_url(fresh_url)
    yield grc
    grc.dispose()


def test_host_app_records_and_lists_exchanges(host_app, fresh_url, inspect_db):
    report = host_app.main(fresh_url)

    assert len(set(report.exchange_ids)) == 4
    # Administrators and the author see the private note; Bob does not.
    assert len(report.timelines["admin"]) == 4
    assert report.timelines["alice"] == report.timelines["admin"]
    assert [line.split(maxsplit=3)[3] for line in report.timelines["bob"]] == [
        "Commande 2026-118 signée",
        "Visite de l'atelier de Lyon",
        "Relance du devis 2026-118",
    ]
    # Newest first, shown in the host's zone although GRC stores UTC.
    assert report.timelines["admin"][0].startswith("2026-03-05 09:00 note")
    assert report.timelines["admin"][-1].startswith("2026-03-02 10:30 call")

    with inspect_db.session() as s:
        company = s.get(Company, report.company_id)
        assert company is not None and company.external_ref == host_app.CUSTOMER["id"]
        refs = set(s.scalars(select(User.external_ref)))
        assert refs == {person["id"] for person in host_app.STAFF}
        assert s.scalar(select(func.count(Exchange.id))) == 4


def test_host_app_own_transaction_commits_status_and_exchange_together(
    host_app, fresh_url, inspect_db
):
    report = host_app.main(fresh_url)

    with inspect_db.session() as s:
        company = s.get(Company, report.company_id)
        assert company is not None and company.status == CompanyStatus.CLIENT
        signed = s.get(Exchange, report.exchange_ids[3])
        assert signed is not None and signed.subject == "Commande 2026-118 signée"
        assert signed.status.code == "done"
        kinds = s.scalars(
            select(Event.kind).where(Event.company_id == report.company_id).order_by(Event.id)
        ).all()
        assert kinds[-2:] == [
            EventKind.COMPANY_STATUS_CHANGED.value,
            EventKind.EXCHANGE_CREATED.value,
        ]


def test_host_app_retry_with_the_same_uuid_records_one_exchange(host_app, fresh_url, inspect_db):
    report = host_app.main(fresh_url)

    first, retried = report.retry_ids
    assert first == retried
    with inspect_db.session() as s:
        exchange = s.get(Exchange, first)
        assert exchange is not None and exchange.author.login == "bob"
        created = s.scalars(
            select(Event).where(
                Event.entity_type == "exchange",
                Event.entity_id == first,
                Event.kind == EventKind.EXCHANGE_CREATED.value,
            )
        ).all()
        assert len(created) == 1
        assert created[0].actor_id == exchange.author_id
        total_created = s.scalar(
            select(func.count(Event.id)).where(Event.kind == EventKind.EXCHANGE_CREATED.value)
        )
        assert total_created == 4


def test_host_app_refuses_a_naive_date_time(host_app, fresh_url, inspect_db):
    report = host_app.main(fresh_url)

    assert report.refused_field == "start"
    assert "timezone-aware" in report.refused_message
    with inspect_db.session() as s:
        starts = [e.start_at for e in s.scalars(select(Exchange))]
    assert all(start.utcoffset() is not None for start in starts)
    assert not any(start.day == 4 for start in starts)  # the refused one was not stored


def test_host_app_is_idempotent(host_app, fresh_url, inspect_db):
    first = host_app.main(fresh_url)
    second = host_app.main(fresh_url)

    assert second == first
    with inspect_db.session() as s:
        assert s.scalar(select(func.count(Exchange.id))) == 4
        assert s.scalar(select(func.count(Company.id))) == 1
        assert s.scalar(select(func.count(User.id))) == len(host_app.STAFF)
        # 3 users, 1 company and 4 exchanges created, 1 status change: nothing twice.
        assert s.scalar(select(func.count(Event.id))) == 9
