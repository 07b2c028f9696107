"""Hostile and broken inputs, made on the fly from real photos."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

PHOTOS = Path(__file__).parent / "fixtures" / "photos"


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG that claims 3.6 gigapixels: rows of zeros compress ~1000:1."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + b"\x00" * width  # filter byte + one grey byte per pixel
    compressor = zlib.compressobj(9)
    idat = compressor.compress(row * 64) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = (PHOTOS / "obama" / "obama2.jpg").read_bytes()
    return data[: len(data) // 2]


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty.jpg": (b"", "empty file"),
    "truncated.jpg": (truncated_jpeg(), "truncated"),
    "notes.jpg": (b"shopping list: milk, eggs\n" * 20, "not a readable image"),
    "bomb.png": (png_bomb(), "decompression bomb"),
}
