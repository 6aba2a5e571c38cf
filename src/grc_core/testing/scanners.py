"""Scanners for tests: recognise the EICAR antivirus test file without an antivirus.

The EICAR string is harmless by design: every antivirus reports it as a virus, so a test
can check that an infected upload is refused end to end.  :class:`EicarScanner` finds it
anywhere in a stream, even split across chunks, while holding only a few bytes.
"""

from __future__ import annotations

from grc_core.plugins.hookspecs import RegisterScanner
from grc_core.plugins.markers import hookimpl
from grc_core.plugins.scanning import ScanVerdict

#: The EICAR test string (68 bytes), written in two halves so that this source file does not
#: hold it verbatim for an over-eager antivirus on a developer's machine.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class EicarScan:
    """The scan of one file: remembers the tail of the last chunk to catch a split match."""

    def __init__(self, signature: bytes) -> None:
        self._signature = signature
        self._tail = b""
        self._found = False
        self.fed = 0  # bytes seen, so tests can check the whole file went through

    def feed(self, chunk: bytes) -> None:
        """Look for the signature in ``chunk`` (and across the previous chunk's end)."""
        self.fed += len(chunk)
        window = self._tail + chunk
        if self._signature in window:
            self._found = True
        keep = len(self._signature) - 1
        self._tail = window[-keep:] if keep else b""

    def finish(self) -> ScanVerdict:
        """Refused if the signature was seen."""
        if self._found:
            return ScanVerdict(clean=False, reason="Eicar-Test-Signature")
        return ScanVerdict(clean=True)

    def close(self) -> None:
        """Nothing to release."""


class EicarScanner:
    """A :class:`~grc_core.plugins.scanning.Scanner` that refuses files holding EICAR.

    :param name: the name it registers under.
    :param signature: the bytes to look for (EICAR by default).
    """

    def __init__(self, name: str = "eicar", signature: bytes = EICAR) -> None:
        self.name = name
        self.signature = signature
        self.started = 0

    def start(self) -> EicarScan:
        """Begin one scan."""
        self.started += 1
        return EicarScan(self.signature)


class EicarScannerPlugin:
    """A plugin registering an :class:`EicarScanner`, for ``make_plugin_manager(plugins=…)``.

    The scanner is kept in :attr:`scanner` so a test can look at what it saw.
    """

    def __init__(self, scanner: EicarScanner | None = None) -> None:
        self.scanner = scanner or EicarScanner()

    @hookimpl
    def grc_register_scanners(self, register: RegisterScanner) -> None:
        """Register the scanner."""
        register(self.scanner.name, self.scanner)
