"""The owner's routes over real HTTP: sign-in, CSRF, rate limit, uploads, edits."""

from __future__ import annotations

import stat
import time

import httpx
import pytest
from conftest import PHOTOS, serve_copy, start_server

SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(library_home, tmp_path_factory):
    dest = tmp_path_factory.mktemp("owner")
    proc, base = serve_copy(library_home, dest, {"FACEALBUM_OWNER_SECRET": SECRET})
    yield base, dest / "home"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def visitor(site):
    with httpx.Client(base_url=site[0], timeout=60) as c:
        yield c


@pytest.fixture
def owner(site):
    with httpx.Client(base_url=site[0], timeout=60) as c:
        r = c.post("/api/session", json={"secret": SECRET})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        c.headers["X-CSRF-Token"] = r.json()["csrf"]
        yield c


def wait_for_uploads(client, ids, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get("/api/uploads", params={"ids": ",".join(ids)}).json()["uploads"]
        if all(u["status"] != "queued" for u in found):
            return found
        time.sleep(0.3)
    raise AssertionError("uploads not processed")


def wait_for_job(client, url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(url).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("job not done")


MUTATIONS = [
    ("post", "/api/sets", {"json": {"name": "x"}}),
    ("patch", "/api/sets/fixtures", {"json": {"name": "y"}}),
    ("delete", "/api/sets/fixtures", {}),
    ("post", "/api/sets/fixtures/pictures", {"files": {"files": ("a.jpg", b"x")}}),
    ("patch", "/api/pictures/anything", {"json": {"name": "z.jpg"}}),
    ("delete", "/api/pictures/anything", {}),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), MUTATIONS)
def test_visitors_cannot_change_anything(visitor, method, url, kwargs):
    r = getattr(visitor, method)(url, **kwargs)
    assert r.status_code == 401 and "owner" in r.json()["error"]


@pytest.mark.parametrize(("method", "url", "kwargs"), MUTATIONS)
def test_a_session_without_csrf_token_is_refused(owner, method, url, kwargs):
    del owner.headers["X-CSRF-Token"]
    r = getattr(owner, method)(url, **kwargs)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    owner.headers["X-CSRF-Token"] = "0" * 64
    assert getattr(owner, method)(url, **kwargs).status_code == 403


def test_session_reports_owner_and_sign_out(owner, visitor):
    assert visitor.get("/api/session").json() == {"owner": False, "csrf": None}
    assert owner.get("/api/session").json()["owner"] is True
    assert owner.delete("/api/session").json()["owner"] is False
    owner.cookies.clear()
    assert owner.get("/api/session").json()["owner"] is False


def test_forged_cookie_is_not_a_session(visitor):
    visitor.cookies.set("facealbum_session", f"{int(time.time())}.abc.{'0' * 64}")
    assert visitor.post("/api/sets", json={"name": "forged"}).status_code == 401


def test_sign_in_must_be_json(visitor):
    r = visitor.post("/api/session", data={"secret": SECRET})  # a cross-site form post
    assert r.status_code == 422


def test_failed_sign_ins_are_rate_limited(tmp_path):
    # a server of its own: the limit is per client address, and every test is 127.0.0.1
    proc, base = start_server(tmp_path / "home", {"FACEALBUM_OWNER_SECRET": SECRET})
    with httpx.Client(base_url=base, timeout=30) as c:
        codes = [
            c.post("/api/session", json={"secret": f"guess {i}"}).status_code for i in range(6)
        ]
        assert codes[:5] == [401] * 5 and codes[5] == 429
        r = c.post("/api/session", json={"secret": SECRET})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "too many failed sign-ins" in r.json()["error"]
        bearer = c.post(
            "/api/sets", json={"name": "x"}, headers={"Authorization": f"Bearer {SECRET}"}
        )
        assert bearer.status_code == 429  # guessing through the Bearer path counts too
    proc.terminate()
    proc.wait(10)


def test_scripts_upload_with_the_secret_as_bearer_token(site):
    with httpx.Client(base_url=site[0], timeout=60) as c:
        files = [
            ("files", ("biden.jpg", (PHOTOS / "biden" / "biden.jpg").read_bytes(), "image/jpeg")),
            ("files", ("dog.jpg", (PHOTOS / "nofaces" / "dog.jpg").read_bytes(), "image/jpeg")),
            ("files", ("../evil.jpg", b"x", "image/jpeg")),
            ("files", ("notes.jpg", b"not an image at all", "image/jpeg")),
        ]
        r = c.post(
            "/api/sets/Scripted/pictures",
            files=files,
            headers={"Authorization": f"Bearer {SECRET}"},
        )
        assert r.status_code == 202
        uploads = r.json()["uploads"]
        assert [u["status"] for u in uploads] == ["queued", "queued", "failed", "queued"]
        assert "unsafe file name" in uploads[2]["error"]
        ids = [u["upload_id"] for u in uploads if u["status"] == "queued"]
        c.headers["Authorization"] = f"Bearer {SECRET}"
        done = {u["name"]: u for u in wait_for_uploads(c, ids)}
        assert done["biden.jpg"]["status"] == "added" and done["biden.jpg"]["faces"] == 1
        assert done["dog.jpg"]["status"] == "added" and done["dog.jpg"]["faces"] == 0
        assert done["notes.jpg"]["status"] == "failed"
        assert "not a readable image" in done["notes.jpg"]["error"]
        names = [p["name"] for p in c.get("/api/sets/Scripted").json()["pictures"]]
        assert names == ["biden.jpg", "dog.jpg"]
        assert (
            c.post(
                "/api/sets/Scripted/pictures",
                files=files[:1],
                headers={"Authorization": "Bearer wrong"},
            ).status_code
            == 401
        )


def test_an_upload_of_a_recaptioned_photo_is_the_picture_already_there(site):
    """Issue 19: the photo again with only its caption edited (other bytes, the same
    pixels) is not a second picture: its upload says "duplicate", of which kind, and
    names the picture the set has; face search lists the photo once."""
    from test_dedupe import EDITED, OBAMA

    with httpx.Client(
        base_url=site[0], timeout=60, headers={"Authorization": f"Bearer {SECRET}"}
    ) as c:
        url = "/api/sets/Captions/pictures"
        r = c.post(url, files=[("files", ("IMG_2001.JPG", OBAMA, "image/jpeg"))])
        [first] = wait_for_uploads(c, [r.json()["uploads"][0]["upload_id"]])
        assert (first["status"], first["duplicate"]) == ("added", None)
        r = c.post(url, files=[("files", ("IMG_2001-edited.JPG", EDITED, "image/jpeg")),
                               ("files", ("copy.JPG", OBAMA, "image/jpeg"))])  # fmt: skip
        edited, copy = wait_for_uploads(c, [u["upload_id"] for u in r.json()["uploads"]])
        assert (edited["status"], edited["duplicate"]) == ("duplicate", "pixels")
        assert (copy["status"], copy["duplicate"]) == ("duplicate", "file")
        for u in (edited, copy):  # the picture the set has
            assert (u["image_id"], u["name"]) == (first["image_id"], "IMG_2001.JPG")
        [picture] = c.get("/api/sets/Captions").json()["pictures"]
        assert picture["image_id"] == first["image_id"]
        face = picture["faces"][0]["face_id"]
        matches = c.get(f"/api/faces/{face}/matches").json()["matches"]
        listed = [m["picture"] for m in matches]
        listed += [c for m in matches for c in m["picture"]["also_in"]]  # copies elsewhere
        here = [p["image_id"] for p in listed if p["set"] == "Captions"]
        assert here == [first["image_id"]]


def test_a_cameras_two_image_jpeg_uploads_as_a_jpeg(site):
    import io

    from PIL import Image

    img = Image.open(PHOTOS / "obama" / "obama.jpg")
    buf = io.BytesIO()
    img.save(buf, "MPO", save_all=True, append_images=[img.rotate(90)])
    mpo = buf.getvalue()
    assert Image.open(io.BytesIO(mpo)).format == "MPO"
    with httpx.Client(
        base_url=site[0], timeout=60, headers={"Authorization": f"Bearer {SECRET}"}
    ) as c:
        r = c.post(
            "/api/sets/Camera/pictures", files=[("files", ("IMG_0001.JPG", mpo, "image/jpeg"))]
        )
        assert r.status_code == 202
        [done] = wait_for_uploads(c, [r.json()["uploads"][0]["upload_id"]])
        assert (done["status"], done["faces"]) == ("added", 1), done
        [picture] = c.get("/api/sets/Camera").json()["pictures"]
        original = c.get(picture["original_url"])
        assert original.status_code == 200
        assert original.headers["content-type"] == "image/jpeg"
        assert original.content == mpo  # the owner gets the file as uploaded


def test_a_tiff_upload_is_served_to_the_owner_only(site):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(PHOTOS / "biden" / "biden.jpg").save(buf, "TIFF")
    tiff = buf.getvalue()
    with httpx.Client(
        base_url=site[0], timeout=60, headers={"Authorization": f"Bearer {SECRET}"}
    ) as c:
        r = c.post("/api/sets/Scans/pictures", files=[("files", ("scan.tif", tiff, "image/tiff"))])
        [done] = wait_for_uploads(c, [r.json()["uploads"][0]["upload_id"]])
        assert (done["status"], done["faces"]) == ("added", 1), done
        [picture] = c.get("/api/sets/Scans").json()["pictures"]
        assert picture["original_url"].endswith(".tif")
        original = c.get(picture["original_url"])
        assert original.headers["content-type"] == "image/tiff" and original.content == tiff
        thumb = httpx.get(site[0] + picture["thumb_url"], timeout=30)
        assert thumb.headers["content-type"] == "image/jpeg"
    visitor = httpx.get(site[0] + picture["original_url"], timeout=30)
    assert visitor.status_code == 403  # a TIFF's tags cannot be stripped losslessly here


def test_owner_edits_sets_and_pictures(owner, site):
    _, home = site
    assert owner.post("/api/sets", json={"name": "Edits"}).status_code == 201
    assert owner.post("/api/sets", json={"name": "Edits"}).status_code == 422  # exists
    assert owner.get("/api/sets/Edits").json()["picture_count"] == 0
    savage = PHOTOS / "johns" / "john_savage"
    files = [  # the first is also in the fixtures set; the second is new content
        ("files", ("a.jpg", (savage / "000264_01099001.jpg").read_bytes(), "image/jpeg")),
        ("files", ("b.jpg", (savage / "000274_01099061.jpg").read_bytes() + b"\0", "image/jpeg")),
    ]
    ids = [
        u["upload_id"]
        for u in owner.post("/api/sets/Edits/pictures", files=files).json()["uploads"]
    ]
    first, second = (u["image_id"] for u in wait_for_uploads(owner, ids))
    assert owner.get("/api/sets/Edits").json()["featured"]["image_id"] in {first, second}

    r = owner.patch("/api/sets/Edits", json={"featured_image_id": second})
    assert r.json()["featured"]["image_id"] == second
    r = owner.patch("/api/sets/Edits", json={"name": "Edited"})
    assert r.status_code == 200 and r.json()["name"] == "Edited"
    assert owner.get("/api/sets/Edits").status_code == 404
    assert owner.get(f"/api/pictures/{second}").json()["set"] == "Edited"
    assert owner.patch("/api/sets/Edited", json={"name": "fixtures"}).status_code == 422

    r = owner.patch(f"/api/pictures/{first}", json={"name": "savage.jpg"})
    assert r.json()["name"] == "savage.jpg"
    assert owner.patch(f"/api/pictures/{first}", json={"name": "../x.jpg"}).status_code == 422

    picture = owner.get(f"/api/pictures/{second}").json()
    assert owner.delete(f"/api/pictures/{second}").status_code == 204
    assert owner.get(f"/api/pictures/{second}").status_code == 404
    assert owner.get(picture["thumb_url"]).status_code == 404  # its blobs went with it
    assert owner.get(picture["original_url"]).status_code == 404
    assert owner.get("/api/sets/Edited").json()["featured"]["image_id"] == first
    face = owner.get(f"/api/pictures/{first}").json()["faces"][0]["face_id"]
    matches = owner.get(f"/api/faces/{face}/matches").json()["matches"]
    assert second not in {m["picture"]["image_id"] for m in matches}

    shared = owner.get(f"/api/pictures/{first}").json()
    r = owner.delete("/api/sets/Edited")  # a job: accepted at once, gone from listings
    assert r.status_code == 202 and r.headers["location"] == r.json()["status_url"]
    assert "Edited" not in {s["name"] for s in owner.get("/api/sets").json()["sets"]}
    job = wait_for_job(owner, r.json()["status_url"])
    assert job["state"] == "done" and job["done"] == job["total"] == 1
    assert owner.get("/api/jobs").json() == {"jobs": []}
    assert httpx.get(f"{site[0]}/api/jobs").status_code == 401  # the owner's only
    assert owner.get(shared["thumb_url"]).status_code == 200  # still used by "fixtures"
    assert owner.get("/api/sets/Edited").status_code == 404
    assert owner.get(f"/api/faces/{face}/matches").status_code == 404


def test_generated_secret_is_stored_privately_and_printed_once(tmp_path):
    home = tmp_path / "home"
    proc, base = start_server(home)
    proc.terminate()
    out = proc.communicate(timeout=10)[0]
    secret_file = home / "owner-secret"
    secret = secret_file.read_text().strip()
    assert len(secret) >= 20 and secret in out
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    proc, base = start_server(home)
    try:
        with httpx.Client(base_url=base) as c:
            assert c.post("/api/session", json={"secret": secret}).status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert secret not in out


def test_every_change_of_a_set_being_renamed_is_422_under_either_name(site, owner):
    """While a rename A -> B runs as a job, B is hidden (reads of it are 404), yet it is
    not free: PATCH or DELETE of B answers 422, as a change of A and a new set named B
    do, and an upload to it is refused (PATCH of B was 404)."""
    from facealbum import set_jobs
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    assert owner.post("/api/sets", json={"name": "Moving"}).status_code == 201
    album = open_album(Settings(home=site[1]))
    # recorded, not queued: the server's job loop leaves it alone for a lease (60 s)
    job = set_jobs.start(album, "rename", "Moving", "Moved", queue=False)
    try:
        assert owner.get("/api/sets/Moved").status_code == 404
        changes = [
            ("patch", "/api/sets/Moved", {"json": {"name": "Else"}}),
            ("patch", "/api/sets/Moved", {"json": {"share_location": True}}),
            ("delete", "/api/sets/Moved", {}),
            ("patch", "/api/sets/Moving", {"json": {"name": "Else"}}),
            ("patch", "/api/sets/Moving", {"json": {"share_location": True}}),
            ("delete", "/api/sets/Moving", {}),
            ("post", "/api/sets", {"json": {"name": "Moved"}}),
        ]
        for method, url, kwargs in changes:
            r = getattr(owner, method)(url, **kwargs)
            assert r.status_code == 422 and "being changed" in r.json()["error"], (url, r.text)
        r = owner.post("/api/sets/Moved/pictures", files={"files": ("a.jpg", b"x")})
        assert "being changed" in r.json()["uploads"][0]["error"]  # each file's own answer
    finally:
        assert set_jobs.run(album, job["id"])["state"] == "done"
    assert owner.get("/api/sets/Moved").status_code == 200
    assert owner.get("/api/sets/Moving").status_code == 404
