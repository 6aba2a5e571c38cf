"""Blobs and rows stay in step: rollback, deletion after commit, verify/repair, migration."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from grc_core.errors import StorageError
from grc_core.files import samples
from grc_core.models import Attachment, BlobDeletion
from grc_core.services import attachments, exchanges, users
from grc_core.services.storage_admin import migrate_storage, verify_storage


def add(app, login="alice", data=None, name="cr.pdf", exchange_id=None):
    with app.grc.acting_as(login) as work:
        att = attachments.attach(
            work.session, work.actor, app.backends, io.BytesIO(data or samples.pdf(name)), name,
            exchange_id=exchange_id or app.shared_id,
        )  # fmt: skip
        return att.id, att.storage_key


def blob_keys(app, name="local"):
    return sorted(b.key for b in app.backends.get(name).iter_blobs())


def count(app, model):
    with app.grc.session(read_only=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_rollback_removes_the_new_blob(app):
    with pytest.raises(RuntimeError), app.grc.acting_as("alice") as work:
        attachments.attach(
            work.session, work.actor, app.backends, io.BytesIO(samples.pdf()), "a.pdf",
            exchange_id=app.shared_id,
        )  # fmt: skip
        assert len(blob_keys(app)) == 1  # written before the row...
        raise RuntimeError("the host fails later in the same transaction")
    assert blob_keys(app) == []  # ...and gone with the transaction
    assert count(app, Attachment) == 0


def test_delete_removes_the_blob_once_committed(app):
    ident, key = add(app)
    with app.grc.acting_as("alice") as work:
        attachments.delete_attachment(work.session, work.actor, app.backends, ident)
        assert blob_keys(app) == [key]  # not before the commit
    assert blob_keys(app) == []
    assert count(app, BlobDeletion) == 0


def test_rolled_back_delete_keeps_the_blob(app):
    ident, key = add(app)
    with pytest.raises(RuntimeError), app.grc.acting_as("alice") as work:
        attachments.delete_attachment(work.session, work.actor, app.backends, ident)
        raise RuntimeError("changed my mind")
    assert blob_keys(app) == [key]
    assert count(app, Attachment) == 1


def test_deleting_an_exchange_deletes_its_attachments(app):
    add(app)
    add(app, name="b.pdf")
    with app.grc.acting_as("alice") as work:
        exchanges.delete_exchange(work.session, work.actor, app.shared_id, backends=app.backends)
    assert blob_keys(app) == [] and count(app, Attachment) == 0


def test_verify_reports_and_repairs(app, tmp_path):
    good, _ = add(app, name="bon.pdf")
    gone, gone_key = add(app, name="perdu.pdf")
    bad, bad_key = add(app, name="abime.pdf")
    local = app.backends.get("local")
    local.delete(gone_key)
    path = tmp_path / "blobs" / bad_key
    path.write_bytes(path.read_bytes().replace(b"%PDF-1.4", b"%PDF-1.5"))  # same size
    orphan = local.put("2026/01/" + "a" * 32, io.BytesIO(b"stray"))
    # A pending deletion, as left by a process killed right after its commit.
    with app.grc.session() as s:
        s.add(
            BlobDeletion(
                backend="local", storage_key=local.put("2026/01/" + "b" * 32, io.BytesIO(b"x"))
            )
        )

    fresh = verify_storage(app.grc.session, app.backends)
    assert fresh.checked == 3
    assert [(p.kind, p.attachment_id) for p in fresh.of_kind("missing")] == [("missing", gone)]
    assert [p.attachment_id for p in fresh.of_kind("checksum")] == [bad]
    assert fresh.of_kind("orphan") == []  # younger than the grace period
    assert len(fresh.of_kind("pending")) == 1

    report = verify_storage(app.grc.session, app.backends, grace=timedelta(0), repair=True)
    assert [p.key for p in report.of_kind("orphan")] == [orphan]
    assert report.repaired == 2
    after = verify_storage(app.grc.session, app.backends, grace=timedelta(0))
    assert after.of_kind("orphan") == [] and after.of_kind("pending") == []
    assert {p.kind for p in after.problems} == {"missing", "checksum"}  # never "repaired"
    quick = verify_storage(app.grc.session, app.backends, checksums=False)
    assert [p.kind for p in quick.problems] == ["missing"]  # size unchanged, not rehashed
    assert good not in {p.attachment_id for p in after.problems}


def contents(app):
    with app.grc.session(read_only=True) as s:
        rows = list(s.scalars(select(Attachment).order_by(Attachment.id)))
    result = {}
    for row in rows:
        with app.backends.get(row.backend).open(row.storage_key) as fh:
            data = fh.read()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        result[row.id] = (row.backend, data)
    return result


def test_migrate_moves_everything_verified(app):
    made = [add(app, name=f"doc{i}.pdf", data=samples.pdf(f"document {i}")) for i in range(5)]
    before = contents(app)
    seen = []
    report = migrate_storage(
        app.grc.session, app.backends, "archive", progress=lambda d, t, i: seen.append((d, t))
    )
    assert (report.moved, report.total, report.failed) == (5, 5, [])
    assert seen[-1] == (5, 5)
    after = contents(app)
    assert {i: data for i, (_, data) in after.items()} == {i: d for i, (_, d) in before.items()}
    assert {backend for backend, _ in after.values()} == {"archive"}
    assert blob_keys(app, "local") == []
    assert len(blob_keys(app, "archive")) == len(made)
    again = migrate_storage(app.grc.session, app.backends, "archive")
    assert (again.moved, again.already_there) == (0, 5)


class Flaky:
    """Wraps a backend and fails once at a chosen call, like a process dying there."""

    def __init__(self, inner, fail_on: str, after: int) -> None:
        self.inner, self.fail_on, self.after = inner, fail_on, after
        self.name = inner.name
        self.calls = 0

    def __getattr__(self, attr):
        method = getattr(self.inner, attr)
        if attr != self.fail_on:
            return method

        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self.after:
                result = method(*args, **kwargs) if attr == "put" else None
                raise KeyboardInterrupt(f"killed after {attr} ({result})")
            return method(*args, **kwargs)

        return wrapped


@pytest.mark.parametrize(("fail_on", "after"), [("put", 2), ("open", 3), ("delete", 2)])
def test_interrupted_migration_resumes_without_loss_or_duplicate(app, fail_on, after):
    from grc_core.backends import Backends

    for i in range(4):
        add(app, name=f"doc{i}.pdf", data=samples.pdf(f"document {i}"))
    before = {i: d for i, (_, d) in contents(app).items()}
    victim = "local" if fail_on == "delete" else "archive"
    instances = {"local": app.backends.get("local"), "archive": app.backends.get("archive")}
    instances[victim] = Flaky(instances[victim], fail_on, after)
    with pytest.raises(KeyboardInterrupt):
        migrate_storage(app.grc.session, Backends.of(instances, "local"), "archive")
    report = migrate_storage(app.grc.session, app.backends, "archive")
    assert report.failed == []
    after_run = contents(app)
    assert {i: d for i, (_, d) in after_run.items()} == before
    assert {b for b, _ in after_run.values()} == {"archive"}
    assert blob_keys(app, "local") == []
    assert len(blob_keys(app, "archive")) == 4  # nothing copied twice
    clean = verify_storage(app.grc.session, app.backends, grace=timedelta(0))
    assert clean.problems == []


def test_migrating_to_an_unknown_backend_fails_cleanly(app):
    add(app)
    from grc_core.errors import UnknownBackend

    with pytest.raises(UnknownBackend, match="available: archive, local"):
        migrate_storage(app.grc.session, app.backends, "sharepoint")
    assert isinstance(UnknownBackend("x", []), StorageError) is False


def test_private_attachment_hidden_from_third_user(app):
    ident, _ = add(app, exchange_id=app.private_id)
    with app.grc.acting_as("carol") as work:
        from grc_core.errors import AttachmentNotFound

        with pytest.raises(AttachmentNotFound):
            attachments.get_attachment(work.session, work.actor, ident)
    with app.grc.acting_as("bob") as work:
        assert attachments.get_attachment(work.session, work.actor, ident).filename == "cr.pdf"
    with app.grc.session() as s:
        assert users.get_user(s, "carol").is_admin is False


def test_configured_names_can_share_a_backend_type(tmp_path):
    from grc_core.backends import Backends
    from grc_core.config import Settings
    from grc_core.plugins import Registry

    settings = Settings(
        database_url="sqlite://",
        storage={
            "local": {"root": str(tmp_path / "a")},
            "archive": {"type": "local", "root": str(tmp_path / "b")},
        },
    )
    backends = Backends.from_settings(Registry.load(), settings)
    backends.get("archive").put("2026/01/" + "c" * 32, io.BytesIO(b"data"))
    assert (tmp_path / "b" / "2026" / "01" / ("c" * 32)).read_bytes() == b"data"
    assert list(backends.default.iter_blobs()) == []
