"""The album's persons, mirrored into its face collection as Rekognition users.

The catalog is the truth about who is who; the collection's users follow it, one user
per person (user id = person id) holding up to 100 of the person's faces (Rekognition's
limit, the earliest first). So a plain boto3 client sees the album's people through
ListUsers, SearchUsers and SearchUsersByImage, on facealbum's own endpoint as on AWS.

Mirroring never fails the change that asked for it (a person named, merged, split, a
picture imported): if the engine cannot be reached, the users lag behind until the
next full mirror (``facealbum people recluster`` ends with one, ``people mirror`` does
only that). Each step is idempotent, so two processes mirroring one person at once
both end at the catalog's state.

What a change costs: :func:`mirror` of named persons reads those persons only (never
the album's list of people) and each one's faces; :func:`mirror_joined`, for faces
placed into persons (an import, an upload, an S3 event), reads each person's row and
associates the new faces: O(persons and faces that changed) calls, whatever the size
of the album or of the persons.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ..album import Album
from ..domain import NotFound
from ..faces import MAX_USER_FACES, Conflict, QuotaExceeded

log = logging.getLogger(__name__)
CHUNK = 100  # AssociateFaces / DisassociateFaces take at most 100 face ids


@dataclass
class MirrorReport:
    users: int = 0  # persons mirrored
    associated: int = 0
    disassociated: int = 0
    deleted: int = 0  # users of persons that are gone


def mirror(album: Album, person_ids: Iterable[str] | None = None) -> MirrorReport:
    """Bring the users of ``person_ids`` (every person, and away with users of persons
    that are gone, when None) in line with the catalog."""
    report = MirrorReport()
    faces, collection = album.collection.faces, album.collection.collection_id
    if person_ids is None:
        persons = {p.person_id for p in album.catalog.list_people()}
        wanted = set(persons)
        token: str | None = None
        while True:
            users, token = faces.list_users(collection, 500, token)
            wanted |= {u.user_id for u in users}  # users of gone persons, to delete
            if not token:
                break
    else:
        wanted = set(person_ids)
        persons = set(album.catalog.person_labels(wanted))  # those that exist, one read
    for person_id in sorted(wanted):
        if person_id in persons:
            _mirror_one(album, person_id, report)
        else:
            with contextlib.suppress(NotFound):
                faces.delete_user(collection, person_id)
                report.deleted += 1
    return report


def mirror_quietly(album: Album, person_ids: Iterable[str | None] | None) -> None:
    """:func:`mirror` (of every person when None), logging instead of raising (see the
    module's docstring)."""
    if not album.settings.people_as_users:
        return
    try:
        mirror(album, None if person_ids is None else [p for p in person_ids if p])
    except Exception:
        log.warning("could not mirror people as users; `people mirror` will", exc_info=True)


def mirror_joined(album: Album, joined: dict[str, list[str]]) -> MirrorReport:
    """The users of persons that faces were just placed into (person id -> the faces
    that joined it, in the order they joined) follow: each person's row is read for
    its face count, and the new faces are associated where they are among the
    person's first :data:`MAX_USER_FACES` (as :func:`mirror` keeps them); a user not
    there yet is created. Faces that were another user's move (the owner's "not this
    person"). O(persons + faces joined) calls."""
    report = MirrorReport()
    faces, collection = album.collection.faces, album.collection.collection_id
    for person_id, face_ids in sorted(joined.items()):
        person = album.catalog.get_person(person_id)
        if person is None or not face_ids:
            continue  # merged away or deleted meanwhile: its user goes with the next mirror
        new = list(dict.fromkeys(face_ids))
        room = MAX_USER_FACES - max(0, person.face_count - len(new))
        if room <= 0:
            continue  # its user holds its earliest faces already
        if person.face_count <= len(new):  # a person these faces started: no user yet
            with contextlib.suppress(Conflict):
                faces.create_user(collection, person_id)
        try:
            _associate(album, person_id, new[:room], report)
        except NotFound:  # a new person (or a mirror that failed before): its user first
            with contextlib.suppress(Conflict):
                faces.create_user(collection, person_id)
            with contextlib.suppress(QuotaExceeded):
                _associate(album, person_id, new[:room], report)
        except QuotaExceeded:  # another writer filled it meanwhile: the earliest stay
            pass
        report.users += 1
    return report


def mirror_joined_quietly(album: Album, joined: dict[str, list[str]]) -> None:
    """:func:`mirror_joined`, logging instead of raising (see the module's docstring)."""
    if not album.settings.people_as_users or not joined:
        return
    try:
        mirror_joined(album, joined)
    except Exception:
        log.warning("could not mirror people as users; `people mirror` will", exc_info=True)


def _associate(album: Album, person_id: str, face_ids: list[str], report: MirrorReport) -> None:
    """Associate the faces with the person's user, taking any another user holds from
    it first (a face moved from another person)."""
    faces, collection = album.collection.faces, album.collection.collection_id
    for i in range(0, len(face_ids), CHUNK):
        chunk = face_ids[i : i + CHUNK]
        done = faces.associate_faces(collection, person_id, chunk, 0)
        moved = [r for r in done.failed if r.user_id and r.user_id != person_id]
        for r in moved:
            with contextlib.suppress(NotFound):
                faces.disassociate_faces(collection, r.user_id, [r.face_id])  # type: ignore[arg-type]
        again = (
            faces.associate_faces(collection, person_id, [r.face_id for r in moved], 0).done
            if moved
            else []
        )
        report.associated += len(done.done) + len(again)


def _mirror_one(album: Album, person_id: str, report: MirrorReport) -> None:
    faces, collection = album.collection.faces, album.collection.collection_id
    with contextlib.suppress(Conflict):
        faces.create_user(collection, person_id)
    desired = [f.face_id for f in album.catalog.person_faces(person_id)][:MAX_USER_FACES]
    current: set[str] = set()
    token: str | None = None
    while True:
        page, token = faces.list_faces(collection, 4096, token, user_id=person_id)
        current |= {f.face_id for f in page}
        if not token:
            break
    extra = sorted(current - set(desired))
    for i in range(0, len(extra), CHUNK):
        done = faces.disassociate_faces(collection, person_id, extra[i : i + CHUNK])
        report.disassociated += len(done.done)
    _associate(album, person_id, [f for f in desired if f not in current], report)
    report.users += 1
