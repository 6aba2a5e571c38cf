"""The test server is strict: what the real client does not send is refused, not guessed."""

from __future__ import annotations

import pytest
import requests

from .conftest import PASSWORD, USER
from .server import API, NuxeoServer

HEADERS = {
    "Accept": "application/json, */*",
    "Content-Type": "application/json",
    "X-NXDocumentProperties": "*",
    "X-NXRepository": "default",
    "X-Application-Name": "test",
}


def call(server: NuxeoServer, method: str, path: str, **kwargs) -> requests.Response:
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    headers = {k: v for k, v in headers.items() if v is not None}
    kwargs.setdefault("auth", (USER, PASSWORD))
    return requests.request(method, server.url + path, headers=headers, timeout=5, **kwargs)


def test_a_well_formed_request_is_served(server: NuxeoServer):
    answer = call(server, "GET", f"{API}/repo/default/path/default-domain")
    assert answer.status_code == 200
    assert answer.json()["properties"]["dc:title"] == "Domain"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", f"{API}/repo/default/children/x", {}, 400),  # unknown route
        ("PUT", f"{API}/repo/default/path/default-domain", {}, 400),  # unknown method
        ("GET", f"{API}/repo/other/path/default-domain", {}, 400),  # another repository
        ("GET", f"{API}/repo/default/path/default-domain", {"X-Unknown": "1"}, 400),
        ("GET", f"{API}/repo/default/path/default-domain", {"X-File-Name": "a"}, 400),
        ("GET", f"{API}/repo/default/path/default-domain", {"X-NXRepository": None}, 400),
        ("GET", f"{API}/repo/default/path/default-domain", {"X-NXDocumentProperties": None}, 400),
        ("GET", f"{API}/repo/default/path/default-domain", {"Content-Type": "text/plain"}, 400),
        ("GET", f"{API}/repo/default/path/nowhere", {}, 404),
    ],
)
def test_what_the_client_does_not_send_is_refused(server, method, path, headers, status):
    assert call(server, method, path, headers=headers).status_code == status


def test_authentication_is_required(server: NuxeoServer):
    path = f"{API}/repo/default/path/default-domain"
    assert call(server, "GET", path, auth=None).status_code == 401
    assert call(server, "GET", path, auth=(USER, "wrong")).status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM Document WHERE dc:title = 'x'",
        "SELECT * FROM Document WHERE ecm:path STARTSWITH '/a' OR dc:source = 'b'",
        "SELECT * FROM File WHERE ecm:primaryType = 'File'",
        "SELECT * FROM Document WHERE ecm:primaryType LIKE 'F%'",
    ],
)
def test_unsupported_nxql_is_refused(server: NuxeoServer, query: str):
    answer = call(server, "GET", f"{API}/search/lang/NXQL/execute", params={"query": query})
    assert answer.status_code == 400


def test_an_incomplete_chunked_upload_answers_308_with_cumulative_chunks(server: NuxeoServer):
    batch = call(server, "POST", f"{API}/upload").json()["batchId"]
    chunk = {
        "Content-Type": "text/plain",
        "X-File-Name": "a%20b.txt",
        "X-File-Size": "6",
        "X-File-Type": "text/plain",
        "X-Upload-Type": "chunked",
        "X-Upload-Chunk-Count": "3",
    }
    answers = []
    for index in (2, 0, 1):
        headers = {**chunk, "X-Upload-Chunk-Index": str(index)}
        answers.append(call(server, "POST", f"{API}/upload/{batch}/0", headers=headers, data=b"ab"))
    assert [a.status_code for a in answers] == [308, 308, 201]
    assert [a.json()["uploadedChunkIds"] for a in answers] == [[2], [0, 2], [0, 1, 2]]
    assert all(a.json()["chunkCount"] == 3 and "Location" not in a.headers for a in answers)
    status = call(server, "GET", f"{API}/upload/{batch}/0")
    assert status.status_code == 200 and status.json()["name"] == "a b.txt"
    assert call(server, "DELETE", f"{API}/upload/{batch}").status_code == 204
    assert call(server, "DELETE", f"{API}/upload/{batch}").status_code == 404
