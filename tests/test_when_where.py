"""When and where a picture was taken, in the album (issue 20, items 1-2): real files
made from the test photos with their EXIF capture time and GPS position, imported from
a folder, uploaded, and read again by ``reindex --metadata``; the API gives the time to
anyone and the position only to the owner or where the set shares locations."""

from __future__ import annotations

import io
import logging
import os

import pytest
from badfiles import PHOTOS
from conftest import cli
from fastapi.testclient import TestClient
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from test_place import dms
from test_ports import picture

from facealbum.domain import CAPTURE_FIELDS
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.web.app import create_app
from facealbum.wiring import open_album

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
JULY_12_UTC = 1562934625.0  # 2019-07-12T12:30:25+00:00
ROME = (41.9028, 12.4964)


def photo_bytes(
    date: str | None = None, offset: str | None = None, gps: dict | None = None, copy: int = 0
) -> bytes:
    """A test photo as a camera's JPEG: ``DateTimeOriginal`` with ``OffsetTimeOriginal``
    in its Exif IFD, and GPS tags (by number: ``t1`` GPSLatitudeRef ...) in its GPS IFD;
    ``copy`` greys a corner square, so that copies are other photos to the album (the
    same pixels would be one picture: ingest.pixel_sha256)."""
    block = Image.Exif()
    if date is not None:
        block.get_ifd(EXIF_IFD)[0x9003] = date
    if offset is not None:
        block.get_ifd(EXIF_IFD)[0x9011] = offset
    for tag, value in (gps or {}).items():
        block.get_ifd(GPS_IFD)[int(tag[1:])] = value
    with Image.open(PHOTOS / "obama" / "obama.jpg") as img:
        img.thumbnail((480, 480))
        img = img.convert("RGB")
        img.paste((copy * 40 % 256,) * 3, (0, 0, 16, 16))
        buf = io.BytesIO()
        img.save(buf, "JPEG", exif=block)
    return buf.getvalue()


def rome_gps() -> dict:
    lat, lon = ROME
    return dict(t1="N", t2=dms(lat), t3="E", t4=dms(lon), t5=b"\x00", t6=IFDRational(215, 10))


def fields(p) -> dict:
    return {k: getattr(p, k) for k in CAPTURE_FIELDS}


def by_name(album, set_name: str) -> dict:
    return {p.name: p for p in album.catalog.list_pictures(set_name, 100, 0)}


def test_an_imported_folder_keeps_when_and_where_each_photo_was_taken(album, tmp_path):
    folder = tmp_path / "trip"
    folder.mkdir()
    (folder / "rome.jpg").write_bytes(photo_bytes("2019:07:12 14:30:25", "+02:00", rome_gps()))
    (folder / "bad date.jpg").write_bytes(photo_bytes("2019:13:45 25:61:00", copy=1))
    (folder / "IMG_20180101_101010.jpg").write_bytes(photo_bytes(copy=2))
    os.utime(folder / "bad date.jpg", (JULY_12_UTC, JULY_12_UTC))
    report = import_folder(album, folder, "Trip", workers=1)
    assert {o.status for o in report.outcomes} == {"imported"}, report.outcomes
    found = by_name(album, "Trip")
    rome = found["rome.jpg"]
    assert (rome.taken_at, rome.taken_at_source) == (
        "2019-07-12T14:30:25+02:00", "exif:DateTimeOriginal")
    assert rome.latitude == pytest.approx(ROME[0], abs=1e-5)
    assert rome.longitude == pytest.approx(ROME[1], abs=1e-5)
    assert (rome.altitude, rome.place) == (21.5, "Rome, Lazio, Italy")
    # the unusable date is passed over for the next source: the file's time (UTC)
    assert fields(found["bad date.jpg"]) == {
        "taken_at": "2019-07-12T12:30:25+00:00", "taken_at_source": "file time",
        "latitude": None, "longitude": None, "altitude": None, "place": None}
    assert fields(found["IMG_20180101_101010.jpg"])["taken_at"] == "2018-01-01T10:10:10"


def test_bad_metadata_never_fails_an_upload_and_leaves_the_fields_empty(album, caplog):
    zero = dict(t1="N", t2=dms(0), t3="E", t4=dms(0))  # a device without a fix
    with caplog.at_level(logging.WARNING, "facealbum"):
        stored = album.ingest("Trip", "upload.jpg", photo_bytes("0000:00:00 00:00:00", gps=zero))
    assert stored.status == "added" and len(stored.picture.faces) == 1
    assert fields(album.catalog.get_picture(stored.picture.image_id)) == dict.fromkeys(
        CAPTURE_FIELDS)
    said = [r.getMessage() for r in caplog.records]
    assert any("upload.jpg: exif:DateTimeOriginal" in line and "placeholder" in line
               for line in said), said
    assert any("upload.jpg: GPS position" in line and "0°, 0°" in line for line in said), said


def test_an_upload_is_dated_by_its_file_name_in_the_queue(album):
    upload = album.submit_upload("Trip", "PXL_20190712_143025123.jpg", photo_bytes())
    assert album.queue.run_pending() == 1
    [done] = album.catalog.get_uploads([upload.upload_id])
    assert done.status == "added", done
    got = album.catalog.get_picture(done.image_id)
    assert (got.taken_at, got.taken_at_source) == ("2019-07-12T14:30:25.123", "file name")


SECRET = "when and where owner secret"


@pytest.fixture
def client(tmp_path):
    """Two sets, each with a picture taken in Rome; "Shared" shares locations."""
    album = open_album(Settings(home=tmp_path / "home", owner_secret=SECRET))
    for image_id, set_name in (("a", "Shared"), ("b", "Private")):
        p = picture(image_id, set_name, f"sha-{image_id}", 1)
        p.taken_at, p.taken_at_source = "2019-07-12T14:30:25+02:00", "exif:DateTimeOriginal"
        p.latitude, p.longitude, p.altitude, p.place = *ROME, 21.5, "Rome, Lazio, Italy"
        album.catalog.add_picture(p)
    album.catalog.add_picture(picture("c", "Private", "sha-c", 0))  # nothing known
    album.set_share_location("Shared", True)
    yield TestClient(create_app(album, run_jobs=False))
    album.close()


WHERE = {"latitude": ROME[0], "longitude": ROME[1], "altitude": 21.5,
         "place": "Rome, Lazio, Italy"}  # fmt: skip
WHEN = {"taken_at": "2019-07-12T14:30:25+02:00", "taken_at_source": "exif:DateTimeOriginal"}


def test_the_time_is_anyones_the_place_the_owners_or_where_the_set_shares_it(client):
    owner = {"Authorization": f"Bearer {SECRET}"}
    for path, located in (("/api/pictures/a", True), ("/api/pictures/b", False)):
        visitor = client.get(path).json()
        assert {k: visitor[k] for k in WHEN} == WHEN
        assert ({k: visitor[k] for k in WHERE} == WHERE) if located else not (
            WHERE.keys() & visitor.keys())
        mine = client.get(path, headers=owner).json()
        assert {k: mine[k] for k in WHEN | WHERE} == WHEN | WHERE
    [shared] = client.get("/api/sets/Shared").json()["pictures"]
    assert shared["place"] == "Rome, Lazio, Italy"
    listed = {p["image_id"]: p for p in client.get("/api/sets/Private").json()["pictures"]}
    assert not WHERE.keys() & listed["b"].keys() and listed["b"]["taken_at"] == WHEN["taken_at"]
    assert listed["c"]["taken_at"] is None and listed["c"]["taken_at_source"] is None
    owned = {p["image_id"]: p for p in
             client.get("/api/sets/Private", headers=owner).json()["pictures"]}
    assert owned["b"]["place"] == "Rome, Lazio, Italy" and owned["c"]["latitude"] is None


def test_reindex_metadata_fills_pictures_stored_before_without_face_work(tmp_path):
    """An album whose pictures lost their fields (as stored before migration 0019) gets
    them back from the originals; the faces stay those the import found, the file
    time the import recorded stays, and a second run changes nothing."""
    home = tmp_path / "home"
    folder = tmp_path / "trip"
    folder.mkdir()
    (folder / "rome.jpg").write_bytes(photo_bytes("2019:07:12 14:30:25", "+02:00", rome_gps()))
    (folder / "plain.jpg").write_bytes(photo_bytes(copy=1))
    os.utime(folder / "plain.jpg", (JULY_12_UTC, JULY_12_UTC))
    album = open_album(Settings(home=home))
    import_folder(album, folder, "Trip", workers=1)
    before = by_name(album, "Trip")
    faces = {n: [f.face_id for f in p.faces] for n, p in before.items()}
    cleared = before["rome.jpg"]
    for k in CAPTURE_FIELDS:
        setattr(cleared, k, None)
    assert album.catalog.set_capture(cleared)
    album.close()

    run = cli("reindex", "--metadata", "--set", "Trip", home=home)
    assert run.returncode == 0, run.stderr
    assert "Read 2 pictures' metadata, 1 updated, 0 failed" in run.stdout
    album = open_album(Settings(home=home))
    after = by_name(album, "Trip")
    rome = after["rome.jpg"]
    assert rome.taken_at == "2019-07-12T14:30:25+02:00" and rome.place == "Rome, Lazio, Italy"
    assert rome.latitude == pytest.approx(ROME[0], abs=1e-5)
    assert after["plain.jpg"].taken_at == "2019-07-12T12:30:25+00:00"  # the import's
    assert {n: [f.face_id for f in p.faces] for n, p in after.items()} == faces
    assert all(p.engine_tag == before[n].engine_tag for n, p in after.items())
    album.close()
    again = cli("reindex", "--metadata", home=home)
    assert again.returncode == 0 and "1 updated" not in again.stdout, again.stdout
    assert "0 updated" in again.stdout
    unknown = cli("reindex", "--metadata", "--set", "Nowhere", home=home)
    assert unknown.returncode == 2 and "Nowhere" in unknown.stderr
