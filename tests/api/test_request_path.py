"""The request path's shortcuts give what the general code gives: the next page's URL, the
filters of a page without any, the security headers of every kind of response."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from grc_api.middleware import API_CSP, DOCS_CSP, _security_headers
from grc_api.routes.history import Filters, _filters, next_page_url
from grc_api.web.serving import WEB_CSP

CURSOR = "eyJzIjoiMjAyNi0wMy0wMlQwOTowMDowMCswMDowMCIsImkiOjQyLCJxIjoiYWJjIn0.Zm9vLWJhcl9i"


def request(query: bytes = b"", **scope: object) -> Request:
    base: dict[str, object] = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/companies/7/history",
        "raw_path": b"/api/v1/companies/7/history",
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
    }
    return Request({**base, **scope})


@pytest.mark.parametrize(
    "scope",
    [
        {},
        {"scheme": "https", "headers": [(b"host", b"crm.example.com")]},
        {"headers": [(b"host", b"127.0.0.1:8123")]},
        {"headers": [(b"host", b"[::1]:8000")]},
        {"headers": [], "server": ("10.0.0.2", 8080)},
        {"root_path": "/crm", "path": "/crm/api/v1/companies/7/history"},
        {"path": "/api/v1/users/jean-andré/history"},
    ],
)
@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"limit=10",
        b"cursor=old",
        b"action=call&limit=5",
        b"limit=5&cursor=old&action=call",
        b"action=call&action=email",
        b"a=",
        b"flag",
        b"flag&limit=2",
        b"q=caf%C3%A9&limit=3",
        b"x=a+b",
        b"x=a%2Bb",
        b"limit=5&",
        b"&limit=5",
        b"limit=5;action=call",
        b"mycursor=1",
    ],
)
@pytest.mark.parametrize("cursor", [CURSOR, "a b+c/d=", "é.ü"])
def test_the_next_url_is_the_one_starlette_builds(
    scope: dict[str, object], query: bytes, cursor: str
) -> None:
    req = request(query, **scope)
    expected = str(req.url.include_query_params(cursor=cursor))
    assert next_page_url(request(query, **scope), cursor) == expected


def test_the_next_url_of_a_first_page() -> None:
    assert next_page_url(request(), CURSOR) == (
        f"http://testserver/api/v1/companies/7/history?cursor={CURSOR}"
    )


def test_a_page_without_filters_has_the_default_ones() -> None:
    default = vars(Filters())
    for query in (b"", b"limit=5", b"cursor=abc&limit=7", b"unknown=1"):
        assert vars(asyncio.run(_filters(request(query)))) == default
    assert asyncio.run(_filters(request(b"limit=5&action=call"))).action == ["call"]


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize(
    ("web", "docs", "csp"),
    [(False, False, API_CSP), (False, True, DOCS_CSP), (True, False, WEB_CSP)],
)
def test_security_headers(secure: bool, web: bool, docs: bool, csp: str) -> None:
    expected = [
        ("x-request-id", "abc-123"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", csp),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    ]
    if secure:
        expected.append(("strict-transport-security", "max-age=31536000; includeSubDomains"))
    given = _security_headers("abc-123", secure=secure, docs=docs, web=web)
    assert given == [(k.encode(), v.encode()) for k, v in expected]
    # Each response gets its own list: adding to one changes no other.
    given.append((b"x-extra", b"1"))
    assert _security_headers("abc-123", secure=secure, docs=docs, web=web) != given
