"""The SharePoint backend's settings: parsed and checked before anything connects.

The configuration arrives as the ``[grc.storage.sharepoint]`` table of the GRC
configuration, overridden by ``GRC_STORAGE__SHAREPOINT__<KEY>`` environment variables (whose
values are always strings, hence the tolerant number parsing).  Every mistake is a
:class:`~grc_core.errors.ConfigError` that names the key and what is accepted, and never
echoes a secret value (an access token, a passphrase, the content or path of the private
key).

This module imports nothing from ``office365``: ``grc`` can check a configuration without the
SharePoint client installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from grc_core.errors import ConfigError

KiB = 1024
MiB = 1024 * KiB

DEFAULT_LIBRARY = "Shared Documents"
DEFAULT_ROOT_FOLDER = "CRM"
#: 10 MiB, the fragment size of Microsoft's own upload-session samples.
DEFAULT_CHUNK_SIZE = 10 * MiB
MIN_CHUNK_SIZE = 64 * KiB
MAX_CHUNK_SIZE = 250 * MiB
DEFAULT_TIMEOUT = 60.0
#: Connecting should be quick even when a transfer may legitimately take a while.
MAX_CONNECT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_RETRY_BACKOFF = 0.5
#: The longest SharePoint may make one operation wait by throttling (429/503 with
#: ``Retry-After``), in seconds, all its waits added up.  SharePoint Online asks for
#: minutes at a time under heavy load; a bulk migration must wait, not fail.
DEFAULT_MAX_RETRY_WAIT = 300.0
MAX_MAX_RETRY_WAIT = 3600.0

#: Optional library columns that receive a document's metadata, by configuration key.
COLUMN_SETTINGS = {
    "column_reference": "core_key",
    "column_exchange": "exchange_id",
    "column_author": "author",
    "column_subject": "subject",
    "column_company": "company",
}
_CERTIFICATE_KEYS = ("tenant", "client_id", "thumbprint", "cert_path")
#: The APIs the backend speaks: SharePoint's REST API (``/_api``) or Microsoft Graph.
APIS = ("rest", "graph")
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
ACCEPTED = (
    "site_url",
    "library",
    "root_folder",
    *_CERTIFICATE_KEYS,
    "cert_passphrase",
    "authority",
    "access_token",
    "client_secret",
    "graph_url",
    "chunk_size",
    "timeout",
    "retries",
    "retry_backoff",
    "max_retry_wait",
    "api",
    *COLUMN_SETTINGS,
)

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SIZE = re.compile(r"\s*(\d+)\s*(KiB|MiB)?\s*", re.IGNORECASE)
# What a folder name in the configuration may not hold (SharePoint refuses these).
_BAD_NAME = re.compile(r'[~"#%&*:<>?\\{|}\x00-\x1f]')
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _fail(problem: str) -> ConfigError:
    return ConfigError(f"the 'sharepoint' storage backend: {problem}")


@dataclass(frozen=True)
class SharePointSettings:
    """Checked settings of a :class:`~grc_adapters.sharepoint.backend.SharePointBackend`.

    Secret values are kept out of ``repr`` (and so out of logs and tracebacks).

    :param site_url: the site, ``https://contoso.sharepoint.com/sites/crm``.
    :param library: the document library's URL name, ``Shared Documents`` for the default
        "Documents" library.
    :param root_folder: the folder (or ``/``-separated path) inside the library that holds
        GRC's tree.
    :param access_token: a bearer token used as is (tests, or a host that obtains tokens
        itself); otherwise the certificate settings are used.
    :param chunk_size: the upload-session fragment size, in bytes.
    :param timeout: seconds to wait for SharePoint on each request.
    :param retries: how many times a request that is safe to repeat is retried.
    :param retry_backoff: the first pause between retries, in seconds (doubled each time).
    :param max_retry_wait: the longest one operation waits for a throttled SharePoint
        (``Retry-After`` of 429/503 answers, added up), in seconds.
    :param columns: metadata name → internal name of the library column receiving it.
    :param api: ``rest`` (SharePoint's REST API) or ``graph`` (Microsoft Graph).
    :param client_secret: the app registration's client secret (Graph only: SharePoint's
        REST API refuses app-only tokens obtained with a secret).
    :param graph_url: Microsoft Graph's base URL (national clouds, tests).
    """

    site_url: str
    library: str = DEFAULT_LIBRARY
    root_folder: str = DEFAULT_ROOT_FOLDER
    tenant: str | None = None
    client_id: str | None = None
    thumbprint: str | None = None
    cert_path: Path | None = field(default=None, repr=False)
    cert_passphrase: str | None = field(default=None, repr=False)
    authority: str | None = None
    access_token: str | None = field(default=None, repr=False)
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    columns: Mapping[str, str] = field(default_factory=dict)
    api: str = "rest"
    client_secret: str | None = field(default=None, repr=False)
    graph_url: str = DEFAULT_GRAPH_URL

    @property
    def site_path(self) -> str:
        """The site's server-relative path, decoded (``/sites/crm``; ``""`` for a root site)."""
        return unquote(urlsplit(self.site_url).path).rstrip("/")

    @property
    def library_path(self) -> str:
        """The library's server-relative path (``/sites/crm/Shared Documents``)."""
        return f"{self.site_path}/{self.library}"

    @property
    def root_path(self) -> str:
        """The server-relative path of GRC's root folder."""
        return f"{self.library_path}/{self.root_folder}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message."""
        return tuple(s for s in (self.access_token, self.cert_passphrase, self.client_secret) if s)


def _text(config: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = config.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"{key} must be a string, not {type(value).__name__}")
    value = value.strip()
    return value or None


def _int(config: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = config.get(key, default)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value)
        if match:
            unit = (match.group(2) or "").lower()
            number = int(match.group(1)) * {"": 1, "kib": KiB, "mib": MiB}[unit]
    if number is None or not low <= number <= high:
        raise _fail(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    return number


def _float(config: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    # ``not low <= number`` also refuses NaN.
    if number is None or not low <= number <= high:
        raise _fail(f"{key} must be a number of seconds from {low:g} to {high:g}, got {value!r}")
    return number


def _site_url(value: str | None) -> str:
    if value is None:
        raise _fail("site_url is required, e.g. 'https://contoso.sharepoint.com/sites/crm'")
    parts = urlsplit(value)
    local = parts.hostname in _LOCAL_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise _fail(
            f"site_url must be an https:// URL (plain http only for a local test server), "
            f"got {value!r}"
        )
    if not parts.hostname or parts.query or parts.fragment:
        raise _fail(f"site_url must be a site address without query or fragment, got {value!r}")
    if parts.hostname.casefold() == "graph.microsoft.com" or "/_api" in parts.path.casefold():
        # Accepted, these would fail at the first request with an unhelpful 400/404.
        raise _fail(
            f"site_url must be the SharePoint site's own address, such as "
            f"'https://contoso.sharepoint.com/sites/crm', not an API endpoint ({value!r}): "
            "the backend speaks SharePoint's REST API under that site (to go through "
            "Microsoft Graph, set api = 'graph')"
        )
    return value.rstrip("/")


_GRAPH_SITE = re.compile(r"/(v1\.0|beta)/sites/([A-Za-z0-9.-]+):(/[^?#]*)?")


def _graph_site(value: str) -> tuple[str, str]:
    """In Graph mode, a Graph site address (``…/v1.0/sites/{host}:/{path}``) is accepted:
    ``(the SharePoint site's own address, the Graph base URL)``.  Anything else is returned
    as it is (and checked as a site address)."""
    parts = urlsplit(value)
    if (parts.hostname or "").casefold() != "graph.microsoft.com":
        return value, DEFAULT_GRAPH_URL
    match = _GRAPH_SITE.fullmatch(parts.path.rstrip("/"))
    if match is None or parts.query or parts.fragment:
        raise _fail(
            f"site_url {value!r} is a Microsoft Graph address but not a site's: use the "
            "SharePoint site's address ('https://contoso.sharepoint.com/sites/crm'), or "
            "'https://graph.microsoft.com/v1.0/sites/contoso.sharepoint.com:/sites/crm'"
        )
    version, host, path = match.groups()
    return f"https://{host}{(path or '').rstrip('/')}", f"https://graph.microsoft.com/{version}"


def _folder_path(key: str, value: str) -> str:
    segments = [s for s in value.strip("/").split("/")]
    for segment in segments:
        if (
            not segment
            or segment != segment.strip(" .")
            or _BAD_NAME.search(segment)
            or segment.lower().startswith("_vti_")
        ):
            raise _fail(
                f"{key} {value!r} is not a valid SharePoint folder path: segments separated by "
                "'/', none empty, none starting or ending with a space or a dot, without "
                '~ " # % & * : < > ? \\ { | }'
            )
    return "/".join(segments)


def _certificate(config: Mapping[str, Any]) -> dict[str, Any]:
    values = {key: _text(config, key) for key in _CERTIFICATE_KEYS}
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise _fail(
            f"certificate authentication needs {', '.join(_CERTIFICATE_KEYS)}; missing: "
            f"{', '.join(missing)} (or set access_token to use a ready-made token)"
        )
    client_id = values["client_id"]
    if not _GUID.fullmatch(client_id or ""):
        raise _fail(f"client_id must be the application (client) id, a GUID, got {client_id!r}")
    thumbprint = re.sub(r"[\s:]", "", values["thumbprint"] or "").upper()
    if not _HEX.fullmatch(thumbprint):
        raise _fail(
            "thumbprint must be the certificate's SHA-1 thumbprint as shown in Entra ID "
            "(40 hexadecimal digits)"
        )
    path = Path(str(values["cert_path"])).expanduser()
    try:
        head = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        # The path itself is not echoed: configuration keys naming a certificate are
        # treated as secrets everywhere in GRC.
        raise _fail("cert_path does not point to a readable file") from None
    if "PRIVATE KEY-----" not in head:
        raise _fail(
            "cert_path must point to a PEM file holding the certificate's private key "
            "('-----BEGIN PRIVATE KEY-----'); the .cer/.crt file uploaded to Entra ID is "
            "not enough"
        )
    return {
        "tenant": values["tenant"],
        "client_id": client_id,
        "thumbprint": thumbprint,
        "cert_path": path,
        "cert_passphrase": _text(config, "cert_passphrase"),
    }


def parse_settings(config: Mapping[str, Any]) -> SharePointSettings:
    """Check ``config`` (the backend's table) and return the settings.

    :raises ConfigError: an unknown key, a missing or malformed value, or an ambiguous
        authentication; the message lists what is accepted and holds no secret.
    """
    unknown = sorted(k for k in config if k not in ACCEPTED)
    api = (_text(config, "api", "rest") or "rest").lower()
    if api not in APIS:
        raise _fail(f"api must be 'rest' (SharePoint's REST API) or 'graph', got {api!r}")
    if api == "rest" and config.get("client_secret") not in (None, ""):
        raise _fail(
            "client_secret is not supported with api = 'rest': SharePoint Online refuses "
            "app-only tokens obtained with a client secret; register a certificate for the "
            "application and set tenant, client_id, thumbprint and cert_path, or use "
            "api = 'graph' (Microsoft Graph accepts client secrets)"
        )
    if api == "rest" and config.get("graph_url") not in (None, ""):
        raise _fail("graph_url is only used with api = 'graph'")
    if unknown:
        raise _fail(
            f"unknown setting(s) {', '.join(map(repr, unknown))}; accepted: {', '.join(ACCEPTED)}"
        )
    raw_site = _text(config, "site_url")
    graph_default = DEFAULT_GRAPH_URL
    if api == "graph" and raw_site is not None:
        raw_site, graph_default = _graph_site(raw_site)
    site_url = _site_url(raw_site)
    library = _folder_path("library", _text(config, "library", DEFAULT_LIBRARY) or "")
    if "/" in library:
        raise _fail(f"library must be the library's URL name, without '/', got {library!r}")
    root_folder = _folder_path(
        "root_folder", _text(config, "root_folder", DEFAULT_ROOT_FOLDER) or ""
    )
    if root_folder.split("/", 1)[0].casefold() == "forms":
        raise _fail("root_folder cannot be 'Forms', which every library reserves")

    token = _text(config, "access_token")
    secret = _text(config, "client_secret")
    uses_certificate = any(config.get(key) not in (None, "") for key in ("thumbprint", "cert_path"))
    if token and (uses_certificate or secret):
        raise _fail(
            "set either access_token or the certificate settings (tenant, client_id, "
            "thumbprint, cert_path) or, with api = 'graph', a client_secret, not both"
        )
    if secret and uses_certificate:
        raise _fail("set either client_secret or a certificate (thumbprint, cert_path), not both")
    auth: dict[str, Any]
    if token:
        auth = {"access_token": token}
    elif secret:
        auth = _secret(config, secret)
    else:
        auth = _certificate(config)
    graph_url = _text(config, "graph_url", graph_default) or graph_default
    graph = urlsplit(graph_url)
    if graph.scheme != "https" and not (graph.scheme == "http" and graph.hostname in _LOCAL_HOSTS):
        raise _fail(f"graph_url must be an https:// URL, got {graph_url!r}")

    authority = _text(config, "authority")
    if authority is not None and urlsplit(authority).scheme != "https":
        raise _fail(f"authority must be an https:// URL, got {authority!r}")

    columns: dict[str, str] = {}
    for key, name in COLUMN_SETTINGS.items():
        column = _text(config, key)
        if column is None:
            continue
        if not _COLUMN.fullmatch(column):
            raise _fail(
                f"{key} must be the internal name of a library column (letters, digits and "
                f"'_'), got {column!r}"
            )
        columns[name] = column

    return SharePointSettings(
        site_url=site_url,
        library=library,
        root_folder=root_folder,
        authority=authority,
        chunk_size=_int(config, "chunk_size", DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
        timeout=_float(config, "timeout", DEFAULT_TIMEOUT, 0.05, 3600),
        retries=_int(config, "retries", DEFAULT_RETRIES, 0, 10),
        retry_backoff=_float(config, "retry_backoff", DEFAULT_RETRY_BACKOFF, 0, 60),
        max_retry_wait=_float(
            config, "max_retry_wait", DEFAULT_MAX_RETRY_WAIT, 0, MAX_MAX_RETRY_WAIT
        ),
        columns=columns,
        api=api,
        graph_url=graph_url.rstrip("/"),
        **auth,
    )


def _secret(config: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """Client-secret credentials (Microsoft Graph only)."""
    tenant, client_id = _text(config, "tenant"), _text(config, "client_id")
    if tenant is None or client_id is None:
        raise _fail("a client_secret needs tenant and client_id")
    if not _GUID.fullmatch(client_id):
        raise _fail(f"client_id must be the application (client) id, a GUID, got {client_id!r}")
    return {"tenant": tenant, "client_id": client_id, "client_secret": secret}
