"""The configuration of the Nuxeo backend, checked before anything connects.

The values come from ``[grc.storage.nuxeo]`` in the configuration file (strings, numbers,
booleans) or from ``GRC_STORAGE__NUXEO__<KEY>`` environment variables (always strings), so
every number and boolean is also accepted as a string.  Errors are
:class:`~grc_core.errors.ConfigError` naming the key and what is accepted; they never repeat
the value of a secret (``password``, ``token``, ``bearer_token``), and neither does the
``repr`` of :class:`NuxeoSettings`.

This module imports no client library: the plugin checks a configuration with it before the
backend (and the ``nuxeo`` package) is loaded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grc_core.errors import ConfigError

MiB = 1024 * 1024

#: Every key the backend accepts.
ACCEPTED = (
    "url",
    "user",
    "password",
    "token",
    "bearer_token",
    "repository",
    "root_path",
    "chunk_size",
    "timeout",
    "retries",
    "backoff",
    "verify_tls",
    "spool_dir",
)
SECRETS = ("password", "token", "bearer_token")

DEFAULT_ROOT_PATH = "/default-domain/workspaces/CRM"
#: 5 MiB: ten requests for a 50 MiB file.  The client's uploader reads the next chunk
#: while still holding the previous one, so an upload's peak memory is about two chunks.
DEFAULT_CHUNK_SIZE = 5 * MiB
MIN_CHUNK_SIZE = 64 * 1024
#: Bounds the backend's peak memory (about twice the chunk size).
MAX_CHUNK_SIZE = 64 * MiB
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
MAX_RETRIES = 10
DEFAULT_BACKOFF = 0.5

_REPOSITORY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _problem(key: str, what: str) -> ConfigError:
    return ConfigError(f"the 'nuxeo' storage backend's {key} {what}")


@dataclass(frozen=True)
class NuxeoSettings:
    """A checked configuration of the Nuxeo backend; build it with :meth:`from_config`.

    :param url: the Nuxeo server, ending with ``/`` (``https://ged.example.com/nuxeo/``).
    :param user: the user name, with ``password`` (basic authentication).
    :param password: the password of ``user``.
    :param token: a Nuxeo authentication token (``X-Authentication-Token``).
    :param bearer_token: a JSON Web Token obtained elsewhere (``Authorization: Bearer``).
    :param repository: the repository name (``default``).
    :param root_path: the folder under which GRC files its documents.
    :param chunk_size: the size of upload chunks, in bytes.
    :param timeout: seconds to wait for the server on each request (connect and read).
    :param retries: how many times a request that is safe to repeat is repeated.
    :param backoff: the first pause between repetitions, in seconds (then doubled).
    :param verify_tls: check the server's TLS certificate (default).  A private CA is
        given to ``requests`` with the ``REQUESTS_CA_BUNDLE`` environment variable: the
        nuxeo client passes only ``True``/``False`` to each request, so a bundle path set
        here would be dropped silently.
    :param spool_dir: where uploads are spooled before sending (the system's temp dir).
    """

    url: str
    repository: str = "default"
    root_path: str = DEFAULT_ROOT_PATH
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    chunk_size: int = DEFAULT_CHUNK_SIZE
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    verify_tls: bool = True
    spool_dir: str | None = None

    @property
    def auth_method(self) -> str:
        """``basic``, ``token`` or ``bearer``."""
        if self.token is not None:
            return "token"
        if self.bearer_token is not None:
            return "bearer"
        return "basic"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NuxeoSettings:
        """Check ``config`` (the ``[grc.storage.nuxeo]`` table) and build the settings.

        :raises ConfigError: an unknown or missing key, or a value of the wrong shape; the
            message names the key and what is accepted, never a secret's value.
        """
        unknown = sorted(str(k) for k in config if k not in ACCEPTED)
        if unknown:
            raise ConfigError(
                f"the 'nuxeo' storage backend has no setting {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(ACCEPTED)}"
            )
        user = _text(config, "user")
        password = _text(config, "password")
        token = _text(config, "token")
        bearer = _text(config, "bearer_token")
        methods = [m for m, on in (("user/password", user or password), ("token", token),
                                   ("bearer_token", bearer)) if on]  # fmt: skip
        if len(methods) != 1:
            raise ConfigError(
                "the 'nuxeo' storage backend needs exactly one way to authenticate: user and "
                "password, or token (a Nuxeo authentication token), or bearer_token (a JWT); "
                + (f"got {' and '.join(methods)}" if methods else "none is set")
            )
        if (user is None) != (password is None):
            raise ConfigError(
                "the 'nuxeo' storage backend's basic authentication needs both user and "
                f"password; {'password' if user else 'user'} is missing"
            )
        return cls(
            url=_url(config.get("url")),
            repository=_repository(config.get("repository", "default")),
            root_path=_root_path(config.get("root_path", DEFAULT_ROOT_PATH)),
            user=user,
            password=password,
            token=token,
            bearer_token=bearer,
            chunk_size=_integer(
                config, "chunk_size", DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, "bytes"
            ),
            timeout=_number(config, "timeout", DEFAULT_TIMEOUT, low=0.001, high=3600.0),
            retries=_integer(config, "retries", DEFAULT_RETRIES, 0, MAX_RETRIES, "repetitions"),
            backoff=_number(config, "backoff", DEFAULT_BACKOFF, low=0.0, high=60.0),
            verify_tls=_verify(config.get("verify_tls", True)),
            spool_dir=_text(config, "spool_dir"),
        )


def _text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        # Never show a secret's value, even a mistyped one.
        shown = "" if key in SECRETS else f", not {value!r}"
        raise _problem(key, f"must be a string{shown}")
    return value


def _url(value: object) -> str:
    if value is None or value == "":
        raise ConfigError(
            "the 'nuxeo' storage backend needs url, the address of the Nuxeo server, e.g. "
            "'https://ged.example.com/nuxeo/'"
        )
    if not isinstance(value, str):
        raise _problem("url", f"must be a string, not {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _problem("url", f"must be an http:// or https:// address, not {value!r}")
    if parts.username is not None or parts.password is not None:
        # The URL appears in messages and logs: credentials belong in user/password.
        raise _problem(
            "url", "must not contain credentials; set user and password (or token) instead"
        )
    if parts.query or parts.fragment:
        raise _problem("url", f"must not have a query or a fragment: {value!r}")
    return value if value.endswith("/") else value + "/"


def _repository(value: object) -> str:
    if not isinstance(value, str) or not _REPOSITORY.fullmatch(value):
        raise _problem(
            "repository", f"must be a repository name (letters, digits, _ and -), not {value!r}"
        )
    return value


def _root_path(value: object) -> str:
    if not isinstance(value, str):
        raise _problem("root_path", f"must be a string, not {type(value).__name__}")
    path = value.rstrip("/")
    segments = path.split("/")[1:]
    if (
        not path.startswith("/")
        or not segments
        or any(s in ("", ".", "..") for s in segments)
        or _CONTROL.search(path)
    ):
        raise _problem(
            "root_path",
            f"must be an absolute Nuxeo path such as {DEFAULT_ROOT_PATH!r} (no empty, '.' or "
            f"'..' segment, no control character), not {value!r}",
        )
    return path


def _integer(
    config: Mapping[str, Any], key: str, default: int, low: int, high: int, unit: str
) -> int:
    value = config.get(key, default)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise _problem(key, f"must be a whole number of {unit} from {low} to {high}, not {value!r}")
    return number


def _number(
    config: Mapping[str, Any], key: str, default: float, *, low: float, high: float
) -> float:
    value = config.get(key, default)
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or math.isnan(number) or not low <= number <= high:
        raise _problem(key, f"must be a number of seconds from {low:g} to {high:g}, not {value!r}")
    return number


def _verify(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
    raise _problem(
        "verify_tls",
        f"must be true or false, not {value!r} (a private CA goes in REQUESTS_CA_BUNDLE)",
    )
