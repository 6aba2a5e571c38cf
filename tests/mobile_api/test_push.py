"""The ``push`` channel against a push service written here (VAPID signature checked,
payload decrypted), directly and through the notification pipeline with its privacy rule;
the push key and subscription endpoints.  SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from grc_adapters.push import vapid
from grc_adapters.push.plugin import make_push_channel
from grc_api import ApiSettings, create_app
from grc_core.config import Settings
from grc_core.errors import ConfigError
from grc_core.facade import Grc
from grc_core.models import Device, PushSubscription
from grc_core.notify import subscriptions
from grc_core.notify.channels import OutgoingMessage, Recipient
from grc_core.notify.worker import DeliveryWorker
from grc_core.plugins import Registry
from grc_core.services import companies, devices, exchanges, users
from grc_core.testing.channel_contract import NotificationChannelContract
from grc_core.timeutil import utcnow

from .conftest import browser, csrf
from .push_service import PushService

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = "Narwhal"


@dataclass
class Office:
    grc: Grc
    key_file: Path
    service: PushService
    acme: int


@pytest.fixture
def office(fresh_url: str, tmp_path: Path) -> Iterator[Office]:
    key_file = tmp_path / "vapid.pem"
    public = vapid.generate_key_file(key_file)
    config = {"vapid_private_key": str(key_file), "subject": "mailto:admin@example.fr"}
    grc = Grc(Settings(database_url=fresh_url, channels={"push": config}))
    grc.upgrade()
    service = PushService(public)
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        for login in ("alice", "bob", "carol"):
            users.create_user(s, admin, login=login, display_name=login.title())
        acme = companies.create_company(s, admin, name="ACME").id
    try:
        yield Office(grc, key_file, service, acme)
    finally:
        service.close()
        grc.dispose()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    vapid.generate_key_file(path)
    return path


@pytest.fixture(scope="module")
def push_service(key_file: Path) -> Iterator[PushService]:
    service = PushService(vapid.application_server_key({"vapid_private_key": str(key_file)}))
    yield service
    service.close()


class TestPushChannel(NotificationChannelContract):
    """The contract every channel passes, against the local push service."""

    @pytest.fixture
    def phone(self, push_service: PushService, session, world):  # type: ignore[no-untyped-def]
        target = push_service.browser(f"contract-{id(session)}")
        sub = target.subscription()
        devices.subscribe_push(
            session, world.alice, endpoint=sub["endpoint"], p256dh=sub["keys"]["p256dh"],
            auth=sub["keys"]["auth"],
        )  # fmt: skip
        return target

    @pytest.fixture
    def channel(self, key_file: Path, phone):  # type: ignore[no-untyped-def]
        push = make_push_channel({"vapid_private_key": str(key_file)})
        yield push
        push.close()

    @pytest.fixture
    def send_session(self, session):  # type: ignore[no-untyped-def]
        return session

    @pytest.fixture
    def recipient(self, world) -> Recipient:  # type: ignore[no-untyped-def]
        return Recipient.from_user(world.alice)

    @pytest.fixture
    def delivered(self, phone):  # type: ignore[no-untyped-def]
        return lambda ident: sum(m["tag"] == f"grc-delivery-{ident}" for m in phone.received)


def subscribe(office: Office, login: str, name: str, status: int = 201):  # type: ignore[no-untyped-def]
    target = office.service.browser(name, status)
    sub = target.subscription()
    with office.grc.acting_as(login) as work:
        devices.subscribe_push(
            work.session, work.actor, endpoint=sub["endpoint"],
            p256dh=sub["keys"]["p256dh"], auth=sub["keys"]["auth"],
        )  # fmt: skip
    return target


def channel(office: Office):  # type: ignore[no-untyped-def]
    return make_push_channel(office.grc.settings.channel_config("push"))


def test_messages_are_signed_encrypted_and_gone_subscriptions_removed(office):
    phone = subscribe(office, "bob", "bob-phone")
    old = subscribe(office, "bob", "bob-old-tablet", status=410)
    push = channel(office)
    with office.grc.session() as s:
        bob = users.get_user(s, "bob")
        message = OutgoingMessage(
            delivery_id=41,
            recipient=Recipient.from_user(bob),
            subject="Nouvel échange — ACME",
            text="Relance du devis",
            about={"exchange_id": 7, "private": False},
        )
        [result] = push.send(s, [message])
    push.close()
    assert office.service.refused == []
    assert result.ok and result.message_id == "grc-delivery-41"
    assert phone.received == [
        {
            "title": "Nouvel échange — ACME",
            "body": "Relance du devis",
            "url": "/#/exchanges/7",
            "tag": "grc-delivery-41",
        }
    ]
    assert old.received == []
    with office.grc.session() as s:
        left = s.scalars(select(PushSubscription.endpoint)).all()
    assert left == [phone.endpoint]


def test_a_recipient_without_enabled_devices_fails_without_retry(office):
    push = channel(office)
    with office.grc.session() as s:
        bob = users.get_user(s, "bob")
        message = OutgoingMessage(1, Recipient.from_user(bob), "Sujet", "Texte")
        [result] = push.send(s, [message])
    assert not result.ok and not result.retryable


def test_only_gone_subscriptions_make_a_final_failure(office):
    subscribe(office, "bob", "gone", status=410)
    push = channel(office)
    with office.grc.session() as s:
        message = OutgoingMessage(2, Recipient.from_user(users.get_user(s, "bob")), "S", "T")
        [result] = push.send(s, [message])
    assert not result.ok and not result.retryable
    with office.grc.session() as s:
        assert s.scalars(select(PushSubscription)).all() == []


def test_a_long_message_is_cut_to_fit_a_push_message(office):
    phone = subscribe(office, "bob", "long")
    with office.grc.session() as s:
        message = OutgoingMessage(
            3, Recipient.from_user(users.get_user(s, "bob")), "Long", "é" * 5000
        )
        [result] = channel(office).send(s, [message])
    assert result.ok, result
    assert 100 < len(phone.received[0]["body"]) < 2000


def test_the_pipeline_never_pushes_what_the_recipient_may_not_see(office):
    bob_phone = subscribe(office, "bob", "bob")
    carol_phone = subscribe(office, "carol", "carol")
    for login in ("bob", "carol"):
        with office.grc.acting_as(login) as work:
            subscriptions.subscribe(
                work.session, work.actor, company_id=office.acme, channels=["push"]
            )
    with office.grc.acting_as("alice") as work:
        shared = exchanges.create_exchange(
            work.session, work.actor, subject="Visite ACME", start=T0, action="meeting",
            company_id=office.acme, details="Ordre du jour",
        ).id  # fmt: skip
        secret = exchanges.create_exchange(
            work.session, work.actor, subject=f"Plan {SECRET}", start=T0, action="call",
            company_id=office.acme, private=True, details=SECRET, assignees=["carol"],
        ).id  # fmt: skip
    registry = Registry.load()
    push = registry.notification_channel("push", office.grc.settings.channel_config("push"))
    DeliveryWorker(office.grc.session, {"push": push}, worker_id="w", seed=1).drain(50)
    push.close()
    assert office.service.refused == []
    assert bob_phone.received, "bob is told about the shared exchange"
    assert all(SECRET not in str(m) for m in bob_phone.received)
    assert {m["url"] for m in bob_phone.received} == {f"/#/exchanges/{shared}"}
    # carol may see the private exchange (she is assigned): she is told about both.
    assert {m["url"] for m in carol_phone.received} == {
        f"/#/exchanges/{shared}",
        f"/#/exchanges/{secret}",
    }


def test_the_api_serves_the_key_and_keeps_subscriptions_per_device(office):
    app = create_app(office.grc, settings=ApiSettings(credential_cache=0))
    target = office.service.browser("api")
    with office.grc.acting_as("admin") as work:
        code = devices.create_enrolment(work.session, work.actor, "bob").code
    with browser(app) as client:
        assert client.post("/api/v1/session/enrol", json={"code": code}).status_code == 200
        key = client.get("/api/v1/push/key")
        assert key.status_code == 200
        assert key.json() == {"public_key": office.service.server_key}
        made = client.post(
            "/api/v1/push/subscriptions", json=target.subscription(), headers=csrf(client)
        )
        assert made.status_code == 201, made.text
        bad = dict(target.subscription(), endpoint="ftp://push.example/1")
        refused = client.post("/api/v1/push/subscriptions", json=bad, headers=csrf(client))
        assert refused.status_code == 422
        device = client.get("/api/v1/session").json()["device"]["id"]
        with office.grc.session() as s:
            [row] = s.scalars(select(PushSubscription)).all()
            assert (row.device_id, row.enabled) == (device, True)
        off = client.request(
            "DELETE",
            "/api/v1/push/subscriptions",
            json={"endpoint": target.endpoint},
            headers=csrf(client),
        )
        assert off.status_code == 204
        again = client.post(
            "/api/v1/push/subscriptions", json=target.subscription(), headers=csrf(client)
        )
        assert again.status_code == 201
        # Revoking the device removes its subscriptions: no alert reaches a revoked phone.
        assert client.delete(f"/api/v1/devices/{device}", headers=csrf(client)).status_code == 204
    with office.grc.session() as s:
        assert s.scalars(select(PushSubscription)).all() == []


def test_the_key_file_is_private_and_never_replaced_silently(tmp_path):
    path = tmp_path / "conf" / "vapid.pem"
    public = vapid.generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert vapid.application_server_key({"vapid_private_key": str(path)}) == public
    with pytest.raises(ConfigError):
        vapid.generate_key_file(path)
    assert vapid.generate_key_file(path, overwrite=True) != public
    assert vapid.application_server_key({"vapid_private_key": str(tmp_path / "none")}) is None
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError):
        vapid.application_server_key({"vapid_private_key": str(tmp_path / "bad.pem")})
    with pytest.raises(ConfigError):
        make_push_channel({"vapid_private_key": str(path), "colour": "blue"})


def test_signed_out_devices_get_no_alerts(session, world):
    def device_with_subscription(name: str) -> int:
        enrolment = devices.create_enrolment(session, world.admin, world.alice)
        device = devices.enrol(session, enrolment.code, device_name=name).device
        point = "B" + "A" * 86  # 65 bytes once decoded
        devices.subscribe_push(
            session, world.alice, endpoint=f"https://push.example/{name}", p256dh=point,
            auth="A" * 22, device_id=device.id,
        )  # fmt: skip
        return device.id

    active = device_with_subscription("active")
    expired = device_with_subscription("expired")
    revoked = device_with_subscription("revoked")
    session.get(Device, expired).expires_at = utcnow() - timedelta(seconds=1)
    devices.revoke_device(session, world.alice, revoked)
    found = devices.push_subscriptions_of(session, world.alice.id)
    assert [s.device_id for s in found] == [active]
