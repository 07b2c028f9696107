"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2): recognised by their
headers, decoded by LibRaw through ``rawpy``.

A RAW file is a sensor's mosaic, not a picture: it is developed (demosaiced, white
balanced with the camera's own multipliers, converted to sRGB at 8 bits by LibRaw) only
where its embedded JPEG preview is smaller than the size asked for; most cameras embed
a full-size preview, which is what every photo viewer shows for the file and costs a
JPEG decode instead of a development (LibRaw's ``extract_thumb``); a preview that
embeds an ICC profile is converted to sRGB from it (colour.py). The original file is
kept as uploaded. Several RAW formats are TIFF files underneath (DNG, CR2, NEF, ARW), so
they are told apart from an ordinary TIFF here, before Pillow would open one as its
small first-page thumbnail.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

import numpy as np
from PIL import Image, TiffImagePlugin, UnidentifiedImageError

from . import colour

# the RAW formats, each with its extension and its registered or customary media type
FORMATS = {
    "DNG": ("dng", "image/x-adobe-dng"),
    "CR2": ("cr2", "image/x-canon-cr2"),
    "CR3": ("cr3", "image/x-canon-cr3"),
    "NEF": ("nef", "image/x-nikon-nef"),
    "ARW": ("arw", "image/x-sony-arw"),
    "RAF": ("raf", "image/x-fuji-raf"),
    "ORF": ("orf", "image/x-olympus-orf"),
    "RW2": ("rw2", "image/x-panasonic-rw2"),
}
SUFFIXES = {f".{ext}" for ext, _type in FORMATS.values()}
_DNG_VERSION, _MAKE = 50706, 271  # TIFF tags: DNGVersion (Adobe's DNG spec), Make
TIFF_HEADS = (b"II*\x00", b"MM\x00*")  # little- and big-endian TIFF


def kind(data: BinaryIO) -> str | None:
    """The RAW format of a file from its header, or None for anything else (an ordinary
    TIFF included); a TIFF-based one (DNG, NEF, ARW) is told by its first directory
    (:func:`tiff_kind`). ``data`` is left at its start."""
    head = data.read(16)
    data.seek(0)
    if head[4:12] == b"ftypcrx ":
        return "CR3"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"
    if head[:4] not in TIFF_HEADS:
        return None
    if head[8:10] == b"CR":
        return "CR2"
    return tiff_kind(data)


def tiff_kind(data: BinaryIO) -> str | None:
    """The RAW format of a TIFF-headed file, read from its first directory's tags alone
    (Pillow's IFD reader: no pixel is read, and Pillow cannot open a sensor mosaic as an
    image): DNG by its DNGVersion tag, NEF and ARW by their camera's make; None for an
    ordinary TIFF or a directory that cannot be read. ``data`` is left at its start."""
    try:
        data.seek(0)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(data.read(8))
        data.seek(ifd.next)
        ifd.load(data)
    except (SyntaxError, ValueError, OSError, struct.error):
        return None
    finally:
        data.seek(0)
    if _DNG_VERSION in ifd:
        return "DNG"
    make = str(ifd.get(_MAKE, "")).upper()
    if make.startswith("NIKON"):
        return "NEF"
    if make.startswith("SONY"):
        return "ARW"
    return None


def develop(data: bytes, need: int, max_pixels: int) -> tuple[Image.Image, int, int]:
    """The photo of a RAW file as (image, width, height): the image oriented RGB with at
    least ``need`` px on its long side where the file has them, the size that of the
    oriented full photo. The embedded JPEG preview is used when it is at least ``need``
    px (or the full size) on its long side; otherwise the mosaic is developed at half
    size when that still gives ``need`` px. ValueError for a file LibRaw cannot read or
    whose sensor exceeds ``max_pixels``."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            if sizes.raw_width * sizes.raw_height > max_pixels:
                raise ValueError(
                    f"image too large: {sizes.raw_width}x{sizes.raw_height} sensor "
                    f"(limit {max_pixels / 1e6:.0f} MP)"
                )
            swap = sizes.flip in (5, 6)  # LibRaw's flip: 0 none, 3 180°, 5 / 6 90°
            w, h = (sizes.height, sizes.width) if swap else (sizes.width, sizes.height)
            preview = _preview(raw, min(need, max(w, h)))
            if preview is not None:
                return preview, w, h
            half = min(sizes.width, sizes.height) // 2 >= need
            rgb: np.ndarray = raw.postprocess(use_camera_wb=True, output_bps=8, half_size=half)
            return Image.fromarray(rgb), w, h
    except (rawpy.LibRawError, MemoryError) as exc:
        raise ValueError(f"not a camera RAW file LibRaw can read ({type(exc).__name__})") from None


def _preview(raw: object, need: int) -> Image.Image | None:
    """The embedded preview (JPEG, or an uncompressed bitmap as some DNGs carry),
    oriented as the RAW says, if it is large enough."""
    import rawpy
    from PIL import ImageOps

    try:
        thumb = raw.extract_thumb()  # type: ignore[attr-defined]
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.BITMAP:  # an uncompressed RGB preview
            img = Image.fromarray(thumb.data)
        else:
            img = Image.open(io.BytesIO(thumb.data))
        if max(img.size) < need:
            return None
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, TypeError):
        return None
    flip = raw.sizes.flip  # type: ignore[attr-defined]
    turn = {
        3: Image.Transpose.ROTATE_180,
        5: Image.Transpose.ROTATE_90,  # LibRaw's 5: turned 90° counter-clockwise
        6: Image.Transpose.ROTATE_270,  # 6: clockwise
    }
    # a camera set to Adobe RGB may tag its preview so: its colours as sRGB, as the
    # developed mosaic's are (colour.py)
    icc = img.info.get("icc_profile")
    if flip in turn and img.getexif().get(0x0112, 1) == 1:
        img = img.transpose(turn[flip])
    else:
        img = ImageOps.exif_transpose(img)
    return colour.to_srgb(img, icc).convert("RGB")
