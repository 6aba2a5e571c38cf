"""Completing an exchange over the API: its details are kept unless the body gives new ones."""

from __future__ import annotations

START = "2026-03-02T09:00:00Z"


def _new(client, world, details):
    body = {"subject": "Visite", "start": START, "action": "call", "details": details}
    response = client.post("/api/v1/exchanges", json=body, headers=world.headers("entitled"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_completion_keeps_details_unless_given(client, api_world):
    headers = api_world.headers("entitled")
    kept = _new(client, api_world, "Compte rendu à venir")
    done = client.post(f"/api/v1/exchanges/{kept}/complete", json={}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["details"] == "Compte rendu à venir"

    replaced = _new(client, api_world, "Avant")
    body = {"status": "cancelled", "details": "Annulé par le client"}
    done = client.post(f"/api/v1/exchanges/{replaced}/complete", json=body, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled"
    assert done.json()["details"] == "Annulé par le client"
