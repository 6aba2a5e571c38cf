"""Against a real server: ``grc serve`` (uvicorn) on 127.0.0.1 and a random port.

Streams a 200 MB file up and down with flat server memory, resumes a download with
``Range``, replays an upload retried with the same ``Idempotency-Key``, shows that two
clients updating with the same ETag get one 200 and one 412 (audit chain intact), and that
SIGTERM stops the server cleanly.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.api.conftest import ApiWorld

from grc_core.files import samples
from grc_core.queries import audit
from grc_core.services import attachments

MB = 1024 * 1024
BIG = 200 * MB
GRC = Path(sys.executable).with_name("grc")


class GeneratedPdf(io.RawIOBase):
    """A PDF of ``size`` bytes produced as it is read (the upload never exists whole)."""

    def __init__(self, size: int) -> None:
        self.size, self.pos, self.head = size, 0, samples.pdf("streaming")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos, 1024 * 1024)
        if n <= 0:
            return 0
        chunk = bytearray(b"%" * n)
        if self.pos < len(self.head):
            part = self.head[self.pos : self.pos + n]
            chunk[: len(part)] = part
        buffer[:n] = chunk
        self.pos += n
        return n


def generated_sha256(size: int) -> str:
    digest, stream = hashlib.sha256(), GeneratedPdf(size)
    while chunk := stream.read(MB):
        digest.update(chunk)
    return digest.hexdigest()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str) -> None:
        self.process, self.base = process, base


@pytest.fixture(scope="module")
def server(api_world: ApiWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    config = tmp_path_factory.mktemp("cfg") / "grc.toml"
    config.write_text("")
    env = {
        **os.environ,
        "GRC_DATABASE_URL": api_world.url,
        "GRC_STORAGE__LOCAL__ROOT": api_world.storage,
        "GRC_CONFIG": str(config),
    }
    log = tmp_path_factory.mktemp("log") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GRC), "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"grc serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    yield Server(process, base)
    if process.poll() is None:
        process.kill()
        process.wait()


def client(server: Server, world: ApiWorld, who: str = "entitled") -> httpx.Client:
    return httpx.Client(base_url=server.base, headers=world.headers(who), timeout=120)


def test_ready_and_problem_details_over_the_wire(server, api_world):
    with client(server, api_world) as c:
        assert c.get("/ready").json()["status"] == "ready"
        missing = c.get("/exchanges/999999")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["request_id"] == missing.headers["x-request-id"]


def test_streamed_200_mb_upload_and_download_keep_memory_flat(server, api_world):
    with api_world.grc.acting_as("admin") as w:
        attachments.set_policy(w.session, w.actor, max_size=BIG + MB)
    exchange = api_world.ids["shared"]
    before = peak_rss_mb(server.process.pid)
    with client(server, api_world) as c:
        started = time.perf_counter()
        files = {
            "file": ("gros fichier é.pdf", io.BufferedReader(GeneratedPdf(BIG)), "application/pdf")
        }
        response = c.post(f"/exchanges/{exchange}/attachments", files=files)
        upload_s = time.perf_counter() - started
        assert response.status_code == 201, response.text
        attachment = response.json()
        assert attachment["size"] == BIG
        assert attachment["sha256"] == generated_sha256(BIG)

        started = time.perf_counter()
        digest, size = hashlib.sha256(), 0
        with c.stream("GET", f"/attachments/{attachment['id']}/content") as download:
            assert download.status_code == 200
            assert download.headers["etag"] == f'"{attachment["sha256"]}"'
            assert download.headers["x-content-type-options"] == "nosniff"
            assert (
                "filename*=UTF-8''gros%20fichier%20%C3%A9.pdf"
                in download.headers["content-disposition"]
            )
            for chunk in download.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
        download_s = time.perf_counter() - started
    after = peak_rss_mb(server.process.pid)
    print(
        f"\n200 MB through grc serve: upload {upload_s:.1f} s, download {download_s:.1f} s, "
        f"server peak RSS {before:.0f} MiB before, {after:.0f} MiB after"
    )
    assert size == BIG and digest.hexdigest() == attachment["sha256"]
    # Flat: the server's peak memory grows by far less than the file.
    assert after - before < 50, (before, after)


def test_range_resumes_a_download(server, api_world):
    content = samples.pdf("range " * 2000)
    with client(server, api_world) as c:
        created = c.post(
            f"/exchanges/{api_world.ids['shared']}/attachments",
            files={"file": ("r.pdf", content, "application/pdf")},
        ).json()
        url = f"/attachments/{created['id']}/content"
        half = len(content) // 2
        first = c.get(url, headers={"Range": f"bytes=0-{half - 1}"})
        assert first.status_code == 206
        assert first.headers["content-range"] == f"bytes 0-{half - 1}/{len(content)}"
        rest = c.get(url, headers={"Range": f"bytes={half}-", "If-Range": first.headers["etag"]})
        assert rest.status_code == 206
        assert first.content + rest.content == content
        tail = c.get(url, headers={"Range": "bytes=-10"})
        assert tail.content == content[-10:]
        stale = c.get(url, headers={"Range": f"bytes={half}-", "If-Range": '"changed"'})
        assert stale.status_code == 200 and stale.content == content
        beyond = c.get(url, headers={"Range": f"bytes={len(content)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(content)}"


def test_a_retried_upload_with_the_same_idempotency_key_stores_one_attachment(server, api_world):
    with client(server, api_world) as c:
        exchange = c.post(
            "/exchanges",
            json={"subject": "Retry", "start": "2026-03-02T09:00:00Z", "action": "call"},
        ).json()["id"]
        url = f"/exchanges/{exchange}/attachments"
        upload = {"file": ("retry.pdf", samples.pdf("retry"), "application/pdf")}
        first = c.post(url, files=upload, headers={"Idempotency-Key": "upload-7f3a"})
        second = c.post(url, files=upload, headers={"Idempotency-Key": "upload-7f3a"})
        assert first.status_code == second.status_code == 201
        assert second.headers["idempotent-replayed"] == "true"
        assert first.json() == second.json()
        assert len(c.get(url).json()) == 1
        other = c.post(url, files=upload, headers={"Idempotency-Key": "upload-other"})
        assert other.json()["id"] != first.json()["id"]
        assert len(c.get(url).json()) == 2


def test_two_clients_with_the_same_etag_one_wins_one_gets_412(server, api_world):
    with client(server, api_world) as one, client(server, api_world, "admin") as two:
        exchange = one.post(
            "/exchanges", json={"subject": "v1", "start": "2026-03-02T09:00:00Z", "action": "call"}
        ).json()["id"]
        etag = one.get(f"/exchanges/{exchange}").headers["etag"]
        assert two.get(f"/exchanges/{exchange}").headers["etag"] == etag
        first = one.patch(
            f"/exchanges/{exchange}", json={"subject": "v2"}, headers={"If-Match": etag}
        )
        second = two.patch(
            f"/exchanges/{exchange}", json={"subject": "v3"}, headers={"If-Match": etag}
        )
        assert first.status_code == 200 and first.headers["etag"] != etag
        assert second.status_code == 412
        assert second.json()["current"]["subject"] == "v2"
        assert one.patch(f"/exchanges/{exchange}", json={"subject": "x"}).status_code == 428
        third = two.patch(
            f"/exchanges/{exchange}",
            json={"subject": "v3"},
            headers={"If-Match": first.headers["etag"]},
        )
        assert third.status_code == 200
    with api_world.grc.acting_as("admin", read_only=True) as w:
        flt = audit.AuditFilter(entity_type="exchange", entity_id=exchange)
        entries = audit.audit_events(w.session, w.actor, flt, oldest_first=True).entries
    subjects = [e.changes["subject"] for e in entries if "subject" in e.changes]
    assert subjects == [[None, "v1"], ["v1", "v2"], ["v2", "v3"]]


def test_sigterm_lets_a_download_in_progress_finish_then_stops(server, api_world):
    with client(server, api_world) as c:
        listed = c.get(f"/exchanges/{api_world.ids['shared']}/attachments").json()
        biggest = max(listed, key=lambda a: a["size"])
        received = 0
        with c.stream("GET", f"/attachments/{biggest['id']}/content") as download:
            chunks = download.iter_bytes()
            received += len(next(chunks))
            server.process.send_signal(signal.SIGTERM)
            for chunk in chunks:
                received += len(chunk)
    assert received == biggest["size"]
    # uvicorn finishes the requests in progress, then exits (re-raising SIGTERM).
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
