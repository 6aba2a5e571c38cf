"""The web application served at ``/`` (files, caching, CSP, the API's own headers kept),
and the agenda of the *Aujourd'hui* screen."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from grc_api import ApiSettings, create_app
from grc_api.middleware import API_CSP
from grc_api.web import WEB_CSP
from grc_core.services import exchanges
from grc_core.timeutil import utcnow

from .conftest import browser, enrolled


def test_the_application_is_served_with_its_csp_and_caching(client):
    home = client.get("/")
    assert home.status_code == 200
    assert home.text.startswith("<!doctype html>")
    assert home.headers["content-type"].startswith("text/html")
    assert home.headers["content-security-policy"] == WEB_CSP
    assert home.headers["cache-control"] == "no-cache"
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["x-frame-options"] == "DENY"
    for name, kind in (("sw.js", "text/javascript"), ("manifest.webmanifest", "manifest")):
        served = client.get(f"/{name}")
        assert served.status_code == 200 and kind in served.headers["content-type"]
        assert served.headers["cache-control"] == "no-cache"
    asset = client.get("/assets/app-0123abcd.js")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.head("/").status_code == 200
    # Paths of the application's own routes land on index.html; missing files do not.
    assert client.get("/companies/12").text == home.text
    assert client.get("/assets/app-missing.js").status_code == 404
    for sneaky in ("/../conftest.py", "/%2e%2e/conftest.py", "/.hidden", "/assets/../index.html"):
        response = client.get(sneaky)
        assert response.status_code in (200, 404)
        assert "WEB_FILES" not in response.text


def test_the_api_keeps_its_own_headers_and_404s(client, api_world):
    me = client.get("/api/v1/me", headers=api_world.headers("entitled"))
    assert me.headers["content-security-policy"] == API_CSP
    assert me.headers["cache-control"] == "no-store"
    unknown = client.get("/api/v1/no-such-thing", headers=api_world.headers("entitled"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert client.get("/api/elsewhere").status_code == 404
    # Whatever the method: the application's catch-all never takes an API path.
    posted = client.post("/api/v1/no-such-thing", headers=api_world.headers("entitled"))
    assert posted.status_code == 404
    assert client.post("/elsewhere").status_code == 405


def test_a_missing_build_is_a_clear_404(api_world, tmp_path: Path):
    app = create_app(api_world.grc, web_root=tmp_path / "not-built")
    with browser(app) as client:
        response = client.get("/")
    assert response.status_code == 404
    assert "not built" in response.json()["detail"]
    off = create_app(api_world.grc, settings=ApiSettings(web=False))
    with browser(off) as client:
        assert client.get("/").status_code == 404
        assert client.get("/api/v1/health").status_code == 200


def test_today_lists_my_open_todos_and_meetings_late_ones_first(client, api_world):
    now = utcnow()
    made = {}
    with api_world.grc.acting_as("alice") as work:

        def add(name, hours, action, **extra):  # type: ignore[no-untyped-def]
            made[name] = exchanges.create_exchange(
                work.session, work.actor, subject=name, start=now + timedelta(hours=hours),
                action=action, **extra,
            ).id  # fmt: skip

        add("late todo", -30, "todo")
        add("meeting soon", 0.01, "meeting", status="planned")
        add("call today", 0.01, "call")
        add("done todo", -1, "todo", status="done")
        add("next week", 24 * 7, "todo")
    with api_world.grc.acting_as("bob") as work:
        made["assigned"] = exchanges.create_exchange(
            work.session, work.actor, subject="assigned to alice", start=now - timedelta(hours=2),
            action="todo", assignees=["alice"],
        ).id  # fmt: skip
        made["bob's own"] = exchanges.create_exchange(
            work.session, work.actor, subject="bob's own", start=now, action="todo"
        ).id
    enrolled(client, api_world, "alice")
    # Kiribati is 14 hours ahead: "today" there still ends within a day.
    for tz in ("UTC", "Pacific/Kiritimati", "Europe/Paris"):
        response = client.get("/api/v1/me/today", params={"tz": tz})
        assert response.status_code == 200, response.text
        subjects = [e["subject"] for e in response.json()]
        assert subjects[:2] == ["late todo", "assigned to alice"], subjects
        assert "meeting soon" in subjects or now.hour == 23
        assert not {"call today", "done todo", "next week", "bob's own"} & set(subjects)
        assert all(e["closed"] is False for e in response.json())
    bad = client.get("/api/v1/me/today", params={"tz": "Mars/Olympus"})
    assert bad.status_code == 422
