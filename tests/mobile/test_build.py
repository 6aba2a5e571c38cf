"""The committed build of the mobile web app matches its sources (no Node.js needed).

``web/build.mjs`` writes ``build-info.json`` with a SHA-256 over ``web/src``, the lock file
and the build script, and the SHA-256 of each file it wrote; these tests recompute both, so
a source edited without ``make web`` (or a built file edited by hand) fails here.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STATIC = ROOT / "src" / "grc_api" / "web" / "static"
INFO = json.loads((STATIC / "build-info.json").read_text())


def sources_digest() -> str:
    """The digest build.mjs computes: each path (relative to web/) then its bytes, in order."""
    files = [p for p in (WEB / "src").rglob("*") if p.is_file()]
    files += [WEB / "package-lock.json", WEB / "build.mjs"]
    names = sorted(p.relative_to(WEB).as_posix() for p in files)
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((WEB / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def test_committed_build_was_made_from_these_sources() -> None:
    assert INFO["sources_sha256"] == sources_digest(), "web/ changed: run `make web` and commit"


def test_every_built_file_is_the_one_the_build_wrote() -> None:
    on_disk = {
        p.relative_to(STATIC).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in STATIC.rglob("*")
        if p.is_file() and p.name != "build-info.json"
    }
    assert on_disk == INFO["files"]


def test_shell_has_no_inline_script_or_style_and_hashed_assets() -> None:
    html = (STATIC / "index.html").read_text()
    # The content security policy allows scripts and styles from files only.
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html and " style=" not in html
    assets = re.findall(r'(?:src|href)="/(assets/[^"]+)"', html)
    assert len(assets) == 2
    for asset in assets:
        assert re.fullmatch(r"assets/app-[0-9a-f]{12}\.(js|css)", asset)
        digest = hashlib.sha256((STATIC / asset).read_bytes()).hexdigest()
        assert asset.split("-")[1].startswith(digest[:12])


def test_manifest_makes_the_app_installable() -> None:
    manifest = json.loads((STATIC / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/")
    assert manifest["theme_color"]
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert (STATIC / icon["src"].lstrip("/")).is_file()


def test_service_worker_precaches_the_shell() -> None:
    sw = (STATIC / "sw.js").read_text()
    for name in INFO["files"]:
        if name != "sw.js":
            assert f'"/{name}"' in sw, name


def test_javascript_and_css_stay_within_the_mobile_budget() -> None:
    """≤ 150 KB compressed in all, so the app loads in seconds on a slow mobile network."""
    import gzip

    assets = [p for p in (STATIC / "assets").iterdir() if p.suffix in (".js", ".css")]
    assets.append(STATIC / "sw.js")
    compressed = sum(len(gzip.compress(p.read_bytes(), 9, mtime=0)) for p in assets)
    assert compressed <= 150 * 1024, compressed
