"""Capture time (issue 20, item 1): real files made from the test photos, with their
metadata written by Pillow (EXIF IFDs, PNG eXIf/tEXt/iTXt, WebP EXIF, HEIC through
pillow-heif) or by hand (a JPEG whose only metadata is an XMP APP1 segment, a truncated
EXIF block), read back from disk as an import reads them."""

from __future__ import annotations

import io
import logging
import os
import random
import struct
from pathlib import Path

import pytest
from badfiles import PHOTOS
from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from facealbum import imaging
from facealbum.capture import CaptureTime, capture_time, name_time
from facealbum.metadata import exif_of
from facealbum.place import gps_position

EXIF_IFD = 0x8769
DATE_TIME, DATE_TIME_ORIGINAL, DATE_TIME_DIGITIZED = 0x0132, 0x9003, 0x9004
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
SUBSEC_TIME_ORIGINAL = 0x9291
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
JULY_12_UTC = 1562934625.0  # 2019-07-12T12:30:25+00:00


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(PHOTOS / "obama" / "obama.jpg") as img:
        img.thumbnail((96, 96))
        return img.convert("RGB")


def exif(ifd0: dict[int, str] | None = None, **private: str) -> Image.Exif:
    """An EXIF block: ``ifd0`` tags, and the Exif IFD's tags by number (``t0x9003=``)."""
    block = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        block[tag] = value
    if private:
        sub = block.get_ifd(EXIF_IFD)
        for tag, value in private.items():
            sub[int(tag[1:], 16)] = value
    return block


def written(path: Path, photo: Image.Image, fmt: str, **params) -> Path:
    photo.save(path, fmt, **params)
    return path


def read(path: Path, mtime: float | None = None) -> CaptureTime | None:
    """What an import would record for the file on disk: opened by Pillow, its name and
    (unless given) its real modification time."""
    stat_mtime = os.stat(path).st_mtime if mtime is None else mtime
    with Image.open(path) as img:
        return capture_time(img, str(path), stat_mtime)


def test_date_time_original_with_offset_and_sub_seconds(tmp_path, photo):
    block = exif({DATE_TIME: "2020:01:01 00:00:00"}, t0x9003="2019:07:12 14:30:25",
                 t0x9011="+02:00", t0x9291="123", t0x9004="2019:07:12 14:30:26")
    path = written(tmp_path / "a.jpg", photo, "JPEG", exif=block)
    assert read(path) == CaptureTime("2019-07-12T14:30:25.123+02:00", "exif:DateTimeOriginal")


def test_without_an_offset_it_is_the_cameras_local_time(tmp_path, photo):
    block = exif(t0x9003="2019:07:12 14:30:25", t0x9011="      ")  # blanks: unknown
    path = written(tmp_path / "a.jpg", photo, "JPEG", exif=block)
    assert read(path) == CaptureTime("2019-07-12T14:30:25", "exif:DateTimeOriginal")


def test_negative_and_half_hour_offsets(tmp_path, photo):
    for offset, iso in (("-03:00", "-03:00"), ("+05:30", "+05:30"), ("+14:00", "+14:00")):
        path = written(tmp_path / "a.jpg", photo, "JPEG",
                       exif=exif(t0x9003="2019:07:12 14:30:25", t0x9011=offset))
        assert read(path).taken_at == "2019-07-12T14:30:25" + iso


def test_falls_back_to_digitized_then_date_time(tmp_path, photo):
    digitized = exif({DATE_TIME: "2020:01:01 10:00:00"}, t0x9004="2019:07:12 14:30:25",
                     t0x9012="-04:00")
    path = written(tmp_path / "d.jpg", photo, "JPEG", exif=digitized)
    assert read(path) == CaptureTime("2019-07-12T14:30:25-04:00", "exif:DateTimeDigitized")
    changed = exif({DATE_TIME: "2020:01:01 10:00:00"}, t0x9010="+01:00")
    path = written(tmp_path / "c.jpg", photo, "JPEG", exif=changed)
    assert read(path) == CaptureTime("2020-01-01T10:00:00+01:00", "exif:DateTime")


BAD_DATES = ["0000:00:00 00:00:00", "    :  :     :  :  ", "2019:13:45 25:00:00", "yesterday",
             "2999:01:01 00:00:00"]


@pytest.mark.parametrize("bad", BAD_DATES)
def test_a_bad_date_is_logged_and_the_next_one_taken(tmp_path, photo, caplog, bad):
    block = exif({DATE_TIME: "2019:07:12 14:30:25"}, t0x9003=bad)
    path = written(tmp_path / "IMG_20180101_101010.jpg", photo, "JPEG", exif=block)
    with caplog.at_level(logging.WARNING, "facealbum.capture"):
        assert read(path) == CaptureTime("2019-07-12T14:30:25", "exif:DateTime")
    [line] = [r.getMessage() for r in caplog.records]
    assert "IMG_20180101_101010.jpg: exif:DateTimeOriginal" in line
    assert repr(bad) in line and "trying the next source" in line


def test_an_impossible_offset_is_logged_and_the_local_time_kept(tmp_path, photo, caplog):
    block = exif(t0x9003="2019:07:12 14:30:25", t0x9011="+25:00", t0x9291="5")
    path = written(tmp_path / "a.jpg", photo, "JPEG", exif=block)
    with caplog.at_level(logging.WARNING, "facealbum.capture"):
        assert read(path) == CaptureTime("2019-07-12T14:30:25.500", "exif:DateTimeOriginal")
    [line] = [r.getMessage() for r in caplog.records]
    assert "'+25:00' is outside -12:00...+14:00" in line and "kept as local time" in line


def jpeg_with_app1(photo: Image.Image, payload: bytes) -> bytes:
    """The photo as a JPEG with one APP1 segment (``payload``) right after SOI, written
    by hand as a camera or an editor lays it out."""
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_a_truncated_exif_block_falls_back_without_raising(tmp_path, photo, caplog):
    whole = exif(t0x9003="2019:07:12 14:30:25", t0x9011="+02:00").tobytes()
    path = tmp_path / "IMG_20180101_101010.jpg"
    path.write_bytes(jpeg_with_app1(photo, whole[:40]))  # cut inside the Exif IFD
    imaging.decode(path.read_bytes(), 64, 10**7)  # the photo itself still imports
    with caplog.at_level(logging.WARNING, "facealbum"):
        assert read(path) == CaptureTime("2018-01-01T10:10:10", "file name")
    assert any("EXIF block damaged" in r.getMessage() for r in caplog.records)


def test_one_read_of_a_damaged_block_serves_the_date_and_the_position(tmp_path, photo, caplog):
    whole = exif(t0x9003="2019:07:12 14:30:25", t0x9011="+02:00").tobytes()
    path = tmp_path / "IMG_20180101_101010.jpg"
    path.write_bytes(jpeg_with_app1(photo, whole[:40]))
    with Image.open(path) as img, caplog.at_level(logging.WARNING, "facealbum"):
        block = exif_of(img, path.name)
        assert capture_time(img, path.name, exif=block).source == "file name"
        assert gps_position(block, path.name) is None
    assert ["EXIF block damaged" in r.getMessage() for r in caplog.records] == [True]


def test_exif_that_is_not_tiff_at_all_is_ignored(tmp_path, photo, caplog):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_with_app1(photo, b"Exif\x00\x00" + os.urandom(64)))
    with caplog.at_level(logging.WARNING, "facealbum"):
        assert read(path, mtime=JULY_12_UTC) == CaptureTime("2019-07-12T12:30:25+00:00",
                                                            "file time")


def xmp_packet(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{body}</rdf:RDF></x:xmpmeta>" + " " * 200 + '<?xpacket end="w"?>'
    ).encode()


NAMESPACES = ('xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
              'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
              'xmlns:exif="http://ns.adobe.com/exif/1.0/"')


def test_a_jpeg_with_only_an_xmp_packet(tmp_path, photo):
    body = (f'<rdf:Description rdf:about="" {NAMESPACES} xmp:CreateDate="2021-03-04T05:06:07">'
            "<photoshop:DateCreated>2019-07-12T14:30:25.25+09:00</photoshop:DateCreated>"
            "</rdf:Description>")
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + xmp_packet(body)))
    assert read(path) == CaptureTime("2019-07-12T14:30:25.250+09:00",
                                     "xmp:photoshop:DateCreated")
    body = f'<rdf:Description rdf:about="" {NAMESPACES} xmp:CreateDate="2021-03-04T05:06Z"/>'
    path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + xmp_packet(body)))
    assert read(path) == CaptureTime("2021-03-04T05:06:00+00:00", "xmp:xmp:CreateDate")
    body = (f'<rdf:Description rdf:about="" {NAMESPACES} exif:DateTimeOriginal="2019-07-12"'
            ' xmp:CreateDate="2021-03-04T05:06:07"/>')
    path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + xmp_packet(body)))
    assert read(path) == CaptureTime("2019-07-12", "xmp:exif:DateTimeOriginal")


def test_an_xmp_packet_with_entities_is_refused(tmp_path, photo, caplog):
    packet = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "2019-07-12T14:30:25">]>'
              + xmp_packet(f'<rdf:Description {NAMESPACES} xmp:CreateDate="&a;"/>'))
    path = tmp_path / "VID-20190712-WA0003.jpg"
    path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + packet))
    with caplog.at_level(logging.WARNING, "facealbum"):
        assert read(path) == CaptureTime("2019-07-12", "file name")
    assert any("declares a DTD" in r.getMessage() for r in caplog.records)


def test_broken_xmp_and_a_vague_xmp_date_fall_through(tmp_path, photo, caplog):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + b"<x:xmpmeta><rdf:RDF>"))
    with caplog.at_level(logging.WARNING, "facealbum"):
        assert read(path, JULY_12_UTC).source == "file time"
        body = f'<rdf:Description {NAMESPACES} photoshop:DateCreated="2019-07"/>'
        path.write_bytes(jpeg_with_app1(photo, XMP_APP1 + xmp_packet(body)))
        assert read(path, JULY_12_UTC).source == "file time"
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "not well-formed" in messages and "'2019-07' is not an ISO 8601 date" in messages


def test_png_exif_text_and_xmp(tmp_path, photo):
    # as bytes: Pillow's PNG writer skips an Image.Exif whose IFD0 is empty
    path = written(tmp_path / "a.png", photo, "PNG",
                   exif=exif(t0x9003="2019:07:12 14:30:25", t0x9011="+02:00").tobytes())
    assert read(path) == CaptureTime("2019-07-12T14:30:25+02:00", "exif:DateTimeOriginal")
    text = PngImagePlugin.PngInfo()
    text.add_text("Creation Time", "Fri, 12 Jul 2019 14:30:25 -0300")
    path = written(tmp_path / "b.png", photo, "PNG", pnginfo=text)
    assert read(path) == CaptureTime("2019-07-12T14:30:25-03:00", "png:Creation Time")
    text = PngImagePlugin.PngInfo()
    text.add_text("Creation Time", "2019:07:12 14:30:25")
    path = written(tmp_path / "c.png", photo, "PNG", pnginfo=text)
    assert read(path) == CaptureTime("2019-07-12T14:30:25", "png:Creation Time")
    text = PngImagePlugin.PngInfo()
    body = f'<rdf:Description {NAMESPACES} xmp:CreateDate="2019-07-12T14:30:25+01:00"/>'
    text.add_itxt("XML:com.adobe.xmp", xmp_packet(body).decode())
    text.add_text("Creation Time", "Fri, 12 Jul 2019 10:00:00 +0000")
    path = written(tmp_path / "d.png", photo, "PNG", pnginfo=text)
    assert read(path) == CaptureTime("2019-07-12T14:30:25+01:00", "xmp:xmp:CreateDate")


def test_reading_a_png_without_exif_decodes_no_pixel(tmp_path, photo, caplog):
    path = written(tmp_path / "IMG_20190712_143025.png", photo, "PNG")
    with Image.open(path) as img, caplog.at_level(logging.WARNING, "facealbum"):
        img.load = None  # Pillow's PNG getexif() would load the image to look for eXIf
        assert capture_time(img, path.name) == CaptureTime("2019-07-12T14:30:25", "file name")
        assert img._im is None  # nothing decoded
    assert not caplog.records


def test_tiff_tags(tmp_path, photo):
    path = written(tmp_path / "a.tif", photo, "TIFF", exif=exif({DATE_TIME: "2019:07:12 14:30:25"}))
    assert read(path) == CaptureTime("2019-07-12T14:30:25", "exif:DateTime")


def test_webp_exif_and_xmp(tmp_path, photo):
    path = written(tmp_path / "a.webp", photo, "WEBP",
                   exif=exif(t0x9003="2019:07:12 14:30:25", t0x9291="04"))
    assert read(path) == CaptureTime("2019-07-12T14:30:25.040", "exif:DateTimeOriginal")
    body = f'<rdf:Description {NAMESPACES}><exif:DateTimeOriginal>2019-07-12T14:30:25-07:00' \
           "</exif:DateTimeOriginal></rdf:Description>"
    path = written(tmp_path / "b.webp", photo, "WEBP", xmp=xmp_packet(body))
    assert read(path) == CaptureTime("2019-07-12T14:30:25-07:00", "xmp:exif:DateTimeOriginal")


def test_heic_exif(tmp_path, photo):
    block = exif(t0x9003="2019:07:12 14:30:25", t0x9011="+10:00", t0x9291="987")
    path = written(tmp_path / "a.heic", photo, "HEIF", exif=block)
    assert read(path) == CaptureTime("2019-07-12T14:30:25.987+10:00", "exif:DateTimeOriginal")


NAMES = {
    "IMG_20190712_143025.jpg": "2019-07-12T14:30:25",
    "PXL_20190712_143025123.jpg": "2019-07-12T14:30:25.123",
    "PXL_20190712_143025123.MP.jpg": "2019-07-12T14:30:25.123",
    "VID-20190712-WA0003.jpg": "2019-07-12",
    "IMG-20190712-WA0003.jpeg": "2019-07-12",
    "Screenshot_2019-07-12-14-30-25.png": "2019-07-12T14:30:25",
    "Screenshot_20190712-143025.png": "2019-07-12T14:30:25",
    "Screenshot 2019-07-12 at 14.30.25.png": "2019-07-12T14:30:25",
    "Screen Shot 2019-07-12 at 2.30.25 PM.png": "2019-07-12T14:30:25",
    "Screenshot 2019-07-12 at 12.05.01\u202fAM.png": "2019-07-12T00:05:01",
    "WhatsApp Image 2019-07-12 at 14.30.25.jpeg": "2019-07-12T14:30:25",
    "signal-2019-07-12-143025.jpg": "2019-07-12T14:30:25",
    "signal-2019-07-12-14-30-25-123.jpg": "2019-07-12T14:30:25.123",
    "20190712_143025.jpg": "2019-07-12T14:30:25",
    "20190712_143025(0).jpg": "2019-07-12T14:30:25",
}


@pytest.mark.parametrize("name", NAMES)
def test_dates_in_file_names(tmp_path, photo, name):
    path = written(tmp_path / name, photo, "PNG" if name.endswith(".png") else "JPEG")
    assert read(path) == CaptureTime(NAMES[name], "file name")


@pytest.mark.parametrize("name", ["IMG_12345678.jpg", "IMG_20191301_101010.jpg",
                                  "DSC01234.JPG", "IMG_0001.jpg", "scan_18991231.jpg",
                                  "IMG_29990101_101010.jpg", "photo.jpg"])
def test_digits_that_are_not_dates_fall_back_to_the_file_time(tmp_path, photo, name):
    path = written(tmp_path / name, photo, "JPEG")
    os.utime(path, (JULY_12_UTC, JULY_12_UTC))
    assert read(path) == CaptureTime("2019-07-12T12:30:25+00:00", "file time")
    assert name_time(name) is None


def test_the_file_time_is_utc_and_a_bad_one_gives_nothing(tmp_path, photo, caplog):
    path = written(tmp_path / "a.jpg", photo, "JPEG")
    os.utime(path, (JULY_12_UTC + 0.5, JULY_12_UTC + 0.5))
    assert read(path) == CaptureTime("2019-07-12T12:30:25.500+00:00", "file time")
    with caplog.at_level(logging.WARNING, "facealbum.capture"):
        for bad in (0.0, float("nan"), 1e20):
            assert read(path, mtime=bad) is None
    assert len(caplog.records) == 3
    assert all("a.jpg: file time" in r.getMessage() for r in caplog.records)


def test_a_given_exif_is_used_and_none_means_none(tmp_path, photo):
    block = exif(t0x9003="2019:07:12 14:30:25")
    path = written(tmp_path / "IMG_20180101_101010.jpg", photo, "JPEG", exif=block)
    with Image.open(path) as img:
        assert capture_time(img, path.name, exif=None).source == "file name"
        assert capture_time(None, path.name, exif=exif_of(img)).source == "exif:DateTimeOriginal"


def test_xmp_that_is_not_text_is_ignored(photo, caplog):
    img = Image.new("RGB", (4, 4))
    img.info["xmp"] = "\ud800"  # a lone surrogate: no UTF-8 for it
    with caplog.at_level(logging.WARNING, "facealbum"):
        assert capture_time(img, "IMG_20190712_143025.jpg").source == "file name"
    assert "XMP packet is not text" in caplog.records[0].getMessage()


def test_nothing_known_is_none_and_a_raw_file_has_its_name(photo):
    assert capture_time(None) is None
    assert capture_time(None, "/photos/2019/IMG_20190712_143025.dng") == CaptureTime(
        "2019-07-12T14:30:25", "file name")


def test_randomly_damaged_exif_never_raises(caplog):
    """Bytes flipped and blocks cut at random in a block that holds every date and GPS
    tag: each read gives a date of the module's shapes, from some source, or a logged
    reason; none raises."""
    block = exif({DATE_TIME: "2019:07:12 14:30:25"}, t0x9003="2019:07:12 14:30:25",
                 t0x9011="+02:00", t0x9291="123")
    gps = block.get_ifd(0x8825)
    gps.update({1: "N", 2: (IFDRational(41), IFDRational(54), IFDRational(1008, 100)),
                3: "E", 4: (IFDRational(12), IFDRational(29), IFDRational(47)), 6: IFDRational(21)})
    whole, rng = block.tobytes(), random.Random(20)
    sources = set()
    for _ in range(300):
        damaged = bytearray(whole)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(len(damaged))]
        img = Image.new("RGB", (2, 2))
        img.info["exif"] = bytes(damaged)
        read = exif_of(img, "x.jpg")
        found = capture_time(img, "x.jpg", JULY_12_UTC, exif=read)
        gps_position(read, "x.jpg")
        assert found.taken_at[:2] in {"19", "20"} and found.taken_at[4] == "-"
        sources.add(found.source)
    assert {"exif:DateTimeOriginal", "file time"} <= sources  # both intact and ruined ones
