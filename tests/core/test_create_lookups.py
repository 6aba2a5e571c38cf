"""A creation reads its picklist values in one query and only the codes of required fields.

Nothing is cached between calls: a value retired or a field made required a moment before is
seen by the very next creation, with the same errors as before.
"""

import pytest
from sqlalchemy import event

from grc_core.errors import ValidationError
from grc_core.services import custom_fields, exchanges, picklists


def _statements(session, action):
    seen: list[str] = []
    engine = session.get_bind().engine

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return result, seen


def _create(session, world, **extra):
    fields = {"subject": "Appel", "start": world.at(), "action": "call"} | extra
    return exchanges.create_exchange(session, world.alice, company_id=world.acme.id, **fields)


def test_one_query_for_every_picklist_and_no_field_entities(world, session):
    session.flush()
    medium = picklists.list_values(session, "medium")[0].code
    exchange, seen = _statements(session, lambda: _create(session, world, medium=medium))
    assert len([s for s in seen if "from picklist_values" in s]) == 1, seen
    assert not [s for s in seen if s.startswith("select custom_fields.id")], seen
    assert exchange.action.code == "call"
    assert exchange.status.code == exchanges.DEFAULT_STATUS
    assert exchange.medium is not None and exchange.medium.code == medium


def test_a_value_retired_just_before_is_refused(world, session):
    _create(session, world)
    picklists.set_active(session, world.admin, "action", "call", False)
    with pytest.raises(ValidationError, match="retired"):
        _create(session, world)


def test_unknown_codes_keep_their_errors_in_order(world, session):
    with pytest.raises(ValidationError, match="unknown action 'nope'"):
        _create(session, world, action="nope", status="nope")
    with pytest.raises(ValidationError, match="unknown status 'nope'") as caught:
        _create(session, world, status="nope")
    assert caught.value.field == "status"


def test_a_field_made_required_just_before_is_enforced(world, session):
    _create(session, world)
    custom_fields.define_field(
        session, world.admin, "source", label="Source", type="text", required=True
    )
    with pytest.raises(ValidationError, match="required custom fields missing: source"):
        _create(session, world)
    assert _create(session, world, custom={"source": "salon"}).custom == {"source": "salon"}


def test_lookups_and_required_count_share_one_round_trip(world, session):
    session.flush()
    _, seen = _statements(session, lambda: _create(session, world))
    picklist_reads = [s for s in seen if "from picklist_values" in s]
    assert len(picklist_reads) == 1 and "custom_fields" in picklist_reads[0], seen
    assert not [s for s in seen if s.startswith("select custom_fields")], seen


def test_the_statement_is_built_once_and_each_call_binds_its_own_codes(world, session):
    session.flush()
    first, _ = picklists.resolve_many_for_write(session, {"action": "call"})
    before = dict(picklists._VALUES_READS)
    second, _ = picklists.resolve_many_for_write(session, {"action": "meeting"})
    assert dict(picklists._VALUES_READS) == before  # the same read, reused
    assert first["action"].code == "call"
    assert second["action"].code == "meeting"
