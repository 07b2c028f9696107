"""Move an album to other backends (``facealbum aws migrate``: an embedded album onto
S3 + DynamoDB + Rekognition), recomputing nothing that need not be.

Originals, thumbnails and previews are copied byte for byte under the same keys; sets
keep their featured picture and sharing choice; pictures keep their image ids, names
and sizes, so every picture URL stays valid. Faces are copied as they are when the
target uses the same collection; otherwise they are indexed again from the original,
since no collection takes another's descriptors (Rekognition takes none at all): that
is the one recomputation, and the face ids change with it. A run that stops can be
run again: pictures already in the target are passed over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .album import Album
from .domain import Picture
from .ingest import analyze, index_faces


@dataclass
class MigrateReport:
    sets: int = 0
    copied: int = 0
    skipped: int = 0  # in the target already
    faces: int = 0
    reindexed: bool = False
    seconds: float = 0.0


def migrate(
    source: Album, target: Album, on_progress: Callable[[Picture, str], None] = lambda p, s: None
) -> MigrateReport:
    started = time.perf_counter()
    report = MigrateReport(reindexed=not _same_faces(source, target))
    for summary in source.sets():
        target.catalog.create_set(summary.name)
        if summary.share_location:
            target.catalog.set_share_location(summary.name, True)
        report.sets += 1
        offset = 0
        while pictures := source.catalog.list_pictures(summary.name, 200, offset):
            offset += len(pictures)
            for picture in pictures:
                status = _copy(source, target, picture, report.reindexed)
                report.copied += status == "copied"
                report.skipped += status == "skipped"
                if status == "copied":
                    report.faces += len(picture.faces)
                on_progress(picture, status)
        if summary.featured is not None:
            target.catalog.set_featured(summary.name, summary.featured.image_id)
    report.seconds = time.perf_counter() - started
    return report


def _same_faces(source: Album, target: Album) -> bool:
    """Whether the target's collection is the source's: only then can face ids move."""
    a, b = source.settings, target.settings
    where = (a.face_engine, a.rekognition_collection, a.engine_tag)
    local_db = a.face_engine == "local" and a.faces_db_url != b.faces_db_url
    return where == (b.face_engine, b.rekognition_collection, b.engine_tag) and not local_db


def _copy(source: Album, target: Album, picture: Picture, reindex: bool) -> str:
    if target.catalog.get_picture(picture.image_id) is not None:
        return "skipped"
    for bucket, key in (
        ("originals", picture.original_key),
        ("thumbnails", picture.thumb_key),
        ("thumbnails", picture.preview_key),
    ):
        if not target.blobs.exists(bucket, key):  # type: ignore[arg-type]
            kind = picture.content_type if bucket == "originals" else "image/jpeg"
            with source.blobs.open(bucket, key) as fh:  # type: ignore[arg-type]
                target.blobs.put(bucket, key, fh, kind)  # type: ignore[arg-type]
    moved = replace(picture, faces=list(picture.faces))
    if reindex:
        with source.blobs.open("originals", picture.original_key) as fh:
            analysis = analyze(fh, target.settings, renditions=False)
        moved.faces = index_faces(target.collection, analysis, picture.image_id).faces
        moved.engine_tag = target.settings.engine_tag
    status = target.catalog.add_picture(moved, create_set=True)
    if status != "added":
        if reindex:
            target.collection.forget([f.face_id for f in moved.faces])
        return "skipped"
    picture.faces = moved.faces
    return "copied"
