"""HTTP semantics in-process: problem details, preconditions, idempotency, limits, headers."""

from __future__ import annotations

import uuid

from tests.api.conftest import _client

from grc_api import ApiSettings, create_app
from grc_core.files import samples
from grc_core.services import api_tokens, attachments

START = "2026-03-02T09:00:00Z"


def new_exchange(client, world, who="entitled", **fields):
    body = {"subject": "Visite", "start": START, "action": "call", **fields}
    response = client.post("/api/v1/exchanges", json=body, headers=world.headers(who))
    assert response.status_code in (200, 201), response.text
    return response


def test_validation_errors_are_problem_details_with_fields(client, api_world):
    response = client.post(
        "/api/v1/exchanges",
        json={"subject": "x", "start": "2026-03-02T09:00:00", "action": "call"},
        headers=api_world.headers("entitled"),
    )
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:grc:problem:validation-error"
    assert problem["errors"][0]["field"] == "start"
    assert "timezone" in problem["detail"]
    unknown = client.post(
        "/api/v1/exchanges",
        json={"subject": "x", "start": START, "action": "call", "author": "admin"},
        headers=api_world.headers("entitled"),
    )
    assert unknown.status_code == 422  # the author comes from authentication, never the body
    assert unknown.json()["errors"][0]["field"] == "author"


def test_exchange_creation_is_idempotent_on_the_client_uuid(client, api_world):
    key = str(uuid.uuid4())
    first = new_exchange(client, api_world, uuid=key)
    again = new_exchange(client, api_world, uuid=key)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    stolen = client.post(
        "/api/v1/exchanges",
        json={"subject": "x", "start": START, "action": "call", "uuid": key},
        headers=api_world.headers("ordinary"),
    )
    assert stolen.status_code == 409


def test_idempotency_key_replays_and_refuses_reuse_elsewhere(client, api_world):
    headers = api_world.headers("entitled", **{"Idempotency-Key": f"k-{uuid.uuid4()}"})
    body = {"name": f"Idem {uuid.uuid4().hex[:6]}"}
    first = client.post("/api/v1/companies", json=body, headers=headers)
    second = client.post("/api/v1/companies", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    names = [c["name"] for c in client.get("/api/v1/companies", headers=headers).json()]
    assert names.count(body["name"]) == 1
    elsewhere = client.post("/api/v1/exchanges", json={"subject": "x", "start": START,
                            "action": "call"}, headers=headers)  # fmt: skip
    assert elsewhere.status_code == 422


def test_preconditions(client, api_world):
    created = new_exchange(client, api_world).json()
    url = f"/api/v1/exchanges/{created['id']}"
    headers = api_world.headers("entitled")
    assert client.patch(url, json={"subject": "a"}, headers=headers).status_code == 428
    assert client.delete(url, headers=headers).status_code == 428
    bad = client.patch(url, json={"subject": "a"}, headers={**headers, "If-Match": "v1"})
    assert bad.status_code == 400
    stale = client.patch(url, json={"subject": "a"}, headers={**headers, "If-Match": '"999"'})
    assert stale.status_code == 412 and stale.json()["current"]["id"] == created["id"]
    assert stale.headers["etag"] == f'"{created["version"]}"'
    fresh = client.patch(
        url, json={"subject": "a"}, headers={**headers, "If-Match": f'"{created["version"]}"'}
    )
    assert fresh.status_code == 200 and fresh.json()["subject"] == "a"
    gone = client.delete(url, headers={**headers, "If-Match": fresh.headers["etag"]})
    assert gone.status_code == 204
    assert client.get(url, headers=headers).status_code == 404


def test_uploads_are_refused_early_and_store_nothing(client, api_world):
    exchange = new_exchange(client, api_world).json()["id"]
    url = f"/api/v1/exchanges/{exchange}/attachments"
    headers = api_world.headers("entitled")
    with api_world.grc.acting_as("admin") as w:
        attachments.set_policy(w.session, w.actor, max_size=100_000)
    try:
        big = samples.pdf() + b"%" * 200_000
        too_big = client.post(
            url, files={"file": ("a.pdf", big, "application/pdf")}, headers=headers
        )
        assert too_big.status_code == 413, too_big.text
        wrong_ext = client.post(url, files={"file": ("a.exe", b"MZ", "x")}, headers=headers)
        assert wrong_ext.status_code == 415
        lying = client.post(url, files={"file": ("a.pdf", samples.png(), "application/pdf")},
                            headers=headers)  # fmt: skip
        assert lying.status_code == 415
        raw = client.post(url, content=samples.pdf(), headers=headers)
        assert raw.status_code == 415
        no_file = client.post(url, files={"other": ("a.pdf", samples.pdf(), "x")}, headers=headers)
        assert no_file.status_code == 422
        assert client.get(url, headers=headers).json() == []
    finally:
        with api_world.grc.acting_as("admin") as w:
            attachments.set_policy(w.session, w.actor, max_size=20 * 1024 * 1024)


def test_request_bodies_are_limited(api_world):
    app = create_app(api_world.grc, settings=ApiSettings(max_body=4096))
    with _client(app) as client:
        body = {"subject": "x" * 10_000, "start": START, "action": "call"}
        response = client.post(
            "/api/v1/exchanges", json=body, headers=api_world.headers("entitled")
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"


def test_security_headers_and_request_ids(client, api_world):
    response = client.get(
        "/api/v1/me", headers=api_world.headers("ordinary", **{"X-Request-ID": "abc-123"})
    )
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    forged = "bad id " + "x" * 100  # a space, and too long: replaced, never echoed
    assert (
        client.get("/api/v1/health", headers={"X-Request-ID": forged}).headers["x-request-id"]
        != forged
    )
    app = create_app(api_world.grc, settings=ApiSettings(tls=True))
    with _client(app) as tls:
        assert "max-age" in tls.get("/api/v1/health").headers["strict-transport-security"]


def test_cors_is_closed_unless_configured(client, api_world):
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization",
    }
    closed = client.options("/api/v1/me", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    app = create_app(api_world.grc, settings=ApiSettings(cors_origins=("https://app.example",)))
    with _client(app) as open_:
        allowed = open_.options("/api/v1/me", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = open_.options("/api/v1/me", headers={**preflight, "Origin": "https://evil.example"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_forwarded_headers_are_believed_only_from_trusted_proxies(api_world):
    settings = ApiSettings(auth_failures=1, auth_window=60, trusted_proxies=("10.0.0.0/8",))
    bad = {"Authorization": "Bearer grc_" + "x" * 40}

    # The test client's peer is "testclient": not a trusted proxy, so X-Forwarded-For is
    # ignored and every forged address is the same client, limited after one failure.
    with _client(create_app(api_world.grc, settings=settings)) as client:
        assert (
            client.get("/api/v1/me", headers={**bad, "X-Forwarded-For": "1.1.1.1"}).status_code
            == 401
        )
        assert (
            client.get("/api/v1/me", headers={**bad, "X-Forwarded-For": "2.2.2.2"}).status_code
            == 429
        )
    assert settings.trusts("10.1.2.3") and not settings.trusts("11.1.2.3")


def test_unexpected_errors_never_show_a_trace(api_world, monkeypatch):
    from grc_api.routes import service

    app = create_app(api_world.grc)

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.UserOut, "of", classmethod(lambda cls, user: boom()))
    with _client(app) as client:
        response = client.get("/api/v1/me", headers=api_world.headers("entitled"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_openapi_and_docs_are_served(client):
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "GRC exchanges"
    assert "bearer" in spec["components"]["securitySchemes"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_concurrent_updates_with_one_etag_one_wins_the_others_get_412_with_current(app, api_world):
    import threading

    created = new_exchange_direct(api_world)
    url, etag = f"/api/v1/exchanges/{created}", '"1"'
    barrier = threading.Barrier(6)
    results: list = []

    def attempt(n: int) -> None:
        with _client(app) as client:
            barrier.wait()
            response = client.patch(
                url,
                json={"subject": f"writer {n}"},
                headers=api_world.headers("entitled", **{"If-Match": etag}),
            )
            results.append(response)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 412, 412, 412, 412, 412], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    for lost in (r for r in results if r.status_code == 412):
        assert lost.json()["current"]["subject"] == winner["subject"]
        assert lost.headers["etag"] == f'"{winner["version"]}"'


def new_exchange_direct(world) -> int:
    from datetime import UTC, datetime

    from grc_core.services import exchanges

    with world.grc.acting_as("alice") as w:
        start = datetime(2026, 3, 2, 9, tzinfo=UTC)
        return exchanges.create_exchange(
            w.session, w.actor, subject="Race", start=start, action="call"
        ).id


def test_an_oversized_upload_is_refused_without_reading_the_rest(app, api_world):
    """The body is pulled chunk by chunk: the refusal comes before the sender is done."""
    import anyio
    import httpx

    exchange = new_exchange_direct(api_world)
    with api_world.grc.acting_as("admin") as w:
        attachments.set_policy(w.session, w.actor, max_size=1024 * 1024)
    sent = 0
    total = 64 * 1024 * 1024
    boundary = "grc-boundary"

    async def body():
        nonlocal sent
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        yield head + samples.pdf()
        chunk = b"%" * (256 * 1024)
        while sent < total:
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    async def upload():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(
                f"/api/v1/exchanges/{exchange}/attachments",
                content=body(),
                headers=api_world.headers(
                    "entitled", **{"Content-Type": f"multipart/form-data; boundary={boundary}"}
                ),
            )

    try:
        response = anyio.run(upload)
    finally:
        with api_world.grc.acting_as("admin") as w:
            attachments.set_policy(w.session, w.actor, max_size=20 * 1024 * 1024)
    assert response.status_code == 413, response.text
    assert sent < 4 * 1024 * 1024, f"{sent:,} bytes were read before the refusal"


def test_a_token_revoked_through_the_api_stops_working_at_once(client, api_world):
    created = client.post(
        "/api/v1/tokens", json={"name": "short"}, headers=api_world.headers("ordinary")
    ).json()
    mine = {"Authorization": f"Bearer {created['secret']}"}
    assert client.get("/api/v1/me", headers=mine).status_code == 200  # now remembered
    revoked = client.delete(f"/api/v1/tokens/{created['token']['id']}", headers=mine)
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=mine).status_code == 401


def test_deactivating_a_user_takes_effect_at_once_despite_the_credential_cache(app, api_world):
    from grc_core.services import users

    with api_world.grc.acting_as("admin") as w:
        users.create_user(w.session, w.actor, login="erin", display_name="Erin")
        secret = api_tokens.create_token(w.session, w.actor, "erin").secret
    with _client(app) as client:
        mine = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/me", headers=mine).status_code == 200
        with api_world.grc.acting_as("admin") as w:
            users.update_user(w.session, w.actor, "erin", active=False)
        assert client.get("/api/v1/me", headers=mine).status_code == 403


def test_idempotency_keys_are_forgotten_after_a_day(client, api_world):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from grc_core.models import IdempotencyKey

    headers = api_world.headers("entitled", **{"Idempotency-Key": f"old-{uuid.uuid4()}"})
    first = client.post("/api/v1/companies", json={"name": "Day one"}, headers=headers)
    with api_world.grc.session() as s:
        s.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == headers["Idempotency-Key"])
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    later = client.post("/api/v1/companies", json={"name": "Day two"}, headers=headers)
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    again = client.post("/api/v1/companies", json={"name": "Day two"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == later.json()
