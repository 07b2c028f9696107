"""Face search: the original's search function without its 100-key cap (nor any
other). Similarities are on Rekognition's scale.

The index returns the best faces above the threshold, as many as a page needs: this
reduces them to one entry per picture (its best-matching face) and pages over
pictures, so page 2 never repeats a picture from page 1 whatever the number of faces
per picture. A photo stored in several sets is one entry too (copies.py), its other
pictures named in ``also_in``. A page costs O(offset + limit) pictures' faces at any
threshold: the faces asked for (a quarter more than the photos) grow until the page
and one more photo are found, or the index has no more; every page down to the last
one is reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .collection import AlbumCollection, Hit
from .copies import Copy, once_per_content
from .domain import BadInput, Face, NotFound, Person, Picture
from .ports import Catalog
from .quality import NO_RULE, QualityRule
from .search_person import rest_of_person


@dataclass
class Match:
    similarity: float
    picture: Picture
    face: Face
    also_in: list[Copy] = field(default_factory=list)  # the same photo in other sets


@dataclass
class SearchResult:
    query: Face
    # photos above the threshold, before paging (copies in other sets: one); with
    # ``more``, only those up to the page and one more: the rest were not looked at
    total: int
    matches: list[Match]
    more: bool = False


def best_per_picture(hits: list[Hit], first_image: str | None = None) -> list[Hit]:
    """Hits arrive best first, so the first hit seen for a picture is its best face."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.image_id not in seen:
            seen.add(hit.image_id)
            out.append(hit)
    if first_image is not None:
        out.sort(key=lambda h: h.image_id != first_image)  # stable: rest stays ranked
    return out


def faces_for(need: int, asked: int = 0, photos: int = 0) -> int:
    """Faces to ask the index for so that ``need`` photos are among them: a quarter
    more than photos at first (most photos hold one face like the query; at 1M faces a
    threshold-0 page at photo 4,000 found 8,035 photos in 8,102 faces), then, when
    ``asked`` faces gave only ``photos``, as many more as their ratio says (x2 at
    least, x8 at most). Every face asked for costs catalog reads, so asking for twice
    the photos doubled a deep page's time."""
    if not asked:
        return max(64, need + need // 4)
    ratio = asked / max(1, photos)
    return asked * min(8, max(2, math.ceil(ratio * need * 1.25 / asked)))


def search_face(
    catalog: Catalog,
    collection: AlbumCollection,
    face_id: str,
    threshold: float,
    limit: int = 50,
    offset: int = 0,
    also: tuple[str, ...] = (),
    rule: QualityRule = NO_RULE,
    query: Face | None = None,
    searched: int = 8,
    person: Person | None = None,
) -> SearchResult:
    """The collection's best faces, as many as pages ``offset`` + ``limit`` + 1 photo
    need (:func:`faces_for`: more while they fall short), then the pictures that still list them.
    Faces the catalog does not list (a picture deleted a moment ago, a crash
    mid-import) are skipped.

    ``also``: the other faces of the same person (a named person's), most telling
    first. Every one of their own pictures is in the result, whether or not it looks
    like the query (the owner may have put a face there that does not): at the
    similarity the search found it at, else at ``threshold``. The first
    ``searched`` of them also search: their look-alikes count too, each picture at its
    best similarity to any of them. A face seen from one angle finds the person's
    pictures seen from others.

    ``rule``: the similarity each match needs, raised for blurred faces (quality.py).
    ``query``: the face itself, if the caller has read it already.
    ``person``: the clicked face's named person: its pictures none of the searches
    found follow the ranked ones, page by page (search_person.py), so a click lists
    every photo of the person at a cost O(``also`` + offset + limit), not O(person)."""
    if not 0 <= threshold <= 100:
        raise BadInput("threshold must be between 0 and 100")
    if limit < 1 or offset < 0:
        raise BadInput("limit must be positive and offset not negative")
    if query is None:
        query = catalog.get_face(face_id)
    if query is None:
        raise NotFound(f"no face {face_id}")
    need = offset + limit + 1  # one more than the page: whether more follow
    k = faces_for(need)
    while True:
        found, complete = _found(collection, (face_id, *also[:searched]), threshold, k)
        photos, refs = _photos(catalog, query, found, also, rule, threshold, need, complete)
        if complete or len(photos) >= need:
            break
        k = faces_for(need, k, len(photos))
    page = photos[offset : offset + limit]
    total = len(photos)
    if person is not None and complete:  # a short page: every ranked photo is in view
        skip, want = max(0, offset - len(photos)), limit - len(page)
        rest, more = rest_of_person(catalog, person, photos, refs, skip, want, threshold)
        page, total = [*page, *rest], total + more
    pictures = catalog.get_pictures([h.image_id for h, _ in page])
    matches, mine = [], person.person_id if person is not None else None
    for hit, copies in page:
        picture = pictures.get(hit.image_id)
        face = None if picture is None else picture.face(hit.face_id)
        if picture is not None and not hit.face_id:  # the person's, not found: its face
            face = next((f for f in picture.faces if f.person_id == mine), None)
        if picture is not None and face is not None:  # else deleted this very moment
            matches.append(Match(hit.similarity, picture, face, copies))
    return SearchResult(query, total, matches, more=not complete)


def _found(
    collection: AlbumCollection, searching: tuple[str, ...], threshold: float, k: int
) -> tuple[list[tuple[str, Hit]], bool]:
    """(searching face, hit) of the best ``k`` faces like each of ``searching``, best
    first; and whether that was every face above the threshold. A list cut at ``k``
    may lack faces below its last one, so the merge stops there too."""
    found: list[tuple[str, Hit]] = []
    complete, floor = True, -1.0
    # the face, then its person's representatives beside it (smaller scans)
    searched = collection.matches_many(searching, threshold, k, side=True)
    for q, hits in zip(searching, searched, strict=True):
        if len(hits) >= k:
            complete, floor = False, max(floor, hits[-1].similarity)
        found += [(q, h) for h in hits]
    found = [qh for qh in found if qh[1].similarity >= floor]
    found.sort(key=lambda qh: -qh[1].similarity)
    return found, complete


def _photos(
    catalog: Catalog,
    query: Face,
    found: list[tuple[str, Hit]],
    also: tuple[str, ...],
    rule: QualityRule,
    threshold: float,
    need: int,
    complete: bool,
) -> tuple[list[tuple[Hit, list[Copy]]], dict[str, tuple[str, str]]]:
    """The hits as photos, best first, and their pictures' refs: each hit's face still
    listed in its picture and accepted by ``rule``, the best per picture, the query's
    own picture first, then one entry per content. The faces' and their pictures'
    refs are one read (a join where the catalog has it) of every hit when ``found``
    is ``complete`` (the total is exact); else of the best ``2 * need`` faces, then
    as many more while they give fewer than ``need`` photos: a named person's click
    finds ~600 faces (9 lists) for its 51 photos, whose refs cost ~3 ms at 1M faces.
    """
    face_id = query.face_id
    first_at: dict[str, int] = {}  # each face (one may be in several lists): its place
    for i, (_, h) in enumerate(found):
        first_at.setdefault(h.face_id, i)
    order = list(first_at)
    step = len(order) if complete else 2 * need
    listed, refs = _refs(catalog, [face_id, *also, *order[:step]])
    read = step
    while True:
        whole = read >= len(order)
        upto = len(found) if whole else first_at[order[read]]  # hits all of whose refs are in
        photos = _ranked(query, found[:upto], also if whole else (), listed, rule, threshold, refs)
        if whole or len(photos) >= need:
            return photos, refs
        more, more_refs = _refs(catalog, order[read : read + step])
        listed, refs, read = listed | more, refs | more_refs, read + step


def _ranked(
    query: Face,
    found: list[tuple[str, Hit]],
    also: tuple[str, ...],
    listed: dict[str, tuple[str, float | None]],
    rule: QualityRule,
    threshold: float,
    refs: dict[str, tuple[str, str]],
) -> list[tuple[Hit, list[Copy]]]:
    """:func:`_photos` of these hits, whose refs are ``listed`` and ``refs``; ``also``
    (the person's own pictures, at the threshold) after them."""
    face_id = query.face_id
    sharp = {q: ref[1] for q, ref in listed.items()} | {face_id: query.sharpness}
    kept = [
        h
        for q, h in found
        if (ref := listed.get(h.face_id)) is not None
        and ref[0] == h.image_id
        and rule.accepts(h.similarity, threshold, sharp.get(q), ref[1])
    ]
    own = [Hit(f, listed[f][0], threshold) for f in also if f in listed]  # none above kept
    ranked = best_per_picture(
        [Hit(query.face_id, query.image_id, 100.0), *kept, *own], query.image_id
    )
    # one entry per photo: the hashes of every ranked picture are what keeps page 2
    # from repeating a photo of page 1 stored in another set
    return once_per_content(ranked, lambda h: h.image_id, refs)


def _refs(
    catalog: Catalog, face_ids: list[str]
) -> tuple[dict[str, tuple[str, float | None]], dict[str, tuple[str, str]]]:
    """face id -> (image id, sharpness) of those of ``face_ids`` some picture lists,
    and image id -> (sha256, set name) of their pictures: one read where the catalog
    joins them (``face_picture_refs``), else a read of each."""
    both = getattr(catalog, "face_picture_refs", None)
    if both is None:
        listed = catalog.face_refs(face_ids)
        return listed, catalog.picture_refs([ref[0] for ref in listed.values()])
    found = both(face_ids)
    listed = {f: (r[0], r[1]) for f, r in found.items()}
    return listed, {r[0]: (r[2], r[3]) for r in found.values()}
