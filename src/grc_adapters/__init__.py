"""GRC's own adapters: storage backends (and, later, notification channels).

Each sub-package is a plugin registered through the ``grc`` entry-point group in GRC's
``pyproject.toml``, exactly as a third-party plugin would be; nothing in :mod:`grc_core`
imports them.
"""
