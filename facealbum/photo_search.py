"""The heavy half of search by photo: decode a visitor's photo, find its faces, search
each in the collection. Pure CPU and face-port calls, no catalog: it runs in a worker
process (workers.py), so a photo never grows the web server, and the catalog half
(persons.search_by_image) runs where the catalog is.

Two bounds keep one photo's cost small whoever sends it: ``photo_pixels`` refuses a
photo whose header promises more pixels than ``Settings.search_max_pixels`` (before any
pixel is decoded), and only the ``Settings.search_max_faces`` largest faces are searched
(on AWS each one is a billed Rekognition call)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from . import raw
from .collection import AlbumCollection
from .domain import BadInput, Box
from .faces import Match
from .imaging import FORMATS, bounded, decode, detection_jpeg, draft, format_names
from .settings import Settings


class TooLarge(BadInput):
    """413: a body or a photo past its limit."""


@dataclass
class PhotoFace:
    """One face of the searched photo and the collection's faces like it (at the
    plain threshold: the quality rule is applied with the catalog's sharpness)."""

    box: Box  # ratios of the photo, as Rekognition gives them
    sharpness: float | None  # 0-100 as the face model saw it
    matches: list[Match]


@dataclass
class PhotoSearch:
    faces: list[PhotoFace]  # the largest ``search_max_faces``, left to right
    unsearched: int  # faces found beyond the cap


# a PNG's compressed metadata chunks (ICC profile, text): Pillow inflates each at open,
# up to 1 MB apiece (64 MB of text, iCCP without a total): 70 zTXt chunks in a 74 KB
# file grew the server 124 MB; 5000 iCCP chunks in 5 MB cost 35 s of CPU per open
PNG_INFLATED_CHUNKS = {b"iCCP", b"zTXt", b"iTXt"}
PNG_MAX_INFLATED_CHUNKS = 8  # a photo has an ICC profile, XMP and a few texts at most


def _png_metadata_ok(data: bytes) -> None:
    """Walk a PNG's chunk headers (lengths only, nothing inflated): BadInput if it
    carries more compressed metadata chunks than any photo does."""
    pos, count = 8, 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind in PNG_INFLATED_CHUNKS:
            count += 1
            if count > PNG_MAX_INFLATED_CHUNKS:
                raise BadInput(
                    "not a photo this album searches: more than "
                    f"{PNG_MAX_INFLATED_CHUNKS} compressed metadata chunks"
                )
        if kind == b"IEND":
            return
        pos += 12 + length


# Pillow's openers of the formats decode() takes: RAW is LibRaw's, not Pillow's, and
# asking Pillow for a format it has no opener for fails every photo
Image.init()
_OPENERS = [f for f in FORMATS if f in Image.OPEN]
SEARCHABLE = format_names(_OPENERS)  # what a search by photo takes: no camera RAW


def photo_pixels(data: bytes, need: int) -> int:
    """Pixels decoding ``data`` will hold, from its header alone (a baseline JPEG
    decodes at a reduced scale, as :func:`imaging.draft` sets it up; a progressive one
    holds every coefficient of the full size whatever the scale: 600 bytes claiming
    10900 x 11000 took a worker 513 MB). BadInput if it is no photo the album reads."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        _png_metadata_ok(data)
    if raw.kind(io.BytesIO(data)) is not None:  # a DNG's first page may be a TIFF Pillow opens
        raise BadInput(f"not a photo this album can search by: not a {SEARCHABLE} file")
    try:
        # only the formats decode() takes: no other plugin parses a visitor's bytes here
        with Image.open(io.BytesIO(data), formats=_OPENERS) as img:
            if img.format in ("JPEG", "MPO") and img.info.get("progressive"):
                return img.size[0] * img.size[1]
            draft(img, need)
            return img.size[0] * img.size[1]
    except UnidentifiedImageError:  # its message names a memory address
        raise BadInput(f"not a photo this album can search by: not a {SEARCHABLE} file") from None
    except Exception as exc:  # Pillow raises many kinds for a bad header
        raise BadInput(f"not a photo this album can read: {exc}") from None


def check_photo(data: bytes, s: Settings) -> None:
    """Refuse an empty, oversized or too-many-pixels photo before any pixel is decoded."""
    if not data:
        raise BadInput("empty file")
    if len(data) > s.max_search_bytes:
        raise TooLarge(f"photo too large to search: {len(data)} bytes (limit {s.max_search_bytes})")
    pixels = photo_pixels(data, s.decode_size)
    if pixels > s.search_max_pixels:
        raise TooLarge(
            f"photo too large to search: {pixels} pixels (limit {s.search_max_pixels}); "
            "send a smaller copy"
        )


def search_photo(collection: AlbumCollection, s: Settings, data: bytes, threshold: float):
    """DetectFaces for the boxes, then SearchFacesByImage on each of the largest faces'
    crops (it searches an image's largest face), as Rekognition would; the same on every
    engine. Returns a :class:`PhotoSearch`."""
    check_photo(data, s)
    dec = decode(data, s.decode_size, s.max_pixels)  # checked above as decoded
    image = bounded(dec.image, (s.detect_size, s.detect_size))
    del dec
    faces = collection.faces
    details = faces.detect_faces(detection_jpeg(image))
    largest = sorted(details, key=lambda d: -d.box.width * d.box.height)[: s.search_max_faces]
    found = []
    for detail in sorted(largest, key=lambda d: (d.box.left, d.box.top)):
        crop = detection_jpeg(image.crop(_around(detail.box, image.size)))
        try:
            hits = faces.search_faces_by_image(collection.collection_id, crop, threshold, 4096)
        except BadInput:  # the crop's face was not found again: nothing to match
            found.append(PhotoFace(detail.box, detail.sharpness, []))
            continue
        sharpness = detail.sharpness if detail.sharpness is not None else hits.searched.sharpness
        found.append(PhotoFace(detail.box, sharpness, hits.matches))
    return PhotoSearch(found, len(details) - len(largest))


def _around(box: Box, size: tuple[int, int], margin: float = 0.6) -> tuple[int, int, int, int]:
    """The face with room around it, so the engine finds it again in the crop."""
    w, h = size
    left, top = box.left * w, box.top * h
    bw, bh = box.width * w, box.height * h
    return (
        max(0, int(left - margin * bw)),
        max(0, int(top - margin * bh)),
        min(w, int(left + (1 + margin) * bw)),
        min(h, int(top + (1 + margin) * bh)),
    )
