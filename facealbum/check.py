"""`facealbum check [--repair]`: does every row have its files, and every file its row?

Checks that each picture's original is there with the content its key names (sha256
of the bytes), that its thumbnail and preview are there, that every blob belongs to a
picture (or, in ``incoming``, to an upload), that the album's face collection holds
every face the pictures list and nothing else, that no face is in a person that is
gone, and that no upload is stuck. ``repair``
fixes what can be fixed without losing
anything: renditions are made again from the original, stuck uploads are queued again,
a picture whose faces the collection lost is indexed again, faces no picture lists are
deleted from the collection (they can be found again from the originals), a face
left in a person that is gone is placed again as a new face would be, and files
nothing uses are moved aside into ``$FACEALBUM_HOME/lost+found``, not deleted.
A damaged or missing original cannot be repaired here: restore it from a backup.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .album import Album
from .domain import Picture, Upload
from .imaging import bounded, decode
from .ingest import analyze, hash_stream, index_faces, put_renditions, rendition_bytes
from .ports import Bucket


@dataclass
class Problem:
    kind: str  # missing-original | damaged-original | missing-rendition | orphan-blob | ...
    where: str
    detail: str
    repaired: bool = False


def check_album(
    album: Album, repair: bool = False, on_progress: Callable[[str], None] = lambda _: None
) -> list[Problem]:
    problems: list[Problem] = []
    used: dict[Bucket, set[str]] = {"originals": set(), "thumbnails": set(), "incoming": set()}
    listed: dict[str, Picture] = {}  # face id -> its picture
    walked = _Counts()
    for picture in album.all_pictures():
        on_progress(picture.name)
        walked.add(picture)
        used["originals"].add(picture.original_key)
        used["thumbnails"] |= {picture.thumb_key, picture.preview_key}
        listed.update((f.face_id, picture) for f in picture.faces)
        problems += _check_picture(album, picture, repair)
    problems += _check_album_counts(album, walked, repair)
    problems += _check_collection(album, listed, repair)
    problems += _check_uploads(album, album.catalog.queued_uploads(), repair)
    problems += _check_people(album, repair)
    found = {
        bucket: [k for k in album.blobs.keys(bucket) if k not in used[bucket]] for bucket in used
    }
    # every upload's file is in use (failed ones keep theirs), also those accepted
    # while the blobs were listed: hence the ids are read after the listing
    used["incoming"] |= set(album.catalog.upload_ids())
    for bucket, keys in found.items():
        for key in keys:
            sha = key.rsplit("/", 1)[-1].split(".", 1)[0]
            if key in used[bucket] or (bucket != "incoming" and album.catalog.sha_in_use(sha)):
                continue  # a picture or upload that arrived while the check ran
            problems.append(_orphan(album, bucket, key, repair))
    return problems


def _check_picture(album: Album, picture: Picture, repair: bool) -> list[Problem]:
    where = f"{picture.set_name}/{picture.name}"
    try:
        with album.blobs.open("originals", picture.original_key) as fh:
            sha, size = hash_stream(fh)
    except KeyError:
        return [Problem("missing-original", where, f"originals/{picture.original_key} is gone")]
    out = []
    if sha != picture.sha256 or size != picture.byte_size:
        out.append(
            Problem("damaged-original", where, f"content changed: sha256 {sha[:12]}…, {size} B")
        )
    for key in (picture.thumb_key, picture.preview_key):
        if not album.blobs.exists("thumbnails", key):
            problem = Problem("missing-rendition", where, f"thumbnails/{key} is gone")
            if repair and not out:
                _render_again(album, picture)
                problem.repaired = True
            out.append(problem)
    return out


def _check_collection(album: Album, listed: dict[str, Picture], repair: bool) -> list[Problem]:
    """Faces the pictures list but the collection lacks, and the reverse. Both lists
    are read again before anything is called a problem: a reindex swaps faces, an
    import indexes faces a moment before it stores their picture."""
    collection = album.collection
    held: set[str] = set()
    strays: list[str] = []
    for record in collection.records():
        held.add(record.face_id)
        if record.face_id not in listed:
            strays.append(record.face_id)
    missing = [face_id for face_id in listed if face_id not in held]
    still = album.catalog.faces_of(missing)  # those a reindex replaced meanwhile are not
    out = []
    for picture in {listed[f].image_id: listed[f] for f in missing if f in still}.values():
        problem = Problem(
            "missing-faces",
            f"{picture.set_name}/{picture.name}",
            f"the collection {collection.collection_id} lacks faces of this picture",
        )
        if repair:
            try:
                _index_again(album, picture)
                problem.repaired = True
            except KeyError:
                problem.detail += "; its original is missing, so it cannot be indexed again"
        out.append(problem)
    if strays:
        strays = [f for f in strays if f not in album.catalog.faces_of(strays)]
    if strays and album.settings.orphan_face_grace:
        time.sleep(album.settings.orphan_face_grace)  # an import in flight stores them
        strays = [f for f in strays if f not in album.catalog.faces_of(strays)]
    if strays:
        problem = Problem(
            "orphan-faces",
            f"collection {collection.collection_id}",
            f"{len(strays)} faces no picture lists",
        )
        if repair:
            collection.forget(strays)
            problem.repaired = True
        out.append(problem)
    return out


def _index_again(album: Album, picture: Picture) -> None:
    """Reindex one picture in this process: its faces indexed afresh, swapped in with
    their people kept (people.swap_faces)."""
    from .people.grouping import swap_faces

    album.collection.ensure()
    with album.blobs.open("originals", picture.original_key) as fh:
        analysis = analyze(fh, album.settings, renditions=False, capture=False)
    swap_faces(album, picture, index_faces(album.collection, analysis, picture.image_id).faces)
    if analysis.pixel_sha256 and analysis.pixel_sha256 != picture.pixel_sha256:  # as reindex
        album.catalog.set_pixel_sha256(picture.image_id, analysis.pixel_sha256)


def _render_again(album: Album, picture: Picture) -> None:
    s = album.settings
    with album.blobs.open("originals", picture.original_key) as fh:
        dec = decode(fh, s.decode_size, s.max_pixels)
    thumb, preview = rendition_bytes(bounded(dec.image, s.preview_size), s)
    put_renditions(album.blobs, picture.sha256, thumb, preview)


def _check_people(album: Album, repair: bool) -> list[Problem]:
    """Faces whose person is gone (written before placements were conditional on the
    person existing, or by another tool). The assignments are read before the persons,
    so a person made meanwhile is no false alarm; the repair is conditional on the
    face still having the person it was found in."""
    catalog = album.catalog
    assigned = catalog.face_assignments()
    listed = catalog.list_people()
    people = {p.person_id for p in listed}
    gone = {f: p for f, (p, _) in assigned.items() if p is not None and p not in people}
    out = _check_counts(album, assigned, listed, repair)
    if not gone:
        return out
    images = catalog.faces_of(list(gone))
    pictures = catalog.get_pictures(list(set(images.values())))
    for picture in pictures.values():
        mine = {f.face_id for f in picture.faces if f.face_id in gone}
        if not mine:
            continue
        persons = ", ".join(sorted({gone[f] for f in mine}))
        problem = Problem(
            "dangling-faces",
            f"{picture.set_name}/{picture.name}",
            f"{len(mine)} faces in a person that is gone ({persons})",
        )
        if repair:
            from .people.grouping import place_faces

            freed: dict[str, str | None] = {f: gone[f] for f in mine}
            catalog.assign_faces(dict.fromkeys(freed), by_owner=True, expected=freed)
            fresh = catalog.get_picture(picture.image_id)
            if fresh is not None:
                place_faces(album, fresh, only=mine)
            problem.repaired = True
        out.append(problem)
    return out


def _check_counts(
    album: Album, assigned: dict[str, tuple[str | None, bool]], listed: list, repair: bool
) -> list[Problem]:
    """Persons whose kept face or picture counts are not their faces' (a process
    killed between a change of their faces and its count). Repaired by counting again;
    a person changed meanwhile is recounted too, which is harmless."""
    images = album.catalog.faces_of([f for f, (p, _) in assigned.items() if p])
    faces: dict[str, set[str]] = {}
    for face_id, (person_id, _) in assigned.items():
        if person_id and face_id in images:
            faces.setdefault(person_id, set()).add(face_id)
    wrong = [
        p
        for p in listed
        if (p.face_count, p.picture_count)
        != (len(mine := faces.get(p.person_id, set())), len({images[f] for f in mine}))
    ]
    if wrong and repair:
        album.catalog.recount_people([p.person_id for p in wrong])
    return [
        Problem(
            "person-counts",
            p.name or p.person_id,
            f"counts {p.face_count} faces on {p.picture_count} pictures; its faces say otherwise",
            repaired=repair,
        )
        for p in wrong
    ]


@dataclass
class _Counts:
    """What the album's counters should say, counted on the pictures walked."""

    pictures: int = 0
    faces: int = 0
    contents: dict[str, int] = field(default_factory=dict)  # sha256 -> bytes
    per_set: dict[str, int] = field(default_factory=dict)

    def add(self, p: Picture) -> None:
        self.pictures += 1
        self.faces += len(p.faces)
        self.contents[p.sha256] = p.byte_size
        self.per_set[p.set_name] = self.per_set.get(p.set_name, 0) + 1


def _check_album_counts(album: Album, walked: _Counts, repair: bool) -> list[Problem]:
    """The album's counters (``stats``) and each set's picture count against the
    pictures walked (a crash between a change and its count, or a database edited by
    hand). Repaired by counting again from the rows (``recount_stats``); a change made
    while the check walked may show here too, and recounting then is harmless."""
    s = album.catalog.stats()
    summaries = album.sets()
    kept = (s.sets, s.pictures, s.faces, s.original_bytes)
    counted = (len(summaries), walked.pictures, walked.faces, sum(walked.contents.values()))
    wrong = [
        Problem("set-counts", summary.name, f"counts {summary.picture_count} pictures, has {n}")
        for summary in summaries
        if summary.picture_count != (n := walked.per_set.get(summary.name, 0))
    ]
    if kept != counted:
        wrong.append(
            Problem(
                "album-counts",
                "stats",
                "counts {} sets, {} pictures, {} faces, {} B of originals; "
                "the album has {}, {}, {}, {} B".format(*kept, *counted),
            )
        )
    if wrong and repair:
        album.catalog.recount_stats()
        for problem in wrong:
            problem.repaired = True
    return wrong


def _check_uploads(album: Album, uploads: list[Upload], repair: bool) -> list[Problem]:
    now, out = time.time(), []
    for u in uploads:
        if not album.blobs.exists("incoming", u.upload_id):
            out.append(Problem("lost-upload", u.name, "queued, but its file is gone"))
    ages = [(u.name, now - (u.created_at or now)) for u in uploads]
    stale = [(name, age) for name, age in ages if age > album.settings.upload_requeue_after]
    if stale:
        requeued = bool(album.recover_uploads()) if repair else False
        for name, age in stale:
            out.append(Problem("stuck-upload", name, f"queued for {age:.0f} s", requeued))
    return out


def _orphan(album: Album, bucket: Bucket, key: str, repair: bool) -> Problem:
    problem = Problem("orphan-blob", f"{bucket}/{key}", "no picture or upload uses it")
    if repair:
        aside = album.settings.home / "lost+found" / bucket / key
        aside.parent.mkdir(parents=True, exist_ok=True)
        with album.blobs.open(bucket, key) as fh, aside.open("wb") as out:
            shutil.copyfileobj(fh, out, 1 << 20)
        album.blobs.delete(bucket, key)
        problem.repaired = True
        problem.detail += f"; moved to {aside}"
    return problem
