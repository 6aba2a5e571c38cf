"""Import the ``nuxeo`` client library without its OAuth2 module (the jwt/PyJWT conflict).

The problem
    ``nuxeo/auth/__init__.py`` (every 6.x and 7.x release, 7.1.0 included) always runs
    ``from .oauth2 import OAuth2``, and ``nuxeo/auth/oauth2.py`` imports ``authlib`` and
    ``from jwt import JWT``: the ``jwt`` *distribution* (python-jwt).  That distribution
    installs a ``jwt/`` package, exactly like ``PyJWT`` does, and ``msal`` — which
    office365-rest-python-client uses for SharePoint certificate authentication — needs
    PyJWT's.  Whichever is installed last overwrites the other's files, and ``pip check``
    sees nothing wrong.  nuxeo 7.1.0 only declares ``authlib`` and ``jwt`` in its ``oauth2``
    extra, so a plain ``pip install nuxeo`` leaves them out, and then ``import nuxeo.client``
    fails with ``ModuleNotFoundError: No module named 'authlib'``.

The way out
    GRC never installs ``nuxeo[oauth2]``, and imports the library through :func:`load`,
    which first registers a stand-in module under ``nuxeo.auth.oauth2`` in
    :data:`sys.modules`.  Python's import system then takes the stand-in instead of running
    ``oauth2.py``, so neither ``authlib`` nor any ``jwt`` package is imported by the Nuxeo
    adapter, and PyJWT stays the only ``jwt`` in the environment.  Nothing else is touched:
    the rest of ``nuxeo.auth`` (:class:`~nuxeo.auth.BasicAuth`, ``TokenAuth``, ``JWTAuth``,
    ``PortalSSOAuth``) is the library's own code.  ``JWTAuth`` only sends
    ``Authorization: Bearer <token>`` — it needs no ``jwt`` package at all.

    The stand-in's ``OAuth2`` raises :class:`~grc_core.errors.ConfigError` when used:
    OAuth2 against Nuxeo is not supported by GRC.  If the host application imported
    ``nuxeo`` itself before GRC did (with a working OAuth2 module), :func:`load` leaves
    everything as it is.
"""

from __future__ import annotations

import sys
import types
from typing import Any, NoReturn

from grc_core.errors import ConfigError

#: The module the stand-in replaces.
OAUTH2_MODULE = "nuxeo.auth.oauth2"

OAUTH2_UNSUPPORTED = (
    "OAuth2 authentication to Nuxeo is not supported by GRC: the nuxeo client's OAuth2 "
    "module needs the 'jwt' distribution, which would replace PyJWT (used by msal for "
    "SharePoint certificate authentication). Authenticate with a Nuxeo token (token = …), "
    "a user and password, or a bearer_token obtained elsewhere."
)


class OAuth2Unsupported:
    """Stands for ``nuxeo.auth.OAuth2``; refuses to be used, saying why."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise ConfigError(OAUTH2_UNSUPPORTED)

    def __init_subclass__(cls, **_kwargs: Any) -> NoReturn:
        raise ConfigError(OAUTH2_UNSUPPORTED)


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(
        OAUTH2_MODULE,
        "Stand-in registered by grc_adapters.nuxeo._client: OAuth2 is not supported.",
    )
    module.OAuth2 = OAuth2Unsupported  # type: ignore[attr-defined]
    module.__grc_stand_in__ = True  # type: ignore[attr-defined]
    return module


def oauth2_is_stand_in() -> bool:
    """Whether the loaded ``nuxeo.auth.oauth2`` is GRC's stand-in."""
    module = sys.modules.get(OAUTH2_MODULE)
    return bool(getattr(module, "__grc_stand_in__", False))


def load() -> types.ModuleType:
    """Import and return ``nuxeo.client`` (and so ``nuxeo.auth``) without ``oauth2.py``.

    Safe to call many times, and from code that imported ``nuxeo`` already.

    :raises ModuleNotFoundError: the ``nuxeo`` package (or ``packaging``, which it imports
        without declaring it) is not installed.
    """
    if "nuxeo.auth" not in sys.modules:
        # setdefault: an OAuth2 module that is already loaded (the host's) is kept.
        sys.modules.setdefault(OAUTH2_MODULE, _stand_in())
    import nuxeo.auth
    import nuxeo.client

    if oauth2_is_stand_in() and not hasattr(nuxeo.auth, "oauth2"):
        # The import system binds a submodule to its package only when it loads it itself.
        nuxeo.auth.oauth2 = sys.modules[OAUTH2_MODULE]
    # ``nuxeo`` ships no types (its names are Any): the module object is typed here.
    client: types.ModuleType = nuxeo.client
    return client
