"""Peak memory of attaching a 1 MB and a 200 MB file: it must not grow with the file.

Run with ``make bench-attach`` (or ``.venv/bin/python benchmarks/attach_memory.py``).  Each
size is attached in a fresh process (SQLite + local disk, the embedded default, with the
size limit raised) and the process's peak resident memory is reported.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

MB = 1024 * 1024


class GeneratedPdf(io.RawIOBase):
    """A PDF of ``size`` bytes produced as it is read (the upload never exists whole)."""

    def __init__(self, size: int) -> None:
        from grc_core.files import samples

        self.size, self.pos, self.head = size, 0, samples.pdf("benchmark")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        chunk = bytearray(b"%" * n)
        if self.pos < len(self.head):
            part = self.head[self.pos : self.pos + n]
            chunk[: len(part)] = part
        buffer[:n] = chunk
        self.pos += n
        return n


def measure(size: int) -> dict[str, float]:
    """Attach one file of ``size`` bytes in this process; report time and peak memory."""
    from grc_adapters.local.backend import LocalDiskBackend
    from grc_core import Grc
    from grc_core.backends import Backends
    from grc_core.services import attachments, exchanges, users

    folder = Path(tempfile.mkdtemp(prefix="grc-bench-"))
    backends = Backends.of({"local": LocalDiskBackend(folder / "blobs")}, "local")
    with Grc.from_url(
        f"sqlite:///{folder / 'bench.sqlite3'}",
    ) as grc:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="A", is_admin=True)
            attachments.set_policy(s, admin, max_size=size + MB)
            start = datetime(2026, 1, 1, tzinfo=UTC)
            ex = exchanges.create_exchange(s, admin, subject="b", start=start, action="note")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began = time.perf_counter()
        with grc.acting_as("admin") as work:
            attachments.attach(
                work.session, work.actor, backends,
                io.BufferedReader(GeneratedPdf(size), buffer_size=MB), "gros.pdf",
                exchange_id=ex.id,
            )  # fmt: skip
        elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size_mb": size / MB, "peak_rss_mb": peak, "before_mb": before, "seconds": elapsed}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    rows = []
    for size in (1 * MB, 200 * MB):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        rows.append(json.loads(out))
    print(f"{'file':>8} {'peak RSS':>10} {'RSS before':>11} {'time':>8} {'MB/s':>7}")
    for r in rows:
        print(
            f"{r['size_mb']:>6.0f}MB {r['peak_rss_mb']:>8.1f}MB {r['before_mb']:>9.1f}MB "
            f"{r['seconds']:>7.2f}s {r['size_mb'] / r['seconds']:>7.0f}"
        )
    delta = rows[1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]
    print(f"peak memory difference 200 MB vs 1 MB: {delta:+.1f} MB")


if __name__ == "__main__":
    main()
