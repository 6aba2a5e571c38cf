"""The session's primary and streaming replica (see :mod:`cluster`).

Missing server binaries fail the tests rather than skip them: the replica is what they are
about.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import Replicated, ServerMissing, replicated_cluster


@pytest.fixture(scope="session")
def replicated() -> Iterator[Replicated]:
    try:
        with replicated_cluster() as pair:
            yield pair
    except ServerMissing as exc:
        pytest.fail(str(exc))
