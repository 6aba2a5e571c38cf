"""The ClamAV scanner against a real clamd: infected refused, clean stored, too large for
clamd refused, clamd stopped or hung refused (fail closed) — on both databases, through the
service, the command line and the HTTP API."""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cli.runner import Grc as CliGrc
from grc_adapters.clamav.plugin import scanner_from_env
from grc_adapters.clamav.scanner import TOO_LARGE, ClamdAddress, ClamdScanner
from grc_api import ApiSettings, create_app
from grc_core import Grc
from grc_core.config import Settings
from grc_core.errors import AttachmentRefused, FileInfected
from grc_core.files import samples
from grc_core.files.rules import rule_of
from grc_core.models import Attachment
from grc_core.plugins import Registry
from grc_core.services import api_tokens, attachments, companies, exchanges, users
from grc_core.testing.scanners import EICAR

from .conftest import CUSTOM_MARKER, STREAM_MAX, Clamd, start_clamd


@pytest.fixture
def exchange(world, session):
    return exchanges.create_exchange(
        session, world.alice, subject="Visite", start=world.at(), action="meeting",
        company_id=world.acme.id,
    )  # fmt: skip


def attach(world, backends, exchange, name: str, data: bytes, scanner: ClamdScanner):
    return attachments.attach(
        world.session, world.alice, backends, io.BytesIO(data), name,
        exchange_id=exchange.id, scanners=[scanner],
    )  # fmt: skip


def rows(session) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(Attachment))


def blobs(backends) -> list[Path]:
    return [p for p in Path(backends.default.root).rglob("*") if p.is_file()]


def refused(world, backends, exchange, name, data, scanner) -> AttachmentRefused:
    before = (rows(world.session), blobs(backends))
    with pytest.raises(FileInfected) as caught:
        attach(world, backends, exchange, name, data, scanner)
    assert rule_of(caught.value) == "antivirus"
    assert str(caught.value).startswith("refused by rule antivirus: ")
    assert (rows(world.session), blobs(backends)) == before
    return caught.value


def docx_holding(payload: bytes) -> bytes:
    """A genuine .docx with ``payload`` deflated inside one of its parts."""
    source = zipfile.ZipFile(io.BytesIO(samples.docx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        target.writestr("word/media/notes.txt", b"Notes\n" + payload)
    return out.getvalue()


def test_infected_files_are_refused_clean_ones_stored(world, backends, exchange, clamd):
    scanner = clamd.scanner(timeout=30)
    error = refused(world, backends, exchange, "note.txt", b"Bonjour\n" + EICAR, scanner)
    assert "the clamav scanner refused the file: Grc-Test-Eicar" in str(error)
    error = refused(world, backends, exchange, "m.txt", b"x" * 5000 + CUSTOM_MARKER, scanner)
    assert "Grc-Test-Custom" in str(error)
    # clamd inflates the package itself: EICAR deflated inside a .docx is found too.
    error = refused(world, backends, exchange, "offre.docx", docx_holding(EICAR), scanner)
    assert "Grc-Test-Eicar" in str(error)
    for name, data in (("devis.pdf", samples.pdf()), ("offre.docx", docx_holding(b"rien"))):
        stored = attach(world, backends, exchange, name, data, scanner)
        _, stream = attachments.open_attachment(world.session, world.alice, backends, stored.id)
        with stream:
            assert stream.read() == data


def test_a_file_larger_than_clamd_accepts_is_refused_never_stored_unscanned(
    world, backends, exchange, clamd
):
    big = b"Compte rendu\n" * (3 * STREAM_MAX // 13)
    for fail_open in (False, True):  # even when unreachable clamd lets files through
        scanner = clamd.scanner(timeout=30, fail_open=fail_open)
        error = refused(world, backends, exchange, "long.txt", big, scanner)
        assert TOO_LARGE in str(error)
    # Just under the limit: scanned and stored.
    attach(world, backends, exchange, "ok.txt", big[: STREAM_MAX - 1024], clamd.scanner())


def test_clamd_stopped_refuses_the_file_unless_configured_to_accept(
    world, backends, exchange, tmp_path, caplog
):
    own = start_clamd(tmp_path)
    scanner = own.scanner(timeout=5)
    attach(world, backends, exchange, "avant.pdf", samples.pdf(), scanner)
    own.stop()
    error = refused(world, backends, exchange, "apres.pdf", samples.pdf(), scanner)
    assert "virus scanner unavailable (clamav: clamd at " in str(error)
    assert "cannot be reached" in str(error)
    lenient = own.scanner(timeout=5, fail_open=True)
    with caplog.at_level(logging.WARNING, logger="grc_adapters.clamav.scanner"):
        attach(world, backends, exchange, "apres.pdf", samples.pdf(), lenient)
    assert "file accepted without a virus scan" in caplog.text


def test_a_hung_clamd_is_a_time_out_refusal(world, backends, exchange, silent_clamd):
    scanner = ClamdScanner(ClamdAddress(path=str(silent_clamd)), timeout=1)
    started = time.monotonic()
    error = refused(world, backends, exchange, "devis.pdf", samples.pdf(), scanner)
    assert time.monotonic() - started < 10
    assert "virus scanner unavailable (clamav: time-out: no answer from clamd" in str(error)


def test_the_plugin_registers_clamd_from_the_environment(monkeypatch, clamd):
    monkeypatch.delenv("GRC_CLAMAV_ADDRESS", raising=False)
    assert "clamav" not in [s.name for s in Registry.load().scanners()]
    monkeypatch.setenv("GRC_CLAMAV_ADDRESS", f"unix://{clamd.socket_path}")
    monkeypatch.setenv("GRC_CLAMAV_TIMEOUT", "7.5")
    (scanner,) = [s for s in Registry.load().scanners() if s.name == "clamav"]
    assert isinstance(scanner, ClamdScanner)
    assert scanner.timeout == 7.5 and not scanner.fail_open
    assert scanner.ping().startswith("ClamAV ")
    assert ClamdAddress.parse("tcp://127.0.0.1:3310") == ClamdAddress(host="127.0.0.1")
    # A wrong setting does not stop GRC; the scanner refuses every file with the reason.
    broken = scanner_from_env({"GRC_CLAMAV_ADDRESS": "nowhere", "GRC_CLAMAV_ON_ERROR": "x"})
    assert broken is not None
    with pytest.raises(Exception, match="the ClamAV scanner is misconfigured"):
        broken.start()


def test_command_line_refuses_eicar_and_shows_the_scanner(fresh_url, tmp_path, clamd):
    grc = CliGrc(fresh_url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    company = str(grc.json("company", "add", "ACME", as_="admin")["id"])
    infected = tmp_path / "note.txt"
    infected.write_bytes(b"Bonjour\n" + EICAR)
    env = {"GRC_CLAMAV_ADDRESS": str(clamd.socket_path)}
    message = grc.fails(
        2, "attachment", "add", str(infected), "--company", company, as_="admin", **env
    )
    assert message.startswith("note.txt: refused by rule antivirus: the clamav scanner")
    clean = tmp_path / "devis.pdf"
    clean.write_bytes(samples.pdf())
    grc.ok("attachment", "add", str(clean), "--company", company, as_="admin", **env)
    assert len(grc.json("attachment", "list", "--company", company, as_="admin")) == 1
    shown = grc.json("attachment", "policy", "show", as_="admin", **env)
    assert shown["scanners"] == ["clamav"] and shown["scanner_warning"] is None
    bare = grc.json("attachment", "policy", "show", as_="admin", GRC_CLAMAV_ADDRESS="")
    assert bare["scanners"] == []
    assert "no virus scanner is active" in bare["scanner_warning"]
    text = grc.ok("attachment", "policy", "show", as_="admin", GRC_CLAMAV_ADDRESS="").stdout
    assert "none active" in text and "rule antivirus" in text


def test_api_refuses_eicar_with_a_problem_naming_the_rule(fresh_url, tmp_path, clamd, monkeypatch):
    import warnings

    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    monkeypatch.setenv("GRC_CLAMAV_ADDRESS", str(clamd.socket_path))
    settings = Settings(database_url=fresh_url, storage={"local": {"root": str(tmp_path / "b")}})
    grc = Grc(settings)
    grc.upgrade()
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        company = companies.create_company(s, admin, name="ACME").id
        token = api_tokens.create_token(s, admin, admin, name="t").secret
    try:
        app = create_app(grc, settings=ApiSettings(auth_failures=1000))
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app, base_url="http://testserver/api/v1", headers=headers) as client:
            url = f"/companies/{company}/attachments"
            response = client.post(url, files={"file": ("note.txt", b"Hi " + EICAR)})
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
            body = json.loads(response.text)
            assert body["rule"] == "antivirus"
            assert "Grc-Test-Eicar" in body["detail"]
            ok = client.post(url, files={"file": ("devis.pdf", samples.pdf())})
            assert ok.status_code == 201, ok.text
        with grc.session() as s:
            assert s.scalar(select(func.count()).select_from(Attachment)) == 1
    finally:
        grc.dispose()


def test_clamd_fixture_uses_a_small_stream_limit(clamd: Clamd) -> None:
    conf = (clamd.socket_path.parent / "clamd.conf").read_text()
    assert f"StreamMaxLength {STREAM_MAX}" in conf


def test_a_connection_cut_mid_file_is_a_refusal_even_failing_open(tmp_path):
    import socket
    import threading

    from grc_adapters.clamav.scanner import CUT

    path = tmp_path / "cut.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def cut_after_a_while() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.close()  # no answer: the stream was cut

    thread = threading.Thread(target=cut_after_a_while, daemon=True)
    thread.start()
    scanner = ClamdScanner(ClamdAddress(path=str(path)), timeout=5, fail_open=True)
    scan = scanner.start()
    try:
        for _ in range(8):
            scan.feed(b"x" * (1024 * 1024))
        verdict = scan.finish()
    finally:
        scan.close()
        thread.join(5)
        server.close()
    assert not verdict.clean and verdict.reason == CUT
