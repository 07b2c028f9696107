"""Colour: every photo's pixels in sRGB, whatever profile its file embeds.

A camera or editor may store a photo in a wider colour space than sRGB (an iPhone's
Display P3, a DSLR's or scanner's Adobe RGB, a raw converter's ProPhoto RGB) or as CMYK
for print, and embeds the ICC profile that says what its numbers mean. Renditions and
the face engine's image are plain sRGB JPEGs, so taking the numbers as they are would
show a Display P3 photo about 17 % less colourful beside its original, and a CMYK photo
with the wrong ink colours. The pixels are therefore converted once, right after decode,
from the embedded profile to sRGB with LittleCMS (through Pillow's ``ImageCms``).

Rendering intent: perceptual. For the matrix/TRC profiles photos carry (Display P3,
Adobe RGB, ProPhoto, sRGB) LittleCMS has no perceptual tables and does relative
colorimetric, so nothing changes there: colours inside sRGB stay exact, those outside
are clipped. For LUT profiles (CMYK print profiles) it uses the profile's own perceptual
tables, which map the paper's black to sRGB black, as Photoshop's and macOS's viewers
show such a file; relative colorimetric without black point compensation leaves a
CMYK photo's shadows a washed-out grey.

A photo without a profile, or with an sRGB one (most cameras' and phones' JPEGs), is
not touched: no transform is built, no pixel copied. A profile LittleCMS cannot read, or
one of another colour space than the pixels (an RGB profile on a CMYK JPEG), never fails
an import: the photo is decoded as before, without the profile, and the reason is logged
once for each such profile a process sees.
"""

from __future__ import annotations

import functools
import io
import logging
import struct
from dataclasses import dataclass

from PIL import Image, ImageCms

log = logging.getLogger(__name__)

INTENT = ImageCms.Intent.PERCEPTUAL


def _srgb_icc(profile: bytes) -> bytes:
    """``profile`` with a fixed creation date, 2026-01-01 00:00:00."""
    return profile[:24] + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + profile[36:]


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# LittleCMS's built-in sRGB (IEC 61966-2.1 primaries and tone curve; ICC v4, parametric
# curves), 588 bytes: embedded in renditions so that browsers and viewers that manage
# colour know them for sRGB. Its header's creation date (bytes 24-35, ICC.1 7.2.8) is
# LittleCMS's clock: fixed here, so one photo's renditions are the same bytes in every
# process (no profile ID is set, so none goes stale)
SRGB_ICC: bytes = _srgb_icc(_SRGB.tobytes())
# an ICC colour space signature -> the Pillow mode of pixels in it
_SPACE_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
# sRGB's primaries adapted to D50 (ICC's profile connection space), as profiles state
# them in their rXYZ, gXYZ and bXYZ tags: a profile with these and "sRGB" in its name is
# sRGB, whoever made it (HP's, Apple's, LittleCMS's, Google's compact ones)
_SRGB_COLORANTS = [
    c[0]
    for c in (_SRGB.profile.red_colorant, _SRGB.profile.green_colorant, _SRGB.profile.blue_colorant)
    if c is not None
]


@dataclass(frozen=True)
class Plan:
    """What to do with one embedded profile: ``transform`` from pixels of ``mode`` to
    sRGB RGB, or nothing (``transform`` None) because the profile is sRGB already or
    cannot be used (``reason`` says why)."""

    mode: str = ""
    transform: ImageCms.ImageCmsTransform | None = None
    reason: str = ""


def to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """``img`` (8-bit: RGB, L, CMYK, or those with alpha or a palette) with the
    embedded profile ``icc`` applied: RGB pixels in sRGB, transparency flattened onto
    white first (a viewer's background). Returned unchanged, as the same object, when
    there is no profile, the profile is sRGB, or it cannot be used (see the module)."""
    if not icc:
        return img
    plan = plan_for(bytes(icc))
    if plan.transform is None:
        return img
    if img.mode != plan.mode:
        img = _as(img, plan.mode)
        if img.mode != plan.mode:
            _mismatch(plan.mode, img.mode)
            return img
    return plan.transform.apply(img)


def _as(img: Image.Image, mode: str) -> Image.Image:
    """Pixels of another 8-bit mode brought to the profile's ``mode`` where that loses
    nothing but transparency (flattened onto white): grey as RGB, grey with alpha or a
    palette as grey or RGB. CMYK is never made up from RGB, nor RGB taken as grey."""
    if img.mode in ("RGBA", "LA", "PA", "P") or "A" in img.getbands():
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(img, mask=img.getchannel("A"))
        img = flat if mode != "L" else flat.convert("L")
        return img
    if (img.mode == "L" and mode == "RGB") or img.mode == "RGBX":  # X: padding
        return img.convert("RGB" if mode == "RGB" else img.mode)
    return img


@functools.lru_cache(maxsize=16)
def plan_for(icc: bytes) -> Plan:
    """The :class:`Plan` for a profile, built once per process for each profile seen:
    parsing a 1 MB CMYK profile and building its transform costs ~100 ms, the same few
    profiles (each phone's, each camera's) come with every photo, and a broken one is
    logged once, not with every photo of a folder."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        mode = _SPACE_MODES.get(space)
        if mode is None:
            return _unusable(f"its colour space {space or '?'} is not RGB, grey or CMYK")
        if mode == "RGB" and is_srgb(profile):
            return Plan(mode)
        transform = ImageCms.buildTransform(profile, _SRGB, mode, "RGB", renderingIntent=INTENT)
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as exc:
        return _unusable(f"LittleCMS cannot use it ({exc})")
    return Plan(mode, transform)


def is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    """An RGB profile that says it is sRGB and has sRGB's colorants (to 0.002): taking
    its pixels as they are is what converting them would give, within a level."""
    p = profile.profile
    if "srgb" not in (p.profile_description or "").lower():
        return False
    colorants = [c[0] for c in (p.red_colorant, p.green_colorant, p.blue_colorant) if c]
    return len(colorants) == 3 and all(
        abs(a - b) <= 0.002
        for colorant, srgb in zip(colorants, _SRGB_COLORANTS, strict=True)
        for a, b in zip(colorant, srgb, strict=True)
    )


def _unusable(reason: str) -> Plan:
    log.warning("embedded ICC profile ignored, pixels taken as sRGB: %s", reason)
    return Plan(reason=reason)


@functools.lru_cache(maxsize=16)
def _mismatch(wanted: str, mode: str) -> None:
    log.warning(
        "embedded ICC profile ignored: a %s profile on %s pixels, pixels taken as they are",
        wanted,
        mode,
    )
