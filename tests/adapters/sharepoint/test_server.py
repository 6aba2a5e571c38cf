"""The test server itself: strict where SharePoint is strict, quirky where SharePoint is quirky.

If the server accepted anything, the adapter's tests would prove nothing.
"""

from __future__ import annotations

import io

import pytest
import requests
from office365.sharepoint.client_context import ClientContext
from tests.adapters.sharepoint.server import LIBRARY, SITE, TOKEN, VERBOSE

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": VERBOSE, "Content-Type": VERBOSE}


@pytest.fixture
def api(server):
    """``(method, path, **kwargs) → response`` with a valid digest and headers by default."""
    session = requests.Session()
    digest = session.post(f"{server.url}{SITE}/_api/contextInfo", headers=HEADERS).json()
    value = digest["d"]["GetContextWebInformation"]["FormDigestValue"]

    def call(method: str, path: str, *, headers: dict | None = None, **kwargs):
        sent = {**HEADERS, "X-RequestDigest": value, **(headers or {})}
        sent = {k: v for k, v in sent.items() if v is not None}
        return session.request(method, f"{server.url}{SITE}/_api/{path}", headers=sent, **kwargs)

    yield call
    session.close()


LIBRARY_PATH = f"Web/getFolderByServerRelativePath(DecodedUrl='{SITE}/{LIBRARY}')"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "Web/Lists", None, 400),  # not a route the client uses
        ("GET", "Web/GetFileById('x')/Frobnicate", None, 400),
        ("GET", f"{LIBRARY_PATH}?$expand=Files", None, 400),  # unknown query option
        ("GET", f"{LIBRARY_PATH}?$select=Colour", None, 400),  # unknown property
        ("GET", LIBRARY_PATH, {"Accept": "application/json"}, 400),
        ("GET", LIBRARY_PATH, {"X-Custom": "1"}, 400),  # unexpected header
        ("POST", f"{LIBRARY_PATH}/Folders/Add('a')", {"Content-Type": "text/plain"}, 400),
        ("POST", f"{LIBRARY_PATH}/Folders/Add('a')", {"X-HTTP-Method": "MERGE"}, 400),
        ("POST", f"{LIBRARY_PATH}/Folders/Add('a:b')", None, 400),  # forbidden character
        ("POST", f"{LIBRARY_PATH}/Folders/Add('a')", {"X-RequestDigest": "forged"}, 403),
        ("GET", LIBRARY_PATH, {"Authorization": "Bearer stolen"}, 401),
        ("GET", LIBRARY_PATH, {"Authorization": None}, 401),
        ("GET", "Web/GetFileById('00000000-0000-4000-8000-00000000ffff')", None, 404),
    ],
)
def test_the_server_refuses_what_the_client_never_sends(api, method, path, headers, status):
    assert api(method, path, headers=headers).status_code == status


def test_a_missing_file_is_sharepoints_404(api):
    answer = api("GET", f"Web/getFileByServerRelativePath(DecodedUrl='{SITE}/{LIBRARY}/no.pdf')")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "-2147024894, System.IO.FileNotFoundException"


def test_files_add_without_body_leaves_an_empty_placeholder(api, protocol):
    answer = api("POST", f"{LIBRARY_PATH}/Files/add(overwrite=false,url='p.bin')")
    assert answer.status_code == 200
    file = answer.json()["d"]
    assert file["Length"] == "0"  # a string, as SharePoint sends it
    assert file["UniqueId"] and "ServerRelativePath" not in file
    assert protocol.tree() == {f"{SITE}/{LIBRARY}/p.bin": 0}
    again = api("POST", f"{LIBRARY_PATH}/Files/add(overwrite=false,url='P.BIN')")
    assert again.status_code == 400
    assert again.json()["error"]["code"].startswith("-2130575257")


def test_the_clients_own_upload_session_silently_replaces(server, protocol):
    """Why the backend drives the session itself: ``create_upload_session`` overwrites."""
    ctx = ClientContext(server.url + SITE).with_access_token(
        lambda: {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
    )
    folder = ctx.web.get_folder_by_server_relative_path(f"{SITE}/{LIBRARY}")
    first = folder.files.create_upload_session(
        io.BytesIO(b"1" * 200_000), 65536, file_name="devis.pdf"
    )
    ctx.execute_query()
    second = folder.files.create_upload_session(
        io.BytesIO(b"2" * 150_000), 65536, file_name="devis.pdf"
    )
    ctx.execute_query()
    assert first.unique_id == second.unique_id
    assert protocol.content(f"{SITE}/{LIBRARY}/devis.pdf") == b"2" * 150_000
    assert any("overwrite=true" in entry["path"] for entry in server.transcript)
    ctx.close()
