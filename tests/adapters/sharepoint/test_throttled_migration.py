"""50 MiB migrated to SharePoint while it throttles one request in five (``Retry-After: 2``),
through the REST API and through Microsoft Graph.

Every attachment arrives once, every checksum is verified by ``verify_storage``, no upload
fragment is received twice, and the migration's memory stays flat (a fraction of the data
moved).  The backend honours the real header — each wait it asks for is the 2 s SharePoint
sent — while the test's recorder sleeps a hundredth of it.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.adapters.sharepoint.conftest import ROOT, serve
from tests.adapters.sharepoint.graph_server import GraphProtocol
from tests.adapters.sharepoint.server import SITE, TOKEN, SharePointProtocol
from tests.adapters.sharepoint.test_graph import graph_config, serve_graph

from grc_adapters.local.backend import LocalDiskBackend
from grc_adapters.sharepoint.plugin import make_sharepoint_backend
from grc_core import Grc
from grc_core.backends import Backends
from grc_core.models import Attachment
from grc_core.services import attachments, companies, exchanges, users
from grc_core.services.storage_admin import migrate_storage, verify_storage

MiB = 1024 * 1024
#: 50 MiB in three attachments of different sizes.
SIZES = {"export-clients.csv": 25 * MiB, "journal.txt": 15 * MiB, "annexe.txt": 10 * MiB}
#: SharePoint's upload fragment: the backend's default (Microsoft's samples use 10 MiB).
FRAGMENT = 10 * MiB
#: A fragment, the next one being filled, and the migration's own buffers: far below the
#: 50 MiB moved, and below the largest file.
PEAK_LIMIT = 24 * MiB
_TEXT = bytes(97 + b % 26 if b % 32 else 10 for b in range(256))


def text(size: int, seed: int) -> bytes:
    """``size`` bytes of lowercase letters and newlines (a text file the policy accepts)."""
    return random.Random(seed).randbytes(size).translate(_TEXT)


class Waits:
    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds / 100)


@pytest.mark.parametrize("api", ["rest", "graph"])
def test_50_mib_migration_while_throttled(tmp_path, record_property, api):
    protocol: SharePointProtocol | GraphProtocol
    if api == "rest":
        protocol = SharePointProtocol(tmp_path / "sharepoint", throttle_every=5, retry_after="2")
        serving = serve(protocol)
    else:
        protocol = GraphProtocol(tmp_path / "graph", throttle_every=5, retry_after="2")
        serving = serve_graph(protocol)
    grc = Grc.from_url(f"sqlite:///{tmp_path / 'grc.sqlite3'}")
    grc.upgrade()
    local = LocalDiskBackend(tmp_path / "blobs")
    with serving as server:
        if api == "rest":
            config = {"site_url": server.url + SITE, "access_token": TOKEN, "timeout": 30}
        else:
            config = graph_config(server, timeout=30)
            del config["chunk_size"]
        backend = make_sharepoint_backend(config)
        assert backend.settings.chunk_size == FRAGMENT
        waits = Waits()
        backend._sleep = waits
        backends = Backends.of({"local": local, "sharepoint": backend}, default="local")
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            attachments.set_policy(s, admin, max_size=64 * MiB)
            company = companies.create_company(s, admin, name="ACME")
            exchange_id = exchanges.create_exchange(
                s, admin, subject="Reprise", start=datetime(2026, 3, 2, 9, tzinfo=UTC),
                action="meeting", company_id=company.id,
            ).id  # fmt: skip
        expected = {}
        with grc.acting_as("admin") as work:
            for seed, (name, size) in enumerate(SIZES.items()):
                data = text(size, seed)
                expected[name] = hashlib.sha256(data).hexdigest()
                attachments.attach(
                    work.session, work.actor, backends, io.BytesIO(data), name,
                    exchange_id=exchange_id,
                )  # fmt: skip
                del data

        tracemalloc.start()
        started = time.monotonic()
        report = migrate_storage(grc.session, backends, "sharepoint")
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        assert report.failed == []
        assert report.moved == report.total == len(SIZES)
        # Throttled one request in five, every wait the 2 s SharePoint asked for.
        assert protocol.throttled
        assert waits.asked == [2.0] * len(protocol.throttled)
        fragment = "Upload(" if api == "rest" else "/upload/"
        throttled_fragments = [p for _, p in protocol.throttled if fragment in p]
        assert throttled_fragments, "upload fragments were throttled too"
        # Every attachment once, no fragment received twice, nothing left open.
        if isinstance(protocol, SharePointProtocol):
            stored = list(protocol.documents(ROOT).values())
            duplicates = protocol.duplicate_chunks
        else:
            stored = [n for p, n in protocol.files("/CRM").items() if "/_grc-keys/" not in p]
            duplicates = protocol.duplicate_fragments
        assert sorted(stored) == sorted(SIZES.values())
        assert duplicates == []
        assert protocol.open_sessions() == []
        assert list(local.iter_blobs()) == []
        with grc.session(read_only=True) as s:
            rows = {row.filename: row for row in s.scalars(select(Attachment))}
        assert {name: row.sha256 for name, row in rows.items()} == expected
        assert {row.backend for row in rows.values()} == {"sharepoint"}
        # GRC's own verification reads every byte back and compares the checksums.
        verified = verify_storage(grc.session, backends, grace=timedelta(0))
        assert verified.problems == []
        assert verified.checked == len(SIZES)
        assert peak < PEAK_LIMIT, f"peak traced memory {peak / MiB:.1f} MiB"
        backend.close()
    grc.dispose()
    record_property("migration_seconds", round(elapsed, 2))
    record_property("throttled_requests", len(protocol.throttled))
    record_property("peak_mib", round(peak / MiB, 2))
    print(
        f"\n50 MiB migration to SharePoint ({api}) under throttling: {elapsed:.2f}s, "
        f"{len(protocol.throttled)} requests throttled ({len(throttled_fragments)} "
        f"fragments), tracemalloc peak {peak / MiB:.2f} MiB"
    )
