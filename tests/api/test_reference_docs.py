"""The API reference page is the OpenAPI document's, and the guide's claims hold."""

from __future__ import annotations

from pathlib import Path

from grc_api.reference import openapi_document, render

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_reference_page_is_generated_from_the_current_openapi_document():
    committed = (DOCS / "api-reference.md").read_text(encoding="utf-8")
    assert committed == render(openapi_document()), (
        "docs/api-reference.md is stale: run "
        "`.venv/bin/python -m grc_api.reference > docs/api-reference.md`"
    )


def test_every_operation_is_in_the_reference():
    page = (DOCS / "api-reference.md").read_text(encoding="utf-8")
    spec = openapi_document()
    for path, item in spec["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in page
