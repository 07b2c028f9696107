"""Helpers shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"


def other_pixels(data: bytes, i: int) -> bytes:
    """Copy number ``i`` (1-4095) of a photo as another photo to the album: a strip of 12
    black or white 16 px squares (i's bits) in its top left corner, saved in its own
    format (a JPEG at quality 95). Bytes appended to the file no longer make another
    photo: the same pixels are one picture (``ingest.pixel_sha256``)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as src:
        fmt = src.format or "JPEG"
        img = src.convert("RGB")
    for bit in range(12):
        shade = 255 if i >> bit & 1 else 0
        img.paste((shade, shade, shade), (16 * bit, 0, 16 * bit + 16, 16))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 95} if fmt in ("JPEG", "MPO") else {}))
    return buf.getvalue()


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)
