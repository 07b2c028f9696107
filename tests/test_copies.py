"""A photo stored in two sets is listed once, with both sets named: on a person's page,
in a face's matches and in "Pictures with…", and paging never repeats it."""

from __future__ import annotations

import shutil

import httpx
import pytest
from conftest import PHOTOS, serve_copy

from facealbum.settings import Settings
from facealbum.wiring import open_album

AGAIN = ["obama/obama.jpg", "obama/obama2.jpg", "groups/two_people.jpg"]
OWNER = "copies owner"


@pytest.fixture(scope="module")
def api(library_home, tmp_path_factory):
    """The shared library, plus three of its photos stored again in a set "Trip"."""
    dest = tmp_path_factory.mktemp("copies")
    home = dest / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    for name in AGAIN:
        done = album.ingest("Trip", name, (PHOTOS / name).read_bytes())
        assert done.picture is not None
    album.close()
    proc, base = serve_copy(home, dest / "served", {"FACEALBUM_OWNER_SECRET": OWNER})
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    proc.terminate()
    proc.wait(10)


def by_name(api) -> dict[tuple[str, str], dict]:
    out = {}
    for s in ("fixtures", "Trip"):
        out |= {(s, p["name"]): p for p in api.get(f"/api/sets/{s}").json()["pictures"]}
    return out


def listed_once(pictures: list[dict], everything: dict) -> None:
    """Each photo once; each of AGAIN with the other set's picture named."""
    names = [p["name"] for p in pictures]
    assert len(names) == len(set(names)), names
    for p in pictures:
        if p["name"] in AGAIN:
            other = "Trip" if p["set"] == "fixtures" else "fixtures"
            copy = everything[(other, p["name"])]["image_id"]
            named = [{"set": c["set"], "image_id": c["image_id"]} for c in p["also_in"]]
            assert named == [{"set": other, "image_id": copy}], p
        else:
            assert p["also_in"] == []


def test_a_photo_in_two_sets_is_listed_once_with_both_sets(api):
    everything = by_name(api)
    obama = everything[("fixtures", "obama/obama.jpg")]
    person = obama["faces"][0]["person_id"]
    copy = everything[("Trip", "obama/obama.jpg")]
    assert copy["faces"][0]["person_id"] == person  # the same face: the same person

    # the person's page: 4 photos, 7 pictures of them
    page = api.get(f"/api/people/{person}").json()
    assert sorted(p["name"] for p in page["pictures"]) == sorted(
        ["obama/obama.jpg", "obama/obama2.jpg", "obama/obama-480p.jpg", "groups/two_people.jpg"]
    )
    listed_once(page["pictures"], everything)
    # the owner corrects a face there on every copy: each face's twin in the copy is named
    for p in page["pictures"]:
        for c in p["also_in"]:
            twin = everything[(c["set"], p["name"])]
            pairs = zip(p["faces"], twin["faces"], strict=True)
            assert c["faces"] == {f["face_id"]: t["face_id"] for f, t in pairs}

    # Pictures with… him: the same
    found = api.get(f"/api/search?people={person}&mode=any").json()["pictures"]
    assert len(found) == 4
    listed_once(found, everything)

    # the face's matches: the clicked picture first, its copy named, not listed again
    face = obama["faces"][0]["face_id"]
    whole = api.get(f"/api/faces/{face}/matches?limit=1000").json()
    pictures = [m["picture"] for m in whole["matches"]]
    assert pictures[0]["image_id"] == obama["image_id"]
    assert whole["total"] == len(pictures) >= 4
    listed_once(pictures, everything)
    # one photo a page: every page a new photo, and the same ones as all at once
    paged = []
    for offset in range(whole["total"] + 1):
        got = api.get(f"/api/faces/{face}/matches?limit=1&offset={offset}").json()
        assert got["total"] == whole["total"]
        paged += [m["picture"]["image_id"] for m in got["matches"]]
    assert paged == [p["image_id"] for p in pictures]


def test_the_owner_corrects_a_face_on_every_copy_of_its_photo(api):
    """A photo listed once stands for its copies: "not <name>?" on the face page and
    "Who is this?" on the picture act on the same face (same box) in the other sets
    too, else the copy keeps the photo on the person's page and in two people."""
    everything = by_name(api)
    owner = {"Authorization": f"Bearer {OWNER}"}

    def twin(name: str, i: int = 0) -> tuple[dict, dict]:
        a, b = everything[("fixtures", name)], everything[("Trip", name)]
        face = a["faces"][i] | {"image_id": a["image_id"]}
        copy = next(f for f in b["faces"] if f["box"] == face["box"])
        return face, copy | {"image_id": b["image_id"]}

    def who(face: dict) -> str | None:
        faces = api.get(f"/api/pictures/{face['image_id']}").json()["faces"]
        return next(f["person_id"] for f in faces if f["face_id"] == face["face_id"])

    face, copy = twin("obama/obama2.jpg")
    person = face["person_id"]
    went = api.post(f"/api/faces/{face['face_id']}/not-person", json={"person_id": person},
                    headers=owner).json()["person_id"]
    assert went != person
    page = api.get(f"/api/people/{person}", headers=owner).json()
    assert "obama/obama2.jpg" not in [p["name"] for p in page["pictures"]]
    assert who(copy) == went

    face, copy = twin("groups/two_people.jpg", 1)
    named = api.post(f"/api/faces/{face['face_id']}/name", json={"name": "Zoë"},
                     headers=owner).json()
    assert named["name"] == "Zoë"
    assert who(copy) == named["person_id"]
    face, copy = twin("obama/obama.jpg")
    joined = api.post(f"/api/faces/{face['face_id']}/name", json={"name": "zoë"},
                      headers=owner).json()
    assert joined["person_id"] == named["person_id"]  # a name is a person, any case
    assert who(copy) == named["person_id"]


def test_paging_a_person_or_pictures_with_people_never_repeats_a_photo(api):
    """Paged by image id, a photo stored in two sets came back on a later page as its
    copy (the person's 4 photos walked one a page: 7 pages). Each photo is listed once
    across pages, at its first picture, naming the other set on every page size."""
    everything = by_name(api)
    person = everything[("fixtures", "obama/obama.jpg")]["faces"][0]["person_id"]
    whole = api.get(f"/api/people/{person}").json()["pictures"]
    routes = ((f"/api/people/{person}", {}), ("/api/search", {"people": person, "mode": "any"}))
    for route, query in routes:
        for limit in (1, 2, 3):
            walked, after = [], None
            while True:
                got = api.get(route, params=query | {"limit": limit, "after": after or []})
                assert got.status_code == 200, got.text
                walked += got.json()["pictures"]
                if not (after := got.json()["next"]):
                    break
            assert sorted(p["image_id"] for p in walked) == sorted(p["image_id"] for p in whole)
            listed_once(walked, everything)
