"""Addresses of the wrong binding are refused with a message that says what to set.

The issue this guards: AtomPub addresses that do not end in ``/atom`` passed the configuration,
then failed at the first request with ``AttributeError: 'Response' object has no attribute
'values'`` from cmislib.  Known AtomPub addresses now select the AtomPub binding
(``test_cmis_atompub.py``); Web Services addresses are refused when the backend is built; an
address configured for the Browser binding that turns out to serve an AtomPub service document
is refused clearly at the first operation.
"""

from __future__ import annotations

import pytest

from grc_adapters.cmis.plugin import make_cmis_backend
from grc_core.errors import ConfigError
from grc_core.testing.storage_contract import ChunkedStream

from ..protocol_server import Protocol, ProtocolServer, Request, Response

SERVICE_DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<app:service xmlns:app="http://www.w3.org/2007/app" xmlns:atom="http://www.w3.org/2005/Atom"
  xmlns:cmisra="http://docs.oasis-open.org/ns/cmis/restatom/200908/">
  <app:workspace><atom:title>-default-</atom:title>
    <cmisra:repositoryInfo><cmis:repositoryId xmlns:cmis="http://docs.oasis-open.org/ns/cmis/core/200908/">-default-</cmis:repositoryId></cmisra:repositoryInfo>
  </app:workspace>
</app:service>
"""


class AtomPubOnly(Protocol):
    """A server that answers its AtomPub service document to everything (read-only)."""

    def handle(self, request: Request) -> Response:
        return Response(200, SERVICE_DOCUMENT, content_type="application/atomsvc+xml;charset=UTF-8")


@pytest.mark.parametrize("path", ["/alfresco/cmisws", "/cxf/services", "/alfresco/soap"])
def test_web_services_addresses_are_refused_at_configuration(path: str):
    with pytest.raises(ConfigError, match=r"Web Services \(SOAP\) address.*Browser binding"):
        make_cmis_backend({"url": f"https://ged.example.com{path}", "user": "u", "password": "p"})


def test_browser_binding_addresses_are_accepted():
    backend = make_cmis_backend(
        {
            "url": "https://ged.example.com/alfresco/api/-default-/public/cmis/versions/1.1/browser",
            "user": "u",
            "password": "p",
        }
    )
    backend.close()


def test_an_unknown_address_serving_atompub_is_refused_clearly_at_first_use():
    with ProtocolServer(AtomPubOnly()) as server:
        backend = make_cmis_backend(
            {"url": f"{server.url}/ecm/cmis-endpoint", "user": "u", "password": "p", "retries": 0}
        )
        try:
            with pytest.raises(
                ConfigError,
                match=r"serves the AtomPub binding \(application/atomsvc\+xml\).*'atompub'",
            ):
                backend.put("2026/03/" + "a" * 32, ChunkedStream(b"x", max_read=1 << 20))
            with pytest.raises(ConfigError, match="Browser binding"):
                list(backend.iter_blobs())
        finally:
            backend.close()
