from grc_core.services import exchanges


def test_world_fixture_creates_an_exchange(world, session):
    ex = exchanges.create_exchange(
        session, world.alice, subject="Appel", start=world.at(), action="call"
    )
    assert ex.id is not None
    assert [u.login for u in ex.assignees] == ["alice"]
