"""Camera RAW: a real DNG (Adobe's DNG 1.4 tags over a Bayer mosaic) made from a test
photo, decoded by LibRaw through rawpy, as an import and an upload take it.

No camera's RAW file is licensed for this repository, so the DNG is made here: the
photo's linear light sampled through an RGGB colour filter into 12 bits, as a sensor
records it, with the tags a DNG reader needs (CFA pattern, black and white levels, the
XYZ -> camera matrix of linear sRGB, as-shot neutral)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from badfiles import PHOTOS
from PIL import Image

from facealbum import raw
from facealbum.domain import BadInput

OBAMA = PHOTOS / "obama" / "obama.jpg"
_XYZ_TO_SRGB = (32406, -15372, -4986, -9689, 18758, 415, 557, -2040, 10570)  # / 10000


def dng_of(photo: Image.Image, preview: Image.Image | None = None) -> bytes:
    """A DNG of ``photo`` (RGGB mosaic, 12 bits), with ``preview`` as its full-size
    preview (an uncompressed RGB first directory, the mosaic in its SubIFD, as DNG
    writers lay it out) if given."""
    linear = (np.asarray(photo.convert("RGB"), dtype=np.float32) / 255) ** 2.2
    h, w = linear.shape[0] // 2 * 2, linear.shape[1] // 2 * 2
    linear, white = linear[:h, :w], 4095
    mosaic = np.empty((h, w), np.uint16)
    for (dy, dx), channel in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}.items():
        mosaic[dy::2, dx::2] = linear[dy::2, dx::2, channel] * white
    dng = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "facealbum test camera", True),  # UniqueCameraModel
        (50721, "2i", 9, tuple(v for x in _XYZ_TO_SRGB for v in (x, 10000)), True),
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
    ]
    cfa = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50714, "H", 1, 0, True),  # BlackLevel
        (50717, "H", 1, white, True),  # WhiteLevel
    ]
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tiff:
        if preview is None:  # 32803: the colour filter array
            tiff.write(mosaic, photometric=32803, extratags=dng + cfa)
        else:
            rgb = np.asarray(preview.convert("RGB"))[:h, :w]
            tiff.write(rgb, photometric="rgb", subfiletype=1, subifds=1, extratags=dng)
            tiff.write(mosaic, photometric=32803, subfiletype=0, extratags=cfa)
    return buf.getvalue()


@pytest.fixture(scope="module")
def dng() -> bytes:
    return dng_of(Image.open(OBAMA))


def test_a_dng_is_told_from_a_tiff(dng):
    assert raw.tiff_kind(io.BytesIO(dng)) == "DNG"
    plain = io.BytesIO()
    Image.open(OBAMA).save(plain, "TIFF")
    assert raw.tiff_kind(plain) is None
    assert raw.kind(io.BytesIO(b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01")) == "CR3"
    assert raw.kind(io.BytesIO(b"FUJIFILMCCD-RAW 0201")) == "RAF"
    assert raw.kind(io.BytesIO(b"\xff\xd8\xff\xe0\x00\x10JFIF")) is None
    # a CR2 is a TIFF whose header says "CR" (Canon's): it never reaches Pillow as TIFF
    assert raw.kind(io.BytesIO(b"II*\x00\x10\x00\x00\x00CR\x02\x00")) == "CR2"
    assert raw.kind(io.BytesIO(dng)) == "DNG"
    assert raw.kind(plain) is None


def test_a_dng_is_developed_with_its_colours(dng):
    img, w, h = raw.develop(dng, need=2000, max_pixels=50_000_000)
    photo = Image.open(OBAMA).convert("RGB")
    assert (w, h) == (photo.width // 2 * 2, photo.height // 2 * 2)
    assert img.size == (w, h)
    developed = np.asarray(img, dtype=np.float32).mean(axis=(0, 1))
    original = np.asarray(photo, dtype=np.float32).mean(axis=(0, 1))
    # LibRaw's development (camera white balance, sRGB gamma, its auto-brightening) is
    # not our gamma 2.2: the colour balance holds, within 15 levels a channel
    assert np.abs((developed - developed.mean()) - (original - original.mean())).max() < 15


def test_a_dng_is_imported_and_uploaded_with_its_face(album, dng):
    result = album.ingest("raw", "IMG_0001.DNG", dng)
    picture = result.picture
    assert picture.content_type == "image/x-adobe-dng"
    assert len(picture.faces) == 1
    assert album.blobs.get("originals", picture.original_key) == dng  # kept as uploaded
    assert picture.original_key.endswith(".dng")


def test_a_raw_file_too_large_or_damaged_is_a_clear_refusal(album, dng):
    with pytest.raises(ValueError, match="too large"):
        raw.develop(dng, need=100, max_pixels=100_000)
    broken = dng[:4096]  # a DNG cut off after its header
    with pytest.raises(BadInput, match="RAW|corrupt|readable"):
        album.ingest("raw", "broken.dng", broken)


def test_a_large_enough_embedded_preview_is_used_instead_of_a_development():
    photo = Image.open(OBAMA).convert("RGB")
    # a half-size preview, mirrored so that what is returned tells which was used
    mirrored = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    small = mirrored.resize((photo.width // 2, photo.height // 2))
    dng = dng_of(photo, preview=small)

    def likeness(img: Image.Image, reference: Image.Image) -> float:
        got = np.asarray(img.convert("L"), dtype=np.float32).ravel()
        ref = reference.convert("L").resize(img.size)
        return float(np.corrcoef(got, np.asarray(ref, dtype=np.float32).ravel())[0, 1])

    img, w, h = raw.develop(dng, need=500, max_pixels=50_000_000)  # the preview will do
    assert max(img.size) == max(small.size) and (w, h) == (910, 1136)
    assert likeness(img, mirrored) > 0.99
    img, w, h = raw.develop(dng, need=1000, max_pixels=50_000_000)  # it will not
    assert img.size == (w, h) == (910, 1136)
    assert likeness(img, photo) > 0.95 and likeness(img, mirrored) < 0.9


def test_search_by_photo_refuses_raw_naming_what_it_takes(dng):
    """Developing RAW is a second of CPU and ~100 MB a file: more than a visitor's search
    is allowed, so the search's header check refuses it and says what it takes."""
    from facealbum.photo_search import photo_pixels

    photo = Image.open(PHOTOS / "obama" / "obama.jpg").convert("RGB")
    with_preview = dng_of(photo, preview=photo.reduce(2))  # a first page Pillow can open
    for data in (dng, with_preview):
        with pytest.raises(BadInput) as refused:
            photo_pixels(data, 1600)
        message = str(refused.value)
        assert "can search by" in message and "JPEG" in message and "AVIF" in message
        assert "RAW" not in message
