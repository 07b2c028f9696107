"""What a visitor can learn against a real `facealbum serve`: no guess of the owner's
secret goes uncounted, and nothing of a person the owner hid."""

from __future__ import annotations

import httpx
import pytest
from conftest import PHOTOS, serve_copy

SECRET = "privacy owner secret"
OWNER_ONLY = {  # a visitor gets 401
    "/api/uploads",
    "/api/sessions",
    "/api/people/status",
    "/api/jobs",
    "/api/jobs/{job_id}",
}


@pytest.fixture(scope="module")
def site(library_home, tmp_path_factory):
    proc, base = serve_copy(
        library_home, tmp_path_factory.mktemp("privacy"), {"FACEALBUM_OWNER_SECRET": SECRET}
    )
    yield base
    proc.terminate()
    proc.wait(10)


def owner_client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {SECRET}"})


def test_every_check_of_the_secret_counts_guesses_under_the_sign_in_limit(site):
    """Owner-aware reads took Bearer guesses without counting, and their answer (the
    ETag) told a right one apart: 300 in 0.6 s, no 429."""
    [picture] = [
        p
        for p in httpx.get(f"{site}/api/sets/fixtures").json()["pictures"]
        if p["name"] == "obama/obama.jpg"
    ]
    original = picture["original_url"]
    # a client of its own (the limit is per address): 127.0.0.2 is this machine too
    guesser = httpx.Client(
        base_url=site, timeout=30, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    right = {"Authorization": f"Bearer {SECRET}"}
    with guesser:
        assert guesser.get(original, headers=right).headers["etag"] == f'"{picture_sha(original)}"'
        visitor = guesser.get(original)
        assert visitor.status_code == 200 and visitor.headers["etag"].endswith('-public"')
        routes = [("GET", original), ("HEAD", original), ("GET", "/api/people")]
        codes = []
        for i in range(300):
            method, path = routes[i % len(routes)]
            answer = guesser.request(method, path, headers={"Authorization": f"Bearer no {i}"})
            codes.append(answer.status_code)
            assert "etag" not in answer.headers  # a wrong secret gets no visitor's answer
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes[:10]
        assert 0 < int(answer.headers["retry-after"]) <= 61
        # past the limit the right secret is refused too: no answer tells it apart
        for method, path in routes:
            assert guesser.request(method, path, headers=right).status_code == 429
        assert guesser.post("/api/session", json={"secret": SECRET}).status_code == 429
        assert guesser.get(original).status_code == 200  # visitors still look
    with owner_client(site) as owner:  # another address is not locked out
        assert owner.get("/api/people").status_code == 200


def picture_sha(url: str) -> str:
    return url.rsplit("/", 1)[1].split(".")[0]


def test_visitors_never_learn_of_a_hidden_person(site):
    """Every face in visitor JSON carried ``person_id``, so crawling the sets collected
    every picture of a person the owner hid; person-aware search expanded hidden
    persons for visitors too."""
    visitor = httpx.Client(base_url=site, timeout=60)
    owner = owner_client(site)
    with visitor, owner:
        pictures = {p["name"]: p for p in owner.get("/api/sets/fixtures").json()["pictures"]}
        [biden_face] = pictures["biden/biden.jpg"]["faces"]
        biden = biden_face["person_id"]
        [obama_face] = pictures["obama/obama-480p.jpg"]["faces"]
        # the owner names Biden, puts one Obama face with him (a deliberate choice: a
        # named person's faces widen a search from any of them), and hides him
        assert owner.patch(f"/api/people/{biden}", json={"name": "Joe"}).status_code == 200
        split = {"face_ids": [obama_face["face_id"]], "into": biden}
        assert owner.post("/api/people/split", json=split).status_code == 200

        def from_biden(client: httpx.Client) -> set[str]:
            found = client.get(f"/api/faces/{biden_face['face_id']}/matches").json()
            return {m["picture"]["name"] for m in found["matches"]}

        assert "obama/obama.jpg" in from_biden(visitor)  # person-aware while he is shown
        assert owner.patch(f"/api/people/{biden}", json={"hidden": True}).status_code == 200

        # the person-aware search: the owner's still widens, a visitor's no longer
        assert "obama/obama.jpg" in from_biden(owner)
        assert not {n for n in from_biden(visitor) if n.startswith("obama/")}
        assert visitor.get("/api/search", params={"people": biden}).status_code == 404
        assert owner.get("/api/search", params={"people": biden}).status_code == 200
        # ONLY: the group photo is Obama's alone to a visitor (Joe is no one to them)
        obama = pictures["obama/obama.jpg"]["faces"][0]["person_id"]
        assert owner.patch(f"/api/people/{obama}", json={"name": "Barack"}).status_code == 200
        only = {"people": obama, "mode": "only"}
        shown = {p["name"] for p in visitor.get("/api/search", params=only).json()["pictures"]}
        assert "groups/two_people.jpg" in shown
        kept = {p["name"] for p in owner.get("/api/search", params=only).json()["pictures"]}
        assert "groups/two_people.jpg" not in kept

        # crawl every route a visitor can GET, and search by photo: no Biden anywhere
        answers = crawl(visitor, pictures, biden)
        for url, text in answers.items():
            assert biden not in text, url
            assert "Joe" not in text, url  # nor his name: it follows his person_id
        assert any(obama in t for t in answers.values())  # a shown person stays shown
        assert any('"name":"Barack"' in t for t in answers.values())  # with the name
        owned = owner.get(f"/api/pictures/{pictures['biden/biden.jpg']['image_id']}").json()
        assert owned["faces"][0]["person_id"] == biden  # the owner still sees everything
        assert owned["faces"][0]["person"] == {"person_id": biden, "name": "Joe"}
        assert biden in {p["person_id"] for p in owner.get("/api/people").json()["people"]}
        photo = {"file": ("q.jpg", (PHOTOS / "biden" / "biden.jpg").read_bytes())}
        [found] = owner.post("/api/search/by-image", files=photo).json()["faces"]
        assert found["person"] == {"person_id": biden, "name": "Joe"}


def crawl(c: httpx.Client, pictures: dict[str, dict], hidden: str) -> dict[str, str]:
    """Every visitor GET route the OpenAPI schema lists (each must be visited), the
    site's pages and search by photo: {url: answer text}."""
    answers: dict[str, str] = {}
    visited: set[str] = set()

    def get(template: str, url: str, **params: object) -> httpx.Response:
        r = c.get(url, params=params)
        visited.add(template)
        if hidden in f"{url}{params}":  # asked by its id: unknown (the page is the shell)
            assert r.status_code == (200 if url.startswith("/people/") else 404), url
        else:  # (an answer echoing the id it was asked for would tell nothing)
            assert r.status_code == 200, (url, r.status_code, r.text)
            answers[f"{url}?{params}"] = r.text
        return r

    for s in get("/api/sets", "/api/sets").json()["sets"]:
        get("/api/sets/{name}", f"/api/sets/{s['name']}")
        get("/api/sets/{name}/ids", f"/api/sets/{s['name']}/ids")
    for p in pictures.values():
        get("/api/pictures/{image_id}", f"/api/pictures/{p['image_id']}")
        for f in p["faces"]:
            url = f"/api/faces/{f['face_id']}/matches"
            get("/api/faces/{face_id}/matches", url)
            get("/api/faces/{face_id}/matches", url, threshold=0, limit=1000)
    people = get("/api/people", "/api/people").json()["people"]
    get("/api/people/names", "/api/people/names")
    for person in [*people, {"person_id": hidden}]:
        get("/api/people/{person_id}", f"/api/people/{person['person_id']}")
        for mode in ("all", "any", "only"):
            get("/api/search", "/api/search", people=person["person_id"], mode=mode)
    get("/api/session", "/api/session")
    for page in ("/", "/sets/fixtures", "/people", f"/people/{hidden}", "/search"):
        get(page, page)
    for name in ("biden/biden.jpg", "groups/two_people.jpg"):
        photo = (PHOTOS / name).read_bytes()
        found = c.post("/api/search/by-image", files={"file": ("q.jpg", photo)})
        assert found.status_code == 200, found.text
        answers[f"by-image {name}"] = found.text
    schema = c.get("/openapi.json").json()["paths"]
    listed = {p for p, ops in schema.items() if "get" in ops} - OWNER_ONLY
    assert listed - visited == set()  # a new visitor route must be crawled here too
    return answers
