"""What administrators do through the API beyond creating: edit the catalogue (ETag and
If-Match on picklist values, categories and custom fields), switch and resume rules, manage
other users' subscriptions and preferences, follow the storage."""

from __future__ import annotations

import itertools
import uuid

import pytest
from tests.api.conftest import ApiWorld

from grc_core.notify import rule_admin, runaway

_serial = itertools.count(1)


def code(prefix: str) -> str:
    return f"{prefix}{next(_serial)}{uuid.uuid4().hex[:4]}"


def admin(world: ApiWorld, **extra: str) -> dict[str, str]:
    return world.headers("admin", **extra)


def preconditions(client, world: ApiWorld, url: str, change: dict, stale_version: str) -> dict:
    """The If-Match rules of one resource; returns the changed representation."""
    read = client.get(url, headers=world.headers("ordinary"))
    assert read.status_code == 200, read.text
    etag = read.headers["etag"]
    assert etag == '"1"' or etag.strip('"').isdigit()
    assert client.patch(url, json=change, headers=admin(world)).status_code == 428
    stale = client.patch(url, json=change, headers=admin(world, **{"If-Match": stale_version}))
    assert stale.status_code == 412, stale.text
    assert stale.json()["current"] == read.json() and stale.headers["etag"] == etag
    refused = client.patch(
        url, json=change, headers=world.headers("ordinary", **{"If-Match": etag})
    )
    assert refused.status_code == 403
    done = client.patch(url, json=change, headers=admin(world, **{"If-Match": etag}))
    assert done.status_code == 200, done.text
    assert int(done.headers["etag"].strip('"')) > int(etag.strip('"'))
    assert client.get(url, headers=admin(world)).headers["etag"] == done.headers["etag"]
    return done.json()


def test_a_picklist_value_is_edited_and_reordered_with_if_match(client, api_world):
    value = code("visio")
    created = client.post(
        "/api/v1/picklists/medium", json={"code": value, "label_fr": "Visio"},
        headers=admin(api_world),
    )  # fmt: skip
    assert created.status_code == 201 and created.headers["etag"] == '"1"'
    assert created.headers["location"].endswith(f"/api/v1/picklists/medium/{value}")
    url = f"/api/v1/picklists/medium/{value}"
    changed = preconditions(
        client, api_world, url, {"label_en": "Video call", "position": 1}, '"99"'
    )
    assert changed["label_en"] == "Video call" and changed["position"] == 1
    listed = client.get("/api/v1/picklists/medium", headers=admin(api_world)).json()
    assert listed[0]["code"] == value
    assert [v["position"] for v in listed] == sorted(v["position"] for v in listed)
    etag = client.get(url, headers=admin(api_world)).headers["etag"]
    retired = client.patch(
        url, json={"active": False}, headers=admin(api_world, **{"If-Match": etag})
    )
    assert retired.status_code == 200 and retired.json()["active"] is False
    codes = [
        v["code"] for v in client.get("/api/v1/picklists/medium", headers=admin(api_world)).json()
    ]
    assert value not in codes
    assert (
        client.get("/api/v1/picklists/medium/nosuch", headers=admin(api_world)).status_code == 404
    )
    bad = client.patch(url, json={"position": 0}, headers=admin(api_world, **{"If-Match": "*"}))
    assert bad.status_code == 422


def test_a_category_moves_in_the_tree_with_if_match(client, api_world):
    parent, child = code("sales"), code("visit")
    for c, p in ((parent, None), (child, parent)):
        body = {"code": c, "label_fr": c, "parent": p}
        assert (
            client.post("/api/v1/categories", json=body, headers=admin(api_world)).status_code
            == 201
        )
    url = f"/api/v1/categories/{child}"
    moved = preconditions(client, api_world, url, {"parent": None, "label_en": "Visit"}, '"7"')
    assert moved["parent"] is None and moved["label_en"] == "Visit"
    cycle = client.patch(
        f"/api/v1/categories/{parent}", json={"parent": parent},
        headers=admin(api_world, **{"If-Match": "*"}),
    )  # fmt: skip
    assert cycle.status_code == 422
    unchanged = client.patch(
        url, json={"label_fr": "Visite"}, headers=admin(api_world, **{"If-Match": "*"})
    )
    assert unchanged.json()["parent"] is None  # a PATCH without "parent" leaves it in place
    assert client.get("/api/v1/categories/nosuch", headers=admin(api_world)).status_code == 404


def test_a_custom_field_is_edited_with_if_match(client, api_world):
    field = code("canal")
    body = {"code": field, "label": "Canal", "type": "choice", "choices": ["web", "salon"]}
    assert client.post("/api/v1/fields", json=body, headers=admin(api_world)).status_code == 201
    url = f"/api/v1/fields/{field}"
    changed = preconditions(
        client, api_world, url, {"label": "Canal d'origine", "choices": ["web", "tel"]}, '"5"'
    )
    assert changed["choices"] == ["web", "tel"] and changed["label"] == "Canal d'origine"
    text = code("note")
    client.post("/api/v1/fields", json={"code": text, "label": "N", "type": "text"},
                headers=admin(api_world))  # fmt: skip
    wrong = client.patch(
        f"/api/v1/fields/{text}",
        json={"choices": ["a"]},
        headers=admin(api_world, **{"If-Match": "*"}),
    )
    assert wrong.status_code == 422
    etag = client.get(url, headers=admin(api_world)).headers["etag"]
    retired = client.patch(
        url, json={"active": False}, headers=admin(api_world, **{"If-Match": etag})
    )
    assert retired.status_code == 200 and retired.json()["active"] is False


def test_activation_takes_an_optional_if_match(client, api_world):
    field = code("opt")
    client.post("/api/v1/fields", json={"code": field, "label": "O", "type": "text"},
                headers=admin(api_world))  # fmt: skip
    url = f"/api/v1/fields/{field}/activation"
    stale = client.post(
        url, json={"active": False}, headers=admin(api_world, **{"If-Match": '"9"'})
    )
    assert stale.status_code == 412 and stale.json()["current"]["active"] is True
    done = client.post(url, json={"active": False}, headers=admin(api_world, **{"If-Match": '"1"'}))
    assert done.status_code == 200 and done.headers["etag"] == '"2"'


def test_rules_are_switched_resumed_and_deleted_with_if_match(client, api_world):
    with api_world.grc.acting_as("admin") as w:
        rule = rule_admin.add_rule(
            w.session, w.actor, code("rule"), triggers=["exchange.created"],
            recipients={"assignees": True},
        ).id  # fmt: skip
    url = f"/api/v1/rules/{rule}"
    read = client.get(url, headers=admin(api_world))
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert client.get(url, headers=api_world.headers("entitled")).status_code == 403
    assert client.patch(url, json={"enabled": False}, headers=admin(api_world)).status_code == 428
    stale = client.patch(
        url, json={"enabled": False}, headers=admin(api_world, **{"If-Match": '"3"'})
    )
    assert stale.status_code == 412 and stale.json()["current"]["enabled"] is True
    off = client.patch(
        url, json={"enabled": False}, headers=admin(api_world, **{"If-Match": '"1"'})
    )
    assert (
        off.status_code == 200 and off.json()["enabled"] is False and off.headers["etag"] == '"2"'
    )
    assert client.post(f"{url}/unpark", headers=admin(api_world)).status_code == 409
    with api_world.grc.session() as s:
        runaway.park(s, rule, "too many deliveries")
    resumed = client.post(f"{url}/unpark", headers=admin(api_world))
    assert resumed.status_code == 200, resumed.text
    assert client.delete(url, headers=admin(api_world)).status_code == 428
    assert client.delete(url, headers=admin(api_world, **{"If-Match": '"1"'})).status_code == 412
    etag = client.get(url, headers=admin(api_world)).headers["etag"]
    assert client.delete(url, headers=admin(api_world, **{"If-Match": etag})).status_code == 204
    assert client.get(url, headers=admin(api_world)).status_code == 404
    assert client.delete(url, headers=admin(api_world, **{"If-Match": "*"})).status_code == 404


def test_administrators_manage_other_users_subscriptions(client, api_world):
    company = client.post(
        "/api/v1/companies", json={"name": code("Followed")}, headers=admin(api_world)
    ).json()["id"]
    url = "/api/v1/users/bob/subscriptions"
    made = client.post(url, json={"company_id": company}, headers=admin(api_world))
    assert made.status_code == 201, made.text
    mine = client.get("/api/v1/subscriptions", headers=api_world.headers("ordinary")).json()
    assert made.json()["id"] in [s["id"] for s in mine]
    assert client.get(url, headers=admin(api_world)).json() == mine
    # bob may read his own through this path, not alice's; alice may not read bob's.
    assert client.get(url, headers=api_world.headers("ordinary")).status_code == 200
    assert client.get(url, headers=api_world.headers("entitled")).status_code == 403
    assert client.post(url, json={"company_id": company},
                       headers=api_world.headers("entitled")).status_code == 403  # fmt: skip
    # A channel that cannot reach bob (no e-mail address) is refused for him.
    unreachable = client.post(
        url, json={"company_id": company, "channels": ["email"]}, headers=admin(api_world)
    )
    assert unreachable.status_code == 422
    gone = client.delete(f"{url}/{made.json()['id']}", headers=admin(api_world))
    assert gone.status_code == 204
    assert client.get(url, headers=admin(api_world)).json() == []
    assert (
        client.get("/api/v1/users/nobody/subscriptions", headers=admin(api_world)).status_code
        == 404
    )
    other = client.delete(f"/api/v1/users/alice/subscriptions/{made.json()['id']}",
                          headers=admin(api_world))  # fmt: skip
    assert other.status_code == 404


def test_administrators_change_other_users_preferences_with_if_match(client, api_world):
    url = "/api/v1/users/alice/preferences"
    read = client.get(url, headers=admin(api_world))
    assert read.status_code == 200
    etag = read.headers["etag"]
    assert client.patch(url, json={"digest": "daily"}, headers=admin(api_world)).status_code == 428
    done = client.patch(
        url, json={"digest": "daily"}, headers=admin(api_world, **{"If-Match": etag})
    )
    assert done.status_code == 200 and done.json()["digest"] == "daily"
    assert done.headers["etag"] != etag
    own = client.get("/api/v1/preferences", headers=api_world.headers("entitled")).json()
    assert own == done.json()
    stale = client.patch(
        url, json={"digest": "hourly"}, headers=admin(api_world, **{"If-Match": etag})
    )
    assert stale.status_code == 412 and stale.json()["current"]["digest"] == "daily"
    assert client.get(url, headers=api_world.headers("ordinary")).status_code == 403


@pytest.mark.parametrize("who", ["ordinary", "entitled"])
def test_the_storage_status_is_for_administrators(client, api_world, who):
    assert client.get("/api/v1/storage/status", headers=api_world.headers(who)).status_code == 403
    status = client.get("/api/v1/storage/status", headers=admin(api_world))
    assert status.status_code == 200
    body = status.json()
    assert body["default"] == "local" and body["moving"] == 0
    assert {b["backend"] for b in body["backends"]} >= {"local"}
    assert body["settled"] is (body["pending_deletions"] == 0)


def test_the_attachment_policy_is_read_by_all_and_changed_with_if_match(client, api_world):
    url = "/api/v1/attachment-policy"
    read = client.get(url, headers=api_world.headers("ordinary"))
    assert read.status_code == 200 and "pdf" in read.json()["allowed_extensions"]
    etag = read.headers["etag"]
    size = read.json()["max_size"]
    change = {"max_size": 1_000_000}
    assert client.patch(url, json=change, headers=admin(api_world)).status_code == 428
    stale = client.patch(url, json=change, headers=admin(api_world, **{"If-Match": '"12"'}))
    assert stale.status_code == 412 and stale.json()["current"] == read.json()
    refused = client.patch(
        url, json=change, headers=api_world.headers("ordinary", **{"If-Match": etag})
    )
    assert refused.status_code == 403
    done = client.patch(url, json=change, headers=admin(api_world, **{"If-Match": etag}))
    assert done.status_code == 200 and done.json()["max_size"] == 1_000_000
    assert done.headers["etag"] != etag
    assert client.get(url, headers=admin(api_world)).headers["etag"] == done.headers["etag"]
    again = client.patch(
        url, json={"max_size": size}, headers=admin(api_world, **{"If-Match": etag})
    )
    assert again.status_code == 412
    restored = client.patch(
        url, json={"max_size": size}, headers=admin(api_world, **{"If-Match": done.headers["etag"]})
    )
    assert restored.status_code == 200 and restored.headers["etag"] == etag
    bad = client.patch(
        url, json={"scanning": "sometimes"}, headers=admin(api_world, **{"If-Match": "*"})
    )
    assert bad.status_code == 422


def test_dead_deliveries_are_listed_and_retried(client, api_world):
    from tests.api.test_authorization_matrix import dead_delivery

    dead = dead_delivery(api_world)
    listed = client.get("/api/v1/deliveries/dead", headers=admin(api_world))
    assert listed.status_code == 200
    entry = next(d for d in listed.json() if d["id"] == dead)
    assert entry["recipient"] == "alice" and entry["last_error"] == "unreachable"
    assert (
        client.get("/api/v1/deliveries/dead", headers=api_world.headers("entitled")).status_code
        == 403
    )
    retried = client.post(
        "/api/v1/deliveries/retry", json={"ids": [dead, dead]}, headers=admin(api_world)
    )
    assert retried.status_code == 200 and retried.json() == {"retried": [dead]}
    remaining = client.get("/api/v1/deliveries/dead", headers=admin(api_world)).json()
    assert dead not in [d["id"] for d in remaining]
    twice = client.post("/api/v1/deliveries/retry", json={"ids": [dead]}, headers=admin(api_world))
    assert twice.status_code == 409
    unknown = client.post(
        "/api/v1/deliveries/retry", json={"ids": [10**9]}, headers=admin(api_world)
    )
    assert unknown.status_code == 404


def _race(app, count: int, send) -> list:
    import threading

    from tests.api.conftest import _client

    barrier = threading.Barrier(count)
    results: list = []

    def attempt(n: int) -> None:
        with _client(app) as c:
            barrier.wait()
            results.append(send(c, n))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_edits_with_one_etag_one_wins_the_others_get_412_with_current(app, api_world):
    category = code("race")
    with api_world.grc.acting_as("admin") as w:
        from grc_core.services import categories

        categories.add_category(w.session, w.actor, category, label_fr="Course")
    url = f"/api/v1/categories/{category}"
    results = _race(
        app, 5,
        lambda c, n: c.patch(url, json={"label_fr": f"writer {n}"},
                             headers=admin(api_world, **{"If-Match": '"1"'})),
    )  # fmt: skip
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412, 412]
    winner = next(r for r in results if r.status_code == 200)
    for lost in (r for r in results if r.status_code == 412):
        assert lost.json()["current"]["label_fr"] == winner.json()["label_fr"]
        assert lost.headers["etag"] == winner.headers["etag"] == '"2"'


def test_concurrent_moves_in_one_picklist_keep_every_position_distinct(app, api_world, client):
    values = [code("race") for _ in range(4)]
    with api_world.grc.acting_as("admin") as w:
        from grc_core.services import picklists

        for value in values:
            picklists.add_value(w.session, w.actor, "stage", value, label_fr=value)
    results = _race(
        app, 4,
        lambda c, n: c.patch(f"/api/v1/picklists/stage/{values[n]}", json={"position": 1},
                             headers=admin(api_world, **{"If-Match": "*"})),
    )  # fmt: skip
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    listed = client.get(
        "/api/v1/picklists/stage", params={"include_retired": True}, headers=admin(api_world)
    ).json()
    assert [v["position"] for v in listed] == list(range(1, len(listed) + 1))
    assert listed[0]["code"] in values and {v["code"] for v in listed} >= set(values)
