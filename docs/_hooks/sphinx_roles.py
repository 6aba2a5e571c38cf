"""MkDocs hook: show the Sphinx roles of grc_core's docstrings as plain code.

The docstrings use Sphinx roles (``:class:`GrcError```, ``:func:`~pkg.mod.name```), which
mkdocstrings renders as ``:class:<code>GrcError</code>``.  This hook drops the role and, as
Sphinx does, shortens a ``~``-prefixed dotted name to its last part.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const):<code>(~?)([^<]*)</code>"
)


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite every rendered role in the page's HTML."""
    return ROLE.sub(_plain, html)
