"""The ``clamav`` plugin: registers a :class:`~grc_adapters.clamav.ClamdScanner`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    clamav = "grc_adapters.clamav.plugin"

It registers its scanner only when clamd's address is configured, in the environment of
every process that stores attachments (the command line, ``grc serve``, workers)::

    GRC_CLAMAV_ADDRESS=/run/clamav/clamd.ctl   # or tcp://127.0.0.1:3310
    GRC_CLAMAV_TIMEOUT=60                      # seconds per exchange with clamd
    GRC_CLAMAV_ON_ERROR=refuse                 # or accept: store files clamd could not scan

Without ``GRC_CLAMAV_ADDRESS`` no scanner is active, and ``grc attachment policy show``,
``grc storage check`` and ``grc demo`` say so.  A wrong setting does not stop GRC: the
scanner is registered and refuses every file with the configuration error (fail closed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from grc_adapters.clamav.scanner import ClamdAddress, ClamdScanner
from grc_core.errors import ConfigError
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterScanner
from grc_core.plugins.scanning import Scan

ADDRESS_ENV = "GRC_CLAMAV_ADDRESS"
TIMEOUT_ENV = "GRC_CLAMAV_TIMEOUT"
ON_ERROR_ENV = "GRC_CLAMAV_ON_ERROR"


class MisconfiguredScanner:
    """Stands for a ClamAV scanner whose settings are wrong: refuses every file."""

    name = "clamav"

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def start(self) -> Scan:
        """Raise the configuration error (the attachment service refuses the file)."""
        raise ConfigError(self.problem)


def scanner_from_env(env: Mapping[str, str]) -> ClamdScanner | MisconfiguredScanner | None:
    """The scanner the environment configures, or None when clamd is not configured."""
    address = env.get(ADDRESS_ENV, "").strip()
    if not address:
        return None
    try:
        parsed = ClamdAddress.parse(address)
        timeout = float(env.get(TIMEOUT_ENV, "") or 60)
        if not 0 < timeout <= 3600:
            raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds between 0 and 3600")
        on_error = (env.get(ON_ERROR_ENV, "") or "refuse").strip().lower()
        if on_error not in ("refuse", "accept"):
            raise ValueError(f"{ON_ERROR_ENV} must be 'refuse' or 'accept'")
    except ValueError as exc:
        return MisconfiguredScanner(f"the ClamAV scanner is misconfigured: {exc}")
    return ClamdScanner(parsed, timeout=timeout, fail_open=on_error == "accept")


@hookimpl
def grc_register_scanners(register: RegisterScanner) -> None:
    """Register the ClamAV scanner when ``GRC_CLAMAV_ADDRESS`` is set."""
    scanner = scanner_from_env(os.environ)
    if scanner is not None:
        register("clamav", scanner)
