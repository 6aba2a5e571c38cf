"""Editing the catalogue: picklist values relabelled and reordered, categories moved in the
tree, custom fields relabelled, made required, given other choices; the storage's status."""

import io

import pytest
from sqlalchemy import select

from grc_core.errors import PermissionDenied, ValidationError, VersionConflict
from grc_core.models import Event, EventKind
from grc_core.services import categories, custom_fields, exchanges, picklists, storage_admin


def codes(session, kind="action"):
    return [v.code for v in picklists.list_values(session, kind, include_retired=True)]


def events(session, kind):
    return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def test_a_value_moves_and_the_others_are_renumbered(world, session):
    before = codes(session)
    assert len(before) >= 3
    last = before[-1]
    value = picklists.update_value(session, world.admin, "action", last, position=1)
    assert codes(session) == [last, *before[:-1]]
    assert [v.position for v in picklists.list_values(session, "action", include_retired=True)] == (
        list(range(1, len(before) + 1))
    )
    assert value.version == 2
    moved = events(session, EventKind.PICKLIST_VALUE_UPDATED.value)
    mine = [e for e in moved if e.entity_id == value.id]
    assert mine[-1].changes["position"][1] == 1
    # Past the end: last.  Unchanged place: nothing written.
    picklists.update_value(session, world.admin, "action", last, position=999)
    assert codes(session)[-1] == last
    version = value.version
    picklists.update_value(session, world.admin, "action", last, position=len(before))
    assert value.version == version


def test_a_value_is_relabelled_with_its_version_checked(world, session):
    code = codes(session)[0]
    value = picklists.update_value(
        session, world.admin, "action", code, label_fr="Coup de fil", is_closed=False
    )
    assert value.label_fr == "Coup de fil"
    changes = events(session, EventKind.PICKLIST_VALUE_UPDATED.value)[-1].changes
    assert changes["label_fr"][1] == "Coup de fil"
    with pytest.raises(VersionConflict):
        picklists.update_value(
            session, world.admin, "action", code, label_en="Call", expected_version=1
        )
    with pytest.raises(PermissionDenied):
        picklists.update_value(session, world.alice, "action", code, label_en="Call")
    with pytest.raises(ValidationError):
        picklists.update_value(session, world.admin, "action", code, position=0)
    with pytest.raises(ValidationError):
        picklists.update_value(session, world.admin, "action", code, label_fr="  ")


def test_a_category_moves_in_the_tree_but_never_under_itself(world, session):
    admin = world.admin
    categories.add_category(session, admin, "sales", label_fr="Ventes")
    categories.add_category(session, admin, "visit", label_fr="Visite", parent="sales")
    categories.add_category(session, admin, "demo", label_fr="Démo", parent="visit")
    with pytest.raises(ValidationError, match="sub-categories"):
        categories.update_category(session, admin, "sales", parent="demo")
    with pytest.raises(ValidationError):
        categories.update_category(session, admin, "visit", parent="visit")
    demo = categories.update_category(session, admin, "demo", parent=None, label_en="Demo")
    assert demo.parent_id is None and demo.label_en == "Demo"
    assert events(session, EventKind.CATEGORY_UPDATED.value)[-1].changes == {
        "label_en": ["Démo", "Demo"],
        "parent": ["visit", None],
    }
    categories.update_category(session, admin, "demo", parent="sales")
    assert categories.get_category(session, "demo").parent.code == "sales"
    categories.set_active(session, admin, "visit", False)
    with pytest.raises(ValidationError, match="retired"):
        categories.update_category(session, admin, "demo", parent="visit")
    with pytest.raises(PermissionDenied):
        categories.update_category(session, world.alice, "demo", label_fr="x")


def test_a_field_is_edited_and_old_values_survive_a_removed_choice(world, session):
    admin = world.admin
    custom_fields.define_field(
        session, admin, "channel", label="Canal", type="choice", choices=["web", "salon"]
    )
    ex = exchanges.create_exchange(
        session, world.alice, subject="Salon", start=world.at(), action="call",
        custom={"channel": "salon"},
    )  # fmt: skip
    field = custom_fields.update_field(
        session, admin, "channel", label="Canal d'origine", choices=["web", "tel"], required=True
    )
    assert (field.label, field.choices, field.required) == ("Canal d'origine", ["web", "tel"], True)
    session.expire_all()
    assert ex.custom["channel"] == "salon"
    with pytest.raises(ValidationError, match="not a choice"):
        exchanges.create_exchange(
            session, world.alice, subject="x", start=world.at(), action="call",
            custom={"channel": "salon"},
        )  # fmt: skip
    with pytest.raises(ValidationError, match="required"):
        exchanges.create_exchange(
            session, world.alice, subject="x", start=world.at(), action="call"
        )
    custom_fields.define_field(session, admin, "seats", label="Postes", type="integer")
    with pytest.raises(ValidationError, match="choice fields"):
        custom_fields.update_field(session, admin, "seats", choices=["1"])
    with pytest.raises(ValidationError, match="distinct"):
        custom_fields.update_field(session, admin, "channel", choices=["web", "web"])
    with pytest.raises(VersionConflict):
        custom_fields.update_field(session, admin, "channel", label="x", expected_version=1)
    with pytest.raises(PermissionDenied):
        custom_fields.update_field(session, world.alice, "channel", label="x")


def test_the_storage_status_counts_attachments_per_backend(world, session, tmp_path):
    from grc_adapters.local.backend import LocalDiskBackend
    from grc_core.backends import Backends
    from grc_core.files import samples
    from grc_core.services import attachments

    backends = Backends.of({"local": LocalDiskBackend(root=str(tmp_path))}, "local")
    empty = storage_admin.storage_status(session, "local")
    assert empty.settled and [u.backend for u in empty.backends] == ["local"]
    ex = exchanges.create_exchange(
        session, world.alice, subject="CR", start=world.at(), action="call"
    )
    attachments.attach(
        session, world.alice, backends, io.BytesIO(samples.pdf()), "cr.pdf", exchange_id=ex.id
    )
    session.flush()
    status = storage_admin.storage_status(session, "local")
    assert status.settled and status.backends[0].attachments == 1
    assert status.backends[0].bytes == len(samples.pdf())
    moving = storage_admin.storage_status(session, "archive")
    assert not moving.settled
    assert {u.backend: u.attachments for u in moving.backends} == {"archive": 0, "local": 1}
