"""The JSON API over real HTTP, against a real `facealbum serve` process."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from conftest import PHOTOS
from PIL import Image


@pytest.fixture(scope="module")
def api(engine_server):
    """The same API on either face engine (conftest.ENGINES)."""
    with httpx.Client(base_url=engine_server, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def pictures(api) -> dict[str, dict]:
    body = api.get("/api/sets/fixtures").json()
    return {p["name"]: p for p in body["pictures"]}


def test_sets(api):
    body = api.get("/api/sets").json()
    assert body["next"] is None  # one page
    [fixtures] = body["sets"]
    assert fixtures["name"] == "fixtures"
    assert fixtures["picture_count"] == len(list(PHOTOS.rglob("*.jpg")))
    assert api.get(fixtures["featured"]["thumb_url"], follow_redirects=True).status_code == 200


def test_set_lists_pictures_with_faces(api, pictures):
    group = pictures["groups/two_people.jpg"]
    assert set(group) == {
        "image_id",
        "set",
        "name",
        "width",
        "height",
        "thumb_url",
        "preview_url",
        "original_url",
        "faces",
        "focus",
        "taken_at",  # a visitor's: no position, as the set shares no location
        "taken_at_source",
    }
    assert (group["width"], group["height"]) == (1126, 661)
    assert len(group["faces"]) == 2
    # a square crop centres between the two faces (test_crops.py: a portrait's)
    boxes = [f["box"] for f in group["faces"]]
    middle = (min(b["left"] for b in boxes) + max(b["left"] + b["width"] for b in boxes)) / 2
    assert group["focus"]["x"] == pytest.approx(middle, abs=0.001)
    for face in group["faces"]:
        assert set(face) == {"face_id", "box", "confidence", "person_id", "person"}
        assert set(face["box"]) == {"left", "top", "width", "height"}
        # the person as the viewer may know it: its id and name (nobody named them yet)
        assert face["person"] == {"person_id": face["person_id"], "name": None}
    # placed in people as they were imported: two people, on every backend
    assert len({f["person_id"] for f in group["faces"]} - {None}) == 2
    alone = api.get(f"/api/pictures/{group['image_id']}").json()
    assert set(alone) == set(group) | {"previous", "next"}  # its neighbours in the set
    assert {k: v for k, v in alone.items() if k in group} == group


def test_set_ids_in_display_order(api, pictures):
    body = api.get("/api/sets/fixtures/ids").json()
    by_id = {p["image_id"]: name for name, p in pictures.items()}
    assert [by_id[i] for i in body["image_ids"]] == sorted(pictures)
    assert api.get("/api/sets/nope/ids").status_code == 404


def test_paging_a_set(api, pictures):
    page = api.get("/api/sets/fixtures", params={"limit": 3, "offset": 3}).json()["pictures"]
    assert [p["name"] for p in page] == sorted(pictures)[3:6]


def test_face_matches(api, pictures):
    face = pictures["obama/obama.jpg"]["faces"][0]
    body = api.get(f"/api/faces/{face['face_id']}/matches").json()
    assert body["query"] == {
        "face_id": face["face_id"],
        "image_id": pictures["obama/obama.jpg"]["image_id"],
        "person": face["person"],
    }
    names = [m["picture"]["name"] for m in body["matches"]]
    assert names[0] == "obama/obama.jpg"
    assert {"obama/obama2.jpg", "obama/obama-480p.jpg", "groups/two_people.jpg"} <= set(names)
    assert not [n for n in names if n.startswith("biden/")]
    assert len(names) == len(set(names))
    sims = [m["similarity"] for m in body["matches"]]
    assert sims == sorted(sims, reverse=True)
    group = next(m for m in body["matches"] if m["picture"]["name"] == "groups/two_people.jpg")
    assert group["face"]["face_id"] in {f["face_id"] for f in group["picture"]["faces"]}
    assert set(group["face"]["box"]) == {"left", "top", "width", "height"}


def test_matches_paging_and_threshold(api, pictures):
    face = pictures["obama/obama.jpg"]["faces"][0]["face_id"]
    url = f"/api/faces/{face}/matches"
    everything = api.get(url, params={"threshold": 0, "limit": 1000}).json()
    assert everything["total"] == len(everything["matches"]) > 10
    two = api.get(url, params={"threshold": 0, "limit": 2, "offset": 2}).json()["matches"]
    assert [m["picture"]["image_id"] for m in two] == [
        m["picture"]["image_id"] for m in everything["matches"][2:4]
    ]


@pytest.mark.parametrize(
    "url",
    ["/api/sets/nope", "/api/pictures/nope", "/api/faces/nope/matches", "/media/originals/x.jpg"],
)
def test_unknown_things_are_404_with_json_error(api, url):
    r = api.get(url)
    assert r.status_code == 404
    assert "error" in r.json() and r.json()["error"]


@pytest.mark.parametrize(
    "params", [{"threshold": "abc"}, {"threshold": 101}, {"limit": 0}, {"offset": -1}]
)
def test_bad_parameters_are_422_with_json_error(api, pictures, params):
    face = pictures["obama/obama.jpg"]["faces"][0]["face_id"]
    r = api.get(f"/api/faces/{face}/matches", params=params)
    assert r.status_code == 422
    assert next(iter(params)) in r.json()["error"]


def test_images_are_cached_forever_and_revalidate(api, pictures):
    p = pictures["obama/obama.jpg"]
    r = api.get(p["thumb_url"], follow_redirects=True)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(r.content)).size) <= 400
    if r.history:  # on S3: a short-lived redirect to a presigned URL, S3 sends the bytes
        [hop] = r.history
        assert hop.status_code == 307 and hop.headers["cache-control"].startswith("private")
    else:
        assert (
            "immutable" in r.headers["cache-control"]
            and "max-age=31536000" in r.headers["cache-control"]
        )
        again = api.get(p["thumb_url"], headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    original = api.get(p["original_url"])  # a visitor's: the pixels, not the metadata
    exact = (PHOTOS / "obama" / "obama.jpg").read_bytes()
    assert original.status_code == 200 and len(original.content) < len(exact)
    seen, stored = Image.open(io.BytesIO(original.content)), Image.open(io.BytesIO(exact))
    assert seen.tobytes() == stored.tobytes()
    assert "xmp" in stored.info and "xmp" not in seen.info and "photoshop" not in seen.info
    preview = Image.open(io.BytesIO(api.get(p["preview_url"], follow_redirects=True).content))
    assert preview.size == (p["width"], p["height"])


def test_media_refuses_path_tricks(api):
    assert api.get("/media/originals/..%2F..%2Fcatalog.db").status_code in (404, 422)
    assert api.get("/media/secrets/x").status_code == 404


def test_openapi_documents_the_api_without_a_cdn(api):
    docs = api.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert api.get(asset).status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {
        "/api/sets",
        "/api/sets/{name}",
        "/api/pictures/{image_id}",
        "/api/faces/{face_id}/matches",
    } <= set(paths)


def test_pages_forbid_anything_but_their_own_resources(api):
    page = api.get("/sets/fixtures")
    assert page.status_code == 200 and "<script" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
