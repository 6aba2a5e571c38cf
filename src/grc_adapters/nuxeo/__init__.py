"""The Nuxeo storage backend (entry point ``nuxeo``, extra ``grc-exchanges[nuxeo]``).

Attachments become ``File`` documents of a Nuxeo repository, filed in a folder per company
and per exchange, uploaded through Nuxeo's chunked batch upload and read back as streams.
See ``docs/backends/nuxeo.md``.

This package stays light on purpose: ``grc_adapters.nuxeo.plugin`` is imported every time
GRC loads its plugins, so nothing here imports the ``nuxeo`` client library.  The backend
(:mod:`grc_adapters.nuxeo.backend`) imports it through :mod:`grc_adapters.nuxeo._client`,
which works around the library's ``jwt`` import (see that module).
"""
