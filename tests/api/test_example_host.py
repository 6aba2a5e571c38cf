"""``examples/api_host_app.py``: the API mounted in a host with the host's own identity."""

from __future__ import annotations

from tests.api.conftest import _client
from tests.test_examples import load_example

from grc_core.files import samples


def test_the_host_mounts_the_api_with_its_own_identity(api_world):
    example = load_example("api_host_app")
    sessions = example.HostSessions()
    with _client(example.build(api_world.grc, sessions)) as client:
        assert client.get("/").json()["signed_in_as"] is None
        # Not signed in to the host: the API refuses, whatever bearer token is sent.
        anonymous = client.get(
            "/grc/api/v1/me", headers={"Authorization": f"Bearer {api_world.tokens['admin']}"}
        )
        assert anonymous.status_code == 401

        client.cookies.set(example.COOKIE, sessions.open("bob"))
        me = client.get("/grc/api/v1/me")
        assert me.status_code == 200 and me.json()["login"] == "bob"
        private = f"/grc/api/v1/exchanges/{api_world.ids['private']}"
        assert client.get(private).status_code == 404  # bob may not see it

        client.cookies.set(example.COOKIE, sessions.open("alice"))
        assert client.get(private).json()["subject"] == "Secret plan"
        created = client.post(
            "/grc/api/v1/exchanges",
            json={"subject": "Mounted", "start": "2026-03-02T09:00:00Z", "action": "call"},
        )
        assert created.status_code == 201 and created.json()["author"]["login"] == "alice"
        assert created.headers["location"].startswith("/grc/api/v1/exchanges/")
        upload = client.post(
            f"/grc/api/v1/exchanges/{created.json()['id']}/attachments",
            files={"file": ("note.pdf", samples.pdf(), "application/pdf")},
        )
        assert upload.status_code == 201, upload.text

        client.cookies.set(example.COOKIE, sessions.open("dan"))  # deactivated in GRC
        assert client.get("/grc/api/v1/me").status_code == 403
        assert client.get("/grc/api/v1/openapi.json").status_code == 200
