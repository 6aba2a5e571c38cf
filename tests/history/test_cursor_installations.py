"""A cursor is signed with its installation's own key: another installation refuses it.

Two installations with the same data (same ids, same users, same exchanges) differ only by
their keys.  A cursor signed with a fixed key, or with anything but the installation's own
key, would pass every single-installation test; here it would be accepted by the other
installation, or be identical on both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from grc_core import Grc
from grc_core.queries import history
from grc_core.queries.cursors import InvalidCursor
from grc_core.services import companies, exchanges, opportunities, users

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def installation(url: str) -> Grc:
    """A migrated installation with a company, an opportunity and five exchanges."""
    grc = Grc.from_url(url)
    grc.upgrade()
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        alice = users.create_user(s, admin, login="alice", display_name="Alice")
        acme = companies.create_company(s, admin, name="ACME")
        deal = opportunities.create_opportunity(s, admin, acme.id, title="Renouvellement")
        for i in range(5):
            exchanges.create_exchange(
                s, alice, subject=f"Échange {i}", start=T0 + timedelta(hours=i), action="call",
                company_id=acme.id, opportunity_ids=[deal.id],
            )  # fmt: skip
    return grc


@pytest.fixture
def installations(fresh_url: str, db_factory) -> Iterator[tuple[Grc, Grc]]:
    kind = "sqlite" if fresh_url.startswith("sqlite") else "postgresql"
    first, second = installation(fresh_url), installation(db_factory.url(kind))
    yield first, second
    first.dispose()
    second.dispose()


# Each history, as (session, actor, cursor) -> page, on the records both installations share.
HISTORIES: dict[str, Callable[..., history.Page]] = {
    "company": lambda s, actor, cursor: history.company_history(
        s, actor, 1, limit=2, cursor=cursor
    ),
    "opportunity": lambda s, actor, cursor: history.opportunity_history(
        s, actor, 1, limit=2, cursor=cursor
    ),
    "user": lambda s, actor, cursor: history.user_history(
        s, actor, actor.id, limit=2, cursor=cursor
    ),
}


def test_a_cursor_from_one_installation_is_refused_by_another(installations):
    first, second = installations
    for scope, read in HISTORIES.items():
        cursors, seconds = [], []
        for grc in (first, second):
            with grc.acting_as("alice", read_only=True) as work:
                page = read(work.session, work.actor, None)
                assert [e.subject for e in page.entries] == ["Échange 4", "Échange 3"], scope
                cursors.append(page.next_cursor)
                # On its own installation the cursor gives the next page.
                following = read(work.session, work.actor, page.next_cursor)
                seconds.append([e.subject for e in following.entries])
        assert seconds == [["Échange 2", "Échange 1"]] * 2, scope
        # Same query, same position, same ids: only the key differs, and so do the cursors…
        assert cursors[0] != cursors[1], scope
        # …and neither installation accepts the other's.
        for grc, foreign in ((second, cursors[0]), (first, cursors[1])):
            with (
                grc.acting_as("alice", read_only=True) as work,
                pytest.raises(InvalidCursor, match="bad signature"),
            ):
                read(work.session, work.actor, foreign)
