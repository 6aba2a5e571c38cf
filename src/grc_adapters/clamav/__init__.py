"""ClamAV: a scanner that streams every upload to ``clamd`` (``INSTREAM``) before it is stored.

See :mod:`grc_adapters.clamav.scanner` for the protocol and
:mod:`grc_adapters.clamav.plugin` for the configuration.
"""

from grc_adapters.clamav.scanner import ClamdScan, ClamdScanner, ScannerUnavailable

__all__ = ["ClamdScan", "ClamdScanner", "ScannerUnavailable"]
