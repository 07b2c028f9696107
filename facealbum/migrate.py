"""Move an album to other backends (``facealbum aws migrate``: an embedded album onto
S3 + DynamoDB + Rekognition), recomputing nothing that need not be.

Originals, thumbnails and previews are copied byte for byte under the same keys; sets
keep their featured picture and sharing choice; pictures keep their image ids, names
and sizes, so every picture URL stays valid. Faces are copied as they are when the
target uses the same collection; otherwise they are indexed again from the original,
since no collection takes another's descriptors (Rekognition takes none at all): that
is the one recomputation, and the face ids change with it. People come along: each
person (id, name, hidden, cover) and each face's place in it, whether the owner put it
there, and the owner's "not this person" answers, the new face ids mapped from the old
ones (the same picture's face whose box overlaps most). A run that stops can be run
again: pictures already in the target are passed over, persons there are kept, and
only faces without a person in the target are placed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .album import Album
from .domain import Picture, same_faces
from .ingest import analyze, index_faces
from .people.users_mirror import mirror_quietly


@dataclass
class MigrateReport:
    sets: int = 0
    copied: int = 0
    skipped: int = 0  # in the target already
    faces: int = 0
    people: int = 0
    placed: int = 0  # faces put in their person
    regrouped: bool = False  # people regrouped at the end (the faces were indexed again)
    reindexed: bool = False
    seconds: float = 0.0


def migrate(
    source: Album,
    target: Album,
    on_progress: Callable[[Picture, str], None] = lambda p, s: None,
    on_grouping_start: Callable[[int], None] = lambda total: None,
    on_grouping_progress: Callable[[], None] = lambda: None,
) -> MigrateReport:
    """Copy the source album into the target. If faces were indexed again (another
    engine: new descriptors, new similarities) and pictures were copied, the target's
    people are regrouped at the end (people/regroup.py), keeping every placement,
    answer and name copied from the owner; the grouping callbacks report its progress."""
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
    _copy_people(source, target, report)
    if report.reindexed and report.faces:
        from .people import regroup

        done = regroup.run_now(target, on_grouping_start, on_grouping_progress)
        report.regrouped = done is not None
    report.seconds = time.perf_counter() - started
    return report


def _copy_people(source: Album, target: Album, report: MigrateReport) -> None:
    """Persons, placements and rejections, keyed by the target's face ids. The source's
    faces are read picture by picture (one page at a time), each matched to the
    target's copy of its picture."""
    assigned = source.catalog.face_assignments()
    refused: dict[str, list[str]] = {}
    for face_id, person_id in source.catalog.rejections():
        refused.setdefault(face_id, []).append(person_id)
    new_id: dict[str, str] = {}
    for summary in source.sets():
        offset = 0
        while pictures := source.catalog.list_pictures(summary.name, 200, offset):
            offset += len(pictures)
            theirs = target.catalog.get_pictures([p.image_id for p in pictures])
            for picture in pictures:
                if picture.image_id in theirs:
                    new_id |= {
                        old: new
                        for new, old in same_faces(
                            picture.faces, theirs[picture.image_id].faces
                        ).items()
                    }
    people = source.catalog.list_people()
    there = {p.person_id for p in target.catalog.list_people()}
    for person in people:
        if person.person_id in there:
            continue  # copied by an earlier run, maybe changed in the target since
        cover = new_id.get(person.cover_face_id or "")
        target.catalog.add_person(replace(person, cover_face_id=cover, face_count=0,
                                          picture_count=0))  # fmt: skip
        report.people += 1
    for owned in (False, True):
        moves = {new_id[f]: p for f, (p, o) in assigned.items() if p and o == owned and f in new_id}
        unplaced: dict[str, str | None] = dict.fromkeys(moves)
        report.placed += target.catalog.assign_faces(dict(moves), by_owner=owned, expected=unplaced)
    for face_id, persons in refused.items():
        for person_id in persons:
            if face_id in new_id:
                target.catalog.reject_face(new_id[face_id], person_id)
    mirror_quietly(target, [p.person_id for p in people])  # Rekognition's users follow


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
            analysis = analyze(fh, target.settings, renditions=False, capture=False)
        moved.faces = index_faces(target.collection, analysis, picture.image_id).faces
        moved.engine_tag = target.settings.engine_tag
        moved.pixel_sha256 = analysis.pixel_sha256 or picture.pixel_sha256  # its settings
    status = target.catalog.add_picture(moved, create_set=True)
    if status != "added":
        if reindex:
            target.collection.forget([f.face_id for f in moved.faces])
        return "skipped"
    picture.faces = moved.faces
    return "copied"
