"""The ``cmis`` plugin: registers :class:`~grc_adapters.cmis.backend.CmisBackend`.

Declared in GRC's ``pyproject.toml``::

    [project.entry-points.grc]
    cmis = "grc_adapters.cmis.plugin"

This module is imported whenever GRC loads its plugins, so it imports neither ``cmislib``
nor ``requests``: the factory does, and ``requires=("cmislib",)`` lets GRC say
``pip install 'grc-exchanges[cmis]'`` when the library is missing.

Configuration (``[grc.storage.cmis]``, or ``GRC_STORAGE__CMIS__<KEY>`` variables, which
arrive as strings)::

    url = "https://ged.example.com/alfresco/api/-default-/public/cmis/versions/1.1/browser"
    user = "svc-grc"
    password = "…"              # better in GRC_STORAGE__CMIS__PASSWORD
    repository_id = "-default-" # optional when the server has a single repository
    root_path = "/CRM"          # default
    timeout = 30                # seconds, per network operation
    retries = 2                 # repeats of requests that are safe to repeat
    retry_backoff = 0.5         # seconds, doubled at each repeat
    ca_bundle = "/etc/ssl/internal-ca.pem"  # optional
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from grc_core.errors import ConfigError
from grc_core.plugins import hookimpl
from grc_core.plugins.hookspecs import RegisterStorageBackend
from grc_core.plugins.settings import declare

if TYPE_CHECKING:
    from grc_adapters.cmis.backend import CmisBackend

NAME = "cmis"
REQUIRED = ("url", "user", "password")
OPTIONAL = (
    "repository_id",
    "root_path",
    "timeout",
    "retries",
    "retry_backoff",
    "ca_bundle",
    "binding",
)
#: ``binding`` values: ``auto`` chooses from the URL (AtomPub's well-known addresses, else
#: the Browser binding).
BINDINGS = ("auto", "browser", "atompub")
ACCEPTED = REQUIRED + OPTIONAL
DEFAULT_ROOT_PATH = "/CRM"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.5
#: Characters no CMIS server accepts in a folder name (Alfresco's cm:name constraint).
_FORBIDDEN_IN_NAMES = set('*"<>\\?:|')


def _problem(text: str) -> ConfigError:
    return ConfigError(f"the {NAME!r} storage backend: {text}")


def _string(config: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = config.get(key)
    if value is None or value == "":
        if required:
            raise _problem(
                f"{key} is required (set it in [grc.storage.{NAME}] or "
                f"GRC_STORAGE__{NAME.upper()}__{key.upper()}); required: {', '.join(REQUIRED)}"
            )
        return None
    if not isinstance(value, str):
        # The value itself is not shown: it may be a secret typed in the wrong place.
        raise _problem(f"{key} must be a string, not {type(value).__name__}")
    return value


def _number(
    config: Mapping[str, Any], key: str, default: float, *, low: float, high: float
) -> float:
    value = config.get(key)
    if value is None or value == "":
        return default
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise _problem(f"{key} must be a number from {low:g} to {high:g}, got {value!r}")
    return number


def _url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _problem(
            f"url must be the http(s) URL of the CMIS Browser binding, got {value!r}; "
            "Alfresco: https://HOST/alfresco/api/-default-/public/cmis/versions/1.1/browser"
        )
    if parts.username or parts.password:
        # Never echoed: the URL holds a password.
        raise _problem("url must not contain credentials; set user and password instead")
    if parts.query or parts.fragment:
        raise _problem(f"url must have no query string or fragment, got {value!r}")
    if _WEB_SERVICES.search(parts.path):
        raise _problem(
            f"url {value!r} is a CMIS Web Services (SOAP) address, which this adapter does not "
            "speak: give the Browser binding's address (…/versions/1.1/browser) or the "
            "AtomPub binding's (…/versions/1.1/atom, /alfresco/cmisatom…)"
        )
    return value.strip().rstrip("/")


#: Path endings of the AtomPub binding of common servers: Alfresco (``…/1.1/atom``,
#: ``…/1.0/atom``, ``/alfresco/cmisatom``, ``/alfresco/cmis`` or ``/alfresco/s/api/cmis`` for
#: 3.x/4.x), FileNet (``/fncmis/resources/Service``), Documentum (``/emc-cmis/resources``),
#: Nuxeo (``/nuxeo/atom/cmis``), OpenCMIS (``/atom11``).
_ATOMPUB = re.compile(
    r"(?i)(/atom(11)?|/atom/cmis|/cmisatom|/resources(/service)?|/alfresco/(s/api/)?cmis)/*$"
)
#: ... and of the Web Services (SOAP) binding, which is not supported.
_WEB_SERVICES = re.compile(r"(?i)(/cmisws|/soap|/services(11)?)/*$")


def _binding(config: Mapping[str, Any], url: str) -> str:
    """``browser`` or ``atompub``: the ``binding`` setting, checked against the URL."""
    value = _string(config, "binding", required=False) or "auto"
    if value not in BINDINGS:
        raise _problem(f"binding must be one of {', '.join(BINDINGS)}, got {value!r}")
    path = urlsplit(url).path
    looks_atompub = bool(_ATOMPUB.search(path))
    looks_browser = path.rstrip("/").lower().endswith("/browser")
    if value == "auto":
        return "atompub" if looks_atompub else "browser"
    if value == "browser" and looks_atompub:
        raise _problem(
            f"url {url!r} is an AtomPub address but binding = 'browser': give the Browser "
            "binding's address (…/versions/1.1/browser), or set binding = 'atompub'"
        )
    if value == "atompub" and looks_browser:
        raise _problem(
            f"url {url!r} is a Browser binding address but binding = 'atompub': give the "
            "AtomPub address (…/versions/1.1/atom), or set binding = 'browser'"
        )
    return value


def _root_path(value: str | None) -> str:
    if value is None:
        return DEFAULT_ROOT_PATH
    if not value.startswith("/"):
        raise _problem(f"root_path must be an absolute repository path like '/CRM', got {value!r}")
    segments = value.strip("/").split("/") if value.strip("/") else []
    for segment in segments:
        if (
            not segment
            or segment in (".", "..")
            or segment != segment.strip()
            or segment.endswith(".")
            or _FORBIDDEN_IN_NAMES & set(segment)
            or any(ord(c) < 32 for c in segment)
        ):
            raise _problem(
                f"root_path {value!r} has the folder name {segment!r}, which CMIS servers "
                'refuse (empty, "." or "..", surrounding spaces, a trailing dot, or one of '
                '* " < > \\ ? : |)'
            )
    return "/" + "/".join(segments)


def make_cmis_backend(config: Mapping[str, Any]) -> CmisBackend:
    """Build the backend from its configuration table (see the module documentation).

    Nothing is sent to the server here: the service document is read on first use.

    :raises ConfigError: an unknown key, a missing required key or a bad value; the
        message names the key and what is accepted, never a secret value.
    """
    unknown = sorted(str(k) for k in config if k not in ACCEPTED)
    if unknown:
        raise _problem(
            f"unknown setting {', '.join(map(repr, unknown))}; accepted: {', '.join(ACCEPTED)}"
        )
    url = _url(_string(config, "url", required=True) or "")
    user = _string(config, "user", required=True) or ""
    password = _string(config, "password", required=True) or ""
    repository_id = _string(config, "repository_id", required=False)
    root_path = _root_path(_string(config, "root_path", required=False))
    timeout = _number(config, "timeout", DEFAULT_TIMEOUT, low=0.1, high=3600)
    retries = _number(config, "retries", DEFAULT_RETRIES, low=0, high=10)
    if retries != int(retries):
        raise _problem(f"retries must be a whole number, got {config.get('retries')!r}")
    backoff = _number(config, "retry_backoff", DEFAULT_BACKOFF, low=0, high=60)
    binding = _binding(config, url)
    ca_bundle = _string(config, "ca_bundle", required=False)
    if ca_bundle is not None and not os.path.exists(ca_bundle):
        raise _problem(f"ca_bundle {ca_bundle!r} does not exist")

    # Imported here, not at module level: cmislib is an optional extra.
    from grc_adapters.cmis.backend import CmisBackend

    return CmisBackend(
        url,
        user=user,
        password=password,
        repository_id=repository_id,
        root_path=root_path,
        timeout=timeout,
        retries=int(retries),
        retry_backoff=backoff,
        ca_bundle=ca_bundle,
        binding=binding,
    )


@hookimpl
def grc_register_storage_backends(register: RegisterStorageBackend) -> None:
    """Register ``cmis``."""
    register(
        NAME,
        make_cmis_backend,
        description="documents in a CMIS repository (Alfresco…), Browser or AtomPub binding",
        requires=("cmislib",),
        extra="cmis",
        settings=declare(ACCEPTED, secrets=("password",)),
    )
