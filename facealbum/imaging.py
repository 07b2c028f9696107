"""Turn untrusted bytes into an oriented sRGB photo, or a clear refusal.

Decoding is the expensive, dangerous step: JPEGs are decoded at a reduced scale
(``draft``) when only a preview and a detection image are needed, and pixel counts are
checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from . import colour, raw
from .capture import CaptureTime, capture_time
from .domain import BadInput
from .metadata import exif_of
from .place import Position, gps_position

log = logging.getLogger(__name__)

try:  # HEIC support is optional: pillow-heif has wheels for common platforms only.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF = False

# MPO is a JPEG with further images appended (a camera's or iPhone's depth map or second
# view, CIPA DC-007): Pillow names it MPO, but it is a JPEG file whose first image is the
# photo, so it is taken as one and kept as uploaded
FORMATS = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# scanners' and editors' formats: the first page of a multi-page TIFF, the first frame of
# an animated GIF (Pillow opens both there); renditions are JPEG whatever came in
FORMATS |= {"TIFF": "image/tiff", "GIF": "image/gif", "BMP": "image/bmp"}
if HEIF:
    FORMATS |= {"HEIF": "image/heif"}
# the format a picture is recorded as: a format Pillow tells apart but a viewer does not
_SAME_AS = {"MPO": "JPEG"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
EXTENSIONS |= {"TIFF": "tif", "GIF": "gif", "BMP": "bmp"}
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp"}
SUFFIXES |= {".heic", ".heif"} if HEIF else set()
# AVIF (AV1 in HEIF's container: phones' and browsers' newer format), by Pillow's own
# plugin where its wheel has libavif
if features.check("avif"):
    FORMATS |= {"AVIF": "image/avif"}
    EXTENSIONS |= {"AVIF": "avif"}
    SUFFIXES |= {".avif"}
# camera RAW (raw.py): developed or previewed for renditions, the file kept as uploaded
FORMATS |= {kind: media_type for kind, (_ext, media_type) in raw.FORMATS.items()}
EXTENSIONS |= {kind: ext for kind, (ext, _media_type) in raw.FORMATS.items()}
SUFFIXES |= raw.SUFFIXES
_SWAPS_AXES = {5, 6, 7, 8}


# what people call each format, for the messages that list what the album reads
_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC", "AVIF": "AVIF"}
_NAMES |= {"TIFF": "TIFF", "GIF": "GIF", "BMP": "BMP"}


def format_names(formats: Iterable[str]) -> str:
    """ "JPEG, PNG … or camera RAW": the formats (Pillow's names, raw.FORMATS' kinds)
    as a user reads them, in the table's order, for a refusal's message."""
    kinds = list(dict.fromkeys(formats))
    names = list(dict.fromkeys(_NAMES[k] for k in kinds if k in _NAMES))
    if any(k in raw.FORMATS for k in kinds):
        names.append("camera RAW (" + ", ".join(raw.FORMATS) + ")")
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


READABLE = format_names(FORMATS)  # every format decode() takes


@dataclass
class Decoded:
    format: str
    content_type: str
    width: int  # of the oriented original, not of the decoded (possibly reduced) image
    height: int
    image: Image.Image  # oriented sRGB, at least ``need`` px on the long side where possible
    # when and where it was taken (capture.py, place.py), read with ``capture=True`` only
    taken: CaptureTime | None = None
    position: Position | None = None


# one pixel limit, the configured one: Pillow's own (89 MP, with its own message) is off,
# and every decode checks Settings.max_pixels from the header before any pixel is read
Image.MAX_IMAGE_PIXELS = None
# modes Pillow resizes with a real filter; others (palette, 1-bit, 16-bit) go to RGB first
_RESIZABLE = {"RGB", "RGBA", "L", "LA", "RGBX"}


def decode(
    data: bytes | BinaryIO,
    need: int,
    max_pixels: int,
    *,
    capture: bool = False,
    name: str = "",
    mtime: float | None = None,
) -> Decoded:
    """Decode, orient and convert to sRGB (from the embedded ICC profile, if any:
    :mod:`colour`), reduced to about ``need`` px on the long side.

    With ``capture``, the capture time and GPS position are read too (:func:`metadata`),
    from the metadata the opened file holds before any pixel is converted, then from
    ``name`` (the file's name) and ``mtime`` (its modification time, POSIX seconds).

    Memory is the point: a large photo is shrunk in place the moment its pixels are
    loaded, so the full-size buffer is the only big allocation and is freed before any
    copy is made (an 88 MP PNG peaks at its decoded size once, not four times)."""
    if isinstance(data, bytes | bytearray):
        if not data:
            raise BadInput("empty file")
        data = io.BytesIO(data)
    # camera RAW first: DNG, CR2, NEF and ARW are TIFF files underneath, which Pillow
    # would open as their small first-page thumbnail or not at all
    camera = raw.kind(data)
    if camera:
        developed = _develop(camera, data.read(), need, max_pixels)
        if capture:  # LibRaw's files: the name and the file time only
            developed.taken, developed.position = metadata(None, name, mtime)
        return developed
    try:
        img: Image.Image = Image.open(data)
        fmt = img.format or ""
        if fmt not in FORMATS:
            raise BadInput(f"unsupported image format {fmt or 'unknown'}")
        w, h = img.size
        if w * h > max_pixels:
            raise BadInput(
                f"image too large: {w}x{h} = {w * h / 1e6:.0f} MP "
                f"(limit {max_pixels / 1e6:.0f} MP; possible decompression bomb)"
            )
        orientation = img.getexif().get(0x0112, 1)
        taken, position = metadata(img, name, mtime) if capture else (None, None)
        draft(img, need)
        img.load()
        icc = img.info.get("icc_profile")
        if img.mode in _DEEP:  # grey stays grey, for a grey profile
            img = _to_8bit(img)
        elif img.mode not in _RESIZABLE and not (img.mode == "CMYK" and icc):
            img = _to_rgb(img)  # CMYK with its profile goes to sRGB through the profile
        if max(img.size) > need:
            img.thumbnail((need, need), Image.Resampling.BICUBIC, reducing_gap=2.0)
        img = ImageOps.exif_transpose(img, in_place=False) if orientation != 1 else img
        # once, at the reduced size: the profile's colours, as sRGB (colour.py)
        img = _to_rgb(colour.to_srgb(img, icc))
    except BadInput:
        raise
    except UnidentifiedImageError:
        raise BadInput(
            f"not a readable image: not a {READABLE} file, or damaged beyond reading"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadInput(f"corrupt or truncated image: {exc}") from None
    if orientation in _SWAPS_AXES:
        w, h = h, w
    if min(w, h) < 1:
        raise BadInput("image has no pixels")
    return Decoded(_SAME_AS.get(fmt, fmt), FORMATS[fmt], w, h, img, taken, position)


def metadata(
    img: Image.Image | None, name: str, mtime: float | None
) -> tuple[CaptureTime | None, Position | None]:
    """The capture time (capture.capture_time) and GPS position (place.gps_position)
    of an opened, not yet decoded image (None: a file Pillow does not open), its EXIF
    read once (metadata.exif_of). Never raises: bad metadata never fails an import
    (issue 20); whatever went wrong is logged and the field left empty."""
    label = name or "picture"
    try:
        exif = exif_of(img, label) if img is not None else None
    except Exception as exc:  # exif_of catches its own; a library surprise is logged too
        log.warning("%s: EXIF unreadable (%s: %s); ignored", label, type(exc).__name__, exc)
        exif = None
    try:
        taken = capture_time(img, name, mtime, exif=exif)
    except Exception as exc:
        log.warning("%s: no capture time (%s: %s)", label, type(exc).__name__, exc)
        taken = None
    try:
        position = gps_position(exif, label)
    except Exception as exc:
        log.warning("%s: no GPS position (%s: %s)", label, type(exc).__name__, exc)
        position = None
    return taken, position


def _develop(kind: str, data: bytes, need: int, max_pixels: int) -> Decoded:
    """A camera RAW file as a Decoded photo (raw.py: its embedded preview or its
    development), reduced to about ``need`` px; BadInput if LibRaw cannot read it."""
    try:
        img, w, h = raw.develop(data, need, max_pixels)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if max(img.size) > need:
        img.thumbnail((need, need), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return Decoded(kind, raw.FORMATS[kind][1], w, h, img)


def draft(img: Image.Image, need: int) -> None:
    """Let a JPEG decode at 1/2..1/8 scale, down to about ``need`` px (free; no-op for
    other formats). The box must keep the photo's aspect, since draft only reduces while
    *both* sides stay above it. Afterwards ``img.size`` is the size decoding will give."""
    if img.format in ("JPEG", "MPO"):  # an MPO's first image is a JPEG frame
        w, h = img.size
        k = need / max(w, h)
        img.draft("RGB", (math.ceil(w * k), math.ceil(h * k)))


# greyscale modes with 16 bits a sample: Pillow's convert() clamps them to 255 instead of
# scaling (a 16-bit greyscale PNG came out 98 % white). PNG and TIFF greyscale of 16 bits
# open as I;16*, and older Pillow gave mode I (32-bit) for the same PNG, so I is taken as
# 16-bit too
_DEEP = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit greyscale as 8-bit ``L``, scaled (the top 8 bits: v >> 8, within one level
    of v / 257), not clamped. Integer shifts in place, so the one extra full-size buffer is
    the array of 2 (mode I: 4) bytes a pixel."""
    deep = np.asarray(img)
    if deep.dtype.kind == "i":  # mode I: signed 32-bit; below 0 is black
        deep = np.clip(deep, 0, 65535)
    else:
        deep = deep.copy() if not deep.flags.writeable else deep
    np.right_shift(deep, 8, out=deep)
    return Image.fromarray(deep.astype(np.uint8), "L")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten transparency onto white, as a photo viewer shows it; scale samples of
    more than 8 bits to 8 (:func:`_to_8bit`)."""
    if img.mode == "RGB":
        return img
    if img.mode in _DEEP:
        img = _to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def bounded(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A copy that fits inside size, keeping aspect; never enlarged."""
    copy = img.copy()
    # bicubic: beside Lanczos no visible difference when shrinking, a third less time
    copy.thumbnail(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return copy


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    """A rendition of an sRGB image (:func:`decode`'s), tagged sRGB: the 588-byte
    sRGB profile is embedded, so a colour-managed browser on a wide-gamut screen shows
    it as sRGB rather than stretching it to the screen's gamut. Optimized Huffman tables
    (3 % smaller, cheap); not progressive, which costs about 3x the encode time of a
    1600 px preview for another 3 %."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True, icc_profile=colour.SRGB_ICC)
    return buf.getvalue()


def detection_jpeg(img: Image.Image, limit: int = 5 * 1024 * 1024) -> bytes:
    """The copy of a photo the face engine receives, for Rekognition's API takes
    encoded images; its pixels are sRGB (:func:`decode`'s), untagged, as engines take
    JPEGs without a profile to be. Quality 100 without chroma subsampling: HOG boxes move with JPEG
    noise (a face on the detector's grid jumped 3 % of the width at quality 95, not at
    100), and encoding costs ~15 ms at 1600 px. Under Rekognition's 5 MB for bytes."""
    for quality, subsampling in ((100, 0), (95, 0), (90, 2)):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=subsampling)
        if buf.tell() <= limit:
            break
    return buf.getvalue()


def detection_array(img: Image.Image, size: int, max_upscale: float) -> tuple[np.ndarray, float]:
    """The RGB array the detector sees and its scale relative to ``img``: large photos
    shrink to ``size`` on the long side, small ones grow (small faces need it)."""
    scale = min(size / max(img.size), max_upscale)
    if abs(scale - 1.0) > 0.02:
        new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        resample = Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.BOX
        img = img.resize(new, resample)
    else:
        scale = 1.0
    return np.asarray(img), scale
