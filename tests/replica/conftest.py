"""The session's primary and streaming replica (see :mod:`cluster`).

Missing server binaries fail the tests rather than skip them: the replica is what they are
about.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from grc_core.facade import Grc
from grc_core.services import companies, users

from .cluster import Replicated, ServerMissing, replicated_cluster
from .test_replica import an_admin


@pytest.fixture(scope="session")
def replicated() -> Iterator[Replicated]:
    try:
        with replicated_cluster() as pair:
            yield pair
    except ServerMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def people(replicated: Replicated) -> dict[str, int]:
    """An administrator, two users and a company, replayed on the replica."""
    tag = uuid.uuid4().hex[:6]
    with Grc.from_url(replicated.primary_url) as grc, grc.session() as s:
        admin = an_admin(s, tag)
        alice = users.create_user(s, admin, login=f"alice{tag}", display_name="Alice")
        bob = users.create_user(s, admin, login=f"bob{tag}", display_name="Bob")
        acme = companies.create_company(s, admin, name=f"ACME {tag}", status="client")
        s.flush()
        ids = {"admin": admin.id, "alice": alice.id, "bob": bob.id, "acme": acme.id}
    replicated.wait_for_replay()
    return ids
