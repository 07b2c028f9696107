"""The owner's hand on people, and pictures found by people.

Every change here is the owner's decision, so faces it places are marked as such and
automatic grouping (grouping.py) never moves them back. A person that was given a name
is never deleted by a change that empties it: its name stays, so nothing the owner
typed is silently lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from .. import paging
from ..album import Album
from ..copies import twin_faces
from ..domain import BadInput, Box, Face, NotFound, Person, Picture, clean_name, rendition_key
from ..photo_search import PhotoFace, check_photo, search_photo
from ..quality import QualityRule
from . import representatives
from .grouping import persons_of, place_faces
from .users_mirror import mirror_quietly

Mode = Literal["all", "any", "only"]


@dataclass
class PersonView:
    person: Person
    cover: tuple[Face, str] | None  # the cover face and its picture's thumbnail key


T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a listing, with the cursor of the next one (None: the last page).
    A cursor is opaque to callers: the key of the last entry looked at."""

    items: list[T]
    next: str | None


def get(album: Album, person_id: str) -> Person:
    found = album.catalog.get_person(person_id)
    if found is None:
        raise NotFound(f"no person {person_id}")
    return found


def page_limit(album: Album, limit: int | None) -> int:
    """The page size asked for, else the default; BadInput past
    ``Settings.people_page_max`` or below 1."""
    s = album.settings
    if limit is None:
        return s.people_page_size
    if not 1 <= limit <= s.people_page_max:
        raise BadInput(f"limit must be between 1 and {s.people_page_max}")
    return limit


def _people_key(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    count, _, person_id = cursor.partition(".")
    digits = count.isascii() and count.isdigit() and len(count) <= 12
    if not digits or not person_id or not person_id.isprintable() or len(cursor) > 100:
        raise BadInput(f"not a cursor of the people list: {cursor[:100]!r}")
    return int(count), person_id


def _image_cursor(cursor: str | None) -> str | None:
    """The image id a page of pictures ends at, from its ``next`` (paging.py's opaque
    key, as sets' cursors): anything else is BadInput, never an empty page (a raw id
    was taken as is, so ``after=zzz`` answered 200 with nothing)."""
    return None if cursor is None else paging.decode(cursor, str)[0]


def _image_next(image_id: str | None) -> str | None:
    return None if image_id is None else paging.encode([image_id])


def people_page(
    album: Album, hidden: bool = False, cursor: str | None = None, limit: int | None = None
) -> Page[PersonView]:
    """A page of the people with at least one picture, most pictured first (then by
    id, descending), after ``cursor``; hidden ones only if asked. One catalog read of
    the page's person rows with their covers (``Catalog.people_page``, by an index):
    O(limit) whatever the number of persons. A person whose cover the read did not
    find (no representatives stored yet, or its first one just left it) has them
    chosen now. Errors: BadInput (the cursor, the limit)."""
    n = page_limit(album, limit)
    rows = album.catalog.people_page(_people_key(cursor), n, hidden)
    missing = _covers(album, [r.person for r in rows if r.cover is None])
    views = [
        PersonView(
            r.person,
            (r.cover, rendition_key("thumb", r.cover_sha256))
            if r.cover is not None and r.cover_sha256
            else missing.get(r.person.person_id),
        )
        for r in rows
    ]
    last = rows[-1].person if len(rows) == n else None
    return Page(views, f"{last.picture_count}.{last.person_id}" if last else None)


def people(album: Album, hidden: bool = False) -> list[PersonView]:
    """Every page of :func:`people_page`, for the CLI and checks: O(persons)."""
    found: list[PersonView] = []
    cursor: str | None = None
    while True:
        page = people_page(album, hidden, cursor, album.settings.people_page_max)
        found += page.items
        if page.next is None:
            return found
        cursor = page.next


def cover(album: Album, person: Person) -> tuple[Face, str] | None:
    """The owner's chosen face, else the person's first representative, its medoid
    (people/representatives.py; ties broken by what a reindex keeps, so the cover
    stays put): the face and its picture's thumbnail key."""
    return _covers(album, [person]).get(person.person_id)


def _covers(album: Album, found: list[Person]) -> dict[str, tuple[Face, str]]:
    if not found:
        return {}
    reps = representatives.of(album, found)
    first = {p: faces[0] for p, faces in reps.items() if faces}
    refs = album.catalog.faces_of(list(first.values()))
    pictures = album.catalog.get_pictures(list(dict.fromkeys(refs.values())))
    out: dict[str, tuple[Face, str]] = {}
    for person_id, face_id in first.items():
        picture = pictures.get(refs.get(face_id, ""))
        face = picture.face(face_id) if picture else None
        if picture is not None and face is not None:
            out[person_id] = (face, picture.thumb_key)
    return out


def person_pictures(
    album: Album,
    person_id: str,
    cursor: str | None = None,
    limit: int | None = None,
    person: Person | None = None,
) -> tuple[Person, Page[Picture]]:
    """The person and a page of the pictures it is in, in id order, after ``cursor``
    (a page's ``next``: its last image id as paging.py's opaque key): O(limit) rows by
    the catalog's index of faces by person and picture, never all of the person's
    faces. ``person``: its row, if the caller has just read it (else read here).
    Errors: NotFound, BadInput (limit, cursor)."""
    n = page_limit(album, limit)
    person = person if person is not None else get(album, person_id)
    ids = album.catalog.person_image_ids(person_id, _image_cursor(cursor), n + 1)
    read = once_across_pages(album, ids[:n], lambda persons: person_id in persons)
    found = album.catalog.get_pictures(read)
    listed = [found[i] for i in read if i in found]
    return person, Page(listed, _image_next(ids[n - 1] if len(ids) > n else None))


def once_across_pages(
    album: Album, ids: list[str], listed: Callable[[set[str]], bool]
) -> list[str]:
    """A page's ids (in id order) with each photo stored in several sets at its first
    picture only, followed by its other pictures that the listing has (``listed``:
    whether a picture with faces of these persons is in it), so the page names them
    (copies.py) and a later page does not list the photo again; a picture whose photo
    the listing has at a smaller id is left out (an earlier page listed it). Reads:
    the page's hashes, their pictures, those copies' persons (O(page + copies))."""
    catalog = album.catalog
    refs = catalog.picture_refs(ids)
    uses = catalog.content_image_ids(sorted({sha for sha, _ in refs.values()}))
    others = {i: [c for c in uses.get(refs[i][0], []) if c != i] for i in ids if i in refs}
    # the page's ids too: one read whether or not the page has copies
    persons = catalog.face_persons(sorted({*ids, *(c for cs in others.values() for c in cs)}))
    out: list[str] = []
    for image_id in ids:
        copies = sorted(c for c in others.get(image_id, []) if listed(persons.get(c, set())))
        if copies and copies[0] < image_id:
            continue  # listed at its first picture, on an earlier page or this one
        out += [image_id, *(c for c in copies if c not in out)]
    return list(dict.fromkeys(out))


def search_people(
    album: Album,
    person_ids: list[str],
    mode: Mode = "all",
    hidden: bool = False,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[Picture]:
    """Pictures with ALL the people, with ANY of them, or with ONLY them: all of them
    and no other named person; in id order, a page after ``cursor`` (a page's ``next``).
    Hidden persons only with ``hidden`` (the owner's search): else one asked for is
    NotFound, as if there were none, and one in a picture does not count against ONLY.

    Cost O(page), whatever the persons' sizes: ANY merges the first ``limit`` picture
    ids of each person after the cursor; ALL and ONLY walk the least pictured person's
    picture ids in id order, a few hundred a read, keep those every other one is in
    (``Catalog.images_with_person``, one index seek each, the next least pictured
    person first), ONLY then those with no other named person (``face_persons`` of
    what is left), and read the pictures of the page alone; at most
    ``Settings.people_search_scan`` candidates per request: a page may then be short
    (even empty) with a cursor to go on from."""
    if not person_ids:
        raise BadInput("choose at least one person")
    n = page_limit(album, limit)
    chosen = []
    for person_id in dict.fromkeys(person_ids):
        person = get(album, person_id)
        if person.hidden and not hidden:
            raise NotFound(f"no person {person_id}")
        chosen.append(person)
    catalog, cursor = album.catalog, _image_cursor(cursor)
    wanted = {p.person_id for p in chosen}
    if mode == "any":
        each = (catalog.person_image_ids(p.person_id, cursor, n + 1) for p in chosen)
        ids = sorted({i for found in each for i in found})
        read = once_across_pages(album, ids[:n], lambda persons: bool(persons & wanted))
        pictures = catalog.get_pictures(read)
        listed = [pictures[i] for i in read if i in pictures]
        return Page(listed, _image_next(ids[n - 1] if len(ids) > n else None))
    smallest, *others = sorted(chosen, key=lambda p: (p.picture_count, p.person_id))
    kept: list[str] = []
    after, scanned, batch = cursor, 0, max(n, 200)
    while len(kept) < n and scanned < album.settings.people_search_scan:
        candidates = catalog.person_image_ids(smallest.person_id, after, batch)
        fit = candidates
        for other in others:  # the least pictured first: each leaves fewer to check
            if fit:
                has = catalog.images_with_person(other.person_id, fit)
                fit = [i for i in fit if i in has]
        if mode == "only" and fit:
            there = catalog.face_persons(fit)  # ids and persons only, no pictures
            named = _named(album, there.values(), hidden)
            fit = [i for i in fit if not (there.get(i, set()) & named) - wanted]
        fitting = set(fit)
        for image_id in candidates:
            after, scanned = image_id, scanned + 1
            if image_id in fitting:
                kept.append(image_id)
                if len(kept) == n:
                    break
        if len(candidates) < batch and (not candidates or after == candidates[-1]):
            after = None  # the person's last pictures: nothing after
            break

    def fits(persons: set[str]) -> bool:
        """A copy is judged as a single photo is: ONLY asks of it too that no other
        named person be in it (one read of a copy's other persons, if it has any)."""
        if not wanted <= persons:
            return False
        extra = persons - wanted
        return mode != "only" or not (extra and _named(album, [extra], hidden))

    read = once_across_pages(album, kept, fits)
    pictures = catalog.get_pictures(read)
    return Page([pictures[i] for i in read if i in pictures], _image_next(after))


def _named(album: Album, pictures: Iterable[set[str]], hidden: bool) -> set[str]:
    """Of these pictures' persons, those that have a name (and, unless ``hidden``, are
    not hidden): what ONLY leaves out. One read of just those persons."""
    shown = {p for persons in pictures for p in persons}
    return {
        p for p, (name, gone) in album.catalog.person_labels(shown).items()
        if name and (hidden or not gone)
    }  # fmt: skip


def rename(album: Album, person_id: str, name: str | None) -> Person:
    """An empty name (or only spaces) takes the name away; any other follows the rules
    of set names (NFC, trimmed, no control or text-direction characters: BadInput)."""
    person = get(album, person_id)
    person.name = clean_name(name, "person name", 200) if name and name.strip() else None
    album.catalog.update_person(person)
    return person


def hide(album: Album, person_id: str, hidden: bool) -> Person:
    person = get(album, person_id)
    person.hidden = hidden
    album.catalog.update_person(person)
    return person


def choose_cover(album: Album, person_id: str, face_id: str) -> Person:
    person = get(album, person_id)
    face = album.catalog.get_face(face_id)
    if face is None or face.person_id != person_id:
        raise BadInput(f"face {face_id} is not one of this person's")
    person.cover_face_id = face_id
    album.catalog.update_person(person)
    representatives.refresh_quietly(album, [person_id])  # the cover comes first
    return person


def merge(album: Album, source_id: str, into_id: str) -> Person:
    """Every face of ``source`` becomes ``into``'s (the owner's decision), those that
    joined it while this ran too (read again until none is left, then it is deleted);
    ``into`` keeps its name, or takes ``source``'s if it had none."""
    if source_id == into_id:
        raise BadInput("a person cannot be merged into itself")
    source, into = get(album, source_id), get(album, into_id)
    for _ in range(4):  # again while faces joined it meanwhile (a placement, a regrouping)
        faces = album.catalog.person_faces(source_id)
        if not faces:
            break
        album.catalog.assign_faces({f.face_id: into_id for f in faces}, by_owner=True)
    if into.name is None and source.name is not None:
        into.name = source.name
        album.catalog.update_person(into)
    album.catalog.delete_person(source_id)
    mirror_quietly(album, [source_id, into_id])
    representatives.refresh_quietly(album, [into_id], full=True)
    return get(album, into_id)


def split(album: Album, face_ids: list[str], into_id: str | None = None) -> Person:
    """Move faces to another person, or to a new one."""
    if not face_ids:
        raise BadInput("choose at least one face")
    known = album.catalog.faces_of(face_ids)
    missing = [f for f in face_ids if f not in known]
    if missing:
        raise NotFound(f"no face {missing[0]}")
    if into_id is None:
        into_id = str(uuid.uuid4())
        album.catalog.add_person(Person(into_id, created_at=time.time()))
    get(album, into_id)
    before = set(persons_of(album.catalog, known).values())
    album.catalog.assign_faces(dict.fromkeys(face_ids, into_id), by_owner=True)
    mirror_quietly(album, before | {into_id})
    representatives.refresh_quietly(album, before | {into_id}, full=True)
    return get(album, into_id)


def twins(album: Album, face: Face) -> list[Face]:
    """The same face in the copies of its photo stored in other sets (the same sha256,
    the same box: copies.twin_faces). Sites list such a photo once, so a correction of
    the face is one of its twins too, else the copy keeps the photo where the owner
    said it does not belong. One read per set (sets are few) and one per copy."""
    picture = album.catalog.get_picture(face.image_id)
    if picture is None:
        return []
    found = []
    for s in album.catalog.list_sets():
        copy = s.name != picture.set_name and album.catalog.find_by_hash(s.name, picture.sha256)
        if copy:
            twin = twin_faces(picture, copy).get(face.face_id)
            found += [f for f in copy.faces if f.face_id == twin]
    return found


def names(album: Album, hidden: bool = False) -> list[str]:
    """The album's person names, sorted, once each (hidden people's only if asked): what
    "Who is this?" offers as the owner types. Reads the named persons' rows alone
    (``Catalog.named_people``, by an index), never the unnamed ones nor any faces."""
    found = {p.name for p in album.catalog.named_people() if p.name and (hidden or not p.hidden)}
    return sorted(found, key=lambda n: (n.casefold(), n))


def name_face(album: Album, face_id: str, name: str) -> Person:
    """"Who is this?" on one face: a name is a person (as in Google Photos or Immich).
    Resolved here, when the owner saves, never from what a page loaded a while ago
    (another tab, or a regrouping, may have moved or named the face since):

    - a person already has the name (exactly, else ignoring case): the face alone moves
      into them (as split does);
    - else the face's person is still unnamed: it takes the name, with every face
      grouped with it;
    - else (a face of no one, or of a person named meanwhile): the face alone becomes a
      new person of that name; a name the owner gave is never overwritten from here.

    Returns the face's person. Errors: BadInput (the name), NotFound (the face)."""
    name = clean_name(name, "person name", 200)
    face = album.catalog.get_face(face_id)
    if face is None:
        raise NotFound(f"no face {face_id}")
    everyone = [p for p in album.catalog.named_people() if p.name]
    known = next((p for p in everyone if p.name == name), None) or next(
        (p for p in everyone if p.name and p.name.casefold() == name.casefold()), None
    )
    # the face with its twins in copies of its photo that were where it was
    moving = [face_id, *(t.face_id for t in twins(album, face) if t.person_id == face.person_id)]
    if known is not None:
        if face.person_id != known.person_id:
            split(album, moving, known.person_id)
        return get(album, known.person_id)
    current = album.catalog.get_person(face.person_id) if face.person_id else None
    if current is not None and current.name is None:
        return rename(album, current.person_id, name)
    return rename(album, split(album, moving).person_id, name)


def not_this_person(album: Album, face_id: str, person_id: str) -> str | None:
    """Remember that the face is not this person, and place it again elsewhere (its
    next best person, or one of its own). Returns where it went."""
    face = album.catalog.get_face(face_id)
    if face is None:
        raise NotFound(f"no face {face_id}")
    album.catalog.reject_face(face_id, person_id)
    album.catalog.assign_faces({face_id: None}, by_owner=True)
    picture = album.catalog.get_picture(face.image_id)
    placed = None if picture is None else place_faces(album, picture, only={face_id}).get(face_id)
    # its twins in copies of the photo go where it went (the same face: the same answer)
    also = [t.face_id for t in twins(album, face) if t.person_id == person_id]
    for twin in also:
        album.catalog.reject_face(twin, person_id)
    if also:
        album.catalog.assign_faces(dict.fromkeys(also, placed), by_owner=True)
    changed = [person_id] + ([placed] if placed and also else [])
    mirror_quietly(album, changed)
    representatives.refresh_quietly(album, changed, full=True)
    return placed


# -- search by an uploaded photo -------------------------------------------------------


@dataclass
class FaceFound:
    """One face of the searched photo: where it is, who it most likely is, and the
    album's pictures of that face, best first (one entry per picture)."""

    box: Box
    person: Person | None
    matches: list[tuple[float, Picture, Face]]


@dataclass
class PhotoFound:
    faces: list[FaceFound]  # the largest Settings.search_max_faces, left to right
    unsearched: int  # faces of the photo beyond that cap


def search_by_image(
    album: Album, data: bytes, threshold: float | None = None, hidden: bool = False
) -> PhotoFound:
    """Every face in ``data`` (the largest ``search_max_faces``) searched in the album,
    as Rekognition would: DetectFaces, then SearchFacesByImage on each face's crop. The
    photo is decoded and searched in a worker process (photo_search.py); here, where the
    catalog is, each match must pass the same quality rule as every other search (a
    blurred face needs a closer match). Held in memory only: nothing of it is stored.
    A face found to be a hidden person is no one's unless ``hidden`` (the owner's search).
    Errors: BadInput (no photo), photo_search.TooLarge (bytes or pixels over the limits)."""
    s = album.settings
    threshold = s.match_threshold if threshold is None else threshold
    check_photo(data, s)  # the header only: refused before a worker is bothered
    if s.search_in_workers:
        found = album.analyzer.search(data, threshold)
    else:  # AWS Lambda: no worker processes, one request per sandbox
        found = search_photo(album.collection, s, data, threshold)
    rule = album.quality
    faces = [_face_found(album, f, threshold, rule, hidden) for f in found.faces]
    return PhotoFound(faces, found.unsearched)


def _face_found(
    album: Album, found: PhotoFace, threshold: float, rule: QualityRule, hidden: bool = False
) -> FaceFound:
    refs = album.catalog.face_refs([m.face.face_id for m in found.matches])
    kept = [
        m
        for m in found.matches
        if (ref := refs.get(m.face.face_id)) is not None
        and ref[0] == m.face.external_image_id
        and rule.accepts(m.similarity, threshold, found.sharpness, ref[1])
    ]
    pictures = album.catalog.get_pictures(
        list(dict.fromkeys(refs[m.face.face_id][0] for m in kept))
    )
    matches, seen = [], set()
    votes: dict[str, float] = {}
    for m in kept:
        picture = pictures.get(refs[m.face.face_id][0])
        face = picture.face(m.face.face_id) if picture else None
        if picture is None or face is None:
            continue
        if face.person_id:
            votes[face.person_id] = votes.get(face.person_id, 0.0) + m.similarity
        if picture.image_id not in seen:
            seen.add(picture.image_id)
            matches.append((m.similarity, picture, face))
    person = None
    if votes:
        best = max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0]
        person = album.catalog.get_person(best)
        if person is not None and person.hidden and not hidden:
            person = None
    return FaceFound(found.box, person, matches)
