"""A user read by id is the same as one the ORM loads, and is tracked like one."""

import pytest
from sqlalchemy import inspect

from grc_core.errors import NotFound
from grc_core.models import User
from grc_core.services import users


def _columns(user: User) -> dict[str, object]:
    return {c.key: getattr(user, c.key) for c in inspect(user).mapper.column_attrs}


def test_a_user_read_by_id_is_as_loaded(world, session):
    session.flush()
    ident = world.bob.id
    session.expunge_all()
    read = users.get_user(session, ident)
    state = inspect(read)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert session.get(User, ident) is read  # the session's own copy
    values = _columns(read)
    session.expunge(read)
    loaded = session.get(User, ident)
    assert loaded is not read and values == _columns(loaded)


def test_a_user_read_by_id_is_versioned_on_change(world, session):
    session.flush()
    ident = world.bob.id
    session.expunge_all()
    read = users.get_user(session, ident)
    version = read.version
    read.display_name = "Robert"
    session.flush()
    assert read.version == version + 1
    session.expire_all()
    assert users.get_user(session, ident).display_name == "Robert"


def test_the_session_copy_is_returned_as_it_is(world, session):
    held = world.bob
    held.display_name = "Pending"  # not flushed: the session's object, not the row
    assert users.get_user(session, held.id) is held


def test_an_unknown_id_is_not_found(world, session):
    session.flush()
    with pytest.raises(NotFound, match="no user 987654"):
        users.get_user(session, 987654)
