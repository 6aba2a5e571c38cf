"""The mobile web app end to end: Chromium on an emulated phone against a real ``grc serve``.

Each test enrols a device with a code from ``grc device enrol``, uses the app as a sales
engineer would (tapping, typing, attaching a photo, losing the network) and checks the
database afterwards: every exchange recorded exactly once, every file with its SHA-256.
"""

from __future__ import annotations

import hashlib
import io
import re
import time as clock
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import func, select
from tests.mobile.conftest import SECRET, Device, MobileWorld

from grc_core.models import Attachment, Exchange, Subscription
from grc_core.queries import audit
from grc_core.services import api_tokens, devices, exchanges, picklists


def photo(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def open_company(device: Device, typed: str = "electricite") -> None:
    page = device.page
    page.get_by_role("link", name="Sociétés").click()
    page.get_by_placeholder("Rechercher une société").fill(typed)
    page.get_by_role("link", name="ACME Électricité").click()
    page.wait_for_selector("h1:has-text('ACME Électricité')")


def new_exchange(
    device: Device, subject: str, picture: bytes | None = None, start: str | None = None
) -> None:
    page = device.page
    page.get_by_role("link", name="Nouvel échange").click()
    page.get_by_label("Objet").fill(subject)
    if start is not None:
        page.get_by_label("Début").fill(start)
    if picture is not None:
        page.locator("input[name=photo]").set_input_files(
            {"name": f"{subject}.jpg", "mimeType": "image/jpeg", "buffer": picture}
        )
        page.wait_for_selector(f"text={subject}.jpg")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_selector("h1:has-text('ACME Électricité')")


def eventually(check: Callable[[], bool], timeout: float = 20) -> None:
    """Wait until ``check()`` holds (the outbox sends in the background)."""
    deadline = clock.monotonic() + timeout
    while not check():
        assert clock.monotonic() < deadline, "timed out"
        clock.sleep(0.1)


def count(world: MobileWorld, subject: str) -> int:
    with world.grc.session() as s:
        return int(s.scalar(select(func.count()).where(Exchange.subject == subject)) or 0)


def attachments_of(world: MobileWorld, subject: str) -> list[Attachment]:
    with world.grc.session() as s:
        ids = s.scalars(select(Exchange.id).where(Exchange.subject == subject)).all()
        found = s.scalars(select(Attachment).where(Attachment.exchange_id.in_(ids))).all()
        s.expunge_all()
        return list(found)


def test_enrol_record_an_exchange_with_a_photo_and_find_it(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    open_company(phone)
    picture = photo()
    # Start typed in the phone's time zone (Paris), tomorrow: first in the history.
    paris = ZoneInfo("Europe/Paris")
    local = datetime.combine(datetime.now(paris).date() + timedelta(days=1), time(10, 30))
    new_exchange(phone, "Visite du chantier", picture, start=local.strftime("%Y-%m-%dT%H:%M"))
    phone.wait_unsent(0)
    page = phone.page
    # In the company's history (from the server, after a reload)...
    page.reload()
    page.locator("a[href^='#/exchanges/']", has_text="Visite du chantier").click()
    page.wait_for_selector("text=Visite du chantier.jpg")
    assert "Alice Martin" in page.locator("dl.fields").inner_text()
    # ...and in the database once, with the photo's bytes intact.
    assert count(mobile_world, "Visite du chantier") == 1
    with mobile_world.grc.session() as s:
        stored_exchange = s.scalars(
            select(Exchange).where(Exchange.subject == "Visite du chantier")
        ).one()
        assert stored_exchange.start_at == local.replace(tzinfo=paris).astimezone(UTC)
        assert [u.login for u in stored_exchange.assignees] == ["alice"]  # default: me
        assert stored_exchange.action.code == "call"  # default: a call
    [stored] = attachments_of(mobile_world, "Visite du chantier")
    assert stored.sha256 == hashlib.sha256(picture).hexdigest()
    assert stored.filename == "Visite du chantier.jpg"


def test_offline_records_are_kept_and_synced_exactly_once(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    open_company(phone)  # visited online: now on the device
    # The history is kept as it arrives: wait for it before the network goes.
    phone.page.wait_for_selector("text=Appel de suivi")
    phone.context.set_offline(True)
    page = phone.reopen("/#/companies")
    page.get_by_role("link", name="ACME Électricité").click()
    page.wait_for_selector("text=Appel de suivi")  # the cached history, with no network
    assert "Hors ligne" in page.locator(".fresh").first.inner_text()
    subjects = [f"Hors ligne {i} {uuid.uuid4().hex[:6]}" for i in range(3)]
    picture = photo("blue")
    for i, subject in enumerate(subjects):
        new_exchange(phone, subject, picture if i == 1 else None)
    phone.wait_unsent(4)
    # Swiped away and opened again, still offline: the outbox is still there.
    page = phone.reopen("/#/outbox")
    phone.wait_unsent(4)
    assert page.get_by_text("En attente d'envoi").count() == 4
    assert all(count(mobile_world, s) == 0 for s in subjects)
    phone.context.set_offline(False)
    phone.wait_unsent(0, timeout=30000)
    assert [count(mobile_world, s) for s in subjects] == [1, 1, 1]
    assert [len(attachments_of(mobile_world, s)) for s in subjects] == [0, 1, 0]
    assert (
        attachments_of(mobile_world, subjects[1])[0].sha256 == hashlib.sha256(picture).hexdigest()
    )


def test_a_lost_response_is_retried_and_recorded_once(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    open_company(phone)
    committed: list[int] = []

    def drop_first_answer(route: Any) -> None:
        if route.request.method == "POST" and not committed:
            response = route.fetch()  # the server commits...
            committed.append(response.status)
            route.abort("connectionreset")  # ...and the phone never hears of it
        else:
            route.continue_()

    phone.page.route(re.compile(r".*/api/v1/exchanges$"), drop_first_answer)
    subject = f"Réponse perdue {uuid.uuid4().hex[:6]}"
    new_exchange(phone, subject)
    phone.wait_unsent(0, timeout=30000)
    assert committed == [201]
    assert count(mobile_world, subject) == 1


def test_conflict_shows_both_versions_and_records_the_choice(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    page = phone.page
    shared = mobile_world.ids["shared"]
    page.goto(f"/#/exchanges/{shared}")
    page.wait_for_selector("h1:has-text('Appel de suivi')")
    page.get_by_role("link", name="Modifier").click()
    phone.context.set_offline(True)
    page.get_by_label("Objet").fill("Appel de suivi (téléphone)")
    page.get_by_label("Détails").fill("Modifié dans le train")
    page.get_by_role("button", name="Enregistrer").click()
    phone.wait_unsent(1)
    # Meanwhile, the administrator changes the same exchange on the server.
    with mobile_world.grc.acting_as("admin") as w:
        exchanges.update_exchange(w.session, w.actor, shared, subject="Appel de suivi (bureau)")
    phone.context.set_offline(False)
    page.wait_for_selector("a.unsent.flagged")
    page.goto("/#/outbox")
    page.get_by_text("Conflit").click()
    page.wait_for_selector("text=Quelqu'un a modifié cet échange")
    table = page.locator("table.compare").inner_text()
    assert "Appel de suivi (téléphone)" in table and "Appel de suivi (bureau)" in table
    # Field by field: their subject, my details.
    page.get_by_role("radio").nth(1).check()  # subject: theirs
    page.get_by_role("button", name="Garder les champs choisis").click()
    phone.wait_unsent(0)
    with mobile_world.grc.acting_as("admin") as w:
        stored = exchanges.get_exchange(w.session, w.actor, shared)
        assert stored.subject == "Appel de suivi (bureau)"
        assert stored.details == "Modifié dans le train"
        # The audit trail has both changes, in order, each by its author: nothing overwritten.
        flt = audit.AuditFilter(entity_type="exchange", entity_id=shared)
        entries = audit.audit_events(w.session, w.actor, flt, oldest_first=True).entries
    changes = [(e.changes.get("subject"), e.changes.get("details")) for e in entries[1:]]
    assert changes == [
        (["Appel de suivi", "Appel de suivi (bureau)"], None),
        (None, ["Point sur le chantier", "Modifié dans le train"]),
    ]


def test_refused_item_is_flagged_fixed_and_synced(phone: Device, mobile_world: MobileWorld) -> None:
    with mobile_world.grc.acting_as("admin") as w:
        picklists.add_value(w.session, w.actor, "action", "salon", label_fr="Salon")
    phone.enrol("alice")
    open_company(phone)
    phone.context.set_offline(True)
    page = phone.page
    page.get_by_role("link", name="Nouvel échange").click()
    subject = f"Salon professionnel {uuid.uuid4().hex[:6]}"
    page.get_by_label("Objet").fill(subject)
    page.get_by_label("Action").select_option("salon")
    # A custom field is checked on the phone as the server would: a decimal here.
    page.get_by_label("Budget").fill("douze")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_selector("text=Nombre attendu")
    assert phone.unsent() == 0
    page.get_by_label("Budget").fill("1200,50")
    page.get_by_role("button", name="Enregistrer").click()
    phone.wait_unsent(1)
    with mobile_world.grc.acting_as("admin") as w:  # retired while the phone is offline
        picklists.set_active(w.session, w.actor, "action", "salon", False)
    phone.context.set_offline(False)
    page.wait_for_selector("a.unsent.flagged")
    assert phone.unsent() == 1  # flagged, never dropped
    page.goto("/#/outbox")
    page.get_by_text("À corriger").click()
    page.wait_for_selector("[role=alert]:has-text('422')")
    page.get_by_label("Action").select_option("meeting")
    page.get_by_role("button", name="Enregistrer").click()
    phone.wait_unsent(0)
    with mobile_world.grc.session() as s:
        stored = s.scalars(select(Exchange).where(Exchange.subject == subject)).one()
        assert stored.action.code == "meeting"
        assert stored.custom["budget"] == Decimal("1200.5")


def test_today_complete_follow_and_filter(phone: Device, mobile_world: MobileWorld) -> None:
    subject = f"Rappeler le client {uuid.uuid4().hex[:6]}"
    with mobile_world.grc.acting_as("admin") as w:
        todo = exchanges.create_exchange(
            w.session, w.actor, subject=subject, action="todo", assignees=["alice"],
            start=datetime.now(UTC) - timedelta(hours=3), company_id=mobile_world.ids["acme"],
        )  # fmt: skip
        todo_id = todo.id
    phone.enrol("alice")
    page = phone.page
    item = page.locator("li.item", has_text=subject)
    assert "En retard" in item.inner_text()
    item.get_by_role("button", name=re.compile("Terminer")).click()
    item.get_by_role("button", name=re.compile("Terminé")).wait_for()

    def closed() -> bool:
        with mobile_world.grc.session() as s:
            return bool(s.get(Exchange, todo_id).status.is_closed)

    eventually(closed)
    phone.wait_unsent(0)
    open_company(phone)
    page.get_by_role("button", name="Suivre", exact=True).click()
    page.get_by_role("button", name="Ne plus suivre", exact=True).wait_for()
    followed = select(func.count()).where(
        Subscription.user_id == mobile_world.ids["alice"],
        Subscription.target_kind == "company",
        Subscription.target_id == mobile_world.ids["acme"],
    )
    with mobile_world.grc.session() as s:
        assert s.scalar(followed) == 1
    page.get_by_role("button", name="Ne plus suivre", exact=True).click()
    page.get_by_role("button", name="Suivre", exact=True).wait_for()
    with mobile_world.grc.session() as s:
        assert s.scalar(followed) == 0
    page.get_by_role("button", name="Suivre : Renouvellement").click()
    page.get_by_role("button", name="Ne plus suivre : Renouvellement").wait_for()
    deal = select(Subscription.target_id).where(
        Subscription.user_id == mobile_world.ids["alice"],
        Subscription.target_kind == "opportunity",
    )
    with mobile_world.grc.session() as s:
        assert s.scalars(deal).all() == [mobile_world.ids["deal"]]
    page.get_by_label("Action").select_option("call")
    history = page.locator("ul[aria-label=Historique]")
    # The filtered page replaces the list when it arrives: wait for it, not for a call that
    # the unfiltered list already showed.
    expect(history).not_to_contain_text("Échange ancien", timeout=15_000)
    assert "Appel de suivi" in history.inner_text()


def test_sign_out_wipes_the_device(phone: Device, mobile_world: MobileWorld) -> None:
    phone.enrol("alice")
    open_company(phone)
    page = phone.page
    assert "ACME" in phone.storage_dump()
    assert phone.cache_names()
    # Signing out with a change still waiting asks first.
    phone.context.set_offline(True)
    new_exchange(phone, "Jamais envoyé")
    phone.wait_unsent(1)
    page.get_by_role("link", name="Moi").click()
    page.get_by_role("button", name="Se déconnecter").click()
    assert "1 élément(s) pas encore envoyé(s)" in page.get_by_role("alert").inner_text()
    assert "ACME" in phone.storage_dump()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_selector("text=Activer cet appareil")
    assert "ACME" not in phone.storage_dump() and "Jamais" not in phone.storage_dump()
    assert phone.cache_names() == []
    # The server session, out of reach while offline, ends at the next start online.
    phone.context.set_offline(False)
    page = phone.reopen("/")
    page.wait_for_selector("text=Activer cet appareil")
    assert "grc_session" not in {c["name"] for c in phone.context.cookies()}
    with mobile_world.grc.acting_as("admin") as w:
        newest = max(devices.list_devices(w.session, w.actor, "alice"), key=lambda d: d.id)
        assert newest.revoked_at is not None
    assert count(mobile_world, "Jamais envoyé") == 0


def test_revoked_device_is_wiped_at_next_contact(phone: Device, mobile_world: MobileWorld) -> None:
    phone.enrol("alice")
    open_company(phone)
    assert "ACME" in phone.storage_dump()
    # The administrator revokes it through the API (effective at once in the server).
    with mobile_world.grc.acting_as("admin") as w:
        mine = [d.id for d in devices.list_devices(w.session, w.actor, "alice") if not d.revoked_at]
        token = api_tokens.create_token(w.session, w.actor, w.actor, name="revoke").secret
    headers = {"Authorization": f"Bearer {token}"}
    for device_id in mine:
        answer = httpx.delete(f"{mobile_world.base}/api/v1/devices/{device_id}", headers=headers)
        assert answer.status_code == 204, answer.text
    page = phone.page
    page.goto("/#/companies")
    page.get_by_role("link", name="ACME Électricité").click()
    page.wait_for_selector("text=Activer cet appareil")
    assert "révoqué" in page.locator("[role=alert]").inner_text()
    assert "ACME" not in phone.storage_dump()
    assert phone.cache_names() == []


def test_a_private_exchange_of_another_user_never_reaches_the_device(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    open_company(phone)
    page = phone.page
    page.get_by_role("button", name="Afficher plus").click()  # a second history page
    page.wait_for_selector("text=Échange ancien 25")
    page.goto(f"/#/exchanges/{mobile_world.ids['secret']}")
    page.wait_for_selector("[role=alert]")
    dump = phone.storage_dump()
    assert "Appel de suivi" in dump and SECRET not in dump and "Narval" not in dump
