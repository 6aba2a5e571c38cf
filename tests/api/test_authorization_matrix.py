"""The authorization matrix, generated from the OpenAPI document.

Every operation the API documents is called by every kind of caller; each answer must be
the status in :data:`MATRIX`.  An operation without an entry fails
:func:`test_every_operation_has_an_entry`, so a new endpoint cannot ship unclassified.

Callers: anonymous, an expired token, a revoked token, a deactivated user (401, 401, 401,
403 on every authenticated operation), then an ordinary user (bob), the entitled user
(alice: author of the private exchange, owner of the company) and an administrator.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.api.conftest import PRINCIPALS, T0, ApiWorld

from grc_core.files import samples
from grc_core.models import Event
from grc_core.notify import rule_admin, runaway, subscriptions
from grc_core.services import api_tokens, attachments, companies, exchanges, opportunities, users

_serial = itertools.count(1)

LOGINS = {"ordinary": "bob", "entitled": "alice", "admin": "admin"}


@dataclass
class Call:
    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] | None = None


Builder = Callable[[ApiWorld, str], Call]


# -- fresh records, made through the library as the entitled user (alice) ---------------------


def _as(world: ApiWorld, login: str) -> Any:
    return world.grc.acting_as(login)


def private_exchange(world: ApiWorld) -> int:
    with _as(world, "alice") as w:
        company = world.ids["acme"]
        ex = exchanges.create_exchange(
            w.session, w.actor, subject=f"Private {next(_serial)}", start=T0, action="call",
            company_id=company, private=True,
        )  # fmt: skip
        return ex.id


def owned_company(world: ApiWorld) -> int:
    with _as(world, "alice") as w:
        return companies.create_company(
            w.session, w.actor, name=f"Owned {next(_serial)}", owner="alice"
        ).id


def owned_opportunity(world: ApiWorld) -> int:
    company = owned_company(world)
    with _as(world, "alice") as w:
        return opportunities.create_opportunity(
            w.session, w.actor, company, title=f"Deal {next(_serial)}", owner="alice"
        ).id


def owned_contact(world: ApiWorld) -> int:
    company = owned_company(world)
    with _as(world, "alice") as w:
        return companies.create_contact(w.session, w.actor, company, last_name="Moved").id


def fresh_user(world: ApiWorld) -> str:
    login = f"user{next(_serial)}"
    with _as(world, "admin") as w:
        users.create_user(w.session, w.actor, login=login, display_name=login)
    return login


def own_token(world: ApiWorld, who: str) -> int:
    login = LOGINS.get(who, "bob")
    with _as(world, "admin") as w:
        return api_tokens.create_token(w.session, w.actor, login, name="spare").token.id


def private_attachment(world: ApiWorld) -> int:
    exchange = private_exchange(world)
    import io

    with _as(world, "alice") as w:
        return attachments.attach(
            w.session, w.actor, world.grc.backends, io.BytesIO(samples.pdf()), "cr.pdf",
            exchange_id=exchange,
        ).id  # fmt: skip


def a_rule(world: ApiWorld) -> int:
    with _as(world, "admin") as w:
        return rule_admin.add_rule(
            w.session, w.actor, f"rule{next(_serial)}", triggers=["exchange.created"],
            recipients={"assignees": True}, channels=["inbox"],
        ).id  # fmt: skip


def parked_rule(world: ApiWorld) -> int:
    ident = a_rule(world)
    with world.grc.session() as s:
        runaway.park(s, ident, "too many deliveries")
    return ident


def dead_delivery(world: ApiWorld) -> int:
    from datetime import UTC, datetime

    from grc_core.models import Delivery

    with world.grc.session() as s:
        delivery = Delivery(
            dedupe_key=f"test:{next(_serial)}", user_id=world.ids["alice"], channel="inbox",
            status="dead", due_at=datetime.now(UTC), attempts=5, last_error="unreachable",
        )  # fmt: skip
        s.add(delivery)
        s.flush()
        return delivery.id


def own_subscription(world: ApiWorld, who: str) -> int:
    with _as(world, LOGINS.get(who, "bob")) as w:
        company = companies.create_company(w.session, w.actor, name=f"Followed {next(_serial)}")
        return subscriptions.subscribe(w.session, w.actor, company_id=company.id).id


def an_event(world: ApiWorld) -> int:
    with world.grc.session() as s:
        return s.query(Event.id).filter(Event.kind == "exchange.created").first()[0]


ANY = {"If-Match": "*"}
EXCHANGE_BODY = {"subject": "Call", "start": T0.isoformat(), "action": "call"}

# (ordinary, entitled, admin); None: a public operation (200 for every caller, anonymous too)
Statuses = tuple[int, int, int] | None

MATRIX: dict[str, tuple[Statuses, Builder]] = {
    "GET /api/v1/health": (None, lambda w, who: Call("/api/v1/health")),
    "GET /api/v1/ready": (None, lambda w, who: Call("/api/v1/ready")),
    "GET /api/v1/me": ((200, 200, 200), lambda w, who: Call("/api/v1/me")),
    "GET /api/v1/users": ((200, 200, 200), lambda w, who: Call("/api/v1/users")),
    "POST /api/v1/users": (
        (403, 403, 201),
        lambda w, who: Call("/api/v1/users", {"login": f"new{next(_serial)}", "name": "N"}),
    ),
    "GET /api/v1/users/{login}": ((200, 200, 200), lambda w, who: Call("/api/v1/users/alice")),
    "PATCH /api/v1/users/{login}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/users/{fresh_user(w)}", {"name": "Renamed"}, ANY),
    ),
    "GET /api/v1/users/{login}/history": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/users/alice/history"),
    ),
    "GET /api/v1/tokens": ((200, 200, 200), lambda w, who: Call("/api/v1/tokens")),
    "POST /api/v1/tokens": ((201, 201, 201), lambda w, who: Call("/api/v1/tokens", {"name": "t"})),
    "DELETE /api/v1/tokens/{token_id}": (
        (204, 204, 204),
        lambda w, who: Call(f"/api/v1/tokens/{own_token(w, who)}"),
    ),
    "GET /api/v1/companies": ((200, 200, 200), lambda w, who: Call("/api/v1/companies")),
    "POST /api/v1/companies": (
        (201, 201, 201),
        lambda w, who: Call("/api/v1/companies", {"name": f"New {next(_serial)}"}),
    ),
    "GET /api/v1/companies/{company_id}": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/companies/{w.ids['acme']}"),
    ),
    "PATCH /api/v1/companies/{company_id}": (
        (403, 200, 200),
        lambda w, who: Call(f"/api/v1/companies/{owned_company(w)}", {"status": "client"}, ANY),
    ),
    "GET /api/v1/companies/{company_id}/contacts": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/companies/{w.ids['acme']}/contacts"),
    ),
    # Creating records is open to every active user (grc_core.permissions).
    "POST /api/v1/companies/{company_id}/contacts": (
        (201, 201, 201),
        lambda w, who: Call(
            f"/api/v1/companies/{owned_company(w)}/contacts", {"last_name": "Martin"}
        ),
    ),
    "GET /api/v1/contacts/{contact_id}": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/contacts/{w.ids['contact']}"),
    ),
    "POST /api/v1/contacts/{contact_id}/move": (
        (403, 200, 200),
        lambda w, who: Call(
            f"/api/v1/contacts/{owned_contact(w)}/move", {"company_id": owned_company(w)}
        ),
    ),
    "GET /api/v1/opportunities": ((200, 200, 200), lambda w, who: Call("/api/v1/opportunities")),
    "GET /api/v1/opportunities/{opportunity_id}": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/opportunities/{w.ids['deal']}"),
    ),
    "POST /api/v1/companies/{company_id}/opportunities": (
        (201, 201, 201),
        lambda w, who: Call(
            f"/api/v1/companies/{owned_company(w)}/opportunities", {"title": "Pilot"}
        ),
    ),
    "PATCH /api/v1/opportunities/{opportunity_id}": (
        (403, 200, 200),
        lambda w, who: Call(
            f"/api/v1/opportunities/{owned_opportunity(w)}", {"amount": "1500.50"}, ANY
        ),
    ),
    "POST /api/v1/opportunities/{opportunity_id}/transfer": (
        (403, 200, 200),
        lambda w, who: Call(
            f"/api/v1/opportunities/{owned_opportunity(w)}/transfer",
            {"company_id": owned_company(w)},
        ),
    ),
    "GET /api/v1/opportunities/{opportunity_id}/history": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/opportunities/{w.ids['deal']}/history"),
    ),
    "GET /api/v1/companies/{company_id}/history": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/companies/{w.ids['acme']}/history"),
    ),
    "GET /api/v1/history": ((200, 200, 200), lambda w, who: Call("/api/v1/history")),
    "GET /api/v1/search": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/search", params={"q": "plan"}),
    ),
    "GET /api/v1/exchanges": ((200, 200, 200), lambda w, who: Call("/api/v1/exchanges")),
    "POST /api/v1/exchanges": (
        (201, 201, 201),
        lambda w, who: Call("/api/v1/exchanges", EXCHANGE_BODY),
    ),
    "GET /api/v1/exchanges/{ref}": (
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/exchanges/{w.ids['private']}"),
    ),
    "PATCH /api/v1/exchanges/{ref}": (
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/exchanges/{private_exchange(w)}", {"subject": "New"}, ANY),
    ),
    "DELETE /api/v1/exchanges/{ref}": (
        (404, 204, 204),
        lambda w, who: Call(f"/api/v1/exchanges/{private_exchange(w)}", headers=ANY),
    ),
    "POST /api/v1/exchanges/{ref}/complete": (
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/exchanges/{private_exchange(w)}/complete"),
    ),
    "GET /api/v1/{owner}/{owner_id}/attachments": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/exchanges/{w.ids['shared']}/attachments"),
    ),
    "POST /api/v1/{owner}/{owner_id}/attachments": (
        (404, 201, 201),
        lambda w, who: Call(
            f"/api/v1/exchanges/{private_exchange(w)}/attachments",
            files={"file": ("cr.pdf", samples.pdf(), "application/pdf")},
        ),
    ),
    "GET /api/v1/attachments/{attachment_id}": (
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/attachments/{private_attachment(w)}"),
    ),
    "GET /api/v1/attachments/{attachment_id}/content": (
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/attachments/{private_attachment(w)}/content"),
    ),
    "DELETE /api/v1/attachments/{attachment_id}": (
        (404, 204, 204),
        lambda w, who: Call(f"/api/v1/attachments/{private_attachment(w)}", headers=ANY),
    ),
    "GET /api/v1/picklists/{kind}": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/picklists/action"),
    ),
    "POST /api/v1/picklists/{kind}": (
        (403, 403, 201),
        lambda w, who: Call(
            "/api/v1/picklists/action", {"code": f"visit{next(_serial)}", "label_fr": "Visite"}
        ),
    ),
    "POST /api/v1/picklists/{kind}/{code}/activation": (
        (403, 403, 200),
        lambda w, who: Call("/api/v1/picklists/action/call/activation", {"active": True}),
    ),
    "GET /api/v1/picklists/{kind}/{code}": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/picklists/action/call"),
    ),
    "PATCH /api/v1/picklists/{kind}/{code}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/picklists/action/{_value(w)}", {"label_en": "Visit"}, ANY),
    ),
    "GET /api/v1/categories": ((200, 200, 200), lambda w, who: Call("/api/v1/categories")),
    "GET /api/v1/categories/{code}": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/categories/{_category(w)}"),
    ),
    "PATCH /api/v1/categories/{code}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/categories/{_category(w)}", {"label_en": "Visit"}, ANY),
    ),
    "GET /api/v1/fields/{code}": (
        (200, 200, 200),
        lambda w, who: Call(f"/api/v1/fields/{_field(w)}"),
    ),
    "PATCH /api/v1/fields/{code}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/fields/{_field(w)}", {"label": "Renamed"}, ANY),
    ),
    "POST /api/v1/categories": (
        (403, 403, 201),
        lambda w, who: Call("/api/v1/categories", {"code": f"cat{next(_serial)}", "label_fr": "C"}),
    ),
    "POST /api/v1/categories/{code}/activation": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/categories/{_category(w)}/activation", {"active": False}),
    ),
    "GET /api/v1/fields": ((200, 200, 200), lambda w, who: Call("/api/v1/fields")),
    "POST /api/v1/fields": (
        (403, 403, 201),
        lambda w, who: Call(
            "/api/v1/fields", {"code": f"f{next(_serial)}", "label": "F", "type": "text"}
        ),
    ),
    "POST /api/v1/fields/{code}/activation": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/fields/{_field(w)}/activation", {"active": False}),
    ),
    "GET /api/v1/subscriptions": ((200, 200, 200), lambda w, who: Call("/api/v1/subscriptions")),
    "POST /api/v1/subscriptions": (
        (201, 201, 201),
        lambda w, who: Call("/api/v1/subscriptions", {"company_id": owned_company(w)}),
    ),
    "DELETE /api/v1/subscriptions/{subscription_id}": (
        (204, 204, 204),
        lambda w, who: Call(f"/api/v1/subscriptions/{own_subscription(w, who)}"),
    ),
    "GET /api/v1/preferences": ((200, 200, 200), lambda w, who: Call("/api/v1/preferences")),
    "PATCH /api/v1/preferences": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/preferences", {"digest": "hourly"}),
    ),
    "GET /api/v1/inbox": ((200, 200, 200), lambda w, who: Call("/api/v1/inbox")),
    "GET /api/v1/inbox/unread": ((200, 200, 200), lambda w, who: Call("/api/v1/inbox/unread")),
    "POST /api/v1/inbox/read": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/inbox/read", {"ids": "all"}),
    ),
    "GET /api/v1/rules": ((403, 403, 200), lambda w, who: Call("/api/v1/rules")),
    "POST /api/v1/rules": (
        (403, 403, 201),
        lambda w, who: Call(
            "/api/v1/rules",
            {
                "name": f"r{next(_serial)}",
                "triggers": ["exchange.created"],
                "recipients": {"assignees": True},
            },
        ),
    ),
    "POST /api/v1/rules/{rule_id}/dry-run": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/rules/{a_rule(w)}/dry-run", {"event_id": an_event(w)}),
    ),
    "DELETE /api/v1/rules/{rule_id}": (
        (403, 403, 204),
        lambda w, who: Call(f"/api/v1/rules/{a_rule(w)}", headers=ANY),
    ),
    "GET /api/v1/rules/{rule_id}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/rules/{a_rule(w)}"),
    ),
    "PATCH /api/v1/rules/{rule_id}": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/rules/{a_rule(w)}", {"enabled": False}, ANY),
    ),
    "POST /api/v1/rules/{rule_id}/unpark": (
        (403, 403, 200),
        lambda w, who: Call(f"/api/v1/rules/{parked_rule(w)}/unpark"),
    ),
    # Another user's subscriptions and preferences: administrators (and the user themself).
    "GET /api/v1/users/{login}/subscriptions": (
        (403, 200, 200),
        lambda w, who: Call("/api/v1/users/alice/subscriptions"),
    ),
    "POST /api/v1/users/{login}/subscriptions": (
        (403, 201, 201),
        lambda w, who: Call("/api/v1/users/alice/subscriptions", {"company_id": owned_company(w)}),
    ),
    "DELETE /api/v1/users/{login}/subscriptions/{subscription_id}": (
        (403, 204, 204),
        lambda w, who: Call(f"/api/v1/users/alice/subscriptions/{own_subscription(w, 'entitled')}"),
    ),
    "GET /api/v1/users/{login}/preferences": (
        (403, 200, 200),
        lambda w, who: Call("/api/v1/users/alice/preferences"),
    ),
    "PATCH /api/v1/users/{login}/preferences": (
        (403, 200, 200),
        lambda w, who: Call("/api/v1/users/alice/preferences", {"digest": "daily"}, ANY),
    ),
    "GET /api/v1/audit": ((200, 200, 200), lambda w, who: Call("/api/v1/audit")),
    "GET /api/v1/audit/{event_id}": (
        # The creation of the private exchange: hidden from those who may not see it.
        (404, 200, 200),
        lambda w, who: Call(f"/api/v1/audit/{_private_event(w)}"),
    ),
    "GET /api/v1/storage/verify": ((403, 403, 200), lambda w, who: Call("/api/v1/storage/verify")),
    "GET /api/v1/storage/status": ((403, 403, 200), lambda w, who: Call("/api/v1/storage/status")),
    # Everyone may know what uploads are accepted; administrators change it.
    "GET /api/v1/attachment-policy": (
        (200, 200, 200),
        lambda w, who: Call("/api/v1/attachment-policy"),
    ),
    "PATCH /api/v1/attachment-policy": (
        (403, 403, 200),
        lambda w, who: Call("/api/v1/attachment-policy", {"allow_macros": False}, ANY),
    ),
    "GET /api/v1/deliveries/dead": (
        (403, 403, 200),
        lambda w, who: Call("/api/v1/deliveries/dead"),
    ),
    "POST /api/v1/deliveries/retry": (
        (403, 403, 200),
        lambda w, who: Call("/api/v1/deliveries/retry", {"ids": [dead_delivery(w)]}),
    ),
    # The mobile web application's sign-in, devices, push subscriptions and agenda.
    "GET /api/v1/session/options": (None, lambda w, who: Call("/api/v1/session/options")),
    "POST /api/v1/session/enrol": (
        None,
        lambda w, who: Call("/api/v1/session/enrol", {"code": _enrolment_code(w, "bob")}),
    ),
    "GET /api/v1/session": ((200, 200, 200), lambda w, who: Call("/api/v1/session")),
    "POST /api/v1/session/logout": ((204, 204, 204), lambda w, who: Call("/api/v1/session/logout")),
    "POST /api/v1/devices/enrolments": (
        (201, 201, 201),
        lambda w, who: Call("/api/v1/devices/enrolments", {}),
    ),
    "GET /api/v1/devices": ((200, 200, 200), lambda w, who: Call("/api/v1/devices")),
    "DELETE /api/v1/devices/{device_id}": (
        (204, 204, 204),
        lambda w, who: Call(f"/api/v1/devices/{_own_device(w, who)}"),
    ),
    # No VAPID key in the test configuration: push is not configured (503).
    "GET /api/v1/push/key": ((503, 503, 503), lambda w, who: Call("/api/v1/push/key")),
    "POST /api/v1/push/subscriptions": (
        (201, 201, 201),
        lambda w, who: Call("/api/v1/push/subscriptions", _push_subscription()),
    ),
    "DELETE /api/v1/push/subscriptions": (
        (204, 204, 204),
        lambda w, who: Call("/api/v1/push/subscriptions", {"endpoint": "https://push.invalid/x"}),
    ),
    "GET /api/v1/me/today": ((200, 200, 200), lambda w, who: Call("/api/v1/me/today")),
}


def _enrolment_code(world: ApiWorld, login: str) -> str:
    from grc_core.services import devices

    with _as(world, "admin") as w:
        return devices.create_enrolment(w.session, w.actor, login).code


def _own_device(world: ApiWorld, who: str) -> int:
    from grc_core.services import devices

    code = _enrolment_code(world, LOGINS.get(who, "bob"))
    with world.grc.session() as s:
        return devices.enrol(s, code).device.id


def _push_subscription() -> dict[str, Any]:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "endpoint": f"https://push.invalid/{next(_serial)}",
        "expirationTime": None,
        "keys": {"p256dh": b64(point), "auth": b64(bytes(16))},
    }


def _category(world: ApiWorld) -> str:
    from grc_core.services import categories

    code = f"c{next(_serial)}"
    with _as(world, "admin") as w:
        categories.add_category(w.session, w.actor, code, label_fr=code)
    return code


def _value(world: ApiWorld) -> str:
    from grc_core.services import picklists

    code = f"v{next(_serial)}"
    with _as(world, "admin") as w:
        picklists.add_value(w.session, w.actor, "action", code, label_fr=code)
    return code


def _field(world: ApiWorld) -> str:
    from grc_core.services import custom_fields

    code = f"fld{next(_serial)}"
    with _as(world, "admin") as w:
        custom_fields.define_field(w.session, w.actor, code, label=code, type="text")
    return code


def _private_event(world: ApiWorld) -> int:
    with world.grc.session() as s:
        return (
            s.query(Event.id)
            .filter(Event.entity_type == "exchange", Event.entity_id == world.ids["private"])
            .order_by(Event.id)
            .first()[0]
        )


def operations(app: Any) -> set[str]:
    spec = app.openapi()
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_operation_has_an_entry(app):
    documented = operations(app)
    assert documented - MATRIX.keys() == set(), "operations missing from the matrix"
    assert MATRIX.keys() - documented == set(), "matrix entries for operations that are gone"


def expected(statuses: Statuses, who: str) -> int:
    if statuses is None:
        return 200
    if who in ("anonymous", "expired", "revoked"):
        return 401
    if who == "deactivated":
        return 403
    return statuses[("ordinary", "entitled", "admin").index(who)]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_matrix(app, client, api_world, who):
    failures = []
    for operation in sorted(operations(app)):
        statuses, build = MATRIX[operation]
        method = operation.split(" ")[0]
        call = build(api_world, who)
        response = client.request(
            method,
            call.path,
            json=call.json,
            params=call.params,
            files=call.files,
            headers=api_world.headers(who, **call.headers),
        )
        want = expected(statuses, who)
        if response.status_code != want:
            failures.append(f"{operation}: {response.status_code} != {want}: {response.text[:200]}")
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-request-id"]
    assert not failures, "\n".join(failures)


def test_private_exchange_never_leaks_through_listings(client, api_world):
    """bob (not entitled) finds the private exchange nowhere; alice does."""
    for who, visible in (("ordinary", False), ("entitled", True)):
        headers = api_world.headers(who)
        texts = [
            client.get(f"/api/v1/companies/{api_world.ids['acme']}/history", headers=headers).text,
            client.get(
                f"/api/v1/opportunities/{api_world.ids['deal']}/history", headers=headers
            ).text,
            client.get("/api/v1/search", params={"q": "narwhal"}, headers=headers).text,
            client.get("/api/v1/exchanges", headers=headers).text,
            client.get("/api/v1/users/alice/history", headers=headers).text,
            client.get(f"/api/v1/exchanges/{api_world.ids['private_uuid']}", headers=headers).text,
        ]
        assert all(("Narwhal" in t) == visible for t in texts if "Secret" in t or not visible)
        assert any("Narwhal" in t for t in texts) == visible
