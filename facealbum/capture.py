"""When a picture was taken: its capture time and where that time was read (issue 20).

Sources, tried in this order; the first that holds a usable date wins:

1. EXIF (EXIF 2.32 / CIPA DC-008, from any container: JPEG, PNG eXIf, WebP, HEIC):
   ``DateTimeOriginal`` (0x9003) with ``OffsetTimeOriginal`` (0x9011) and
   ``SubSecTimeOriginal`` (0x9291); then ``DateTimeDigitized`` (0x9004, with 0x9012 and
   0x9292); then IFD0's ``DateTime`` (0x0132, the file's last change, with 0x9010 and
   0x9290).
2. XMP: ``exif:DateTimeOriginal`` (http://ns.adobe.com/exif/1.0/),
   ``photoshop:DateCreated`` (http://ns.adobe.com/photoshop/1.0/), ``xmp:CreateDate``
   (http://ns.adobe.com/xap/1.0/).
3. PNG's registered text keyword ``Creation Time`` (PNG 1.2, 11.3.4.2; RFC 1123 dates
   recommended, ISO 8601 and EXIF's form met too).
4. A date in the file name: phones' and apps' patterns (``IMG_20190712_143025``,
   ``PXL_20190712_143025123``, ``VID-20190712-WA0003``, ``Screenshot_2019-07-12-14-30-25``,
   ``Screenshot 2019-07-12 at 14.30.25``, ``signal-2019-07-12-143025``,
   ``20190712_143025``).
5. The file's modification time (a POSIX timestamp).

``taken_at`` is ISO 8601: ``2019-07-12T14:30:25.123+02:00`` when the offset from UTC is
known, ``2019-07-12T14:30:25`` (the camera's local time) when not, ``2019-07-12`` for a
date alone (a file name like ``VID-20190712-WA0003``), and the modification time in UTC
(``...+00:00``). A value present but unusable (``0000:00:00 00:00:00``, blanks, an
impossible date or offset, a damaged block) is never an error: it is skipped with one
logged line saying why, and the next source is tried.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from types import EllipsisType
from typing import Literal

from PIL import Image

from .metadata import EXIF_IFD, exif_of, xmp_of, xmp_property

log = logging.getLogger(__name__)

Source = Literal[
    "exif:DateTimeOriginal",
    "exif:DateTimeDigitized",
    "exif:DateTime",
    "xmp:exif:DateTimeOriginal",
    "xmp:photoshop:DateCreated",
    "xmp:xmp:CreateDate",
    "png:Creation Time",
    "file name",
    "file time",
]


@dataclass(frozen=True)
class CaptureTime:
    """``taken_at``: ISO 8601 (see the module's docstring for its three shapes);
    ``source``: the container and the field's standard name it was read from."""

    taken_at: str
    source: Source


class _Unusable(ValueError):
    """A value is present but cannot be a capture time: the message says why."""


# (source, date tag, offset tag, sub-second tag): EXIF 2.32 Table 8 and 9
_EXIF_DATES: tuple[tuple[Source, int, int, int, bool], ...] = (
    ("exif:DateTimeOriginal", 0x9003, 0x9011, 0x9291, True),
    ("exif:DateTimeDigitized", 0x9004, 0x9012, 0x9292, True),
    ("exif:DateTime", 0x0132, 0x9010, 0x9290, False),  # the date in IFD0, the rest in Exif
)
_XMP_DATES: tuple[tuple[Source, str, str], ...] = (
    ("xmp:exif:DateTimeOriginal", "http://ns.adobe.com/exif/1.0/", "DateTimeOriginal"),
    ("xmp:photoshop:DateCreated", "http://ns.adobe.com/photoshop/1.0/", "DateCreated"),
    ("xmp:xmp:CreateDate", "http://ns.adobe.com/xap/1.0/", "CreateDate"),
)
# UTC offsets in use run from -12:00 (Baker Island) to +14:00 (Line Islands)
_MIN_OFFSET, _MAX_OFFSET = timedelta(hours=-12), timedelta(hours=14)
# metadata may date a scanned print from photography's first decades; a file name's
# digits are more often a counter, so its years are held closer (1900 on)
_FIRST_YEAR_METADATA, _FIRST_YEAR_NAME = 1826, 1900


def capture_time(
    image: Image.Image | None,
    file_name: str = "",
    mtime: float | None = None,
    *,
    exif: Image.Exif | None | EllipsisType = ...,
) -> CaptureTime | None:
    """The picture's capture time from the first usable source, or None when none has
    one (every unusable value logged, one line each, at WARNING).

    ``image`` is the picture as ``Image.open`` gave it (its ``info`` and EXIF; pixels
    are not needed), or None for a file Pillow does not open (camera RAW); ``file_name``
    is the name it was imported or uploaded under (a path is fine: only its last part is
    read); ``mtime`` is its modification time in seconds since the epoch, if known.
    ``exif``, when given, is the picture's EXIF as ``metadata.exif_of`` read it, so that
    a caller that reads its GPS position too (place.py) reads the block, and logs its
    damage, once."""
    name = re.split(r"[\\/]", file_name)[-1] if file_name else ""
    label = name or "picture"
    for source, read in _candidates(image, exif, name, mtime, label):
        try:
            found = read()
        except _Unusable as why:
            log.warning("%s: %s %s; trying the next source", label, source, why)
            continue
        except Exception as exc:  # a reader's own failure must not fail an import either
            log.warning("%s: %s unreadable (%s: %s); trying the next source", label, source,
                        type(exc).__name__, exc)
            continue
        if found:
            return CaptureTime(found, source)
    return None


def _candidates(
    image: Image.Image | None,
    exif: Image.Exif | None | EllipsisType,
    name: str,
    mtime: float | None,
    label: str,
) -> Iterator[tuple[Source, Callable[[], str | None]]]:
    """Each source in turn with its reader; blocks are read only when reached."""
    if exif is ...:
        exif = exif_of(image, label) if image is not None else None
    if exif is not None:
        try:
            private = exif.get_ifd(EXIF_IFD)
        except Exception as exc:  # read by exif_of already; a caller's block may not be
            log.warning("%s: EXIF IFD unreadable (%s); IFD0 alone used", label, exc)
            private = {}
        for source, tag, offset_tag, subsec_tag, private_tag in _EXIF_DATES:
            value = (private if private_tag else exif).get(tag)
            if value is not None:
                yield source, partial(_exif_time, value, private.get(offset_tag),
                                      private.get(subsec_tag), source, label)
    if image is not None:
        xmp = xmp_of(image, label)
        if xmp is not None:
            for source, namespace, local in _XMP_DATES:
                yield source, partial(_xmp_time, xmp, namespace, local)
        text = image.info.get("Creation Time")
        if text is not None:
            yield "png:Creation Time", partial(_text_time, text)
    if name:
        yield "file name", partial(name_time, name)
    if mtime is not None:
        yield "file time", partial(_file_time, mtime)


def _ascii(value: object) -> str:
    """An EXIF ASCII value as text: Pillow gives str, or bytes for a mistyped entry;
    the NUL terminator and padding are dropped."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise _Unusable(f"is not text ({type(value).__name__})")
    return value.rstrip("\x00")


_EXIF_DATETIME = re.compile(
    r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def _exif_time(value: object, offset: object, subsec: object, source: str, label: str) -> str:
    """EXIF's ``YYYY:MM:DD HH:MM:SS`` (EXIF 2.32 4.6.5: 19 characters, local time),
    with its offset tag (``+HH:MM``; blanks mean unknown) and sub-second tag (digits,
    the fraction's leading digits: ``"5"`` is .5 s) when usable. An unusable date
    raises ``_Unusable``; an unusable offset or sub-second value is logged and left out,
    the local time kept."""
    text = _ascii(value)
    if not text.strip(" :0"):
        raise _Unusable(f"{text!r} is the placeholder for an unknown date")
    match = _EXIF_DATETIME.fullmatch(text.strip())
    if not match:
        raise _Unusable(f"{text!r} is not EXIF's YYYY:MM:DD HH:MM:SS")
    taken = _datetime(*(int(part) for part in match.groups()[:6]), text=text)
    digits = match.group(7) or ""
    if subsec is not None:
        sub = _ascii(subsec).strip() if isinstance(subsec, str | bytes) else ""
        if sub.isascii() and sub.isdigit():
            digits = sub
        elif sub:
            log.warning("%s: %s sub-seconds %r are not digits; left out", label, source, sub)
    if digits:
        taken = taken.replace(microsecond=int(digits[:6].ljust(6, "0")))
    if offset is not None:
        try:
            taken = taken.replace(tzinfo=_offset(_ascii(offset)))
        except _Unusable as why:
            log.warning("%s: %s offset %s; kept as local time", label, source, why)
    return _iso(taken)


def _iso(taken: datetime) -> str:
    """ISO 8601 with as many fraction digits as were recorded: none, milliseconds (the
    three digits cameras write) or microseconds."""
    if taken.microsecond == 0:
        return taken.isoformat(timespec="seconds")
    return taken.isoformat(timespec="milliseconds" if taken.microsecond % 1000 == 0
                           else "microseconds")


def _offset(text: str) -> timezone | None:
    """``+HH:MM`` / ``-HH:MM`` (or ``Z``) as a timezone; blanks (EXIF's "unknown") give
    None; anything else, or an offset outside -12:00...+14:00, raises ``_Unusable``."""
    text = text.strip()
    if not text.strip(":"):
        return None
    if text == "Z":
        return UTC
    match = _OFFSET.fullmatch(text)
    if not match or int(match.group(3)) >= 60:
        raise _Unusable(f"{text!r} is not ±HH:MM")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
    if not _MIN_OFFSET <= delta <= _MAX_OFFSET:
        raise _Unusable(f"{text!r} is outside -12:00...+14:00")
    return timezone(delta)


def _datetime(*parts: int, text: str, first_year: int = _FIRST_YEAR_METADATA) -> datetime:
    """A naive datetime from its parts, or ``_Unusable`` for an impossible or implausible
    one (a year before ``first_year`` or after next year)."""
    try:
        taken = datetime(*parts)  # type: ignore[arg-type,misc]
    except ValueError as exc:
        raise _Unusable(f"{text!r} is not a date ({exc})") from None
    if not first_year <= taken.year <= datetime.now(UTC).year + 1:
        raise _Unusable(f"{text!r} has an implausible year {taken.year}")
    return taken


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?"
)


def _iso_time(text: str) -> str:
    """XMP's date (XMP Part 1 8.2.1.1, a subset of ISO 8601: ``YYYY-MM-DD``, then
    optionally ``Thh:mm[:ss[.s]]`` and an offset ``Z``/``±hh:mm``) in this module's
    shapes. A year or a month alone is too vague to place a photo: ``_Unusable``."""
    match = _ISO.fullmatch(text.strip())
    if not match:
        raise _Unusable(f"{text!r} is not an ISO 8601 date with a day")
    y, mo, d, h, mi, s, frac, zone = match.groups()
    if h is None:
        return _datetime(int(y), int(mo), int(d), text=text).date().isoformat()
    taken = _datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), text=text)
    if frac:
        taken = taken.replace(microsecond=int(frac[:6].ljust(6, "0")))
    if zone:
        taken = taken.replace(tzinfo=_offset(zone if zone == "Z" or ":" in zone
                                             else f"{zone[:3]}:{zone[3:]}"))
    return _iso(taken)


def _xmp_time(root: ET.Element, namespace: str, local: str) -> str | None:
    value = xmp_property(root, namespace, local)
    return _iso_time(value) if value else None


def _text_time(text: object) -> str:
    """PNG ``Creation Time``: free text. RFC 1123 (``Fri, 12 Jul 2019 14:30:25 +0200``,
    the form PNG recommends) through ``email.utils``, else ISO 8601, else EXIF's form."""
    if not isinstance(text, str) or not text.strip():
        raise _Unusable("is empty")
    text = text.strip()
    if _EXIF_DATETIME.fullmatch(text):
        return _exif_time(text, None, None, "png:Creation Time", "")
    if _ISO.fullmatch(text):
        return _iso_time(text)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise _Unusable(f"{text!r} is not an RFC 1123, ISO 8601 or EXIF date") from None
    _datetime(parsed.year, parsed.month, parsed.day, text=text)  # the plausibility check
    if parsed.tzinfo is not None:  # "-0000" means "offset unknown" (RFC 2822): naive then
        _offset(parsed.strftime("%z"))
    return _iso(parsed)


# a date and a time: YYYY MM DD (one separator or none, the same twice), then a space,
# "_", "-", "T" or " at ", then HH MM SS (likewise), then optional milliseconds
_NAME_DATETIME = re.compile(
    r"(?<!\d)(\d{4})([-_.]?)(\d{2})\2(\d{2})(?:[ _T-]|\s+at\s+)"
    r"(\d{2})([-_.:]?)(\d{2})\6(\d{2})(?:[-_.]?(\d{3}))?(?!\d)"
)
# macOS before 10.14: "Screen Shot 2019-07-12 at 2.30.25 PM" (U+202F before PM since 13)
_NAME_12_HOUR = re.compile(
    r"(?<!\d)(\d{4})-(\d{2})-(\d{2})\s+at\s+(\d{1,2})\.(\d{2})\.(\d{2})\s*([AP]M)(?![A-Za-z])",
    re.IGNORECASE,
)
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})([-_.]?)(\d{2})\2(\d{2})(?!\d)")


def name_time(name: str) -> str | None:
    """The date (and time, when it is there) a file name holds, as phones, cameras and
    apps write it, or None. The camera's local time; no offset. A digit run that is not
    a plausible date (``IMG_12345678``; months over 12; years before 1900 or after next
    year) is not taken for one."""
    for match in _NAME_12_HOUR.finditer(name):
        y, mo, d, h, mi, s, half = match.groups()
        hour = int(h) % 12 + (12 if half.upper() == "PM" else 0)
        if int(h) <= 12:
            with suppress(_Unusable):
                return _iso(_datetime(int(y), int(mo), int(d), hour, int(mi), int(s),
                                      text=match.group(0), first_year=_FIRST_YEAR_NAME))
    for match in _NAME_DATETIME.finditer(name):
        y, _, mo, d, h, _, mi, s, ms = match.groups()
        with suppress(_Unusable):
            taken = _datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                              text=match.group(0), first_year=_FIRST_YEAR_NAME)
            return _iso(taken.replace(microsecond=int(ms) * 1000 if ms else 0))
    for match in _NAME_DATE.finditer(name):
        y, _, mo, d = match.groups()
        with suppress(_Unusable):
            return _datetime(int(y), int(mo), int(d), text=match.group(0),
                             first_year=_FIRST_YEAR_NAME).date().isoformat()
    return None



def _file_time(mtime: float) -> str:
    """The modification time as UTC with its offset (``...+00:00``); a timestamp that is
    not a number, is 0 (the epoch: archivers' and copiers' "unknown") or out of range
    raises ``_Unusable``."""
    if not isinstance(mtime, int | float) or not math.isfinite(mtime) or mtime <= 0:
        raise _Unusable(f"{mtime!r} is not a time")
    try:
        taken = datetime.fromtimestamp(mtime, UTC)
    except (OverflowError, OSError, ValueError):
        raise _Unusable(f"{mtime!r} is out of range") from None
    _datetime(taken.year, taken.month, taken.day, text=str(mtime))
    return _iso(taken)
