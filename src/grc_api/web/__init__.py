"""The mobile web application, served at ``/`` from the built files in ``static/``."""

from grc_api.web.serving import STATIC_ROOT, WEB_CSP, web_router

__all__ = ["STATIC_ROOT", "WEB_CSP", "web_router"]
