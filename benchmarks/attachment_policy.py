"""Throughput and peak memory of the full attachment policy on large genuine files.

Files made by the real libraries: PDFs from reportlab (pages of text and photos), DOCX from
python-docx (paragraphs and pictures), JPEG photos from Pillow with EXIF and GPS.  Each file
is attached in a fresh process (SQLite and local disk, the embedded default), through every
rule — sniffing, inflating the package, parsing the PDF, decoding the image and, for the
photo from the mobile app, stripping its metadata — without a virus scanner, then with a
real clamd (started here on a temporary socket with a one-signature database).  Two sizes of
each kind show whether memory grows with the file: it must not.

Run: ``.venv/bin/python benchmarks/attachment_policy.py`` (``--no-clamd`` to skip clamd).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

MB = 1024 * 1024


# --- files ----------------------------------------------------------------------------------


def _noise_jpeg(width: int, height: int, seed: int) -> bytes:
    """A photo-like JPEG that does not compress away (gradients and noise)."""
    from PIL import Image

    rng = random.Random(seed)
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    image = Image.blend(gradient, noise, 0.35)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def make_pdf(target: int, path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path), pagesize=A4)
    size, number = 0, 0
    while size < target:
        page.drawString(72, 800, f"Rapport de visite — page {number + 1}")
        for line in range(40):
            page.drawString(72, 780 - line * 14, f"Ligne {line} : relevé, mesures et remarques.")
        photo = _noise_jpeg(1200, 900, number)
        page.drawImage(ImageReader(io.BytesIO(photo)), 72, 72, width=450, height=330)
        page.showPage()
        size += len(photo) + 4000
        number += 1
    page.save()


def make_docx(target: int, path: Path) -> None:
    import docx
    from docx.shared import Cm

    document = docx.Document()
    size, number = 0, 0
    while size < target:
        document.add_heading(f"Chapitre {number + 1}", level=1)
        for line in range(200):
            document.add_paragraph(f"Paragraphe {line} du chapitre {number + 1} : texte courant.")
        photo = _noise_jpeg(1200, 900, 1000 + number)
        document.add_picture(io.BytesIO(photo), width=Cm(12))
        size += len(photo) + 6000
        number += 1
    document.save(str(path))


def make_photo(megapixels: int, path: Path) -> None:
    from PIL import Image

    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = megapixels * 1_000_000 // width
    with Image.open(io.BytesIO(_noise_jpeg(width, height, megapixels))) as image:
        exif = image.getexif()
        exif[0x010F] = "PhoneMaker"
        exif[0x0112] = 6
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.6), 3: "E", 4: (2.0, 17.0, 40.2)}
        image.save(path, "JPEG", quality=92, exif=exif.tobytes())


# --- one measurement, in a fresh process ----------------------------------------------------


def measure(path: Path, origin: str | None, clamd_socket: str | None) -> dict[str, float]:
    from grc_adapters.clamav.scanner import ClamdAddress, ClamdScanner
    from grc_adapters.local.backend import LocalDiskBackend
    from grc_core import Grc
    from grc_core.backends import Backends
    from grc_core.services import attachments, exchanges, users

    folder = Path(tempfile.mkdtemp(prefix="grc-bench-policy-"))
    scanners = []
    if clamd_socket:
        scanners = [ClamdScanner(ClamdAddress(path=clamd_socket), timeout=120)]
    backends = Backends.of({"local": LocalDiskBackend(folder / "blobs")}, "local")
    try:
        with Grc.from_url(f"sqlite:///{folder / 'bench.sqlite3'}") as grc:
            grc.upgrade()
            with grc.session() as s:
                admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
                attachments.set_policy(s, admin, max_size=64 * MB)
                start = datetime(2026, 1, 1, tzinfo=UTC)
                ex = exchanges.create_exchange(s, admin, subject="b", start=start, action="note")
            sampler = RssSampler()
            began = time.perf_counter()
            with sampler, grc.acting_as("admin") as work, path.open("rb") as stream:
                stored = attachments.attach(
                    work.session, work.actor, backends, stream, path.name,
                    exchange_id=ex.id, scanners=scanners, origin=origin,
                )  # fmt: skip
                size = stored.size
            elapsed = time.perf_counter() - began
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "file_mb": path.stat().st_size / MB,
        "stored_mb": size / MB,
        "seconds": elapsed,
        "rss_before_mb": sampler.baseline / MB,
        "rss_peak_mb": sampler.peak / MB,
    }


def _rss() -> int:
    """The process's current resident memory, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class RssSampler:
    """Samples the resident memory every 2 ms while the block runs: its baseline and peak.

    The process's high-water mark (``ru_maxrss``) is no use here: setting up the database
    and importing the libraries already exceed what one attachment needs.
    """

    def __init__(self) -> None:
        self.baseline = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> RssSampler:
        self.baseline = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


# --- clamd ----------------------------------------------------------------------------------


def start_clamd(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    from grc_adapters.clamav.scanner import ClamdAddress, ClamdScanner, ScannerUnavailable

    database = folder / "db"
    database.mkdir()
    (database / "bench.ndb").write_text("Grc-Bench:0:*:4752432d42454e43482d5349474e4154555245\n")
    sock = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"LocalSocket {sock}\nDatabaseDirectory {database}\nTemporaryDirectory {folder}\n"
        f"Foreground yes\nUser {'root' if os.geteuid() == 0 else os.environ.get('USER')}\n"
        "StreamMaxLength 64M\nMaxFileSize 64M\nMaxScanSize 256M\n"
    )
    clamd = shutil.which("clamd") or "/usr/sbin/clamd"
    process = subprocess.Popen(
        [clamd, "-c", str(folder / "clamd.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    scanner = ClamdScanner(ClamdAddress(path=str(sock)), timeout=2)
    deadline = time.monotonic() + 60
    while True:
        try:
            scanner.ping()
            return process, str(sock)
        except ScannerUnavailable:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("clamd did not start") from None
            time.sleep(0.2)


# --- the table ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("PATH", "ORIGIN", "SOCKET"))
    parser.add_argument("--no-clamd", action="store_true", help="measure without clamd only")
    args = parser.parse_args()
    if args.child:
        path, origin, sock = args.child
        result = measure(
            Path(path), None if origin == "-" else origin, None if sock == "-" else sock
        )
        print(json.dumps(result))
        return

    folder = Path(tempfile.mkdtemp(prefix="grc-bench-files-"))
    files: list[tuple[str, Path, str]] = []
    print("making the files…", file=sys.stderr)
    for label, target in (("5 MB", 5 * MB), ("20 MB", 20 * MB)):
        make_pdf(target, folder / f"rapport-{target // MB}.pdf")
        files.append((f"PDF {label}", folder / f"rapport-{target // MB}.pdf", "-"))
        make_docx(target, folder / f"dossier-{target // MB}.docx")
        files.append((f"DOCX {label}", folder / f"dossier-{target // MB}.docx", "-"))
    for megapixels in (3, 12):
        make_photo(megapixels, folder / f"photo-{megapixels}mp.jpg")
        files.append((f"JPEG {megapixels} MP", folder / f"photo-{megapixels}mp.jpg", "-"))
        files.append((f"JPEG {megapixels} MP, app", folder / f"photo-{megapixels}mp.jpg", "mobile"))
    runs = [("-", "no scanner")]
    clamd = None
    if not args.no_clamd:
        clamd, sock = start_clamd(folder)
        runs.append((sock, "clamd"))
    try:
        print(
            f"{'file':<20} {'scanner':<11} {'size':>8} {'stored':>8} {'time':>7} {'MB/s':>6} "
            f"{'RSS before':>11} {'RSS peak':>9} {'growth':>8}"
        )
        for sock, scanner_label in runs:
            for label, path, origin in files:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), origin, sock],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                r = json.loads(out)
                print(
                    f"{label:<20} {scanner_label:<11} {r['file_mb']:>6.1f}MB "
                    f"{r['stored_mb']:>6.1f}MB "
                    f"{r['seconds']:>6.2f}s {r['file_mb'] / r['seconds']:>6.1f} "
                    f"{r['rss_before_mb']:>9.1f}MB {r['rss_peak_mb']:>7.1f}MB "
                    f"{r['rss_peak_mb'] - r['rss_before_mb']:>+6.1f}MB",
                    flush=True,
                )
    finally:
        if clamd is not None:
            clamd.terminate()
            clamd.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
