"""Colour (issue 19, item 2): a photo that embeds an ICC profile is shown in its colours.

Each test photo is a fixture photo converted into a real profile's colour space (Display
P3, Adobe RGB, ProPhoto RGB, ISO Coated CMYK, CIE L* grey: tests/fixtures/icc, with
their sources) and saved with that profile embedded, as a phone, camera, raw converter
or prepress tool writes it. Imported, its thumbnail must look like the sRGB photo's own
thumbnail; the same pixels taken as sRGB (the profile dropped, as before) are measurably
off, which is the difference the issue was about."""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import tifffile
from badfiles import PHOTOS
from PIL import Image, ImageCms

from facealbum import colour, imaging, raw
from facealbum.photo_search import search_photo

ICC = Path(__file__).parent / "fixtures" / "icc"
OBAMA = Image.open(PHOTOS / "obama" / "obama.jpg").convert("RGB")
SRGB = ImageCms.createProfile("sRGB")


def icc(name: str) -> bytes:
    return (ICC / name).read_bytes()


def into(photo: Image.Image, name: str, mode: str = "RGB") -> Image.Image:
    """The sRGB photo's colours as pixels of the profile ``name`` (what a phone or an
    editor writes), by LittleCMS."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc(name)))
    return ImageCms.profileToProfile(
        photo, SRGB, profile, renderingIntent=colour.INTENT, outputMode=mode
    )


def jpeg(img: Image.Image, profile: bytes | None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **({"icc_profile": profile} if profile else {}))
    return buf.getvalue()


def thumbnail(album, data: bytes, name: str) -> tuple[Image.Image, int]:
    """The imported photo's thumbnail, loaded, and how many faces were found."""
    stored = album.ingest("colour", f"{name}-{uuid.uuid4().hex[:6]}.jpg", data)
    thumb = Image.open(io.BytesIO(album.blobs.get("thumbnails", stored.picture.thumb_key)))
    thumb.load()
    return thumb, len(stored.picture.faces)


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=float)


def chroma(img: Image.Image) -> float:
    """Mean of max - min over each pixel's channels: how colourful, in levels."""
    a = pixels(img)
    return float((a.max(axis=2) - a.min(axis=2)).mean())


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two same-size images, in levels of 255."""
    return float(np.abs(pixels(a) - pixels(b)).mean())


@pytest.fixture
def reference(album) -> Image.Image:
    """The sRGB photo's own thumbnail, from an import of the photo itself."""
    thumb, faces = thumbnail(album, jpeg(OBAMA, None), "srgb")
    assert faces == 1
    return thumb


def assert_srgb_rendition(thumb: Image.Image) -> None:
    """Tagged sRGB (LittleCMS's own, 588 bytes), and no other metadata: no EXIF, XMP."""
    assert thumb.info["icc_profile"] == colour.SRGB_ICC
    profile = ImageCms.ImageCmsProfile(io.BytesIO(thumb.info["icc_profile"]))
    assert "sRGB" in profile.profile.profile_description
    assert not thumb.getexif() and "exif" not in thumb.info and "xmp" not in thumb.info


@pytest.mark.parametrize(
    "name, gap",
    [
        ("DisplayP3.icm", 0.9),  # an iPhone's photo: 15 % less colourful taken as sRGB
        ("ClayRGB1998.icm", 0.85),  # Adobe RGB, as cameras can be set to
    ],
)
def test_a_wide_gamut_jpeg_is_shown_in_its_colours(album, reference, name, gap):
    wide = into(OBAMA, name)
    thumb, faces = thumbnail(album, jpeg(wide, icc(name)), name)
    dropped, _ = thumbnail(album, jpeg(wide, None), f"{name}-dropped")  # as before
    assert faces == 1
    assert difference(thumb, reference) < 1.5
    assert chroma(thumb) == pytest.approx(chroma(reference), rel=0.02)
    # the profile dropped: less colourful by the gap the issue saw, and visibly off
    assert chroma(dropped) < gap * chroma(reference)
    assert difference(dropped, reference) > 2.5
    assert_srgb_rendition(thumb)


def test_a_16_bit_prophoto_tiff_is_shown_in_its_colours(album, reference):
    """A raw converter's export: 16-bit RGB TIFF in ProPhoto RGB, its profile in the
    TIFF's ICC tag (34675)."""
    prophoto = into(OBAMA, "ProPhoto.icm")
    deep = np.asarray(prophoto, dtype=np.uint16) * 257
    buf = io.BytesIO()
    tifffile.imwrite(buf, deep, photometric="rgb", iccprofile=icc("ProPhoto.icm"))
    thumb, faces = thumbnail(album, buf.getvalue(), "prophoto")
    assert faces == 1
    assert difference(thumb, reference) < 2.0  # 8-bit ProPhoto has coarser steps
    assert chroma(thumb) == pytest.approx(chroma(reference), rel=0.03)
    assert chroma(prophoto) < 0.7 * chroma(OBAMA)  # what the pixels say taken as sRGB
    assert_srgb_rendition(thumb)


def test_a_cmyk_jpeg_with_its_profile_is_shown_in_its_colours(album, reference):
    """Prepress's CMYK JPEG (ISO Coated v2; written Adobe-style, inverted, as Photoshop
    does: Pillow writes the Adobe marker and reads it back)."""
    data = jpeg(into(OBAMA, "ISOcoated_v2_300_bas.icc", "CMYK"), icc("ISOcoated_v2_300_bas.icc"))
    assert b"Adobe" in data[:200_000]
    thumb, faces = thumbnail(album, data, "cmyk")
    assert faces == 1
    assert difference(thumb, reference) < 3.0
    # today's conversion (no profile: 255 - ink per channel) is far off
    naive = Image.open(io.BytesIO(data)).convert("RGB")
    naive.thumbnail(thumb.size, Image.Resampling.BICUBIC)
    assert difference(naive.resize(reference.size), reference) > 8
    assert_srgb_rendition(thumb)


def test_a_cmyk_jpeg_without_a_profile_keeps_the_plain_conversion(album, reference):
    """Pillow's CMYK (255 - R, G, B as inks, no black) taken back the same way: the
    photo's own colours within JPEG noise; through a print profile they would not be."""
    cmyk = OBAMA.convert("CMYK")
    thumb, _ = thumbnail(album, jpeg(cmyk, None), "cmyk-plain")
    assert difference(thumb, reference) < 3.5
    printed = ImageCms.profileToProfile(
        cmyk,
        ImageCms.ImageCmsProfile(io.BytesIO(icc("ISOcoated_v2_300_bas.icc"))),
        SRGB,
        outputMode="RGB",
    )
    assert difference(printed.resize(reference.size), reference) > 10


def test_a_grey_photo_with_a_grey_profile_is_shown_in_its_tones(album):
    """Grey pixels in CIE L* (Gray-CIE_L.icc), computed here from the photo's luminance
    without LittleCMS; the thumbnail must hold the sRGB encoding of that luminance."""
    linear = pixels(OBAMA) / 255
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])  # relative luminance (IEC 61966-2-1)
    lstar = np.where(y > 216 / 24389, 116 * np.cbrt(y) - 16, y * 24389 / 27)
    grey = Image.fromarray(np.round(lstar * 2.55).astype(np.uint8), "L")
    srgb = np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055)
    expected = Image.fromarray(np.round(srgb * 255).astype(np.uint8), "L")
    thumb, faces = thumbnail(album, jpeg(grey, icc("Gray-CIE_L.icc")), "grey")
    assert faces == 1
    expected.thumbnail(thumb.size, Image.Resampling.BICUBIC)
    expected = expected.resize(thumb.size)
    assert difference(thumb, expected) < 2.0
    as_is = grey.resize(thumb.size, Image.Resampling.BICUBIC)  # L* taken as sRGB
    assert difference(as_is, expected) > 4
    assert_srgb_rendition(thumb)


def test_a_broken_profile_never_fails_an_import_and_is_logged_once(album, caplog):
    garbage = b"\x00\x00\x02\x0cnot an ICC profile " + uuid.uuid4().bytes * 20
    wide = into(OBAMA, "DisplayP3.icm")
    caplog.set_level(logging.WARNING, logger="facealbum.colour")
    thumb, faces = thumbnail(album, jpeg(wide, garbage), "broken")
    mirrored = wide.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    thumbnail(album, jpeg(mirrored, garbage), "broken-again")  # the same profile: no 2nd log
    dropped, _ = thumbnail(album, jpeg(wide, None), "broken-dropped")
    assert faces == 1
    assert difference(thumb, dropped) == 0  # as before: the pixels taken as sRGB
    [record] = [r for r in caplog.records if "ICC profile ignored" in r.getMessage()]
    assert "LittleCMS cannot use it" in record.getMessage()
    # a CMYK photo with a broken profile: the plain conversion, as without one
    cmyk = OBAMA.convert("CMYK")
    thumb, _ = thumbnail(album, jpeg(cmyk, garbage), "broken-cmyk")
    plain, _ = thumbnail(album, jpeg(cmyk, None), "plain-cmyk")
    assert difference(thumb, plain) == 0


def test_a_profile_of_the_wrong_colour_space_is_ignored(caplog):
    """An RGB profile on CMYK pixels cannot be applied: the plain conversion, logged."""
    caplog.set_level(logging.WARNING, logger="facealbum.colour")
    colour._mismatch.cache_clear()  # logged once a process: this test's log
    cmyk = OBAMA.convert("CMYK")
    dec = imaging.decode(jpeg(cmyk, icc("DisplayP3.icm")), 1600, 10**8)
    plain = imaging.decode(jpeg(cmyk, None), 1600, 10**8)
    assert difference(dec.image, plain.image) == 0
    assert any("RGB profile on CMYK pixels" in r.getMessage() for r in caplog.records)


def test_no_profile_and_srgb_take_the_cheap_path():
    """No transform for a photo without a profile or with an sRGB one (most cameras'
    JPEGs): the very same image object comes back, and the pixels are those of the
    untagged file."""
    assert colour.to_srgb(OBAMA, None) is OBAMA
    assert colour.to_srgb(OBAMA, colour.SRGB_ICC) is OBAMA
    tagged = imaging.decode(jpeg(OBAMA, colour.SRGB_ICC), 1600, 10**8).image
    plain = imaging.decode(jpeg(OBAMA, None), 1600, 10**8).image
    assert tagged.tobytes() == plain.tobytes()
    assert colour.plan_for(colour.SRGB_ICC).transform is None
    assert colour.plan_for(icc("DisplayP3.icm")).transform is not None


def _encoded(img: Image.Image, fmt: str, profile: bytes) -> bytes:
    buf = io.BytesIO()
    options = {"WEBP": {"lossless": True}, "HEIF": {"quality": 95}, "AVIF": {"quality": 95}}
    img.save(buf, fmt, icc_profile=profile, **options.get(fmt, {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF", "AVIF", "JPEG"])
def test_every_format_carries_its_profile_through_decode(fmt):
    """PNG's iCCP, WebP's ICCP, TIFF's tag 34675, HEIC's and AVIF's colr box, JPEG's
    APP2: each reaches the conversion (Pillow's and pillow-heif's ``info['icc_profile']``)."""
    if fmt not in imaging.FORMATS:
        pytest.fail(f"{fmt} is not readable here")  # both are dependencies
    data = _encoded(into(OBAMA, "DisplayP3.icm"), fmt, icc("DisplayP3.icm"))
    dec = imaging.decode(data, 1600, 10**8)
    assert dec.image.mode == "RGB" and dec.image.size == OBAMA.size
    lossy = fmt in ("HEIF", "AVIF", "JPEG")
    assert difference(dec.image, OBAMA) < (3.0 if lossy else 0.6)
    assert chroma(dec.image) == pytest.approx(chroma(OBAMA), rel=0.02)


def test_search_by_photo_sees_srgb(album, monkeypatch):
    """The photo searched for is converted too: the face engine gets its sRGB pixels,
    and the P3 photo of a person finds that person's sRGB photo."""
    album.ingest("colour", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())
    other = Image.open(PHOTOS / "obama" / "obama2.jpg").convert("RGB")
    query = jpeg(into(other, "DisplayP3.icm"), icc("DisplayP3.icm"))
    faces = album.collection.faces
    seen: list[bytes] = []
    real = faces.detect_faces

    def detect_faces(image: bytes):
        seen.append(image)
        return real(image)

    monkeypatch.setattr(faces, "detect_faces", detect_faces)
    found = search_photo(album.collection, album.settings, query, 80)
    [face] = found.faces
    assert [m.face.external_image_id for m in face.matches]
    engine = Image.open(io.BytesIO(seen[0]))
    expected = imaging.bounded(other, engine.size)
    assert engine.size == expected.size
    assert difference(engine, expected) < 1.5
    assert chroma(engine) == pytest.approx(chroma(expected), rel=0.02)


def test_the_srgb_profile_of_renditions_is_the_same_bytes_in_every_process():
    """LittleCMS stamps a profile with the time it was made: fixed, so a photo's
    renditions do not change from one worker process to the next."""
    code = "import hashlib, facealbum.colour as c; print(hashlib.sha256(c.SRGB_ICC).hexdigest())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == hashlib.sha256(colour.SRGB_ICC).hexdigest()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(colour.SRGB_ICC)).profile
    assert str(profile.creation_date) == "2026-01-01 00:00:00" and len(colour.SRGB_ICC) < 1000


def test_a_raw_files_embedded_preview_is_converted_from_its_profile():
    """A camera set to a wide colour space may tag the JPEG preview it embeds in a RAW
    file: that preview (here a DNG's, mirrored so that it is told from a development)
    is shown in its colours, as LibRaw's development of the sensor data is (sRGB)."""
    from test_raw import dng_of  # the DNG writer of the RAW tests

    photo = OBAMA.crop((0, 0, OBAMA.width // 2 * 2, OBAMA.height // 2 * 2))
    mirrored = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    preview = jpeg(into(mirrored, "DisplayP3.icm"), icc("DisplayP3.icm"))
    # the preview's IFD laid out uncompressed by tifffile, then told to hold the JPEG
    # (Compression 7, one strip of the JPEG's length), as cameras' DNGs carry it
    padded = preview + bytes(photo.width * photo.height * 3 - len(preview))
    strip = np.frombuffer(padded, np.uint8).reshape(photo.height, photo.width, 3)
    data = bytearray(dng_of(photo, preview=Image.fromarray(strip)))
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        page, order = tif.pages[0], tif.byteorder
        at, length = page.tags["Compression"].valueoffset, page.tags["StripByteCounts"].valueoffset
    data[at : at + 2] = struct.pack(f"{order}H", 7)
    data[length : length + 4] = struct.pack(f"{order}I", len(preview))
    img, _w, _h = raw.develop(bytes(data), need=500, max_pixels=10**8)
    assert difference(img, mirrored) < 1.5  # the preview, in its colours
    assert chroma(img) == pytest.approx(chroma(mirrored), rel=0.02)
    assert chroma(Image.open(io.BytesIO(preview))) < 0.9 * chroma(mirrored)  # as it was


def test_a_transparent_png_with_a_profile_is_flattened_onto_white_then_converted():
    wide = into(OBAMA, "DisplayP3.icm").convert("RGBA")
    alpha = Image.new("L", wide.size, 255)
    alpha.paste(0, (0, 0, wide.width, 100))  # a transparent band at the top
    wide.putalpha(alpha)
    buf = io.BytesIO()
    wide.save(buf, "PNG", icc_profile=icc("DisplayP3.icm"))
    img = imaging.decode(buf.getvalue(), 1600, 10**8).image
    assert img.mode == "RGB"
    band = np.asarray(img)[:100]
    assert band.min() >= 254  # white stays white through the conversion
    below = (0, 100, OBAMA.width, OBAMA.height)
    assert difference(img.crop(below), OBAMA.crop(below)) < 0.6
