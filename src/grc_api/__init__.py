"""The HTTP API of GRC exchanges (``grc serve``; ``pip install 'grc-exchanges[server]'``).

A host application mounts it in its own ASGI application::

    from grc_api import create_app
    app.mount("/grc", create_app(grc, identity_resolver=lambda request: request.user.login))
"""

from grc_api.app import create_app
from grc_api.settings import ApiSettings, OidcSettings

__all__ = ["ApiSettings", "OidcSettings", "create_app"]
