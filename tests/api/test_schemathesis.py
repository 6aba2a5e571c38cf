"""Property tests over the OpenAPI document (schemathesis), on SQLite and PostgreSQL.

Generated requests, sent as an administrator (who may reach every operation): the API never
answers 5xx and every response conforms to the status codes, content types, headers and
schemas the document declares.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from tests.api.conftest import ApiWorld

MAX_EXAMPLES = 20

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_server_error_and_responses_conform(app: Any, api_world: ApiWorld) -> None:
    """Each operation in turn, with hypothesis driving schemathesis' generated cases."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = api_world.headers("admin")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # report failures as found, unshrunk
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # every failing operation is reported, not just the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert operations >= 60
    assert not failures, "\n\n".join(failures)
