"""GRC's own adapters: storage backends, content scanners and notification channels.

- storage backends (GED): ``local`` (disk, the embedded default), ``sharepoint``,
  ``cmis`` (Alfresco and other CMIS 1.1 servers), ``nuxeo``;
- content scanners: ``clamav``;
- notification channels: ``email``, ``sms``, ``inbox`` (on-screen alerts), ``push`` (Web
  Push), ``task`` (a To-do exchange), ``report`` (an HTML digest by e-mail).

Each sub-package is a plugin registered through the ``grc`` entry-point group in GRC's
``pyproject.toml``, exactly as a third-party plugin would be, and declares its settings;
nothing in :mod:`grc_core` imports them.
"""
