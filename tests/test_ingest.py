"""Ingest of single pictures: validation, idempotence, orientation, featured picture."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from badfiles import BAD_FILES, PHOTOS
from conftest import other_pixels
from PIL import Image

from facealbum.domain import BadInput

OBAMA = (PHOTOS / "obama" / "obama.jpg").read_bytes()
DOG = (PHOTOS / "nofaces" / "dog.jpg").read_bytes()
BIDEN = (PHOTOS / "biden" / "biden.jpg").read_bytes()


def blob_files(album) -> list[str]:
    return [*album.blobs.keys("originals"), *album.blobs.keys("thumbnails")]


def indexed(album) -> list[str]:
    """The faces in the album's collection: a refused photo leaves none."""
    return [r.face_id for r in album.collection.records()]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_input_is_refused_clearly_and_leaves_nothing(album, name):
    data, reason = BAD_FILES[name]
    with pytest.raises(BadInput, match=reason):
        album.ingest("trip", name, data)
    assert album.stats().pictures == 0
    assert album.sets() == []
    assert blob_files(album) == [] and indexed(album) == []


@pytest.mark.parametrize("name", ["../evil.jpg", "a/../../b.jpg", "/etc/passwd.jpg", "a\\b.jpg"])
def test_path_tricks_in_names_are_refused(album, name):
    with pytest.raises(BadInput, match="unsafe file name"):
        album.ingest("trip", name, OBAMA)
    assert blob_files(album) == []
    assert album.stats().pictures == 0


@pytest.mark.parametrize("set_name", ["", "a/b", "..", "x" * 101])
def test_bad_set_names_are_refused(album, set_name):
    with pytest.raises(BadInput, match="set name"):
        album.ingest(set_name, "ok.jpg", OBAMA)


def test_picture_in_rekognition_shape(album):
    stored = album.ingest("trip", "obama.jpg", OBAMA)
    assert stored.status == "added"
    picture = album.picture(stored.picture.image_id)
    assert (picture.width, picture.height) == (910, 1137)
    [face] = picture.faces
    record = face.as_rekognition()
    assert record["ImageId"] == picture.image_id
    box = record["BoundingBox"]
    assert set(box) == {"Width", "Height", "Left", "Top"}
    assert 0 < box["Left"] < box["Left"] + box["Width"] <= 1
    assert 0 < box["Top"] < box["Top"] + box["Height"] <= 1
    assert 50 < record["Confidence"] <= 100
    thumb = Image.open(io.BytesIO(album.blobs.get("thumbnails", picture.thumb_key)))
    preview = Image.open(io.BytesIO(album.blobs.get("thumbnails", picture.preview_key)))
    assert max(thumb.size) == 400 and thumb.width / thumb.height == pytest.approx(910 / 1137, 0.01)
    assert preview.size == (910, 1137)  # smaller than the bound: never enlarged
    assert album.blobs.get("originals", picture.original_key) == OBAMA


def test_duplicate_upload_is_idempotent(album):
    first = album.ingest("trip", "obama.jpg", OBAMA)
    again = album.ingest("trip", "copy-of-obama.jpg", OBAMA)
    assert again.status == "duplicate"
    assert again.picture.image_id == first.picture.image_id
    assert album.stats().pictures == 1 and album.stats().faces == 1
    assert len(blob_files(album)) == 3  # original, thumbnail, preview
    assert indexed(album) == [first.picture.faces[0].face_id]  # the copy's were forgotten


def test_same_content_in_two_sets_shares_blobs(album):
    a = album.ingest("trip", "obama.jpg", OBAMA)
    b = album.ingest("home", "obama.jpg", OBAMA)
    assert a.picture.image_id != b.picture.image_id
    assert album.stats().pictures == 2
    assert len(blob_files(album)) == 3


def test_same_name_other_content_gets_a_new_name(album):
    album.ingest("trip", "photo.jpg", OBAMA)
    second = album.ingest("trip", "photo.jpg", DOG)
    assert second.status == "added"
    assert second.picture.name == "photo (2).jpg"


def test_picture_without_faces_is_kept(album):
    stored = album.ingest("zoo", "dog.jpg", DOG)
    assert stored.status == "added"
    assert album.picture(stored.picture.image_id).faces == []
    assert album.get_set("zoo")[0].picture_count == 1


def test_featured_picture_is_the_first_and_set_once(album):
    first = album.ingest("trip", "dog.jpg", DOG)
    album.ingest("trip", "obama.jpg", OBAMA)
    assert album.get_set("trip")[0].featured.image_id == first.picture.image_id
    other = album.catalog.find_by_hash("trip", album.picture(first.picture.image_id).sha256)
    assert other is not None
    second = [p for p in album.get_set("trip")[1] if p.name == "obama.jpg"][0]
    album.catalog.set_featured("trip", second.image_id)
    assert album.get_set("trip")[0].featured.image_id == second.image_id


def test_exif_orientation_is_applied_and_boxes_follow(album):
    """A camera stores pixels sideways and an EXIF tag saying so: the album must show
    (and box faces on) the upright photo."""
    upright = album.ingest("a", "upright.jpg", OBAMA).picture
    img = Image.open(io.BytesIO(OBAMA))
    sideways = img.transpose(Image.Transpose.ROTATE_90)  # stored rotated 90° CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # viewer must rotate 90° CW to show it upright
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", quality=95, exif=exif)
    rotated = album.ingest("b", "sideways.jpg", buf.getvalue()).picture
    assert (rotated.width, rotated.height) == (upright.width, upright.height)
    [a], [b] = upright.faces, rotated.faces
    for attr in ("left", "top", "width", "height"):
        assert getattr(b.box, attr) == pytest.approx(getattr(a.box, attr), abs=0.02)


def test_png_with_alpha_and_webp_are_accepted(album):
    img = Image.open(io.BytesIO(OBAMA)).convert("RGBA")
    for fmt in ("PNG", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        stored = album.ingest("formats", f"obama.{fmt.lower()}", buf.getvalue())
        assert len(stored.picture.faces) == 1, fmt


def test_unsupported_format_is_refused(album):
    buf = io.BytesIO()
    Image.open(io.BytesIO(DOG)).save(buf, "PCX")
    with pytest.raises(BadInput, match="unsupported image format PCX"):
        album.ingest("x", "dog.pcx", buf.getvalue())


def tiff_gif_bmp(photo: bytes) -> dict[str, bytes]:
    """The photo as a two-page TIFF of 16-bit grey (a scanner's), a two-frame GIF (the
    photo first) and a BMP: each made by Pillow from the real photo."""
    img = Image.open(io.BytesIO(photo)).convert("RGB")
    other = Image.open(io.BytesIO(DOG)).convert("RGB")
    deep = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)
    out = {}
    for name, first, kind, rest in (
        ("tif", deep, "TIFF", [other.convert("L")]),
        ("gif", img, "GIF", [other]),
        ("bmp", img, "BMP", None),
    ):
        buf = io.BytesIO()
        if rest:
            first.save(buf, kind, save_all=True, append_images=rest)
        else:
            first.save(buf, kind)
        out[name] = buf.getvalue()
    assert Image.open(io.BytesIO(out["tif"])).mode == "I;16"
    assert Image.open(io.BytesIO(out["tif"])).n_frames == 2
    assert Image.open(io.BytesIO(out["gif"])).n_frames == 2
    return out


@pytest.mark.parametrize(
    "ext, content_type", [("tif", "image/tiff"), ("gif", "image/gif"), ("bmp", "image/bmp")]
)
def test_tiff_gif_and_bmp_are_read_from_their_first_page_and_rendered_as_jpeg(
    album, ext, content_type
):
    data = tiff_gif_bmp(OBAMA)[ext]
    stored = album.ingest("formats", f"obama.{ext}", data)
    assert stored.picture.content_type == content_type
    assert stored.picture.original_key.endswith(f".{ext}")
    assert (stored.picture.width, stored.picture.height) == (910, 1137)
    assert len(stored.picture.faces) == 1  # the photo's face, not the dog page's none
    assert album.blobs.get("originals", stored.picture.original_key) == data
    thumb = Image.open(io.BytesIO(album.blobs.get("thumbnails", stored.picture.thumb_key)))
    assert thumb.format == "JPEG"
    # the first page, in its brightness: the 8-bit photo's thumbnail's mean within a few levels
    reference = Image.open(io.BytesIO(OBAMA)).convert("L")
    reference.thumbnail(thumb.size)
    mean = np.asarray(thumb.convert("L"), dtype=float).mean()
    assert mean == pytest.approx(np.asarray(reference, dtype=float).mean(), abs=4)


def test_an_imported_folder_takes_tiff_gif_and_bmp(album, tmp_path):
    from facealbum.importer import import_folder

    for ext, data in tiff_gif_bmp(BIDEN).items():
        (tmp_path / ("SCAN.TIFF" if ext == "tif" else f"biden.{ext}")).write_bytes(data)
    report = import_folder(album, tmp_path, "scans", workers=1)
    assert sorted((o.name, o.status, o.faces) for o in report.outcomes) == [
        ("SCAN.TIFF", "imported", 1),
        ("biden.bmp", "imported", 1),
        ("biden.gif", "imported", 1),
    ]


def mpo_bytes(photo: bytes) -> bytes:
    """A camera's two-image JPEG (MPO, CIPA DC-007): the photo, then a second view."""
    img = Image.open(io.BytesIO(photo))
    buf = io.BytesIO()
    img.save(buf, "MPO", save_all=True, append_images=[img.convert("L").convert("RGB")])
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    return buf.getvalue()


def test_mpo_is_taken_as_its_first_jpeg_and_kept_as_uploaded(album, tmp_path):
    from facealbum.importer import import_folder

    data = mpo_bytes(OBAMA)
    stored = album.ingest("formats", "obama.jpg", data)
    assert stored.status == "added"
    assert stored.picture.content_type == "image/jpeg"
    assert stored.picture.original_key.endswith(".jpg")
    assert len(stored.picture.faces) == 1
    assert album.blobs.get("originals", stored.picture.original_key) == data
    thumb = Image.open(io.BytesIO(album.blobs.get("thumbnails", stored.picture.thumb_key)))
    assert thumb.mode == "RGB"  # the colour first image, not the grey second one
    r, g, b = (np.asarray(thumb, dtype=float)[..., c].mean() for c in range(3))
    assert max(r, g, b) - min(r, g, b) > 3

    (tmp_path / "camera").mkdir()
    (tmp_path / "camera" / "biden.jpg").write_bytes(mpo_bytes(BIDEN))
    report = import_folder(album, tmp_path / "camera", "camera", workers=1)
    [outcome] = report.outcomes
    assert (outcome.status, outcome.faces) == ("imported", 1), outcome


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_not_clamped(album):
    grey = Image.open(io.BytesIO(OBAMA)).convert("L")
    deep = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # 0..255 -> 0..65535
    pngs = {}
    for name, img in (("grey8", grey), ("grey16", deep)):
        buf = io.BytesIO()
        img.save(buf, "PNG")
        pngs[name] = buf.getvalue()
    assert Image.open(io.BytesIO(pngs["grey16"])).mode == "I;16"
    means = {}
    for name, data in pngs.items():
        stored = album.ingest("formats", f"{name}.png", data)
        assert len(stored.picture.faces) == 1, name
        thumb = album.blobs.get("thumbnails", stored.picture.thumb_key)
        means[name] = np.asarray(Image.open(io.BytesIO(thumb)), dtype=float).mean()
    assert 40 < means["grey8"] < 200
    assert means["grey16"] == pytest.approx(means["grey8"], abs=3)


def _png_rgb16(pixels: np.ndarray) -> bytes:
    """A 48-bit PNG (16 bits a channel, colour type 2), which Pillow reads but cannot
    write: written by hand after the PNG specification (ISO/IEC 15948), one filter-0
    scanline a row."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def test_16_bit_rgb_png_and_tiff_are_scaled_to_8_bits_not_clamped(album):
    """Scanners and raw converters write 16 bits a channel in colour too: each level
    must come out as its 8-bit value (x 257 -> x), colours and face intact, where a
    clamp would turn the photo white."""
    import tifffile

    rgb = np.asarray(Image.open(io.BytesIO(OBAMA)).convert("RGB"))
    deep = rgb.astype(np.uint16) * 257
    tiff = io.BytesIO()
    tifffile.imwrite(tiff, deep, photometric="rgb")
    for name, data in (("rgb16.png", _png_rgb16(deep)), ("rgb16.tif", tiff.getvalue())):
        assert Image.open(io.BytesIO(data)).getextrema()  # a file Pillow opens
        stored = album.ingest("formats", name, data)
        assert len(stored.picture.faces) == 1, name
        preview = album.blobs.get("thumbnails", stored.picture.preview_key)
        shown = np.asarray(Image.open(io.BytesIO(preview)).convert("RGB"), dtype=float)
        small = Image.fromarray(rgb).resize((shown.shape[1], shown.shape[0]))
        for c in range(3):  # each channel's mean within JPEG's few levels of the 8-bit one
            assert abs(shown[..., c].mean() - np.asarray(small, float)[..., c].mean()) < 3, name
        assert shown.mean() < 200, name  # not clamped to white


def test_heic_is_accepted(album):
    img = Image.open(io.BytesIO(OBAMA))
    buf = io.BytesIO()
    img.save(buf, "HEIF", quality=90)
    stored = album.ingest("formats", "obama.heic", buf.getvalue())
    assert stored.picture.content_type == "image/heif"
    assert stored.picture.original_key.endswith(".heic")
    assert len(stored.picture.faces) == 1


def test_avif_is_accepted(album):
    buf = io.BytesIO()
    Image.open(io.BytesIO(OBAMA)).save(buf, "AVIF", quality=80)
    stored = album.ingest("formats", "obama.avif", buf.getvalue())
    assert stored.picture.content_type == "image/avif"
    assert stored.picture.original_key.endswith(".avif")
    assert len(stored.picture.faces) == 1
    assert album.blobs.get("originals", stored.picture.original_key) == buf.getvalue()


def test_cnn_detector_is_selectable_and_agrees_with_hog(tmp_path):
    from facealbum.adapters.faces_local import analyze_image
    from facealbum.settings import Settings
    from facealbum.wiring import make_engine

    data = (PHOTOS / "johns" / "john_salley" / "000179_02159509.jpg").read_bytes()
    hog, cnn = Settings(), Settings(detector="cnn")
    [a] = analyze_image(data, hog, make_engine(hog))
    [b] = analyze_image(data, cnn, make_engine(cnn))
    assert float(a.vector @ b.vector) > 0.93  # the same face, boxed a little differently
    assert hog.engine_tag != cnn.engine_tag


def test_big_jpegs_are_decoded_reduced_but_measured_whole():
    """A 12 MP landscape photo is decoded at half size (draft), then shrunk to what the
    preview and detection need, and still reports its full size; a portrait one too."""
    from facealbum.imaging import decode

    photo = Image.open(io.BytesIO(OBAMA)).resize((4032, 3024))
    for img in (photo, photo.transpose(Image.Transpose.ROTATE_90)):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
        data = buf.getvalue()
        drafted = Image.open(io.BytesIO(data))
        drafted.draft("RGB", (1600, 1200) if img.width > img.height else (1200, 1600))
        assert max(drafted.size) == 2016  # 1/2 scale: the smallest still >= 1600
        dec = decode(data, need=1600, max_pixels=10**9)
        assert (dec.width, dec.height) == img.size
        assert max(dec.image.size) == 1600
        assert dec.image.size[0] / dec.image.size[1] == pytest.approx(img.width / img.height, 0.01)


def test_reindex_analysis_finds_exactly_the_import_faces():
    """Import makes renditions, reindex does not: both must hand the face engine the
    same image, so they find the same faces."""
    from facealbum.ingest import analyze
    from facealbum.settings import Settings

    settings = Settings()
    big = Image.open(PHOTOS / "groups" / "two_people.jpg").resize((3000, 1761))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    for data in (buf.getvalue(), OBAMA):
        full = analyze(data, settings)
        faces_only = analyze(data, settings, renditions=False)
        assert full.thumb and not faces_only.thumb
        assert full.detection and full.detection == faces_only.detection
        with Image.open(io.BytesIO(full.detection)) as img:
            assert max(img.size) <= settings.detect_size


def test_an_import_follows_its_persons_by_time_not_every_few_photos(tmp_path, monkeypatch):
    """The persons an import's faces join follow (users mirror, representatives, up to
    64 searches a person) once per ``people_follow_seconds`` and at the end, not every
    32 photos: 34 photos of one face in a short import follow once, every face placed."""
    from facealbum.importer import import_folder
    from facealbum.people import grouping
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    face = Image.open(PHOTOS / "obama" / "obama-480p.jpg").crop((330, 20, 560, 250))
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(34):  # distinct content: none is skipped as a copy
        (folder / f"{i:02d}.jpg").write_bytes(other_pixels(buf.getvalue(), i))
    follows: list[int] = []
    real = grouping.follow_placements

    def counted(album, placed, **kw):
        follows.append(len(placed))
        return real(album, placed, **kw)

    monkeypatch.setattr(grouping, "follow_placements", counted)
    album = open_album(Settings(home=tmp_path / "home", people_follow_seconds=3600))
    report = import_folder(album, folder, "faces", workers=2, regroup=False)
    assert report.count("imported") == 34 and report.faces == 34
    assert follows == [34]
    people = {f.person_id for p in album.all_pictures() for f in p.faces}
    assert len(people) == 1 and None not in people


def test_an_imported_set_is_featured_by_its_first_photo_with_faces(album, tmp_path):
    """A new set's cover shows people: the first photo by name with a face, though a
    photo without faces comes first ("a_dog.jpg"); and by name, whatever order the
    workers finished in."""
    from facealbum.importer import import_folder

    folder = tmp_path / "trip"
    folder.mkdir()
    shutil.copy(PHOTOS / "nofaces" / "dog.jpg", folder / "a_dog.jpg")
    shutil.copy(PHOTOS / "obama" / "obama2.jpg", folder / "c_obama.jpg")
    shutil.copy(PHOTOS / "obama" / "obama.jpg", folder / "b_obama.jpg")
    import_folder(album, folder, "trip", workers=2, regroup=False)
    assert album.get_set("trip")[0].featured.name == "b_obama.jpg"


def test_a_set_of_photos_without_faces_is_featured_by_its_first(album, tmp_path):
    from facealbum.importer import import_folder

    folder = tmp_path / "zoo"
    folder.mkdir()
    shutil.copy(PHOTOS / "nofaces" / "dog.jpg", folder / "b_dog.jpg")
    mirrored = Image.open(io.BytesIO(DOG)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    mirrored.save(folder / "a_dog.jpg")
    import_folder(album, folder, "zoo", workers=2, regroup=False)
    assert album.get_set("zoo")[0].featured.name == "a_dog.jpg"
