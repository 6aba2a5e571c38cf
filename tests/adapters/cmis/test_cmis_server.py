"""The test server itself is strict: what a real server would refuse, it refuses.

Tests of the adapter only mean something if the server does not accept what Alfresco would
not.  These requests are made with plain ``requests``, outside cmislib.
"""

from __future__ import annotations

import pytest
import requests

from .conftest import PASSWORD, USER
from .server import BASE, ROOT

AUTH = (USER, PASSWORD)


def multipart(**fields: str) -> dict:
    return {name: (None, value) for name, value in fields.items()}


@pytest.fixture
def url(server) -> str:
    return server.url


def test_the_service_document_has_every_field_cmislib_reads(url, protocol):
    answer = requests.get(url + BASE, auth=AUTH, timeout=5)
    assert answer.headers["Content-Type"].startswith("application/json")
    info = answer.json()["-default-"]
    for field in (
        "repositoryId", "repositoryName", "repositoryDescription", "vendorName",
        "productName", "productVersion", "rootFolderId", "latestChangeLogToken",
        "cmisVersionSupported", "changesIncomplete", "changesOnType", "principalIdAnonymous",
        "principalIdAnyone", "repositoryUrl", "rootFolderUrl", "capabilities",
    ):  # fmt: skip
        assert field in info, field
    assert info["rootFolderUrl"] == url + ROOT and info["rootFolderId"] == protocol.root_id


def test_authentication_is_required(url):
    answer = requests.get(url + BASE, timeout=5)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert answer.json()["exception"] == "unauthorized"
    assert requests.get(url + BASE, auth=(USER, "nope"), timeout=5).status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "",  # no selector
        "?cmisselector=descendants",
        "?cmisselector=object&colour=blue",
        "?cmisselector=object&includeAllowableActions=maybe",
        "?cmisselector=children&maxItems=lots",
    ],
)
def test_unknown_or_malformed_reads_are_400(url, query):
    answer = requests.get(url + ROOT + query, auth=AUTH, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["exception"] == "invalidArgument"


def test_boolean_parameters_are_case_insensitive(url):
    # cmislib sends Python's True/False.
    for value in ("True", "true", "FALSE"):
        answer = requests.get(
            url + ROOT,
            params={"cmisselector": "object", "includeAllowableActions": value},
            auth=AUTH,
            timeout=5,
        )
        assert answer.status_code == 200, value


def test_unknown_paths_and_ids_are_404_with_alfrescos_body(url):
    answer = requests.get(url + ROOT + "/nowhere", params={"cmisselector": "object"}, auth=AUTH)
    assert answer.status_code == 404
    assert answer.json() == {"exception": "objectNotFound", "message": "Object not found: /nowhere"}
    by_id = requests.get(url + ROOT, params={"cmisselector": "object", "objectId": "x;1.0"},
                         auth=AUTH, timeout=5)  # fmt: skip
    assert by_id.status_code == 404


def test_unknown_routes_are_400(url):
    assert requests.get(url + "/alfresco/other", auth=AUTH, timeout=5).status_code == 400
    assert requests.post(url + ROOT + "/sub", auth=AUTH, timeout=5).status_code == 400
    assert requests.delete(url + ROOT, auth=AUTH, timeout=5).status_code == 400


@pytest.mark.parametrize(
    ("data", "files", "exception"),
    [
        ({"cmisaction": "createFolder"}, None, "invalidArgument"),  # not multipart
        (None, multipart(cmisaction="moveEverything", objectId="x"), "invalidArgument"),
        (None, multipart(cmisaction="createFolder", colour="blue"), "invalidArgument"),
        (None, {"cmisaction": (None, "createFolder"), "propertyId[1]": (None, "cmis:name")},
         "invalidArgument"),  # numbered with a gap
    ],
)  # fmt: skip
def test_malformed_writes_are_400(url, data, files, exception):
    answer = requests.post(url + ROOT, data=data, files=files, auth=AUTH, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["exception"] == exception


def test_writes_follow_alfrescos_name_rules(url, protocol):
    def create(name: str, prop: str = "cmis:name") -> requests.Response:
        fields = multipart(
            cmisaction="createFolder", objectId=protocol.root_id,
            **{"propertyId[0]": prop, "propertyValue[0]": name,
               "propertyId[1]": "cmis:objectTypeId", "propertyValue[1]": "cmis:folder"},
        )  # fmt: skip
        return requests.post(url + ROOT, files=fields, auth=AUTH, timeout=5)

    assert create("Dossier été").status_code == 201
    duplicate = create("DOSSIER ÉTÉ")
    assert duplicate.status_code == 409  # names are unique, case-insensitively
    assert duplicate.json()["exception"] == "contentAlreadyExists"
    for bad in ("a:b", "trailing.", "trailing ", 'quote"'):
        answer = create(bad)
        assert answer.status_code == 409 and answer.json()["exception"] == "constraint", bad
    assert create("x", prop="cmis:objectId").status_code == 400  # not writable


def test_content_is_only_for_documents_and_counts(url, protocol):
    fields = multipart(
        cmisaction="createDocument", objectId=protocol.root_id,
        **{"propertyId[0]": "cmis:name", "propertyValue[0]": "a.txt",
           "propertyId[1]": "cmis:objectTypeId", "propertyValue[1]": "cmis:document"},
    )  # fmt: skip
    fields["content"] = ("a.txt", b"hello", "text/plain")
    created = requests.post(url + ROOT, files=fields, auth=AUTH, timeout=5)
    assert created.status_code == 201
    props = created.json()["properties"]
    assert props["cmis:contentStreamLength"]["value"] == 5
    assert isinstance(props["cmis:lastModificationDate"]["value"], int)  # epoch ms
    assert protocol.content_uploads == 1 and protocol.content_bytes == 5
    folder = multipart(cmisaction="createFolder", objectId=protocol.root_id)
    folder["content"] = ("a.txt", b"hello", "text/plain")
    assert requests.post(url + ROOT, files=folder, auth=AUTH, timeout=5).status_code == 400


def test_a_truncated_upload_creates_nothing(url, protocol):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="cmisaction"\r\n\r\ncreateDocument\r\n'
        b'--b\r\nContent-Disposition: form-data; name="content"; filename="x"\r\n\r\n'
        b"only part of the cont"
    )
    answer = requests.post(
        url + ROOT, data=body, auth=AUTH, timeout=5,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert answer.status_code == 400
    assert protocol.documents() == [] and list(protocol.store.iterdir()) == []
