"""Routes are matched in order and the busiest are tried first: that is only safe while no
concrete path could be taken by a route listed earlier than its own.

Every documented operation, its path parameters given an id, a word and a UUID, must be
resolved to the route that documents it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from grc_api import create_app
from grc_core.facade import Grc

SAMPLES = ("1", "abc", "0b7e1c8e-3d6a-4c59-9d1e-2f8b1b7b6c11")


def _route_taken(app: Any, method: str, path: str) -> str | None:
    scope: dict[str, Any] = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [], "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "scheme": "http", "http_version": "1.1",
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    # The handler fails without the application's middleware; the route was chosen (and
    # written in the scope) before it ran.
    with contextlib.suppress(Exception):
        asyncio.run(app.router(scope, receive, send))
    return getattr(scope.get("route"), "path", None)


def test_every_documented_path_is_taken_by_its_own_route():
    app = create_app(Grc.from_url("sqlite:///:memory:"))
    wrong = []
    resolved = 0
    for template, operations in app.openapi()["paths"].items():
        own = template.removeprefix("/api/v1")
        for method in operations:
            for sample in SAMPLES:
                concrete = re.sub(r"\{[^}]+\}", sample, template)
                taken = _route_taken(app, method.upper(), concrete)
                resolved += taken is not None
                # A path parameter that refuses the sample leaves the path to nobody
                # (404), never to another route.
                if taken is not None and taken not in (own, template):
                    wrong.append((method, concrete, taken))
    assert resolved > 150
    assert wrong == []
