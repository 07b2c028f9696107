"""The same photo with edited metadata is the same picture (issue 19, item 3): files whose
bytes differ but whose decoded pixels are equal (a caption written into the EXIF, a PNG's
text chunk) are stored once per set, and said to be such duplicates."""

from __future__ import annotations

import io
import struct
import threading

import pytest
from conftest import PHOTOS
from PIL import Image, PngImagePlugin

from facealbum.ingest import analyze
from facealbum.settings import Settings
from facealbum.wiring import open_album

OBAMA = (PHOTOS / "obama" / "obama.jpg").read_bytes()
BIDEN = (PHOTOS / "biden" / "biden.jpg").read_bytes()
DOG = (PHOTOS / "nofaces" / "dog.jpg").read_bytes()
DESCRIPTION, ORIENTATION = 0x010E, 0x0112  # EXIF ImageDescription, Orientation


def with_exif(jpeg: bytes, **tags: object) -> bytes:
    """The JPEG with its EXIF (APP1) segment replaced by one with ``tags`` changed, the
    compressed image data untouched: what a photo manager writing a caption does.
    ``tags``: ``description`` (ImageDescription) and ``orientation``."""
    exif = Image.open(io.BytesIO(jpeg)).getexif()
    if "description" in tags:
        exif[DESCRIPTION] = tags["description"]
    if "orientation" in tags:
        exif[ORIENTATION] = tags["orientation"]
    payload = exif.tobytes()  # b"Exif\0\0" + the TIFF structure
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    kept, i = [], 2
    while jpeg[i + 1] != 0xDA:  # the segments up to the scan (SOS)
        length = struct.unpack(">H", jpeg[i + 2 : i + 4])[0]
        part = jpeg[i : i + 2 + length]
        if not (part[1] == 0xE1 and part[4:10] == b"Exif\0\0"):
            kept.append(part)
        i += 2 + length
    lead = 1 if kept and kept[0][1] == 0xE0 else 0  # after a JFIF APP0, as cameras do
    return b"".join([jpeg[:2], *kept[:lead], segment, *kept[lead:], jpeg[i:]])


def png_with_text(photo: bytes, text: str) -> bytes:
    """A lossless PNG of the photo with a tEXt Description chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", text)
    buf = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("RGB").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def reencoded(jpeg: bytes, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buf, "JPEG", quality=quality, exif=b"")
    return buf.getvalue()


EDITED = with_exif(OBAMA, description="Barack Obama, Oval Office (caption edited)")


def test_metadata_edits_keep_the_pixel_hash_and_pixel_changes_do_not(tmp_path):
    settings = Settings(home=tmp_path)
    base = analyze(OBAMA, settings, renditions=False)
    edited = analyze(EDITED, settings, renditions=False)
    assert EDITED != OBAMA and edited.sha256 != base.sha256
    full = [Image.open(io.BytesIO(d)) for d in (OBAMA, EDITED)]
    assert full[0].getexif()[DESCRIPTION] != full[1].getexif()[DESCRIPTION]
    assert full[0].tobytes() == full[1].tobytes()  # the scan is the same bytes
    assert len(base.pixel_sha256) == 64 and edited.pixel_sha256 == base.pixel_sha256
    # the same from an open file (import, upload, reindex) as from bytes
    assert analyze(io.BytesIO(EDITED), settings).pixel_sha256 == base.pixel_sha256
    # a re-encoding changes samples; an orientation tag changes what is seen
    assert analyze(reencoded(OBAMA), settings).pixel_sha256 != base.pixel_sha256
    turned = with_exif(OBAMA, orientation=3)
    assert analyze(turned, settings).pixel_sha256 != base.pixel_sha256
    # a PNG whose text chunk alone differs
    a, b = png_with_text(BIDEN, "first caption"), png_with_text(BIDEN, "second caption")
    assert a != b
    assert analyze(a, settings).pixel_sha256 == analyze(b, settings).pixel_sha256


def faces_listed(album) -> bool:
    """Every face in the collection is a face some picture lists: a dropped copy's went."""
    held = [r.face_id for r in album.collection.records()]
    return set(album.catalog.faces_of(held)) == set(held)


def test_an_import_stores_a_recaptioned_photo_once_and_says_so(album, tmp_path):
    from facealbum.importer import import_folder

    folder = tmp_path / "camera"
    folder.mkdir()
    files = {
        "IMG_2001.JPG": OBAMA,
        "IMG_2001-edited.JPG": EDITED,
        "IMG_2001-q90.JPG": reencoded(OBAMA),  # other pixels: another picture
        "scan.png": png_with_text(BIDEN, "scanned 2019"),
        "scan-captioned.png": png_with_text(BIDEN, "Joe Biden, 2019"),
        "dog.jpg": DOG,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    report = import_folder(album, folder, "trip", workers=2, regroup=False)
    assert report.count("failed") == 0, report.failures
    assert report.count("imported") == 4
    assert report.duplicates("file") == []
    same = {o.name: o for o in report.duplicates("pixels")}
    pairs = [("IMG_2001.JPG", "IMG_2001-edited.JPG"), ("scan.png", "scan-captioned.png")]
    for pair in pairs:  # workers finish in any order: either file of a pair is kept
        [skipped] = [n for n in pair if n in same]
        [kept] = [n for n in pair if n != skipped]
        assert same[skipped].reason == f"same photo as {kept} (pixels equal, metadata differs)"
    stored = {p.name: p for p in album.get_set("trip")[1]}
    assert len(stored) == 4 and not set(same) & set(stored)
    assert "IMG_2001-q90.JPG" in stored and "dog.jpg" in stored
    assert all(p.pixel_sha256 for p in stored.values())
    assert faces_listed(album)
    # face search lists the photo once, the re-encoded copy apart (other pixels)
    [kept_obama] = [p for n, p in stored.items() if n.startswith("IMG_2001") and "q90" not in n]
    hits = album.search(kept_obama.faces[0].face_id).matches
    names = sorted(m.picture.name for m in hits if m.picture.set_name == "trip")
    assert names == sorted([kept_obama.name, "IMG_2001-q90.JPG"])
    # no blobs of the dropped copies: three per picture
    originals = set(album.blobs.keys("originals"))
    assert originals == {p.original_key for p in stored.values()}
    assert len(list(album.blobs.keys("thumbnails"))) == 2 * len(stored)

    # run again: the same files are skipped, each kind counted apart
    again = import_folder(album, folder, "trip", workers=1, regroup=False)
    assert len(again.duplicates("file")) == 4 and len(again.duplicates("pixels")) == 2
    assert album.stats().pictures == 4

    # one at a time: the same photo under the same name with another caption is the
    # picture already there; another photo of that name is numbered
    recaptioned = with_exif(OBAMA, description="yet another caption")
    kept = album.ingest("trip", kept_obama.name, recaptioned)
    assert (kept.status, kept.same) == ("duplicate", "pixels")
    assert kept.picture.image_id == kept_obama.image_id
    byte_equal = album.ingest("trip", "copy.jpg", OBAMA if kept_obama.name == "IMG_2001.JPG"
                              else EDITED)  # fmt: skip
    assert (byte_equal.status, byte_equal.same) == ("duplicate", "file")
    other = album.ingest("trip", kept_obama.name, (PHOTOS / "biden" / "biden2.jpg").read_bytes())
    numbered = kept_obama.name.replace(".JPG", " (2).JPG")  # "IMG_2001 (2).JPG" or so
    assert other.status == "added" and other.picture.name == numbered
    assert album.stats().pictures == 5 and faces_listed(album)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_album(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").new_database()
        return open_album(Settings(home=tmp_path / "home", database_url=url))
    return open_album(Settings(home=tmp_path / "home"))


def test_two_files_of_one_photo_stored_at_once_end_as_one_picture(sql_album, monkeypatch):
    """Both uploads look for the photo before either adds it (the interleaving forced
    by a barrier): the database's unique (set, pixel hash) lets one in; the other is a
    "pixels" duplicate whose faces and blobs go."""
    from facealbum import ingest

    album = sql_album
    looked = threading.Barrier(2, timeout=30)
    first_look = threading.local()
    real = ingest.already_there

    def both_look_first(*args):
        found = real(*args)
        if not getattr(first_look, "done", False):
            first_look.done = True
            looked.wait()
        return found

    monkeypatch.setattr(ingest, "already_there", both_look_first)
    results: dict[str, object] = {}

    def upload(name: str, data: bytes) -> None:
        results[name] = album.ingest("trip", name, data)

    threads = [threading.Thread(target=upload, args=a)
               for a in (("IMG_2001.JPG", OBAMA), ("IMG_2001-edited.JPG", EDITED))]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outcomes = sorted((r.status, r.same) for r in results.values())
    assert outcomes == [("added", ""), ("duplicate", "pixels")]
    [winner] = [r.picture for r in results.values() if r.status == "added"]
    assert [p.image_id for p in album.get_set("trip")[1]] == [winner.image_id]
    assert all(r.picture.image_id == winner.image_id for r in results.values())
    assert album.stats().pictures == 1 and album.stats().faces == 1
    assert faces_listed(album) and len(list(album.collection.records())) == 1
    assert set(album.blobs.keys("originals")) == {winner.original_key}
    assert len(list(album.blobs.keys("thumbnails"))) == 2


def test_reindex_gives_pictures_from_before_their_pixel_hash(album):
    """Pictures stored before pixel hashes match nothing (the edited copy came in as a
    second picture then); ``reindex --all`` gives each its hash, but of two old copies of
    one photo only one, and both stay: from then on a third copy is a duplicate."""
    import sqlalchemy as sa

    from facealbum.adapters.catalog_schema import pictures
    from facealbum.importer import reindex

    stored = [album.ingest("old", n, d).picture for n, d in (("a.jpg", OBAMA), ("dog.jpg", DOG))]
    with album.catalog.engine.begin() as conn:  # as a catalog from before 0018 has them
        conn.execute(sa.update(pictures).values(pixel_sha256=None))
    copy = album.ingest("old", "a-edited.jpg", EDITED)
    assert copy.status == "added"  # nothing to match: as before
    report = reindex(album, "old", everything=True, workers=1)
    assert report.done == 3 and report.failed == []
    hashes = {p.name: p.pixel_sha256 for p in album.get_set("old")[1]}
    assert hashes["dog.jpg"] == analyze(DOG, album.settings).pixel_sha256
    pair = [hashes["a.jpg"], hashes["a-edited.jpg"]]
    assert sorted(pair, key=str) == sorted([None, copy.picture.pixel_sha256], key=str)
    assert stored[0].pixel_sha256 == copy.picture.pixel_sha256  # as ingest computed it
    third = album.ingest("old", "a-again.jpg", with_exif(OBAMA, description="third"))
    assert (third.status, third.same) == ("duplicate", "pixels")
    assert album.stats().pictures == 3
