"""The site in a real browser (Debian's chromium via Playwright) against a real server."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from browser import launch
from conftest import PHOTOS, serve_copy, start_server
from playwright.sync_api import expect, sync_playwright

from facealbum.people import regroup
from facealbum.settings import Settings
from facealbum.wiring import open_album

SECRET = "open sesame, please"


@pytest.fixture(scope="module")
def site(library_home, tmp_path_factory):
    dest = tmp_path_factory.mktemp("web")
    proc, base = serve_copy(library_home, dest, {"FACEALBUM_OWNER_SECRET": SECRET})
    yield base
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=site)
    page = context.new_page()
    page.errors = []
    page.requests = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    yield page
    assert page.errors == []
    assert all(u.startswith(site) or u.startswith("data:") for u in page.requests), "no CDN"
    context.close()


@pytest.fixture(scope="module")
def pictures(site) -> dict[str, dict]:
    body = httpx.get(f"{site}/api/sets/fixtures").json()
    return {p["name"]: p for p in body["pictures"]}


def sign_in(page):
    page.goto("/")
    page.click("#sign-in")
    page.fill("dialog input[type=password]", SECRET)
    page.click("dialog button[type=submit]")
    expect(page.locator("#sign-out")).to_be_visible()


def assert_boxes_on_faces(page, picture, scope="") -> None:
    """Each face box must sit where the API's ratio box falls on the rendered image."""
    img = page.locator(f"{scope} #photo").bounding_box()
    assert img is not None and img["width"] > 50
    assert img["width"] / img["height"] == pytest.approx(
        picture["width"] / picture["height"], rel=0.01
    )
    for face in picture["faces"]:
        box = page.locator(f'{scope} [data-face-id="{face["face_id"]}"]').bounding_box()
        b = face["box"]
        assert box["x"] == pytest.approx(img["x"] + b["left"] * img["width"], abs=1.5)
        assert box["y"] == pytest.approx(img["y"] + b["top"] * img["height"], abs=1.5)
        assert box["width"] == pytest.approx(b["width"] * img["width"], abs=1.5)
        assert box["height"] == pytest.approx(b["height"] * img["height"], abs=1.5)


def test_the_page_modules_are_served_as_javascript_and_revalidated(site):
    """One ES module per page, no build step: every module the shell and the modules
    import is served with a JavaScript type (a browser refuses a module otherwise) and
    revalidated (they import each other without the shell's ?v=)."""
    shell = httpx.get(f"{site}/")
    assert "script-src" not in shell.headers["content-security-policy"]  # 'self' only
    todo, seen = [re.search(r'src="(/static/js/[^"?]+)', shell.text)[1]], set()
    while todo:
        url = todo.pop()
        seen.add(url)
        got = httpx.get(f"{site}{url}")
        assert got.status_code == 200, url
        assert got.headers["content-type"].startswith("text/javascript"), url
        assert got.headers["cache-control"] == "no-cache", url
        base = url.rsplit("/", 1)[0]
        for name in re.findall(r'^import .* from "\./([\w-]+\.js)";$', got.text, re.M):
            if f"{base}/{name}" not in seen:
                todo.append(f"{base}/{name}")
    assert len(seen) >= 8  # main, api, dom, nav and the pages


def test_browse_sets_to_set_to_picture_with_faces_outlined(page, pictures):
    page.goto("/")
    card = page.locator('.card[data-set="fixtures"]')
    expect(card).to_contain_text(f"{len(pictures)} pictures")
    expect(card.locator("img")).to_have_attribute("alt", "Featured picture of fixtures")
    card.click()
    expect(page).to_have_url(re.compile("/sets/fixtures$"))
    expect(page.locator(".thumb")).to_have_count(len(pictures))
    expect(page.locator(".thumb img").first).to_have_attribute("loading", "lazy")
    group = pictures["groups/2007_007763.jpg"]
    page.click(f'.thumb[data-image-id="{group["image_id"]}"]')
    lightbox = page.locator("#lightbox")
    expect(lightbox.locator(".face")).to_have_count(len(group["faces"]))
    # polled from here: a wait_for_function that has to poll evaluates its string inside
    # the page, which the site's CSP (no 'unsafe-eval') rightly refuses
    for _ in range(300):
        if page.evaluate("document.querySelector('#lightbox #photo').complete"):
            break
        page.wait_for_timeout(50)
    assert_boxes_on_faces(page, group, "#lightbox")
    for _ in range(12):  # Tab stays inside the lightbox
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('#lightbox')")
    page.keyboard.press("Escape")
    expect(lightbox).to_have_count(0)

    page.goto(f"/pictures/{group['image_id']}")
    expect(page.locator("[data-face-id]")).to_have_count(len(group["faces"]))
    assert_boxes_on_faces(page, group)
    for size in ({"width": 420, "height": 800}, {"width": 1600, "height": 700}):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)
        assert_boxes_on_faces(page, group)
    first = page.locator("button.face").first
    expect(first).to_have_attribute("aria-label", re.compile(r"Face 1 of \d+"))
    original = page.locator("#original")
    expect(original).to_have_attribute("href", group["original_url"])


def test_keyboard_moves_through_the_set(page, pictures):
    names = sorted(pictures)
    start = pictures[names[1]]
    asked = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(f"/pictures/{pictures[names[-1]]['image_id']}")  # the set's end: no next
    expect(page.locator("#next")).to_be_disabled()
    expect(page.locator("#prev")).to_be_enabled()
    page.goto(f"/pictures/{start['image_id']}")
    expect(page.locator("h1")).to_have_text(names[1])
    page.keyboard.press("ArrowRight")
    expect(page.locator("h1")).to_have_text(names[2])
    expect(page).to_have_url(re.compile(pictures[names[2]]["image_id"]))
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("h1")).to_have_text(names[0])
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile("/sets/fixtures$"))
    # the lightbox from the grid moves the same way
    page.click(f'.thumb[data-image-id="{pictures[names[0]]["image_id"]}"]')
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lightbox h1")).to_have_text(names[1])
    # ← / → step by the neighbours each picture names, never by the set's whole id list
    assert not [u for u in asked if u.endswith("/ids")]


def test_click_a_face_finds_that_person(page, pictures):
    obama = pictures["obama/obama.jpg"]
    page.goto(f"/pictures/{obama['image_id']}")
    page.locator(f'[data-face-id="{obama["faces"][0]["face_id"]}"]').click()
    expect(page).to_have_url(re.compile(f"/faces/{obama['faces'][0]['face_id']}$"))
    results = page.locator(".result")
    expect(results.first).to_be_visible()
    shown = results.evaluate_all("els => els.map(e => e.dataset.imageId)")
    by_id = {p["image_id"]: name for name, p in pictures.items()}
    names = [by_id[i] for i in shown]
    assert names[0] == "obama/obama.jpg"
    assert {"obama/obama2.jpg", "obama/obama-480p.jpg", "groups/two_people.jpg"} <= set(names)
    assert not [n for n in names if n.startswith(("biden/", "johns/"))]
    assert len(names) == len(set(names))
    # each result outlines the matched face; in the group photo it is Obama's, not Biden's
    group = results.filter(
        has=page.locator(f'[data-image-id="{pictures["groups/two_people.jpg"]["image_id"]}"]')
    )
    group = page.locator(
        f'.result[data-image-id="{pictures["groups/two_people.jpg"]["image_id"]}"]'
    )
    expect(group.locator(".face.matched")).to_have_count(1)
    biden = pictures["biden/biden2.jpg"]["faces"][0]["face_id"]
    from_biden = httpx.get(f"{page.url.split('/faces/')[0]}/api/faces/{biden}/matches").json()
    biden_in_group = next(
        m["face"]["face_id"]
        for m in from_biden["matches"]
        if m["picture"]["name"] == "groups/two_people.jpg"
    )
    assert group.locator(".face.matched").get_attribute("data-face-id") != biden_in_group
    expect(group.locator(".sim")).to_have_text(re.compile(r"^\d+\.\d%$"))
    sims = [float(t.rstrip("%")) for t in page.locator(".result .sim").all_inner_texts()]
    assert sims == sorted(sims, reverse=True)
    # widening the threshold brings in more pictures, and the URL can be shared
    slider = page.locator("#threshold")
    slider.fill("10")
    expect(page).to_have_url(re.compile(r"threshold=10"))
    expect(page.locator(".result")).not_to_have_count(len(names))
    shared = page.url
    page.goto(shared)
    expect(page.locator("#threshold")).to_have_value("10")
    assert page.locator(".result").count() > len(names)


def test_visitor_sees_no_owner_controls_and_cannot_post(page, site, pictures):
    page.goto("/sets/fixtures")
    expect(page.locator(".thumb").first).to_be_visible()
    for control in ("#drop", "#file-input", "#rename-set", "#delete-set"):
        expect(page.locator(control)).to_have_count(0)
    page.goto("/")
    expect(page.locator("#new-set")).to_have_count(0)
    page.goto(f"/pictures/{pictures['obama/obama.jpg']['image_id']}")
    expect(page.locator("#delete-picture")).to_have_count(0)
    status = page.evaluate(
        """async () => {
            const form = new FormData();
            form.append('files', new Blob(['x'], {type: 'image/jpeg'}), 'x.jpg');
            const r = await fetch('/api/sets/fixtures/pictures', {method: 'POST', body: form});
            return r.status;
        }"""
    )
    assert status == 401


def test_wrong_secret_is_refused_in_the_dialog(page):
    page.goto("/")
    page.click("#sign-in")
    page.fill("dialog input[type=password]", "not it")
    page.click("dialog button[type=submit]")
    expect(page.locator("dialog .error")).to_have_text("wrong secret")
    expect(page.locator("#sign-out")).to_have_count(0)


def test_owner_creates_a_set_and_uploads_two_photos(page):
    sign_in(page)
    page.click("#new-set")
    page.fill("dialog input", "Holiday")
    page.click("dialog button[type=submit]")
    expect(page).to_have_url(re.compile("/sets/Holiday$"))
    expect(page.locator("#empty")).to_be_visible()
    page.set_input_files(
        "#file-input",
        [PHOTOS / "groups" / "two_people.jpg", PHOTOS / "biden" / "biden2.jpg"],
    )
    rows = page.locator("#uploads li")
    expect(rows).to_have_count(2)
    expect(page.locator('#uploads li[data-status="added"]')).to_have_count(2, timeout=60_000)
    expect(page.locator('#uploads li[data-name="two_people.jpg"]')).to_contain_text("2 faces found")
    expect(page.locator('#uploads li[data-name="biden2.jpg"]')).to_contain_text("1 face found")
    expect(page.locator(".thumb")).to_have_count(2)
    expect(page.locator("#count")).to_have_text("2 pictures")
    page.locator(".thumb", has_text="two_people.jpg").click()
    expect(page.locator("#lightbox button.face")).to_have_count(2)
    # a refused file says why, per file
    page.keyboard.press("Escape")
    page.set_input_files(
        "#file-input", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"hello"}]
    )
    expect(page.locator('#uploads li[data-name="notes.jpg"]')).to_contain_text(
        "not a readable image", timeout=30_000
    )
    # the same photo with its caption edited is the one there, and said to be
    from test_dedupe import with_exif

    captioned = with_exif((PHOTOS / "biden" / "biden2.jpg").read_bytes(), description="Joe")
    page.set_input_files(
        "#file-input",
        files=[{"name": "captioned.jpg", "mimeType": "image/jpeg", "buffer": captioned}],
    )
    expect(page.locator('#uploads li[data-name="captioned.jpg"]')).to_contain_text(
        "already in this set (same photo as biden2.jpg, metadata differs)", timeout=60_000
    )
    # and the album shows the new set to visitors too
    card = httpx.get(page.url.split("/sets/")[0] + "/api/sets").json()["sets"]
    assert {s["name"]: s["picture_count"] for s in card if s["name"] == "Holiday"} == {"Holiday": 2}


def test_owner_changes_featured_renames_and_deletes(page, site):
    sign_in(page)
    page.click("#new-set")
    page.fill("dialog input", "Edits")
    page.click("dialog button[type=submit]")
    page.set_input_files(
        "#file-input", [PHOTOS / "nofaces" / "dog.jpg", PHOTOS / "obama" / "obama2.jpg"]
    )
    expect(page.locator('#uploads li[data-status="added"]')).to_have_count(2, timeout=60_000)
    page.goto("/sets/Edits")
    page.locator(".thumb", has_text="obama2.jpg").click()
    page.click("#make-featured")
    expect(page.locator("#toast")).to_have_text("Featured picture changed")
    featured = httpx.get(f"{site}/api/sets/Edits").json()["featured"]
    obama2 = [
        p
        for p in httpx.get(f"{site}/api/sets/Edits").json()["pictures"]
        if p["name"] == "obama2.jpg"
    ][0]
    assert featured["image_id"] == obama2["image_id"]
    page.goto("/sets/Edits")
    page.click("#rename-set")
    page.fill("dialog input", "Edited")
    page.click("dialog button[type=submit]")
    expect(page).to_have_url(re.compile("/sets/Edited$"))
    page.goto(f"/pictures/{obama2['image_id']}")
    page.click("#delete-picture")
    page.click("dialog button[type=submit]")
    expect(page).to_have_url(re.compile("/sets/Edited$"))
    expect(page.locator(".thumb")).to_have_count(1)
    page.click("#delete-set")
    page.click("dialog button[type=submit]")
    expect(page).to_have_url(re.compile("/$"))
    expect(page.locator('.card[data-set="Edited"]')).to_have_count(0)


def test_sets_sort_by_name_or_newest(page):
    page.goto("/?sort=name")
    names = page.locator(".card .label b").all_inner_texts()
    assert names == sorted(names, key=str.casefold)
    page.select_option("#sort", "newest")
    expect(page).to_have_url(re.compile(r"/$"))


def test_screenshot_script_renders_every_page_at_two_widths(tmp_path):
    import subprocess
    import sys

    script = PHOTOS.parent.parent.parent / "scripts" / "screenshots.py"
    run = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for page in ("sets", "set", "picture", "search", "people", "person"):
        for width in (1280, 390):
            shot = tmp_path / f"{page}-{width}.png"
            assert shot.stat().st_size > 20_000, shot  # a rendered page, not a blank one


def big_set_home(root, n: int):
    """A set of n pictures made fast: catalog rows over one real thumbnail, each under
    its own content-addressed key, as an import would leave them."""
    from facealbum.domain import Picture
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    album = open_album(Settings(home=root / "home"))
    source = album.ingest("Seed", "dog.jpg", (PHOTOS / "nofaces" / "dog.jpg").read_bytes()).picture
    thumb = album.blobs.get("thumbnails", source.thumb_key)
    for i in range(n):
        sha = f"{i:064x}"
        p = Picture(
            f"img-{i:05d}",
            "Big",
            f"photo-{i:05d}.jpg",
            sha,
            768,
            576,
            source.original_key,
            "image/jpeg",
            1,
        )
        album.blobs.put("thumbnails", p.thumb_key, thumb, "image/jpeg")
        album.catalog.add_picture(p)
    for i in range(70):
        album.catalog.create_set(f"Empty {i:02d}")
    return root / "home"


def test_a_big_set_loads_in_pages_and_lazily(browser, tmp_path):
    home = big_set_home(tmp_path, 450)
    proc, base = start_server(home)
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=base)
        media = []
        page.on("request", lambda r: "/media/" in r.url and media.append(r.url))
        page.goto("/sets/Big")
        expect(page.locator(".thumb")).to_have_count(200)
        page.wait_for_load_state("networkidle")
        assert 0 < len(media) < 150  # only what is near the viewport of the 200 is fetched
        page.mouse.wheel(0, 200_000)
        expect(page.locator(".thumb")).to_have_count(400)
        page.mouse.wheel(0, 200_000)
        expect(page.locator(".thumb")).to_have_count(450)
        expect(page.locator("#more")).to_be_hidden()
        names = page.locator(".thumb .name").all_inner_texts()
        assert names == [f"photo-{i:05d}.jpg" for i in range(450)]
        # the lightbox steps past the last thumbnail loaded by loading the next page
        page.goto("/sets/Big")
        expect(page.locator(".thumb")).to_have_count(200)
        page.locator(".thumb").nth(199).click()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#lightbox h1")).to_have_text("photo-00200.jpg")
        expect(page.locator(".thumb")).to_have_count(400)
        # the sets page loads sets a page at a time too (72 here: 60 a page)
        page.keyboard.press("Escape")
        page.goto("/")
        expect(page.locator("#sets .card")).to_have_count(60)
        page.mouse.wheel(0, 200_000)
        expect(page.locator("#sets .card")).to_have_count(72)
        expect(page.locator("#more-sets")).to_be_hidden()
        page.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_owner_shares_location_per_set_and_ends_sessions(page, site):
    other = httpx.Client(base_url=site, headers={"User-Agent": "the-old-tablet"})
    csrf = other.post("/api/session", json={"secret": SECRET}).json()["csrf"]
    other.headers["X-CSRF-Token"] = csrf
    sign_in(page)
    page.goto("/sets/fixtures")
    box = page.locator("#share-location")
    expect(box).not_to_be_checked()
    box.check()
    expect(page.locator("#toast")).to_contain_text("location included")
    assert httpx.get(f"{site}/api/sets/fixtures").json()["share_location"] is True
    box.uncheck()
    expect(page.locator("#toast")).to_contain_text("without location")
    assert httpx.get(f"{site}/api/sets/fixtures").json()["share_location"] is False

    page.click("#sessions")
    rows = page.locator("#sessions-dialog tbody tr")
    tablet = rows.filter(has_text="the-old-tablet")
    expect(tablet).to_have_count(1)
    expect(rows.filter(has_text="this browser")).to_have_count(1)
    assert other.get("/api/sessions").status_code == 200
    tablet.get_by_role("button", name="End").click()
    expect(tablet).to_have_count(0)
    assert other.get("/api/sessions").status_code == 401  # that device is signed out
    page.click("#end-all")
    expect(page.locator("#sign-in")).to_be_visible()
    assert httpx.get(f"{site}/api/sessions").status_code == 401
    other.close()


def test_the_site_works_the_same_on_either_face_engine(browser, engine_server):
    """Sets, a picture with its faces outlined, and a click on a face, with the album's
    faces on dlib or behind Rekognition's API (conftest.ENGINES)."""
    body = httpx.get(f"{engine_server}/api/sets/fixtures").json()
    pictures = {p["name"]: p for p in body["pictures"]}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=engine_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto("/")
        page.locator('.card[data-set="fixtures"]').click()
        expect(page.locator(".thumb")).to_have_count(len(pictures))
        group = pictures["groups/two_people.jpg"]
        page.goto(f"/pictures/{group['image_id']}")
        expect(page.locator("button.face")).to_have_count(2)
        for _ in range(300):  # polled here: the site's CSP refuses wait_for_function's eval
            if page.evaluate("document.querySelector('#photo').complete"):
                break
            page.wait_for_timeout(50)
        assert_boxes_on_faces(page, group)
        obama = pictures["obama/obama.jpg"]
        page.goto(f"/pictures/{obama['image_id']}")
        page.locator(f'[data-face-id="{obama["faces"][0]["face_id"]}"]').click()
        expect(page.locator(".result").first).to_be_visible()
        shown = page.locator(".result").evaluate_all("els => els.map(e => e.dataset.imageId)")
        by_id = {p["image_id"]: name for name, p in pictures.items()}
        names = [by_id[i] for i in shown]
        assert names[0] == "obama/obama.jpg"
        assert {"obama/obama2.jpg", "obama/obama-480p.jpg", "groups/two_people.jpg"} <= set(names)
        assert not [n for n in names if n.startswith(("biden/", "johns/"))]
    finally:
        context.close()
    assert errors == []


@pytest.fixture
def people_page(browser, library_home, tmp_path):
    """A page on a server of its own: these tests rename and regroup people."""
    proc, base = serve_copy(library_home, tmp_path, {"FACEALBUM_OWNER_SECRET": SECRET})
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    proc.terminate()
    proc.wait(10)
    assert errors == []


def people_by_name(page) -> dict[str, str]:
    """person id -> name (or "Unnamed") as the People page shows them."""
    cards = page.locator(".person")
    return {
        cards.nth(i).get_attribute("data-person-id"): cards.nth(i).locator("b").inner_text()
        for i in range(cards.count())
    }


def test_people_pages_name_search_and_regroup(people_page, tmp_path):
    page = people_page
    page.goto("/people")
    expect(page.locator(".person").first).to_be_visible()
    api = page.context.request
    people = api.get("/api/people").json()["people"]
    obama = next(
        p for p in people if p["picture_count"] == 4 and p["face_count"] == 4
    )  # obama.jpg, obama2.jpg, obama-480p.jpg and the group
    card = page.locator(f'.person[data-person-id="{obama["person_id"]}"]')
    expect(card).to_contain_text("4 pictures")
    crop = card.locator(".crop")
    assert "background-image" in (crop.get_attribute("style") or "")
    # visitors see no owner tools; the owner names the person
    card.click()
    expect(page.locator("#person-count")).to_have_text("4 pictures")
    expect(page.locator("#results .result")).to_have_count(4)
    expect(page.locator("#rename-person")).to_have_count(0)
    sign_in(page)
    page.goto(f"/people/{obama['person_id']}")
    page.click("#rename-person")
    page.fill("dialog input", "Barack")
    page.click("dialog button[type=submit]")
    expect(page.locator("#person-name")).to_have_text("Barack")
    # pictures with Barack and the other person of the group photo, by a shareable URL
    group = next(
        p
        for p in api.get(f"/api/people/{obama['person_id']}").json()["pictures"]
        if p["name"] == "groups/two_people.jpg"
    )
    other = next(f["person_id"] for f in group["faces"] if f["person_id"] != obama["person_id"])
    # the name everywhere: on his face box, in the picture's people, heading his face page
    on_obama = next(f["face_id"] for f in group["faces"] if f["person_id"] == obama["person_id"])
    page.goto(f"/pictures/{group['image_id']}")
    box = page.locator(f'button.face[data-face-id="{on_obama}"]')
    expect(box.locator(".face-name")).to_have_text("Barack")
    expect(box).to_have_attribute("aria-label", re.compile(r"^Barack \(face \d of 2\)"))
    expect(page.locator(".face-name")).to_have_count(1)  # the other person has no name
    listed = page.locator("#picture-people a")
    expect(listed).to_have_count(1)
    expect(listed).to_have_text("Barack")
    expect(listed).to_have_attribute("href", f"/people/{obama['person_id']}")
    box.click()
    expect(page.locator("#face-heading")).to_have_text("Pictures of Barack")
    expect(page).to_have_title("Pictures of Barack · facealbum")
    other_face = next(f["face_id"] for f in group["faces"] if f["person_id"] == other)
    page.goto(f"/faces/{other_face}")
    expect(page.locator("#face-heading")).to_have_text("Pictures of this person")
    page.goto(f"/sets/{group['set']}")  # and in the lightbox
    page.click(f'.thumb[data-image-id="{group["image_id"]}"]')
    expect(page.locator(f'#lightbox [data-face-id="{on_obama}"] .face-name')).to_have_text("Barack")
    expect(page.locator("#lightbox #picture-people a")).to_have_text("Barack")
    page.goto(f"/search?people={obama['person_id']}")
    expect(page.locator("#grid .thumb")).to_have_count(4)
    page.locator(f'.chip[data-person-id="{other}"] input').check()
    expect(page).to_have_url(re.compile(f"people={obama['person_id']},{other}&mode=all"))
    expect(page.locator("#grid .thumb")).to_have_count(1)
    page.select_option("#mode", "any")
    expect(page.locator("#grid .thumb")).to_have_count(6)
    shared = page.url
    page.goto(shared)
    expect(page.locator("#grid .thumb")).to_have_count(6)
    # the owner says the 480p photo is not Barack, and moves obama2 to a person of its own
    page.goto(f"/people/{obama['person_id']}")
    low = next(
        p
        for p in api.get(f"/api/people/{obama['person_id']}").json()["pictures"]
        if p["name"] == "obama/obama-480p.jpg"
    )
    page.locator(f'.not-person[data-face-id="{low["faces"][0]["face_id"]}"]').click()
    expect(page.locator("#results .result")).to_have_count(3)
    second = next(
        p
        for p in api.get(f"/api/people/{obama['person_id']}").json()["pictures"]
        if p["name"] == "obama/obama2.jpg"
    )
    pick = page.locator(f'.pick[data-face-id="{second["faces"][0]["face_id"]}"]')
    pick.check()
    page.click("#move-to")
    page.click('#person-picker .pick-person[data-person-id="new"]')
    expect(page.locator("#results .result")).to_have_count(1)
    expect(page.locator("#person-name")).to_have_text("Unnamed")
    # and back to Barack, from the new person's page: a split into another person
    expect(page.locator("#move-to")).to_be_disabled()
    pick.check()
    page.click("#move-to")
    page.click(f'#person-picker .pick-person[data-person-id="{obama["person_id"]}"]')
    expect(page.locator("#person-name")).to_have_text("Barack")
    expect(page.locator("#results .result")).to_have_count(3)
    # a batch of photos came in: the owner sees people being regrouped, by the server's
    # own job loop, and then the People page again, the owner's work kept
    regroup.request(open_album(Settings(home=tmp_path / "home")), delay=2)
    page.goto("/people")
    line = page.locator("#regroup-status")
    expect(line).to_have_text(re.compile(r"regrouped shortly|Grouping people"))
    expect(line).to_have_text("", timeout=20_000)
    assert api.get("/api/people/status").json()["state"] == "idle"
    expect(page.locator(f'.person[data-person-id="{obama["person_id"]}"]')).to_contain_text(
        "Barack"
    )
    names = people_by_name(page)
    assert list(names.values()).count("Barack") == 1 and "Unnamed" in names.values()


def test_owner_names_faces_from_the_picture_and_corrects_the_face_page(
    browser, library_home, tmp_path
):
    """"Who is this?" with the album's names offered, "not Barack?" on his face page,
    pickers that show faces, and a photo stored in two sets shown once, "also in" the
    other."""
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    copy = album.ingest("Trip", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())
    album.close()
    proc, base = start_server(home, {"FACEALBUM_OWNER_SECRET": SECRET})
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        api = page.context.request
        fixtures = {p["name"]: p for p in api.get("/api/sets/fixtures").json()["pictures"]}
        group, low = fixtures["groups/two_people.jpg"], fixtures["obama/obama-480p.jpg"]
        barack = low["faces"][0]["person_id"]
        on_barack = next(f["face_id"] for f in group["faces"] if f["person_id"] == barack)
        sign_in(page)

        # a new name names the face's (unnamed) person: every face of it
        page.goto(f"/pictures/{group['image_id']}")
        expect(page.locator("#who-is-this form.who")).to_have_count(2)  # both unnamed
        who = page.locator(f'form.who[data-face-id="{on_barack}"]')
        assert "background-image" in (who.locator(".crop").get_attribute("style") or "")
        who.locator("input").fill("Barack")
        who.locator("button[type=submit]").click()
        expect(page.locator(f'[data-face-id="{on_barack}"] .face-name')).to_have_text("Barack")
        expect(page.locator("#who-is-this form.who")).to_have_count(1)
        assert api.get(f"/api/people/{barack}").json()["name"] == "Barack"

        # "not Barack?" on the face page of the 480p photo: it leaves him
        face = low["faces"][0]["face_id"]
        page.goto(f"/faces/{face}")
        expect(page.locator("#face-heading")).to_have_text("Pictures of Barack")
        page.click("#not-person")
        expect(page.locator("#face-heading")).not_to_have_text("Pictures of Barack")
        expect(page.locator("#not-person")).not_to_have_text("not Barack?")
        moved = api.get(f"/api/pictures/{low['image_id']}").json()["faces"][0]
        assert moved["person_id"] != barack

        # "Who is this?" offers his name; choosing it moves the face back into him
        page.goto(f"/pictures/{low['image_id']}")
        who = page.locator(f'form.who[data-face-id="{face}"]')
        expect(who.locator("input")).to_have_attribute("list", "people-names")
        expect(page.locator('#people-names option[value="Barack"]')).to_have_count(1)
        who.locator("input").fill("Barack")
        who.locator("button[type=submit]").click()
        expect(page.locator(f'[data-face-id="{face}"] .face-name')).to_have_text("Barack")
        back = api.get(f"/api/pictures/{low['image_id']}").json()["faces"][0]
        assert back["person_id"] == barack

        # his page: obama.jpg once, "also in Trip"; the pickers show each person's face
        page.goto(f"/people/{barack}")
        both = {fixtures["obama/obama.jpg"]["image_id"]: "fixtures", copy.picture.image_id: "Trip"}
        tiles = page.locator("#results .result").filter(has=page.locator(".also-in"))
        expect(tiles).to_have_count(1)
        shown = tiles.get_attribute("data-image-id")
        [(other, other_set)] = [(i, s) for i, s in both.items() if i != shown]
        expect(tiles.locator(".also-in a")).to_have_text(other_set)
        expect(tiles.locator(".also-in a")).to_have_attribute("href", f"/pictures/{other}")
        expect(page.locator(f'#results .result[data-image-id="{other}"]')).to_have_count(0)
        others = [p for p in api.get("/api/people").json()["people"] if p["person_id"] != barack]
        page.click("#merge-into")
        choices = page.locator("#person-picker .pick-person")
        expect(choices).to_have_count(len(others))
        for i in range(len(others)):
            style = choices.nth(i).locator(".crop").get_attribute("style") or ""
            assert "background-image" in style, i
        page.click("#person-picker .row button")  # Cancel
        expect(page.locator("#person-picker")).to_have_count(0)
        page.locator(".pick").first.check()
        page.click("#move-to")
        expect(choices).to_have_count(len(others) + 1)  # and "A new person"
        expect(page.locator('#person-picker .pick-person[data-person-id="new"]')).to_have_count(1)
        page.keyboard.press("Escape")  # a picker closes with Escape, focus back on its button
        expect(page.locator("#person-picker")).to_have_count(0)
        expect(page.locator("#move-to")).to_be_focused()

        # the photo listed once moves with its copy in Trip: the new person lists it once
        page.locator(".pick").first.uncheck()
        tiles.locator(".pick").check()
        page.click("#move-to")
        page.click('#person-picker .pick-person[data-person-id="new"]')
        expect(page.locator("#person-name")).to_have_text("Unnamed")
        expect(page.locator("#results .result")).to_have_count(1)
        expect(page.locator("#results .result .also-in")).to_have_count(1)
        moved = page.url.rsplit("/", 1)[1]
        assert {api.get(f"/api/pictures/{i}").json()["faces"][0]["person_id"] for i in both} == {
            moved
        }
        # "Not this person" on it turns its copy away too: the photo leaves the page
        # (before, its copy took its place), both faces go to the same person
        page.locator("#results .result .not-person").click()
        expect(page.locator(f'#results .result[data-image-id="{shown}"]')).to_have_count(0)
        page.wait_for_load_state("networkidle")
        expect(page.locator(f'#results .result[data-image-id="{other}"]')).to_have_count(0)
        gone = {api.get(f"/api/pictures/{i}").json()["faces"][0]["person_id"] for i in both}
        assert len(gone) == 1 and moved not in gone
    finally:
        context.close()
        proc.terminate()
        proc.wait(10)
    assert errors == []


def test_search_by_photo_in_the_browser(people_page, tmp_path):
    page = people_page
    page.goto("/search/photo")
    page.set_input_files("#photo-file", PHOTOS / "groups" / "two_people.jpg")
    faces = page.locator(".found-face")
    expect(faces).to_have_count(2, timeout=60_000)
    expect(page.locator("#found > .stage .face")).to_have_count(2)  # on the searched photo
    for i in range(2):
        expect(faces.nth(i).locator(".result").first).to_be_visible()
        assert faces.nth(i).get_attribute("data-person-id")  # each face: a known person
    expect(faces.nth(0).locator("h2 a")).to_have_count(1)
    # a photo over the server's limits (9 MP, 12 MB as PNG): the page shrinks it first
    from PIL import Image

    big = tmp_path / "big.png"
    with Image.open(PHOTOS / "groups" / "two_people.jpg") as img:
        img.resize((img.width * 7 // 2, img.height * 7 // 2)).save(big)
    with Image.open(big) as img:
        assert img.width * img.height > 8_000_000  # FACEALBUM_SEARCH_MAX_PIXELS: 413 as it is
    page.goto("/search/photo")
    page.set_input_files("#photo-file", big)
    expect(faces).to_have_count(2, timeout=60_000)
    expect(page.locator("#found .error")).to_have_count(0)


def test_who_is_this_from_a_stale_tab_and_a_long_name_on_a_phone(people_page):
    """Two tabs on one picture: "Who is this?" in the second, loaded before the first
    named the face, must not rename the person the first tab just named (the name is
    resolved by the server when it is saved, not from what a page loaded long ago). Its
    names come without reading every person's faces (no /api/people), and the longest
    name allowed wraps on a 390 px phone instead of widening the page."""
    first = people_page
    first.set_viewport_size({"width": 390, "height": 800})
    api = first.context.request
    group = next(
        p for p in api.get("/api/sets/fixtures").json()["pictures"]
        if p["name"] == "groups/two_people.jpg"
    )
    face = group["faces"][0]
    sign_in(first)
    second = first.context.new_page()
    read: list[str] = []
    second.on("request", lambda r: read.append(r.url.split("?")[0]))
    for tab in (first, second):
        tab.goto(f"/pictures/{group['image_id']}")
        expect(tab.locator(f'form.who[data-face-id="{face["face_id"]}"]')).to_be_visible()
    assert not [u for u in read if u.endswith("/api/people")], "every person's faces read"

    def name(tab, text):
        who = tab.locator(f'form.who[data-face-id="{face["face_id"]}"]')
        who.locator("input").fill(text)
        who.locator("button[type=submit]").click()
        expect(tab.locator(f'[data-face-id="{face["face_id"]}"] .face-name')).to_have_text(text)

    name(first, "Ana")
    name(second, "Carl")  # the owner's later word on this face, from a stale page
    assert api.get(f"/api/people/{face['person_id']}").json()["name"] == "Ana"  # kept
    now = api.get(f"/api/pictures/{group['image_id']}").json()["faces"]
    carl = next(f["person"] for f in now if f["face_id"] == face["face_id"])
    assert carl["name"] == "Carl" and carl["person_id"] != face["person_id"]
    second.close()

    # a name that is a person: "carl" typed again elsewhere joins Carl, no second Carl
    other = next(f for f in group["faces"] if f["face_id"] != face["face_id"])
    first.goto(f"/pictures/{group['image_id']}")
    expect(first.locator('#people-names option[value="Carl"]')).to_have_count(1)
    who = first.locator(f'form.who[data-face-id="{other["face_id"]}"]')
    who.locator("input").fill("carl")
    who.locator("button[type=submit]").click()
    expect(first.locator(f'[data-face-id="{other["face_id"]}"] .face-name')).to_have_text("Carl")

    long = "W" * 200
    api.patch(
        f"/api/people/{carl['person_id']}", data={"name": long},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    for url in (f"/pictures/{group['image_id']}", f"/faces/{face['face_id']}",
                f"/people/{carl['person_id']}", "/people", "/search"):
        first.goto(url)
        expect(first.locator("main h1")).to_be_visible()
        expect(first.get_by_text(long).first).to_be_attached()
        width = first.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (url, width)


def test_people_and_a_persons_pictures_load_a_page_at_a_time(browser, library_home, tmp_path):
    """Issue 18, item 1: with pages of 2, the People page, a person's page and Pictures
    with… each load the next page as their end comes near, until every person (every
    picture) is shown once, in the API's order; a visitor never gets a hidden person."""
    env = {"FACEALBUM_OWNER_SECRET": SECRET, "FACEALBUM_PEOPLE_PAGE_SIZE": "2"}
    proc, base = serve_copy(library_home, tmp_path, env)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url.split(base, 1)[-1]))
    try:
        api = page.context.request
        owner = {"Authorization": f"Bearer {SECRET}"}
        everyone = api.get("/api/people?limit=500").json()["people"]
        hidden = everyone[-1]["person_id"]
        assert api.patch(f"/api/people/{hidden}", data={"hidden": True}, headers=owner).ok
        shown = [p["person_id"] for p in everyone if p["person_id"] != hidden]
        page.goto("/people")
        cards = page.locator(".person")
        expect(cards).to_have_count(len(shown), timeout=20_000)
        assert [cards.nth(i).get_attribute("data-person-id") for i in range(len(shown))] == shown
        pages = [u for u in asked if u.startswith("/api/people?") or u == "/api/people"]
        assert len(pages) == (len(shown) + 1) // 2 + (len(shown) % 2 == 0)  # one per page
        obama = everyone[0]  # the most pictured: four pictures
        assert obama["picture_count"] == 4
        page.goto(f"/people/{obama['person_id']}")
        expect(page.locator("#person-count")).to_have_text("4 pictures")
        expect(page.locator("#results .result")).to_have_count(4)
        tiles = page.locator("#results .result")
        ids = tiles.evaluate_all("(xs) => xs.map((x) => x.dataset.imageId)")
        assert len(set(ids)) == 4 and ids == sorted(ids)  # each once, in id order
        assert [u for u in asked if "after=" in u and f"/api/people/{obama['person_id']}" in u]
        page.goto(f"/search?people={obama['person_id']}&mode=any")
        expect(page.locator("#grid .thumb")).to_have_count(4)
        expect(page.locator("#summary")).to_have_text("4 pictures")
        assert [u for u in asked if u.startswith("/api/search?") and "after=" in u]
    finally:
        context.close()
        proc.terminate()
        proc.wait(10)
    assert errors == []


PHONE = {  # Playwright's "iPhone 13": a mobile layout viewport, as the phone has
    "viewport": {"width": 390, "height": 664},
    "screen": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1",
}


def fits_a_phone(page, where: str) -> None:
    """Nothing wider than the 390 px viewport: no sideways scroll, and every open dialog
    (the lightbox too) inside the screen."""
    page.wait_for_timeout(50)  # a layout after the last draw
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, (where, width)
    for box in page.locator("dialog[open], [role=dialog]").all():
        b = box.bounding_box()
        assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 390, (where, b)
        # and its content inside it: a table wider than the dialog scrolls it sideways
        inner = box.evaluate("d => [d.scrollWidth, d.clientWidth]")
        assert inner[0] <= inner[1], (where, inner)


def columns(page, selector: str) -> int:
    return page.evaluate(
        f"getComputedStyle(document.querySelector('{selector}')).gridTemplateColumns"
        ".split(' ').length"
    )


def open_dialog(page, button: str, where: str) -> None:
    page.click(button)
    expect(page.locator("dialog[open]")).to_be_visible()
    fits_a_phone(page, f"{where} {button}")
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)


def test_every_page_and_dialog_fits_a_390_px_phone(browser, site, pictures):
    """Issue 19, item 8: each page of the site on a 390 px phone, signed out and signed
    in, scrolls only down (the signed-in header wraps: it made the page 529 px wide),
    each dialog lies inside the screen (Sessions was cut off on the left), and the grids
    keep several columns."""
    context = browser.new_context(**PHONE, base_url=site)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    api = page.context.request
    group = pictures["groups/2007_007763.jpg"]
    face = group["faces"][0]
    people = api.get("/api/people").json()["people"]
    pages = {
        "/": "#sets .card",
        "/sets/fixtures": ".thumb",
        f"/pictures/{group['image_id']}": "#photo",
        f"/faces/{face['face_id']}": "#results .result",
        "/people": ".person",
        f"/people/{people[0]['person_id']}": "#results .result",
        f"/search?people={people[0]['person_id']}": "#grid .thumb",
        "/search/photo": "#photo-file",
    }
    grids = {"/": "#sets", "/sets/fixtures": "#grid", "/people": "#people",
             f"/faces/{face['face_id']}": "#results"}
    for signed_in in (False, True):
        if signed_in:
            sign_in(page)
        for url, ready in pages.items():
            page.goto(url)
            expect(page.locator(ready).first).to_be_attached()
            fits_a_phone(page, (signed_in, url))
            if url in grids:
                assert columns(page, grids[url]) >= 2, (url, columns(page, grids[url]))
        page.goto("/sets/fixtures")
        page.locator(".thumb").first.click()
        expect(page.locator("#lightbox #photo")).to_be_visible()
        fits_a_phone(page, "lightbox")
        page.keyboard.press("Escape")
        page.goto("/")
        if not signed_in:
            open_dialog(page, "#sign-in", "/")
    for button in ("#sessions", "#new-set"):
        open_dialog(page, button, "/")
    page.goto("/sets/fixtures")
    open_dialog(page, "#rename-set", "/sets/fixtures")
    page.goto(f"/pictures/{group['image_id']}")
    for button in ("#rename-picture", "#delete-picture"):
        open_dialog(page, button, "/pictures")
    page.goto(f"/people/{people[0]['person_id']}")
    for button in ("#rename-person", "#merge-into"):
        open_dialog(page, button, "/people/…")
    context.close()
    assert errors == []


_CLOSE_FACES = """async () => {
  const { stage } = await import('/static/js/dom.js');
  const { faceButton } = await import('/static/js/picture.js');
  const names = ['Jeremy Hansen', 'Victor Glover', 'Reid Wiseman', 'Christina Koch'];
  const faces = names.map((name, i) => ({ face_id: `f${i}`, person: { person_id: `p${i}`, name },
    box: { left: 0.12 + i * 0.2, top: 0.3, width: 0.08, height: 0.1 } }));
  const el = stage({ name: 'crew.jpg', width: 2000, height: 1300 }, '',
    faces.map((f, i) => faceButton(f, i, faces.length)));
  document.getElementById('main').replaceChildren(el);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const shown = [...el.querySelectorAll('.face-name')].filter((n) => !n.hidden)
    .map((n) => n.getBoundingClientRect()).map((r) => [r.left, r.top, r.right, r.bottom]);
  return { shown, above: el.querySelectorAll('.face-name.above').length };
}"""


def test_names_of_faces_close_together_never_print_over_each_other(browser, site):
    """A group photo on a 390 px phone put four names, each wider than the gap between
    the faces, over each other: a name that would meet one already placed goes above its
    face, else is left out. At 1280 px all four fit under their faces."""
    for viewport, least in (({"width": 1280, "height": 900}, 4), (PHONE["viewport"], 2)):
        context = browser.new_context(viewport=viewport, base_url=site)
        page = context.new_page()
        page.goto("/")
        expect(page.locator("#sets .card").first).to_be_attached()
        got = page.evaluate(_CLOSE_FACES)
        shown = got["shown"]
        assert len(shown) >= least, (viewport, got)
        for i, a in enumerate(shown):
            for b in shown[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, (viewport, a, b)
        if least == 4:
            assert got["above"] == 0, got  # room enough: every name under its face
        else:
            assert got["above"] >= 1, got
        context.close()


def test_the_picture_page_shows_when_it_was_taken_and_to_the_owner_where(page, browser, site):
    from test_when_where import photo_bytes, rome_gps

    sign_in(page)
    page.click("#new-set")
    page.fill("dialog input", "Dated")
    page.click("dialog button[type=submit]")
    expect(page).to_have_url(re.compile("/sets/Dated$"))
    photo = photo_bytes("2019:07:12 20:40:05", "+02:00", rome_gps())
    page.set_input_files(
        "#file-input", files=[{"name": "rome.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    expect(page.locator('#uploads li[data-status="added"]')).to_have_count(1, timeout=60_000)
    page.locator(".thumb", has_text="rome.jpg").click()
    taken = page.locator("#lightbox #picture-taken")
    # the camera's clock, whatever the browser's time zone: 20:40 in Rome
    expect(taken).to_contain_text("Taken July 12, 2019")
    expect(taken).to_contain_text("8:40")
    expect(taken).to_contain_text("Rome, Lazio, Italy")
    assert taken.locator("time").get_attribute("datetime") == "2019-07-12T20:40:05+02:00"
    page.locator("#lightbox a", has_text="Page").click()
    expect(page.locator("main #picture-taken")).to_contain_text("Rome, Lazio, Italy")
    url = page.url
    visitor = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                  timezone_id="America/Los_Angeles")  # 11:40 there: not shown
    try:
        seen = visitor.new_page()
        seen.goto(url)
        expect(seen.locator("#picture-taken")).to_contain_text("Taken July 12, 2019 at 8:40")
        expect(seen.locator("#picture-taken")).not_to_contain_text("Rome")
    finally:
        visitor.close()
