"""Render the README's screenshots from the real app, at 1280 px (a laptop) and 390 px
(a phone) wide, into docs/screenshots/: the sets, a set, a picture with its faces named,
every picture of a face (a face search), People and a person's page.

    python scripts/screenshots.py [--out docs/screenshots]

Uses only the sample photos in samples/ (LFW crops from dlib's examples and animal
photos), which their licences allow in docs; it needs Debian's chromium. The people are
named after the folders their photos came from, as an owner would name them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import launch  # noqa: E402
from conftest import start_server  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from facealbum.album import Album  # noqa: E402
from facealbum.importer import import_folder  # noqa: E402
from facealbum.people import edits  # noqa: E402
from facealbum.settings import Settings  # noqa: E402
from facealbum.wiring import open_album  # noqa: E402

WIDTHS = {1280: 800, 390: 844}  # viewport width: height
SET = "Team photos"


def render(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        album = open_album(Settings(home=home))
        import_folder(album, ROOT / "samples" / "nofaces", "Zoo trip", workers=1)
        import_folder(album, ROOT / "samples" / "people", SET, workers=2)
        subject, person_id = _name_people(album)
        pages = {
            "sets": ("/", ".card img"),
            "set": (f"/sets/{quote(SET)}", "#grid img"),
            "picture": (f"/pictures/{subject}", "button.face"),
            "people": ("/people", "#people .person"),
            "person": (f"/people/{person_id}", "#results img"),
        }
        proc, base = start_server(home)
        shots = []
        try:
            with sync_playwright() as p:
                browser = launch(p)
                for width, height in WIDTHS.items():
                    # bypass_csp: Playwright polls a wait_for_function expression with
                    # eval, which the site's CSP forbids whenever the first check is false
                    page = browser.new_page(
                        viewport={"width": width, "height": height},
                        base_url=base,
                        bypass_csp=True,
                    )
                    for name, (url, ready) in pages.items():
                        page.goto(url)
                        page.wait_for_selector(ready)
                        _images_loaded(page)
                        shots.append(_shot(page, out / f"{name}-{width}.png"))
                        if name == "picture":  # then a click on the face: its search
                            page.locator("button.face").first.click()
                            page.wait_for_selector(".result")
                            _images_loaded(page)
                            shots.append(_shot(page, out / f"search-{width}.png"))
                    page.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return shots


def _name_people(album: Album) -> tuple[str, str]:
    """Name each person after the folder most of their photos came from (samples/people/
    <name>/...); return a picture with a named face and the first named person's id."""
    _, pictures = album.get_set(SET)
    folders: dict[str, list[str]] = {}
    for picture in pictures:
        for face in picture.faces:
            if face.person_id:
                folders.setdefault(face.person_id, []).append(picture.name.split("/")[0])
    for person_id, seen in folders.items():
        folder = max(set(seen), key=seen.count)
        edits.rename(album, person_id, folder.replace("_", " ").title())
    subject = next(p for p in pictures if p.faces and p.faces[0].person_id in folders)
    return subject.image_id, next(iter(folders))


def _images_loaded(page: Page) -> None:
    page.wait_for_function("[...document.images].every(i => i.complete)")


def _shot(page: Page, path: Path) -> Path:
    page.screenshot(path=str(path))
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    for shot in render(ap.parse_args().out):
        print(shot)
