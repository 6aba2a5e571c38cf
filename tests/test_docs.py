"""Meta-tests: the documentation matches the code.

- every public function of the documented modules has a docstring (mkdocstrings leaves out
  undocumented objects, so an undocumented function is missing from the API reference);
- every service module has an API reference page, and every ``:::`` target imports;
- every page of the navigation exists, and every page exists in the navigation;
- the code shown in ``docs/embedding.md`` is ``examples/host_app.py``, which the tests run.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import markdown
import pytest
import yaml

import grc_core.queries
import grc_core.services

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"
HOST_APP = "examples/host_app.py"

#: Service modules that are helpers for the other services, not API of their own.
HELPER_MODULES = {"grc_core.services.text"}

#: Public functions known to lack a docstring.  Each entry makes its test an expected failure
#: that must fail: once the docstring is written, remove the entry.
KNOWN_UNDOCUMENTED: set[str] = set()

DIRECTIVE = re.compile(r"^:::[ \t]+(?P<target>[\w.]+)[ \t]*$", re.MULTILINE)
FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL
)
SNIPPET_LINE = re.compile(r'^--8<--[ \t]+"(?P<path>[^":]+)(?::(?P<section>[\w-]+))?"[ \t]*$')
SECTION_MARKER = re.compile(r"^[ \t]*#[ \t]*--8<--[ \t]+\[(?:start|end):[\w-]+\][ \t]*$")


def _submodules(package: ModuleType) -> list[str]:
    return sorted(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__))


SERVICE_MODULES = _submodules(grc_core.services)
QUERY_MODULES = _submodules(grc_core.queries)


def _public_functions(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [
        f"{module_name}.{name}"
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module_name
    ]


def _documented_functions() -> list[Any]:
    params = []
    for module_name in SERVICE_MODULES + QUERY_MODULES:
        for qualname in _public_functions(module_name):
            marks = []
            if qualname in KNOWN_UNDOCUMENTED:
                marks.append(pytest.mark.xfail(strict=True, reason="no docstring yet"))
            params.append(pytest.param(qualname, id=qualname, marks=marks))
    return params


def _resolve(target: str) -> object:
    """Import ``target``, a module or an object inside one (``pkg.mod.Class.method``)."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(target)


def _reference_targets() -> dict[str, list[str]]:
    """``{target: [pages]}`` for every ``:::`` directive in the documentation."""
    targets: dict[str, list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            targets.setdefault(match["target"], []).append(str(page.relative_to(DOCS)))
    return targets


class _Loader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring the ``!`` tags some plugins use."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _mkdocs_config() -> dict[str, Any]:
    return yaml.load(MKDOCS_YML.read_text(encoding="utf-8"), Loader=_Loader)


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node] if node.endswith(".md") and "://" not in node else []
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    return []


def _snippets_config() -> dict[str, Any]:
    for ext in _mkdocs_config().get("markdown_extensions", []):
        if isinstance(ext, dict) and "pymdownx.snippets" in ext:
            return dict(ext["pymdownx.snippets"] or {})
        if ext == "pymdownx.snippets":
            return {}
    raise AssertionError("mkdocs.yml does not enable pymdownx.snippets")


def _python_fences(text: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(text) if m["lang"] in ("python", "py")]


def _expand(block: str) -> list[str]:
    """The lines of a code block once its snippets are included, as MkDocs includes them."""
    config = _snippets_config()
    config["base_path"] = [str(ROOT / base) for base in config.get("base_path", ["."])]
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"], extension_configs={"pymdownx.snippets": config}
    )
    return md.preprocessors["snippet"].run(block.splitlines())


def _host_app_lines() -> list[str]:
    return (ROOT / HOST_APP).read_text(encoding="utf-8").splitlines()


def _strip_blank_edges(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip("\n")
    return text.split("\n") if text else []


# --- docstrings ----------------------------------------------------------------------------


def test_the_documented_modules_are_found():
    assert "grc_core.services.exchanges" in SERVICE_MODULES
    assert "grc_core.queries.exchanges" in QUERY_MODULES
    assert "grc_core.services.exchanges.create_exchange" in _public_functions(
        "grc_core.services.exchanges"
    )


@pytest.mark.parametrize("qualname", _documented_functions())
def test_public_function_has_a_docstring(qualname):
    function = _resolve(qualname)
    assert inspect.getdoc(function), f"{qualname} has no docstring"


# --- API reference -------------------------------------------------------------------------


def test_reference_pages_have_targets():
    assert len(_reference_targets()) >= 10


@pytest.mark.parametrize("target", sorted(_reference_targets()))
def test_reference_target_imports(target):
    assert _resolve(target) is not None


@pytest.mark.parametrize("module_name", sorted(set(SERVICE_MODULES) - HELPER_MODULES))
def test_service_module_has_a_reference_page(module_name):
    targets = _reference_targets()
    assert module_name in targets, f"no docs/reference page has '::: {module_name}'"


# --- navigation ----------------------------------------------------------------------------


def test_nav_is_not_empty():
    pages = _nav_pages(_mkdocs_config()["nav"])
    assert {"index.md", "getting-started.md", "embedding.md", "cli.md"} <= set(pages)


@pytest.mark.parametrize("page", _nav_pages(_mkdocs_config()["nav"]))
def test_nav_page_exists(page):
    assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which is not in docs/"


def test_every_page_is_in_the_nav():
    listed = set(_nav_pages(_mkdocs_config()["nav"]))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "_hooks" not in p.parts}
    assert sorted(pages - listed) == []


def test_mkdocs_builds_strictly_with_the_docstrings():
    config = _mkdocs_config()
    assert config["strict"] is True
    assert config["theme"]["name"] in ("mkdocs", "readthedocs")
    [plugin] = [p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p]
    assert plugin["mkdocstrings"]["handlers"]["python"]["paths"] == ["src"]
    assert _snippets_config().get("check_paths") is True  # a missing snippet breaks the build


# --- the example in docs/embedding.md ------------------------------------------------------


def test_embedding_code_is_only_included_from_the_example():
    blocks = _python_fences((DOCS / "embedding.md").read_text(encoding="utf-8"))
    assert blocks, "docs/embedding.md shows no Python code"
    for block in blocks:
        lines = block.strip("\n").splitlines()
        assert len(lines) == 1, f"hand-written code in docs/embedding.md:\n{block}"
        match = SNIPPET_LINE.match(lines[0])
        assert match, f"not a snippet of {HOST_APP}: {lines[0]!r}"
        assert match["path"] == HOST_APP


def test_embedding_shows_the_whole_example_file():
    blocks = _python_fences((DOCS / "embedding.md").read_text(encoding="utf-8"))
    whole = [b for b in blocks if b.strip() == f'--8<-- "{HOST_APP}"']
    assert len(whole) == 1, f"docs/embedding.md must include {HOST_APP} once, whole"
    shown = _strip_blank_edges(_expand(whole[0]))
    expected = [line for line in _host_app_lines() if not SECTION_MARKER.match(line)]
    assert shown == _strip_blank_edges(expected)


def test_embedding_sections_are_parts_of_the_example():
    file_text = "\n".join(_host_app_lines())
    blocks = _python_fences((DOCS / "embedding.md").read_text(encoding="utf-8"))
    sections = [b for b in blocks if ":" in b.strip().removeprefix("--8<--")]
    assert len(sections) >= 5
    for block in sections:
        shown = _strip_blank_edges(_expand(block))
        assert shown, f"{block.strip()} includes nothing"
        assert not any(SECTION_MARKER.match(line) for line in shown)
        assert "\n".join(shown) in file_text, f"{block.strip()} is not a part of {HOST_APP}"


def test_example_sections_are_balanced():
    names: dict[str, list[str]] = {}
    for line in _host_app_lines():
        match = re.search(r"--8<--[ \t]+\[(start|end):([\w-]+)\]", line)
        if match:
            names.setdefault(match[2], []).append(match[1])
    assert names
    assert all(kinds == ["start", "end"] for kinds in names.values()), names
