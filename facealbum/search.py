"""Face search: the original's search function without its 100-key cap. Similarities
are on Rekognition's scale, where 80 (the default) means "the same person".

The index returns every face above the threshold; this reduces them to one entry per
picture (its best-matching face) and pages over pictures, so page 2 never repeats a
picture from page 1 whatever the number of faces per picture. A photo stored in
several sets is one entry too (copies.py), its other pictures named in ``also_in``.
"""

from __future__ import annotations

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
    total: int  # photos above the threshold, before paging (copies in other sets: one)
    matches: list[Match]


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
    """Up to 4096 faces come back from the collection (Rekognition's largest MaxFaces),
    then the pictures that still list them. Faces the catalog does not list (a picture
    deleted a moment ago, a crash mid-import) are skipped.

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
    found = [(face_id, h) for h in collection.matches(face_id, threshold)]
    for other in also[:searched]:
        found += [(other, h) for h in collection.matches(other, threshold)]
    found.sort(key=lambda qh: -qh[1].similarity)
    listed = catalog.face_refs([*also, *(h.face_id for _, h in found)])
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
    # one entry per photo: the hashes of every ranked picture (one read, as face_refs)
    # are what keeps page 2 from repeating a photo of page 1 stored in another set
    refs = catalog.picture_refs([h.image_id for h in ranked])
    photos = once_per_content(ranked, lambda h: h.image_id, refs)
    page = photos[offset : offset + limit]
    total = len(photos)
    if person is not None:
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
    return SearchResult(query, total, matches)
