"""Device enrolment, cookie sessions, CSRF, sign-out and revocation (in-process, on SQLite
and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from tests.api.conftest import T0

from grc_api import ApiSettings, create_app
from grc_core.models import Device, DeviceEnrolment
from grc_core.services import devices
from grc_core.timeutil import utcnow

from .conftest import browser, csrf, enrolled, enrolment_code

EXCHANGE = {"subject": "Visite", "start": T0.isoformat(), "action": "call"}


def set_cookies(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header.lower()
    return cookies


def test_a_code_enrols_a_device_once_with_secure_cookies(client, api_world):
    code = enrolment_code(api_world, "alice", device_name="Téléphone")
    typed = code.lower().replace("-", "")  # case-insensitive, dash optional
    response = client.post("/api/v1/session/enrol", json={"code": typed})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["login"] == "alice"
    assert body["device"]["name"] == "Téléphone"
    cookies = set_cookies(response)
    session, token = cookies["grc_session"], cookies["grc_csrf"]
    for attribute in ("secure", "samesite=strict", "path=/", "expires="):
        assert attribute in session and attribute in token
    assert "httponly" in session and "httponly" not in token
    # The secret is stored hashed only.
    with api_world.grc.session() as s:
        device = s.get(Device, body["device"]["id"])
        assert device.session_hash == devices.session_hash(client.cookies["grc_session"])
        assert client.cookies["grc_session"] not in str(s.execute(select(Device.__table__)).all())
        assert device.expires_at > utcnow() + timedelta(days=179)
    me = client.get("/api/v1/session")
    assert me.status_code == 200
    assert me.json()["device"]["id"] == body["device"]["id"]
    assert client.get("/api/v1/me").json()["login"] == "alice"
    # A used code never works again, from any browser.
    with browser(client.app) as other:
        again = other.post("/api/v1/session/enrol", json={"code": code})
    assert again.status_code == 400
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith("/enrolment-invalid") or again.json()["type"].endswith(
        ":enrolment-invalid"
    )


def test_expired_or_unknown_codes_are_refused(client, api_world):
    code = enrolment_code(api_world, "bob", minutes=1)
    with api_world.grc.session() as s:
        for row in s.scalars(select(DeviceEnrolment)):
            if row.used_at is None:
                row.expires_at = utcnow() - timedelta(seconds=1)
    for typed in (code, "ZZZZ-ZZZZ", "not a code", ""):
        response = client.post("/api/v1/session/enrol", json={"code": typed})
        assert response.status_code in (400, 422), typed
        if response.status_code == 400:
            assert response.json()["type"].endswith("enrolment-invalid")
    assert "grc_session" not in client.cookies


def test_unsafe_methods_with_a_cookie_need_the_csrf_token(client, api_world):
    enrolled(client, api_world)
    refused = client.post("/api/v1/exchanges", json=EXCHANGE)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("csrf")
    wrong = client.post("/api/v1/exchanges", json=EXCHANGE, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # A token from another device's session does not match this session.
    with browser(client.app) as other:
        enrolled(other, api_world, "bob")
        foreign = csrf(other)
    assert client.post("/api/v1/exchanges", json=EXCHANGE, headers=foreign).status_code == 403
    created = client.post("/api/v1/exchanges", json=EXCHANGE, headers=csrf(client))
    assert created.status_code == 201, created.text
    assert created.json()["author"]["login"] == "alice"
    # Safe methods need no token; bearer requests need none either.
    assert client.get("/api/v1/exchanges").status_code == 200
    with browser(client.app) as bearer:
        made = bearer.post(
            "/api/v1/exchanges", json=EXCHANGE, headers=api_world.headers("entitled")
        )
    assert made.status_code == 201


def test_a_revoked_device_is_told_to_wipe_its_data(client, api_world):
    device = enrolled(client, api_world)["device"]["id"]
    assert client.get("/api/v1/me").status_code == 200
    secret = client.cookies["grc_session"]
    with browser(client.app) as admin:
        listed = admin.get("/api/v1/devices", headers=api_world.headers("admin")).json()
        assert device in [d["id"] for d in listed]
        gone = admin.delete(f"/api/v1/devices/{device}", headers=api_world.headers("admin"))
        assert gone.status_code == 204
    refused = client.get("/api/v1/companies")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("device-revoked")
    assert refused.headers["clear-site-data"] == '"cache", "storage"'
    cleared = set_cookies(refused)
    assert {"grc_session", "grc_csrf"} <= cleared.keys()
    assert all("max-age=0" in v or "expires=thu, 01 jan 1970" in v for v in cleared.values())
    # Syncing stops: the revoked session can neither read nor write.
    with browser(client.app) as stale:
        stale.cookies.set("grc_session", secret, domain="testserver.local")
        headers = {"Cookie": f"grc_session={secret}"}
        assert stale.get("/api/v1/history", headers=headers).status_code == 401
        posted = stale.post("/api/v1/exchanges", json=EXCHANGE, headers=headers)
        assert posted.status_code == 401
        assert posted.json()["type"].endswith("device-revoked")


def test_sign_out_revokes_the_session_and_clears_the_cookies(client, api_world):
    device = enrolled(client, api_world, "bob")["device"]["id"]
    secret = client.cookies["grc_session"]
    assert client.post("/api/v1/session/logout").status_code == 403  # CSRF applies
    out = client.post("/api/v1/session/logout", headers=csrf(client))
    assert out.status_code == 204
    assert {"grc_session", "grc_csrf"} <= set_cookies(out).keys()
    assert client.get("/api/v1/me").status_code == 401
    with api_world.grc.session() as s:
        assert devices.device_state(s.get(Device, device)) == "revoked"
    again = client.get("/api/v1/me", headers={"Cookie": f"grc_session={secret}"})
    assert again.json()["type"].endswith("device-revoked")


def test_devices_are_listed_and_revoked_by_their_owner_or_an_administrator(client, api_world):
    mine = enrolled(client, api_world, "bob")["device"]["id"]
    listed = client.get("/api/v1/devices").json()
    assert [d["login"] for d in listed] == ["bob"] * len(listed)
    assert next(d for d in listed if d["id"] == mine)["current"] is True
    with browser(client.app) as alice:
        theirs = enrolled(alice, api_world, "alice")["device"]["id"]
        # bob cannot revoke alice's device, nor see it.
        assert client.delete(f"/api/v1/devices/{theirs}", headers=csrf(client)).status_code == 404
        assert alice.get("/api/v1/me").status_code == 200
    everyone = client.get("/api/v1/devices", headers=api_world.headers("admin")).json()
    assert {mine, theirs} <= {d["id"] for d in everyone}
    assert client.delete(f"/api/v1/devices/{mine}", headers=csrf(client)).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_enrolment_codes_over_the_api(client, api_world):
    made = client.post(
        "/api/v1/devices/enrolments",
        json={"device_name": "Tablette"},
        headers=api_world.headers("ordinary"),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["login"] == "bob"
    assert body["link"] == f"https://testserver/#/enrol/{body['code']}"
    assert len(body["code"]) == 9 and body["code"][4] == "-"
    # Only an administrator makes codes for someone else.
    other = client.post(
        "/api/v1/devices/enrolments", json={"login": "alice"}, headers=api_world.headers("ordinary")
    )
    assert other.status_code == 403
    admin = client.post(
        "/api/v1/devices/enrolments", json={"login": "alice"}, headers=api_world.headers("admin")
    )
    assert admin.status_code == 201 and admin.json()["login"] == "alice"
    signed = client.post("/api/v1/session/enrol", json={"code": body["code"]})
    assert signed.json()["device"]["name"] == "Tablette"


def test_sign_in_from_another_site_is_refused(client, api_world):
    response = client.post(
        "/api/v1/session/enrol",
        json={"code": enrolment_code(api_world)},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    same = client.post(
        "/api/v1/session/enrol",
        json={"code": enrolment_code(api_world)},
        headers={"Origin": "https://testserver"},
    )
    assert same.status_code == 200


def test_wrong_codes_are_rate_limited_and_logged_without_the_code(api_world, caplog):
    app = create_app(api_world.grc, settings=ApiSettings(auth_failures=3, auth_window=60))
    good = enrolment_code(api_world)
    with browser(app) as client:
        statuses = [
            client.post("/api/v1/session/enrol", json={"code": "ABCD-EFGH"}).status_code
            for _ in range(4)
        ]
        blocked = client.post("/api/v1/session/enrol", json={"code": good})
    assert statuses == [400, 400, 400, 429]
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "enrolment code refused" in caplog.text
    assert "ABCD-EFGH" not in caplog.text and good not in caplog.text


def test_options_say_how_to_sign_in(client):
    assert client.get("/api/v1/session/options").json() == {"oidc": False, "enrolment": True}
