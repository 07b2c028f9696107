"""Render the README's screenshots from the real app: the sets page, a picture with its
face boxes, and a face-search result, into docs/.

    python scripts/screenshots.py [--out docs]

Uses only the sample photos in samples/ (LFW crops from dlib's examples and animal
photos), which their licences allow in docs; it needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import launch  # noqa: E402
from conftest import start_server  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from facealbum.importer import import_folder  # noqa: E402
from facealbum.settings import Settings  # noqa: E402
from facealbum.wiring import open_album  # noqa: E402


def render(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        album = open_album(Settings(home=home))
        import_folder(album, ROOT / "samples" / "nofaces", "Zoo trip", workers=1)
        import_folder(album, ROOT / "samples" / "people", "Team photos", workers=2)
        _, pictures = album.get_set("Team photos")
        subject = next(p for p in pictures if p.faces)
        proc, base = start_server(home)
        shots = []
        try:
            with sync_playwright() as p:
                browser = launch(p)
                # bypass_csp: Playwright polls a wait_for_function expression with eval,
                # which the site's CSP forbids whenever the first check is false
                page = browser.new_page(
                    viewport={"width": 1100, "height": 720}, base_url=base, bypass_csp=True
                )
                page.goto("/")
                page.wait_for_selector(".card img")
                page.wait_for_function("[...document.images].every(i => i.complete)")
                shots.append(_shot(page, out / "sets.png"))
                page.goto(f"/pictures/{subject.image_id}")
                page.wait_for_selector("button.face")
                page.wait_for_function("document.querySelector('#photo').complete")
                page.locator("button.face").first.focus()
                shots.append(_shot(page, out / "picture.png"))
                page.locator("button.face").first.click()
                page.wait_for_selector(".result")
                page.wait_for_function("[...document.images].every(i => i.complete)")
                shots.append(_shot(page, out / "search.png"))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return shots


def _shot(page, path: Path) -> Path:
    page.screenshot(path=str(path))
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    for shot in render(ap.parse_args().out):
        print(shot)
