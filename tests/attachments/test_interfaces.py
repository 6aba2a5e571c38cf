"""Every hostile case through ``grc attachment add`` (exit 2, one line naming the rule) and
through the HTTP API (415 or 422 problem+json with the rule), on both databases; nothing
is stored: no row, no blob."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import hostile
import pytest
from sqlalchemy import func, select

from cli.runner import Grc as CliGrc
from grc_api import ApiSettings, create_app
from grc_core import Grc
from grc_core.config import Settings
from grc_core.models import Attachment
from grc_core.services import api_tokens, attachments, companies, users


@functools.cache
def made(name: str) -> bytes:
    for case in hostile.HOSTILE:
        if case.name == name:
            return case.make()
    return hostile.GENUINE[name]()


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_command_line_refuses_each_hostile_file_in_one_line(fresh_url, tmp_path):
    grc = CliGrc(fresh_url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    company = str(grc.json("company", "add", "ACME", as_="admin")["id"])
    blobs = tmp_path / "data" / "grc" / "attachments"
    folder = tmp_path / "files"
    folder.mkdir()
    for case in hostile.HOSTILE:
        path = folder / case.name
        path.write_bytes(made(case.name))
        message = grc.fails(2, "attachment", "add", str(path), "--company", company, as_="admin")
        assert message.startswith(f"{case.name}: refused by rule {case.rule}: "), message
    assert grc.json("attachment", "list", "--company", company, as_="admin") == []
    assert blob_files(blobs) == []
    # Genuine files go through, unchanged.
    for name in hostile.GENUINE:
        (folder / name).write_bytes(made(name))
    added = grc.json(
        "attachment", "add", *(str(folder / n) for n in hostile.GENUINE), "--company", company,
        as_="admin",
    )  # fmt: skip
    assert [a["size"] for a in added] == [len(made(n)) for n in hostile.GENUINE]
    # The settings are changed and shown from the command line too.
    grc.ok("attachment", "policy", "set", "--allow-active-pdf", "--scanning", "off", as_="admin")
    shown = grc.json("attachment", "policy", "show", as_="admin")
    assert shown["allow_active_pdf"] is True and shown["scanning"] == "off"
    assert "virus scanning is off" in shown["scanner_warning"]
    grc.ok("attachment", "add", str(folder / "open-action.pdf"), "--company", company, as_="admin")


@pytest.fixture
def api(fresh_url, tmp_path):
    root = tmp_path / "blobs"
    grc = Grc(Settings(database_url=fresh_url, storage={"local": {"root": str(root)}}))
    grc.upgrade()
    with grc.session() as s:
        admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
        company = companies.create_company(s, admin, name="ACME").id
        token = api_tokens.create_token(s, admin, admin, name="t").secret
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    app = create_app(grc, settings=ApiSettings(auth_failures=1000))
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app, base_url="http://testserver/api/v1", headers=headers) as client:
        yield grc, client, f"/companies/{company}/attachments", root
    grc.dispose()


def test_api_refuses_each_hostile_file_with_a_problem_naming_the_rule(api):
    grc, client, url, root = api
    for case in hostile.HOSTILE:
        response = client.post(url, files={"file": (case.name, made(case.name))})
        assert response.status_code in (415, 422), (case.name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = json.loads(response.text)
        assert body["rule"] == case.rule, (case.name, body)
        assert body["detail"].startswith(f"refused by rule {case.rule}: ")
        assert "\n" not in body["detail"]
    with grc.session() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
    assert blob_files(root) == []


def test_api_strips_photos_sent_by_the_mobile_app(api):
    grc, client, url, _root = api
    photo = made("photo.jpg")
    plain = client.post(url, files={"file": ("a.jpg", photo)}).json()
    assert plain["size"] == len(photo)
    mobile = client.post(url, files={"file": ("b.jpg", photo)}, headers={"X-GRC-Client": "mobile"})
    assert mobile.status_code == 201, mobile.text
    content = client.get(f"/attachments/{mobile.json()['id']}/content").content
    assert len(content) == mobile.json()["size"] < len(photo)
    assert b"PhoneMaker" in photo and b"PhoneMaker" not in content
    with grc.session() as s:
        assert attachments.get_policy(s).strip_image_metadata == "mobile"


def test_storage_check_says_when_no_virus_scanner_is_active(fresh_url, tmp_path):
    grc = CliGrc(fresh_url, tmp_path)
    grc.ok("db", "upgrade")
    grc.ok("user", "add", "admin", "--name", "Admin", "--admin")
    result = grc.ok("storage", "check", "local", as_="admin", GRC_CLAMAV_ADDRESS="")
    assert "warning: no virus scanner is active" in result.stderr
    configured = grc.ok(
        "storage", "check", "local", as_="admin", GRC_CLAMAV_ADDRESS="/run/clamav/clamd.ctl"
    )
    assert "no virus scanner" not in configured.stderr


def test_the_mobile_app_is_an_enrolled_device_or_says_so():
    from grc_api.auth import Principal
    from grc_api.uploads import upload_origin

    device = Principal(user_id=1, login="alice", method="session", device_id=7)
    token = Principal(user_id=1, login="alice", method="token", token_id=3)
    assert upload_origin(device, {}) == "mobile"
    assert upload_origin(token, {}) is None
    assert upload_origin(token, {"x-grc-client": " Mobile "}) == "mobile"
    assert upload_origin(token, {"x-grc-client": "desktop"}) is None
