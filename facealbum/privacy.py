"""What visitors may see of an original: the photo, not where it was taken.

A phone photo's EXIF carries its GPS position, the camera's and lens's serial numbers
and the owner's name; XMP and IPTC blocks can repeat the location and name the people
in it. Visitors get the original's pixels byte for byte, with only a short list of
harmless tags kept (orientation, camera model, date, exposure): a whitelist, so a tag
nobody thought of stays out.

Nothing is re-encoded or stored twice. A *plan* lists the pieces of the public file:
new bytes (the rewritten header) and ranges of the stored original (the compressed
image data), so it can be streamed, and a byte range of it served, from the one blob.
HEIC has no such lossless route here, so a HEIC original is for the owner only unless
its set shares location.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from PIL import Image

Piece = bytes | tuple[int, int]  # literal bytes, or (offset, length) in the stored file

_IFD0 = {0x0112, 0x010F, 0x0110, 0x0131, 0x0132, 0x011A, 0x011B, 0x0128}
_EXIF_IFD = 0x8769
_EXIF = {
    0x829A, 0x829D, 0x8822, 0x8827, 0x9000, 0x9003, 0x9004, 0x9010, 0x9011, 0x9012,
    0x9201, 0x9202, 0x9204, 0x9207, 0x9209, 0x920A, 0xA001, 0xA002, 0xA003, 0xA402,
    0xA403, 0xA405, 0xA406, 0xA433, 0xA434,
}  # fmt: skip
# ancillary PNG chunks that only say how to draw the pixels
_PNG_KEEP = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs",
             b"acTL", b"fcTL", b"fdAT", b"PLTE", b"IHDR", b"IDAT", b"IEND"}  # fmt: skip
_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}


class NotPublishable(Exception):
    """This original cannot be given to visitors without its metadata."""


def public_exif(segment: bytes) -> bytes | None:
    """A new EXIF block with the whitelisted tags of ``segment`` (``Exif\\0\\0`` + TIFF),
    or None if nothing worth keeping is left."""
    try:
        old = Image.Exif()
        old.load(segment)
        new = Image.Exif()
        for tag in _IFD0 & set(old):
            new[tag] = old[tag]
        old_exif = old.get_ifd(_EXIF_IFD)
        kept = {t: v for t, v in old_exif.items() if t in _EXIF}
        if kept:
            new.get_ifd(_EXIF_IFD).update(kept)
        if not len(new) and not kept:
            return None
        return new.tobytes()
    except Exception:  # unreadable EXIF: keep nothing rather than guess
        return None


def plan(fh: BinaryIO, content_type: str) -> list[Piece]:
    fh.seek(0)
    if content_type == "image/jpeg":
        return _jpeg(fh)
    if content_type == "image/png":
        return _png(fh)
    if content_type == "image/webp":
        return _webp(fh)
    raise NotPublishable(f"{content_type} originals are for the owner only")


def piece_length(piece: Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece[1]


def plan_length(pieces: list[Piece]) -> int:
    return sum(map(piece_length, pieces))


def _jpeg(fh: BinaryIO) -> list[Piece]:
    if fh.read(2) != b"\xff\xd8":
        raise NotPublishable("not a JPEG")
    out: list[Piece] = [b"\xff\xd8"]
    pos = 2
    while True:
        head = fh.read(2)
        if len(head) < 2 or head[0] != 0xFF:
            raise NotPublishable("damaged JPEG header")
        marker = head[1]
        if marker == 0xFF:  # fill byte
            fh.seek(pos + 1)
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the image data follows, up to EOI
            return _merge([*out, (pos, _jpeg_end(fh, pos) - pos)])
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length
            out.append((pos, 2))
            pos += 2
            continue
        (length,) = struct.unpack(">H", fh.read(2))
        end = pos + 2 + length
        if marker == 0xE1:  # APP1: EXIF (rewritten) or XMP (dropped)
            body = fh.read(length - 2)
            if body.startswith(b"Exif\x00\x00") and (exif := public_exif(body)):
                out.append(b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif)
        elif _keep_jpeg_segment(marker, fh.read(14)):
            out.append((pos, end - pos))
        fh.seek(end)
        pos = end


def _keep_jpeg_segment(marker: int, start: bytes) -> bool:
    """Tables and frame headers stay; of the APPn blocks only JFIF, the colour profile
    and Adobe's colour transform; comments, IPTC, MPF and makers' blocks go."""
    if marker == 0xE0:
        return start.startswith((b"JFIF\x00", b"JFXX\x00"))
    if marker == 0xE2:
        return start.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return start.startswith(b"Adobe")
    return not (0xE0 <= marker <= 0xEF or marker == 0xFE)


def _jpeg_end(fh: BinaryIO, start: int) -> int:
    """Just past the first EOI after ``start``: entropy-coded data never contains
    FF D9, so whatever follows (a second image, an appended video) is left out."""
    fh.seek(start)
    pos, carry = start, b""
    while chunk := fh.read(1 << 20):
        data = carry + chunk
        i = data.find(b"\xff\xd9")
        if i >= 0:
            return pos - len(carry) + i + 2
        carry = data[-1:]
        pos += len(chunk)
    raise NotPublishable("JPEG without an end")


def _png(fh: BinaryIO) -> list[Piece]:
    if fh.read(8) != b"\x89PNG\r\n\x1a\n":
        raise NotPublishable("not a PNG")
    out: list[Piece] = [(0, 8)]
    pos = 8
    while True:
        head = fh.read(8)
        if len(head) < 8:
            raise NotPublishable("PNG without an end")
        length, kind = struct.unpack(">I4s", head)
        size = 12 + length
        if kind in _PNG_KEEP:
            out.append((pos, size))
        if kind == b"IEND":
            return _merge(out)
        pos += size
        fh.seek(pos)


def _webp(fh: BinaryIO) -> list[Piece]:
    head = fh.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise NotPublishable("not a WebP")
    (riff_size,) = struct.unpack("<I", head[4:8])
    end, pos = 8 + riff_size, 12
    body: list[Piece] = []
    while pos + 8 <= end:
        kind, length = struct.unpack("<4sI", fh.read(8))
        size = 8 + length + (length & 1)
        if kind == b"VP8X":  # clear the "has EXIF" and "has XMP" flags
            fh.seek(pos)
            chunk = bytearray(fh.read(size))
            chunk[8] &= ~0x0C & 0xFF
            body.append(bytes(chunk))
        elif kind in _WEBP_KEEP:
            body.append((pos, size))
        pos += size
        fh.seek(pos)
    total = 4 + plan_length(body)
    return _merge([b"RIFF" + struct.pack("<I", total) + b"WEBP", *body])


def _merge(pieces: list[Piece]) -> list[Piece]:
    """Join touching ranges and neighbouring bytes: fewer, larger reads."""
    out: list[Piece] = []
    for p in pieces:
        last = out[-1] if out else None
        if isinstance(p, tuple) and isinstance(last, tuple) and last[0] + last[1] == p[0]:
            out[-1] = (last[0], last[1] + p[1])
        elif isinstance(p, bytes) and isinstance(last, bytes):
            out[-1] = last + p
        else:
            out.append(p)
    return out
