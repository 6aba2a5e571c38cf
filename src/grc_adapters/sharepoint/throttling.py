"""Waiting out SharePoint's throttling, the same way in REST and Graph modes.

A 429, or a 503 carrying ``Retry-After``, means the request was refused before it was
processed: repeating it is always safe.  What differs between the two modes is only how a
response is read; the budget of one operation — every wait counted, bounded by
``max_retry_wait`` — is kept here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from grc_core.errors import StorageUnavailable

log = logging.getLogger("grc_adapters.sharepoint")

#: Back-off without ``Retry-After`` doubles per throttled answer, up to 2⁸ times the base.
MAX_DOUBLINGS = 8


class ThrottleBudget:
    """The throttling waits of one operation.

    :param limit: ``max_retry_wait``: the seconds all waits of the operation may add up to.
    :param backoff: the base pause when the server does not say how long to wait.
    :param sleep: how to pause (tests pass a recorder).
    :param service: the server's name in messages ("SharePoint", "Microsoft Graph").
    """

    def __init__(
        self, limit: float, backoff: float, sleep: Callable[[float], None], service: str
    ) -> None:
        self.limit = limit
        self.backoff = backoff
        self.sleep = sleep
        self.service = service
        self.waited = 0.0
        self.throttles = 0

    def default_wait(self) -> float:
        """The pause when the server gave no ``Retry-After``: doubling per throttle."""
        return float(self.backoff * 2 ** min(self.throttles, MAX_DOUBLINGS))

    def wait(self, seconds: float, failure: str, cause: BaseException | None = None) -> None:
        """Pause ``seconds`` before repeating, or raise when the budget would be exceeded.

        ``failure`` is what could not be done ("cannot upload …"); it heads the error,
        chained to ``cause``.
        """
        if self.waited + seconds > self.limit:
            raise StorageUnavailable(
                f"{failure} — {self.service} is throttling GRC and asked to wait "
                f"{seconds:g} s more after {self.waited:g} s "
                f"(max_retry_wait = {self.limit:g} s)"
            ) from cause
        log.info("%s throttled (%s); waiting %.2fs", self.service, failure, seconds)
        self.sleep(seconds)
        self.waited += seconds
        self.throttles += 1
