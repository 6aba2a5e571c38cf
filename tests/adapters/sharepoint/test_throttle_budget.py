"""The throttling budget shared by the REST and Graph modes."""

from __future__ import annotations

import pytest

from grc_adapters.sharepoint.throttling import ThrottleBudget
from grc_core.errors import StorageUnavailable


def test_waits_add_up_until_the_limit_then_refuse_with_what_failed() -> None:
    slept: list[float] = []
    budget = ThrottleBudget(10, 0.5, slept.append, "SharePoint")
    budget.wait(4, "cannot upload 'a.pdf'")
    budget.wait(6, "cannot upload 'a.pdf'")
    assert slept == [4, 6]
    assert (budget.waited, budget.throttles) == (10, 2)
    cause = RuntimeError("429")
    with pytest.raises(StorageUnavailable) as refused:
        budget.wait(0.5, "cannot upload 'a.pdf'", cause=cause)
    message = str(refused.value)
    assert message.startswith("cannot upload 'a.pdf' — SharePoint is throttling GRC")
    assert "0.5 s more after 10 s (max_retry_wait = 10 s)" in message
    assert refused.value.__cause__ is cause
    assert slept == [4, 6]  # the refused wait is not slept


def test_default_wait_doubles_per_throttle_and_stops_doubling() -> None:
    budget = ThrottleBudget(1e9, 0.25, lambda _: None, "Microsoft Graph")
    seen = []
    for _ in range(11):
        seen.append(budget.default_wait())
        budget.wait(seen[-1], "cannot list")
    assert seen[:4] == [0.25, 0.5, 1.0, 2.0]
    assert seen[8] == seen[9] == seen[10] == 0.25 * 2**8
