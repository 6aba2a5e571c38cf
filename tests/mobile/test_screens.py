"""Every screen at phone size (360×740): axe-core finds no serious or critical violation, and
a screenshot of each is written for the user guide (``docs/images/mobile/``, or the folder
named by ``GRC_SCREENSHOTS_DIR``).  The tablet layout offers a drop zone for files.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select
from tests.mobile.conftest import PHONE, PHONE_VIEWPORT, TABLET, Device, MobileWorld
from tests.mobile.test_app import photo

from grc_core.models import Attachment, Exchange, InboxItem
from grc_core.services import exchanges

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("GRC_SCREENSHOTS_DIR") or ROOT / "docs" / "images" / "mobile")
AXE = Axe()

#: One database is enough to look at the screens; the behaviour runs on both in test_app.
pytestmark = pytest.mark.parametrize("mobile_world", ["sqlite"], indirect=True)


def check(device: Device, name: str) -> list[str]:
    """Screenshot the screen and return its serious or critical accessibility violations."""
    page = device.page
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), animations="disabled", caret="initial")
    results = AXE.run(page).response
    return [
        f"{name}: {v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_screen_is_accessible_at_phone_size(
    playwright_instance: Any, browser: Any, mobile_world: MobileWorld
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with mobile_world.grc.acting_as("admin") as w:
        for subject, start in (("Relancer le devis", now - timedelta(days=1)),
                               ("Rendez-vous sur site", now + timedelta(minutes=30))):  # fmt: skip
            exchanges.create_exchange(
                w.session, w.actor, subject=subject, start=start, action="meeting",
                company_id=mobile_world.ids["acme"], assignees=["alice"],
            )  # fmt: skip
    with mobile_world.grc.session() as s:  # two alerts, as the inbox channel delivers them
        for title, body in (
            ("Nouvel échange chez ACME Électricité", "Bob Durand : Appel de suivi"),
            ("Rappel : Relancer le devis", "En retard depuis hier"),
        ):
            s.add(InboxItem(user_id=mobile_world.ids["alice"], title=title, body=body,
                            about={"company_id": mobile_world.ids["acme"]}))  # fmt: skip
    device = Device(
        playwright_instance, browser, mobile_world, PHONE, viewport=PHONE_VIEWPORT,
        device_scale_factor=1,
    )  # fmt: skip
    found: list[str] = []
    try:
        page = device.page
        code = mobile_world.enrol_code("alice")
        page.goto(f"/#/enrol/{code}")
        page.wait_for_selector("text=Activer cet appareil")
        found += check(device, "enrol")
        page.get_by_role("button", name="Activer").click()
        page.wait_for_selector("text=Relancer le devis")
        page.wait_for_selector("html[data-catalogue]", state="attached")
        found += check(device, "today")

        page.get_by_role("link", name="Sociétés").click()
        page.get_by_placeholder("Rechercher une société").fill("acme")
        page.wait_for_selector("text=ACME Électricité")
        found += check(device, "company-search")
        page.get_by_role("link", name="ACME Électricité").click()
        page.wait_for_selector("text=Appel de suivi")
        found += check(device, "company")

        page.get_by_role("link", name="Nouvel échange").click()
        page.get_by_label("Objet").fill("Démonstration du produit")
        page.get_by_label("Détails").fill("Présentation à l'équipe technique ; devis à suivre.")
        page.locator("input[name=photo]").set_input_files(
            {"name": "tableau.jpg", "mimeType": "image/jpeg", "buffer": photo("green")}
        )
        found += check(device, "new-exchange")
        page.get_by_role("button", name="Enregistrer").click()
        page.wait_for_selector("h1:has-text('ACME Électricité')")
        device.wait_unsent(0)
        page.locator("a[href^='#/exchanges/']", has_text="Démonstration du produit").click()
        page.wait_for_selector("text=tableau.jpg")
        found += check(device, "exchange")
        page.get_by_role("link", name="Modifier").click()
        page.wait_for_selector("#subject")
        found += check(device, "edit-exchange")

        # Offline: the outbox, then a conflict to resolve.
        device.context.set_offline(True)
        page.get_by_label("Objet").fill("Démonstration du produit (suite)")
        page.get_by_role("button", name="Enregistrer").click()
        device.wait_unsent(1)
        page.goto("/#/outbox")
        page.wait_for_selector("text=En attente d'envoi")
        found += check(device, "outbox")
        with mobile_world.grc.acting_as("admin") as w:
            exchange = w.session.scalars(
                select(Exchange).where(Exchange.subject == "Démonstration du produit")
            ).one()
            exchanges.update_exchange(
                w.session, w.actor, exchange.id, subject="Démonstration produit (bureau)"
            )
        device.context.set_offline(False)
        page.wait_for_selector("text=Conflit")
        page.get_by_text("Conflit").click()
        page.wait_for_selector("table.compare")
        found += check(device, "conflict")
        page.get_by_role("button", name="Garder la mienne").click()
        device.wait_unsent(0)

        assert page.locator("nav .badge").inner_text() == "2"  # the unread count
        page.get_by_role("link", name="Messages").click()
        page.wait_for_selector("text=Rappel : Relancer le devis")
        found += check(device, "inbox")
        page.get_by_role("button", name="Tout marquer comme lu").click()
        page.locator("nav .badge").wait_for(state="detached")
        page.get_by_role("link", name="Moi").click()
        page.wait_for_selector("text=Alice Martin")
        found += check(device, "settings")
    finally:
        device.close()
    assert found == []
    assert not device.errors, device.errors
    with mobile_world.grc.session() as s:
        unread = select(InboxItem).where(InboxItem.read_at.is_(None))
        assert s.scalars(unread).all() == []


def test_tablet_layout_takes_dropped_files(
    playwright_instance: Any, browser: Any, mobile_world: MobileWorld
) -> None:
    device = Device(playwright_instance, browser, mobile_world, TABLET, device_scale_factor=1)
    try:
        device.enrol("alice")
        page = device.page
        page.goto(f"/#/exchanges/{mobile_world.ids['shared']}")
        zone = page.locator(".dropzone")
        zone.wait_for()
        assert zone.is_visible()  # only on larger screens
        width = page.evaluate("document.querySelector('.two')?.clientWidth ?? 0")
        assert width == 0 or page.viewport_size["width"] >= 768
        picture = photo("purple")
        data = page.evaluate_handle(
            """(bytes) => {
              const dt = new DataTransfer();
              dt.items.add(new File([new Uint8Array(bytes)], "plan.jpg", {type: "image/jpeg"}));
              return dt;
            }""",
            list(picture),
        )
        zone.dispatch_event("drop", {"dataTransfer": data})
        page.wait_for_selector("text=plan.jpg")
        device.wait_unsent(0)
        page.wait_for_selector("a.row:has-text('plan.jpg')")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "tablet-exchange.png"))
    finally:
        device.close()
    with mobile_world.grc.session() as s:
        stored = s.scalars(select(Attachment).where(Attachment.filename == "plan.jpg")).one()
        assert stored.sha256 == hashlib.sha256(picture).hexdigest()
        assert stored.exchange_id == mobile_world.ids["shared"]
    assert not device.errors, device.errors


def test_english_when_the_browser_prefers_it(
    playwright_instance: Any, browser: Any, mobile_world: MobileWorld
) -> None:
    device = Device(playwright_instance, browser, mobile_world, PHONE, locale="en-GB")
    try:
        page = device.page
        page.goto("/#/enrol")
        page.wait_for_selector("h1:has-text('Activate this device')")
        assert page.evaluate("document.documentElement.lang") == "en"
        # The service worker and the manifest make the app installable.
        manifest = page.evaluate(
            "async () => (await fetch(document.querySelector('link[rel=manifest]').href)).json()"
        )
        assert manifest["display"] == "standalone"
        device.wait_js("navigator.serviceWorker.controller !== null")
    finally:
        device.close()
    assert not device.errors, device.errors
