"""Every POST takes an Idempotency-Key the same way: a retry with the same key and body
changes nothing more and gets the first answer back; the same key with another body, or
for another operation, is 422; the key is checked before anything is done."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.api.conftest import ApiWorld
from tests.api.test_authorization_matrix import dead_delivery

from grc_core.files import samples
from grc_core.models import (
    Attachment,
    Category,
    Company,
    Contact,
    CustomField,
    Event,
    Exchange,
    Opportunity,
    PicklistValue,
    Rule,
    Subscription,
    User,
)
from grc_core.notify import rule_admin, runaway
from grc_core.services import categories, companies, custom_fields, opportunities, picklists

START = "2026-03-02T09:00:00Z"
_serial = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}x{uuid.uuid4().hex[:6]}"


@dataclass
class Post:
    """One kind of POST: where, two different bodies, who sends it, and what to count."""

    path: Callable[[ApiWorld], str]
    body: Callable[[ApiWorld], dict[str, Any]]
    other: Callable[[ApiWorld, dict[str, Any]], dict[str, Any]]
    who: str = "admin"
    #: How many records the body made (None: an action on an existing record).
    count: Callable[[Any, dict[str, Any]], int] | None = None
    status: int = 201


def rows(model: Any, column: str) -> Callable[[Any, dict[str, Any]], int]:
    def count(session: Any, body: dict[str, Any]) -> int:
        attribute = getattr(model, column)
        return session.scalar(select(func.count()).where(attribute == body[column]))

    return count


def subscriptions_of(login: str) -> Callable[[Any, dict[str, Any]], int]:
    def count(session: Any, body: dict[str, Any]) -> int:
        user = session.scalar(select(User.id).where(User.login == login))
        return session.scalar(
            select(func.count()).where(
                Subscription.user_id == user, Subscription.target_id == body["company_id"]
            )
        )

    return count


def company(world: ApiWorld) -> int:
    with world.grc.acting_as("alice") as w:
        return companies.create_company(w.session, w.actor, name=unique("Co"), owner="alice").id


def contact(world: ApiWorld) -> int:
    target = company(world)
    with world.grc.acting_as("alice") as w:
        return companies.create_contact(w.session, w.actor, target, last_name="M").id


def deal(world: ApiWorld) -> int:
    target = company(world)
    with world.grc.acting_as("alice") as w:
        return opportunities.create_opportunity(w.session, w.actor, target, title="D").id


def parked_rule(world: ApiWorld) -> int:
    with world.grc.acting_as("admin") as w:
        rule = rule_admin.add_rule(
            w.session, w.actor, unique("rule"), triggers=["exchange.created"],
            recipients={"assignees": True},
        )  # fmt: skip
        ident = rule.id
    with world.grc.session() as s:
        runaway.park(s, ident, "too many deliveries")
    return ident


def catalogue(kind: str) -> Callable[[ApiWorld], str]:
    def make(world: ApiWorld) -> str:
        code = unique("c")
        with world.grc.acting_as("admin") as w:
            if kind == "picklist":
                picklists.add_value(w.session, w.actor, "medium", code, label_fr=code)
                return f"/api/v1/picklists/medium/{code}/activation"
            if kind == "category":
                categories.add_category(w.session, w.actor, code, label_fr=code)
                return f"/api/v1/categories/{code}/activation"
            custom_fields.define_field(w.session, w.actor, code, label=code, type="text")
            return f"/api/v1/fields/{code}/activation"

    return make


EXCHANGE = {"start": START, "action": "call"}
RULE = {"triggers": ["exchange.created"], "recipients": {"assignees": True}}

POSTS: dict[str, Post] = {
    "company": Post(
        lambda w: "/api/v1/companies",
        lambda w: {"name": unique("Co")},
        lambda w, b: {"name": unique("Co")},
        who="entitled",
        count=rows(Company, "name"),
    ),
    "contact": Post(
        lambda w: f"/api/v1/companies/{w.ids['acme']}/contacts",
        lambda w: {"last_name": unique("Ln")},
        lambda w, b: {**b, "first_name": "Other"},
        who="entitled",
        count=rows(Contact, "last_name"),
    ),
    "opportunity": Post(
        lambda w: f"/api/v1/companies/{w.ids['acme']}/opportunities",
        lambda w: {"title": unique("Deal")},
        lambda w, b: {**b, "amount": "12.5"},
        who="entitled",
        count=rows(Opportunity, "title"),
    ),
    "exchange": Post(
        lambda w: "/api/v1/exchanges",
        lambda w: {"subject": unique("Call"), **EXCHANGE},
        lambda w, b: {**b, "details": "another body"},
        who="entitled",
        count=rows(Exchange, "subject"),
    ),
    "user": Post(
        lambda w: "/api/v1/users",
        lambda w: {"login": unique("u"), "name": "New"},
        lambda w, b: {**b, "name": "Other"},
        count=rows(User, "login"),
    ),
    "picklist value": Post(
        lambda w: "/api/v1/picklists/medium",
        lambda w: {"code": unique("m"), "label_fr": "Fax"},
        lambda w, b: {**b, "label_fr": "Télécopie"},
        count=rows(PicklistValue, "code"),
    ),
    "category": Post(
        lambda w: "/api/v1/categories",
        lambda w: {"code": unique("cat"), "label_fr": "Cat"},
        lambda w, b: {**b, "label_en": "Other"},
        count=rows(Category, "code"),
    ),
    "field": Post(
        lambda w: "/api/v1/fields",
        lambda w: {"code": unique("f"), "label": "F", "type": "text"},
        lambda w, b: {**b, "type": "integer"},
        count=rows(CustomField, "code"),
    ),
    "rule": Post(
        lambda w: "/api/v1/rules",
        lambda w: {"name": unique("rule"), **RULE},
        lambda w, b: {**b, "channels": ["inbox", "email"]},
        count=rows(Rule, "name"),
    ),
    "subscription": Post(
        lambda w: "/api/v1/subscriptions",
        lambda w: {"company_id": company(w)},
        lambda w, b: {**b, "narrow": True},
        who="ordinary",
        count=subscriptions_of("bob"),
    ),
    "another user's subscription": Post(
        lambda w: "/api/v1/users/alice/subscriptions",
        lambda w: {"company_id": company(w)},
        lambda w, b: {**b, "event_kinds": ["exchange.created"]},
        count=subscriptions_of("alice"),
    ),
    "contact move": Post(
        lambda w: f"/api/v1/contacts/{contact(w)}/move",
        lambda w: {"company_id": company(w)},
        lambda w, b: {"company_id": company(w)},
        who="entitled",
        status=200,
    ),
    "opportunity transfer": Post(
        lambda w: f"/api/v1/opportunities/{deal(w)}/transfer",
        lambda w: {"company_id": company(w)},
        lambda w, b: {"company_id": company(w)},
        who="entitled",
        status=200,
    ),
    "picklist activation": Post(
        catalogue("picklist"),
        lambda w: {"active": False},
        lambda w, b: {"active": True},
        status=200,
    ),
    "category activation": Post(
        catalogue("category"),
        lambda w: {"active": False},
        lambda w, b: {"active": True},
        status=200,
    ),
    "field activation": Post(
        catalogue("field"),
        lambda w: {"active": False},
        lambda w, b: {"active": True},
        status=200,
    ),
    "delivery retry": Post(
        lambda w: "/api/v1/deliveries/retry",
        lambda w: {"ids": [dead_delivery(w)]},
        lambda w, b: {"ids": [dead_delivery(w)]},
        status=200,
    ),
    "inbox read": Post(
        lambda w: "/api/v1/inbox/read",
        lambda w: {"ids": "all"},
        lambda w, b: {"ids": [1]},
        who="ordinary",
        status=200,
    ),
}


def events(world: ApiWorld) -> int:
    with world.grc.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


@pytest.mark.parametrize("kind", sorted(POSTS))
def test_a_retried_post_changes_nothing_more_and_another_body_is_refused(client, api_world, kind):
    post = POSTS[kind]
    path, body = post.path(api_world), post.body(api_world)
    headers = api_world.headers(post.who, **{"Idempotency-Key": str(uuid.uuid4())})
    first = client.post(path, json=body, headers=headers)
    assert first.status_code == post.status, first.text
    after_first = events(api_world)
    again = client.post(path, json=body, headers=headers)
    assert again.status_code == post.status
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers.get("etag") == first.headers.get("etag")
    assert again.headers.get("location") == first.headers.get("location")
    assert events(api_world) == after_first
    if post.count is not None:
        with api_world.grc.session() as s:
            assert post.count(s, body) == 1
    other = client.post(path, json=post.other(api_world, body), headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["type"] == "urn:grc:problem:idempotency-key-reused"
    if post.count is not None:
        with api_world.grc.session() as s:
            assert post.count(s, body) == 1


def test_a_parked_rule_resumed_twice_with_one_key_is_resumed_once(client, api_world):
    url = f"/api/v1/rules/{parked_rule(api_world)}/unpark"
    headers = api_world.headers("admin", **{"Idempotency-Key": str(uuid.uuid4())})
    first = client.post(url, headers=headers)
    assert first.status_code == 200, first.text
    again = client.post(url, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    # Without the key the retry is a new request: the rule is not parked any more.
    assert client.post(url, headers=api_world.headers("admin")).status_code == 409


def test_a_retried_upload_stores_one_attachment_and_another_file_name_is_refused(client, api_world):
    created = client.post(
        "/api/v1/exchanges", json={"subject": "CR", **EXCHANGE},
        headers=api_world.headers("entitled"),
    ).json()  # fmt: skip
    url = f"/api/v1/exchanges/{created['id']}/attachments"
    headers = api_world.headers("entitled", **{"Idempotency-Key": str(uuid.uuid4())})
    file = {"file": ("cr.pdf", samples.pdf(), "application/pdf")}
    first = client.post(url, files=file, headers=headers)
    again = client.post(url, files=file, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"].replace("http://testserver", "")
    renamed = {"file": ("other.pdf", samples.pdf(), "application/pdf")}
    assert client.post(url, files=renamed, headers=headers).status_code == 422
    with api_world.grc.session() as s:
        stored = s.scalar(select(func.count()).where(Attachment.exchange_id == created["id"]))
    assert stored == 1


def test_a_dry_run_is_run_again_and_a_token_is_never_replayed(client, api_world):
    with api_world.grc.acting_as("admin") as w:
        rule = rule_admin.add_rule(
            w.session, w.actor, unique("rule"), triggers=["exchange.created"],
            recipients={"assignees": True},
        ).id  # fmt: skip
    with api_world.grc.session() as s:
        event = s.scalar(select(Event.id).where(Event.kind == "exchange.created").limit(1))
    headers = api_world.headers("admin", **{"Idempotency-Key": str(uuid.uuid4())})
    url = f"/api/v1/rules/{rule}/dry-run"
    first = client.post(url, json={"event_id": event}, headers=headers)
    again = client.post(url, json={"event_id": event}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers and again.json() == first.json()
    token = api_world.headers("ordinary", **{"Idempotency-Key": str(uuid.uuid4())})
    secrets = {client.post("/api/v1/tokens", json={}, headers=token).json()["secret"]
               for _ in range(2)}  # fmt: skip
    assert len(secrets) == 2


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there"])
def test_a_malformed_key_is_refused_before_anything_is_done(client, api_world, key):
    name = unique("Bad")
    headers = api_world.headers("entitled", **{"Idempotency-Key": key})
    response = client.post("/api/v1/companies", json={"name": name}, headers=headers)
    assert response.status_code == 400
    assert response.json()["type"] == "urn:grc:problem:bad-idempotency-key"
    with api_world.grc.session() as s:
        assert rows(Company, "name")(s, {"name": name}) == 0


def test_the_same_body_in_another_key_order_is_the_same_request(client, api_world):
    headers = api_world.headers("entitled", **{"Idempotency-Key": str(uuid.uuid4())})
    subject = unique("Order")
    first = client.post(
        "/api/v1/exchanges",
        content=f'{{"subject": "{subject}", "start": "{START}", "action": "call"}}',
        headers={**headers, "Content-Type": "application/json"},
    )
    again = client.post(
        "/api/v1/exchanges",
        content=f'{{"action":"call","start":"{START}","subject":"{subject}"}}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
