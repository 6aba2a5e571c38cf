"""The service worker on its own: Background Sync sends the outbox with no page of the app
open, and a Web Push message becomes a notification that opens the exchange.

Events are delivered through the Chrome DevTools Protocol (``ServiceWorker`` domain), from a
blank page of the same browser context, so that no window of the app is there to help.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.mobile.conftest import Device, MobileWorld
from tests.mobile.test_app import count, eventually, new_exchange, open_company

#: The behaviour does not depend on the database; the outbox runs on both in test_app.
pytestmark = pytest.mark.parametrize("mobile_world", ["sqlite"], indirect=True)


def registration(device: Device) -> tuple[Any, str]:
    """A DevTools session on a blank page, and the app's service worker registration id."""
    blank = device.context.new_page()
    cdp = device.context.new_cdp_session(blank)
    found: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: found.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(50):
        if found:
            break
        blank.wait_for_timeout(100)
    [reg] = [r for r in found if r["scopeURL"] == f"{device.world.base}/" and not r["isDeleted"]]
    return cdp, reg["registrationId"]


def test_background_sync_sends_the_outbox_with_no_page_open(
    phone: Device, mobile_world: MobileWorld
) -> None:
    phone.enrol("alice")
    open_company(phone)
    phone.context.set_offline(True)
    new_exchange(phone, "Envoyé en arrière-plan")
    phone.wait_unsent(1)
    cdp, reg = registration(phone)
    phone.page.close()  # the app is closed: only its service worker is left
    phone.context.set_offline(False)
    cdp.send(
        "ServiceWorker.dispatchSyncEvent",
        {"origin": mobile_world.base, "registrationId": reg, "tag": "grc-outbox",
         "lastChance": False},
    )  # fmt: skip
    eventually(lambda: count(mobile_world, "Envoyé en arrière-plan") == 1)
    page = phone.reopen("/#/outbox")
    phone.wait_unsent(0)
    assert count(mobile_world, "Envoyé en arrière-plan") == 1
    assert page.get_by_text("Tout est envoyé").count() >= 1


def test_a_push_message_becomes_a_notification(phone: Device, mobile_world: MobileWorld) -> None:
    phone.context.grant_permissions(["notifications"], origin=mobile_world.base)
    phone.enrol("alice")
    cdp, reg = registration(phone)
    payload = {
        "title": "Nouvel échange chez ACME Électricité",
        "body": "Appel de suivi",
        "url": f"/#/exchanges/{mobile_world.ids['shared']}",
        "tag": "exchange-2",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": mobile_world.base, "registrationId": reg, "data": json.dumps(payload)},
    )
    shown: list[Any] = []
    for _ in range(50):
        shown = phone.page.evaluate(
            """async () => (await (await navigator.serviceWorker.ready).getNotifications())
                 .map((n) => [n.title, n.body, n.tag, n.data && n.data.url])"""
        )
        if shown:
            break
        phone.page.wait_for_timeout(100)
    assert shown == [[payload["title"], payload["body"], payload["tag"], payload["url"]]]
