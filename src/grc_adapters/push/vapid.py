"""The server's VAPID key (RFC 8292): the P-256 key every push message is signed with.

Browsers subscribe with its public half (the *application server key*, served at
``/api/v1/push/key``); push services check each message's signature against it.  The private
key is a PEM file: ``[grc.channels.push] vapid_private_key``, by default
``vapid_private.pem`` next to the configuration file, created by ``grc push keys``.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from grc_core.config import default_config_path
from grc_core.errors import ConfigError

KEY_FILE = "vapid_private.pem"


def default_key_path() -> Path:
    """``vapid_private.pem`` in the configuration folder."""
    return default_config_path().parent / KEY_FILE


def key_path(config: Mapping[str, Any]) -> Path:
    """The private key file the push channel's configuration names (or the default)."""
    named = config.get("vapid_private_key")
    if isinstance(named, str) and named.strip():
        return Path(named.strip()).expanduser()
    return default_key_path()


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key in ``path``.

    :raises ConfigError: the file is missing, unreadable or holds another kind of key.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"the push channel's VAPID key {str(path)!r} cannot be read ({exc.strerror}); "
            "create one with `grc push keys`"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise ConfigError(f"{str(path)!r} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{str(path)!r} is not a P-256 (prime256v1) key, as VAPID needs")
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key: the uncompressed public point, base64url, no padding."""
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_key_file(path: Path, *, overwrite: bool = False) -> str:
    """Create a new key in ``path`` (readable by its owner only); its public key.

    :raises ConfigError: the file exists and ``overwrite`` is false (replacing the key
        invalidates every browser's subscription), or it cannot be written.
    """
    try:
        exists = path.exists()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(f"{str(path)!r} is not a usable file name: {exc}") from None
    if exists and not overwrite:
        raise ConfigError(
            f"{str(path)!r} exists; replacing it stops every device's alerts until they "
            "subscribe again (use --force to do it anyway)"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_pem(key))
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        with contextlib.suppress(OSError, ValueError):
            tmp.unlink(missing_ok=True)  # nothing half-written is left behind
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"the VAPID key cannot be written to {str(path)!r}: {reason}") from None
    return public_key_b64(key)


def application_server_key(config: Mapping[str, Any]) -> str | None:
    """The public key browsers subscribe with, or ``None`` when no key file exists.

    :raises ConfigError: the file exists but is not a usable key.
    """
    path = key_path(config)
    if not path.exists():
        return None
    return public_key_b64(load_private_key(path))
