"""The scanner protocol: an antivirus (or any content check) that may refuse a file.

Scanners are registered by plugins through
:func:`grc_core.plugins.hookspecs.grc_register_scanners`.  The attachment service streams
every upload through each registered scanner **before** the blob is stored, chunk by chunk,
without holding the file in memory — hence the streaming shape::

    scan = scanner.start()
    try:
        for chunk in chunks:          # the same chunks that are hashed and stored
            scan.feed(chunk)
        verdict = scan.finish()       # ScanVerdict(clean=False, reason="Eicar-Test-Signature")
    finally:
        scan.close()

A scanner that cannot decide (daemon down, timeout) raises from ``feed`` or ``finish``; the
attachment service then refuses the file (it fails closed: an unscanned file is not stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ScanVerdict:
    """The outcome of scanning one file.

    :param clean: ``True`` when the file may be stored.
    :param reason: why it was refused (a signature name…), shown to the user; empty when
        clean.
    """

    clean: bool
    reason: str = ""


@runtime_checkable
class Scan(Protocol):
    """The scan of one file, fed chunk by chunk.  Used once, from one thread."""

    def feed(self, chunk: bytes) -> None:
        """Scan the next chunk of the file (chunks arrive in order, each at most 1 MiB)."""
        ...

    def finish(self) -> ScanVerdict:
        """The verdict, once every chunk was fed.  Called at most once."""
        ...

    def close(self) -> None:
        """Release what the scan holds (a socket…); always called, after ``finish`` or on
        failure.  Calling it twice is harmless."""
        ...


@runtime_checkable
class Scanner(Protocol):
    """A content scanner; :meth:`start` begins the scan of one file.

    A scanner object is shared: several uploads may each hold a :class:`Scan` at once, so
    per-file state belongs to the scan, not to the scanner.
    """

    #: The name the scanner is registered under.
    name: str

    def start(self) -> Scan:
        """Begin scanning a new file."""
        ...
