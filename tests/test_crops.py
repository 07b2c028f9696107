"""Face-aware crops: a square thumbnail (and a set's cover) centres on the picture's faces
by CSS object-position from the API's ``focus``; the viewer never enlarges a photo."""

from __future__ import annotations

import re

import httpx
import pytest
from browser import launch
from conftest import PHOTOS, start_server
from PIL import Image
from playwright.sync_api import sync_playwright

from facealbum.domain import Box, square_focus
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album


def test_square_focus_centres_on_the_faces_and_stays_inside():
    # a portrait 1:3, one face near the top: the square centres as high as it can go
    assert square_focus(100, 300, [Box(0.4, 0.02, 0.2, 0.06)]) == (0.5, round(1 / 6, 4))
    # a face a little lower: centred on it
    assert square_focus(100, 300, [Box(0.4, 0.3, 0.2, 0.1)]) == (0.5, 0.35)
    # two faces: the centre of their union
    assert square_focus(400, 100, [Box(0.1, 0.4, 0.1, 0.2), Box(0.3, 0.4, 0.1, 0.2)]) == (0.25, 0.5)
    # near the right edge of a landscape: clamped so the square stays inside
    assert square_focus(400, 100, [Box(0.95, 0.4, 0.05, 0.2)]) == (0.875, 0.5)
    # no faces: the centre, or a portrait's upper third (clamped)
    assert square_focus(400, 300, []) == (0.5, 0.5)
    assert square_focus(100, 300, []) == (0.5, round(1 / 3, 4))
    assert square_focus(100, 120, []) == (0.5, round(100 / 240, 4))  # as high as it goes


@pytest.fixture(scope="module")
def crops_site(tmp_path_factory):
    """A set with a tall portrait whose face is near the top (a real face: obama.jpg at
    the top of a canvas three times its height) and a 150 px wide photo; the portrait
    is the set's cover."""
    root = tmp_path_factory.mktemp("crops")
    photos = root / "photos"
    photos.mkdir()
    face = Image.open(PHOTOS / "obama" / "obama.jpg").convert("RGB")
    tall = Image.new("RGB", (face.width, face.height * 3), (90, 110, 90))
    tall.paste(face, (0, 0))
    tall.save(photos / "tall.jpg", quality=90)
    small = Image.open(PHOTOS / "nofaces" / "dog.jpg").convert("RGB")
    small.resize((150, 112)).save(photos / "small.jpg", quality=90)
    home = root / "home"
    album = open_album(Settings(home=home))
    report = import_folder(album, photos, "Crops", workers=1)
    assert report.count("failed") == 0, report.failures
    [tall_picture] = [p for p in album.get_set("Crops")[1] if p.name == "tall.jpg"]
    album.set_featured("Crops", tall_picture.image_id)
    proc, base = start_server(home)
    yield base
    proc.terminate()
    proc.wait(10)


def by_name(base: str) -> dict[str, dict]:
    body = httpx.get(f"{base}/api/sets/Crops").json()
    return {p["name"]: p for p in body["pictures"]}


def test_api_gives_a_portraits_focus_at_its_face(crops_site):
    pictures = by_name(crops_site)
    tall = pictures["tall.jpg"]
    assert (tall["width"], tall["height"]) == (910, 3 * 1137)
    [face] = tall["faces"]  # the detector found the face, in the top third
    box = face["box"]
    assert box["top"] + box["height"] < 1 / 3
    # near the top, on the face (or as high as a square can go, half a width from the
    # top): where the centre crop (0.5) showed only the grey below it
    assert tall["focus"]["y"] < 0.2
    assert tall["focus"]["y"] == pytest.approx(
        max(box["top"] + box["height"] / 2, 910 / (2 * 3 * 1137)), abs=0.001
    )
    assert 0.3 < tall["focus"]["x"] < 0.7
    assert pictures["small.jpg"]["focus"] == {"x": 0.5, "y": 0.5}  # no faces: the centre
    # the set's cover (read with its faces) carries the same focus
    [crops] = httpx.get(f"{crops_site}/api/sets").json()["sets"]
    assert crops["featured"]["focus"] == tall["focus"]
    cover = crops["featured"]
    assert (cover["width"], cover["height"]) == (tall["width"], tall["height"])
    picture = httpx.get(f"{crops_site}/api/pictures/{tall['image_id']}").json()
    assert picture["focus"] == tall["focus"]


def percents(position: str) -> tuple[float, float]:
    x, y = re.fullmatch(r"([\d.]+)% ([\d.]+)%", position).groups()
    return float(x), float(y)


def test_grid_square_and_cover_keep_the_face_and_the_viewer_never_enlarges(crops_site):
    pictures = by_name(crops_site)
    tall, small = pictures["tall.jpg"], pictures["small.jpg"]
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{crops_site}/sets/Crops")
            square = page.locator(f'.thumb[data-image-id="{tall["image_id"]}"] img')
            square.wait_for()
            # the top of the picture in the square (0%), not its middle (50%)
            x, y = percents(square.evaluate("e => getComputedStyle(e).objectPosition"))
            assert 40 <= x <= 60 and y < 5
            # the square shows the face: its box lies inside the visible part
            box = tall["faces"][0]["box"]
            side = square.evaluate("e => e.getBoundingClientRect().width")
            scale = side / tall["width"]  # px in the square per px of the picture
            hidden = y / 100 * (tall["height"] - tall["width"]) * scale  # cut off above
            top = box["top"] * tall["height"] * scale - hidden
            assert top >= 0 and top + box["height"] * tall["height"] * scale <= side
            plain = page.locator(f'.thumb[data-image-id="{small["image_id"]}"] img')
            assert percents(plain.evaluate("e => getComputedStyle(e).objectPosition")) == (50, 50)

            page.goto(f"{crops_site}/")
            cover = page.locator(".card img").first
            cover.wait_for()
            assert percents(cover.evaluate("e => getComputedStyle(e).objectPosition"))[1] < 5

            # a 150 px photo is shown at 150 px in the viewer, not stretched to the page
            page.goto(f"{crops_site}/pictures/{small['image_id']}")
            photo = page.locator("#photo")
            photo.wait_for()
            size = photo.evaluate("e => [e.clientWidth, e.clientHeight]")
            assert size == pytest.approx([150, 112], abs=1)
            # a big one still fills the room it has (bounded by the window, not enlarged)
            page.goto(f"{crops_site}/pictures/{tall['image_id']}")
            width = page.locator("#photo").evaluate("e => e.getBoundingClientRect().width")
            assert 100 < width < tall["width"]
        finally:
            browser.close()

