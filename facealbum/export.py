"""`facealbum export SET DEST`: a set's originals, byte for byte, under their names,
with ``faces.json`` and ``faces.csv`` describing each picture and each face's box, so
the album's work is never locked into facealbum.

Boxes are given both as ratios of the picture (Rekognition's form) and in pixels of the
original as it displays (EXIF orientation applied). Re-running an export into the same
folder skips the files already there, so a large export can be resumed.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .album import Album
from .atomic import write_atomically
from .domain import CAPTURE_FIELDS, BadInput, Picture

INDEX = "faces.json"
CSV_FIELDS = [
    "picture", "image_id", "sha256", "width", "height", "face_id", "confidence",
    "left", "top", "box_width", "box_height", "left_px", "top_px", "width_px", "height_px",
]  # fmt: skip


@dataclass
class ExportReport:
    dest: Path
    pictures: int = 0
    written: int = 0
    skipped: int = 0
    faces: int = 0
    seconds: float = 0.0


def export_set(
    album: Album,
    set_name: str,
    dest: Path,
    *,
    on_start: Callable[[int], None] = lambda _: None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> ExportReport:
    began = time.monotonic()
    summary, _ = album.get_set(set_name, limit=0)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()) and not (dest / INDEX).exists():
        raise BadInput(f"{dest} is not empty: export into a new folder (nothing is overwritten)")
    dest.mkdir(parents=True, exist_ok=True)
    report = ExportReport(dest)
    ids = album.picture_ids(summary.name)
    on_start(len(ids))
    described = []
    for i in range(0, len(ids), 500):
        for picture in album.catalog.get_pictures(ids[i : i + 500]).values():
            on_progress(picture.name)
            _write_original(album, picture, dest, report)
            described.append(_describe(picture))
            report.pictures += 1
            report.faces += len(picture.faces)
    described.sort(key=lambda d: d["name"])
    index = {"set": summary.name, "exported_at": time.time(), "pictures": described}
    write_atomically(dest / INDEX, json.dumps(index, indent=2, ensure_ascii=False).encode())
    write_atomically(dest / "faces.csv", _csv(described).encode())
    report.seconds = time.monotonic() - began
    return report


def _write_original(album: Album, picture: Picture, dest: Path, report: ExportReport) -> None:
    root = dest.resolve()
    target = (root / picture.name).resolve()
    if not target.is_relative_to(root) or target == root:  # names are checked at ingest
        raise BadInput(f"unsafe picture name {picture.name!r}")
    if target.is_file() and target.stat().st_size == picture.byte_size:
        report.skipped += 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with album.blobs.open("originals", picture.original_key) as fh:
        write_atomically(target, fh)
    report.written += 1


def _describe(p: Picture) -> dict:
    return {
        "name": p.name,
        "image_id": p.image_id,
        "sha256": p.sha256,
        # of the decoded pixels (ingest.pixel_sha256): equal for copies whose metadata
        # alone differs; null for a picture stored before it
        "pixel_sha256": p.pixel_sha256,
        # when and where it was taken (issue 20; null when unknown): the owner's export
        **{k: getattr(p, k) for k in CAPTURE_FIELDS},
        "content_type": p.content_type,
        "width": p.width,
        "height": p.height,
        "faces": [
            {
                "face_id": f.face_id,
                "confidence": round(f.confidence, 3),
                "box": f.box.as_rekognition(),
                "box_px": {
                    "left": round(f.box.left * p.width),
                    "top": round(f.box.top * p.height),
                    "width": round(f.box.width * p.width),
                    "height": round(f.box.height * p.height),
                },
            }
            for f in p.faces
        ],
    }


def _csv(described: list[dict]) -> str:
    """One row per face; a picture without faces still gets a row, with no face."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS)
    writer.writeheader()
    for d in described:
        base = {k: d[k] for k in ("image_id", "sha256", "width", "height")} | {"picture": d["name"]}
        for f in d["faces"] or [None]:
            row = dict(base)
            if f:
                b, px = f["box"], f["box_px"]
                row |= {
                    "face_id": f["face_id"],
                    "confidence": f["confidence"],
                    "left": b["Left"],
                    "top": b["Top"],
                    "box_width": b["Width"],
                    "box_height": b["Height"],
                    "left_px": px["left"],
                    "top_px": px["top"],
                    "width_px": px["width"],
                    "height_px": px["height"],
                }
            writer.writerow(row)
    return out.getvalue()
