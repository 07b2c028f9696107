"""Representative faces: a few of each person's faces that stand for it.

Person-aware search (a click on a named person's face searches with several of its
faces) and the people pages (a person's cover) need a handful of a person's faces,
well chosen, on every request; reading every face of the person (or, to count them, of
the album) per request does not scale. So each person keeps up to
``Settings.person_representatives`` face ids on its catalog row, chosen again when its
faces change (:func:`refresh`), and read for many persons in one call
(``Catalog.representatives``, which drops any face that left the person meanwhile).

How they are chosen (:func:`choose`), from the faces port's similarities alone (no
descriptors, so Rekognition works too): at most ``person_representatives_sample`` of
the person's faces are compared — its current representatives first, then the
sharpest, largest ones — each with one SearchFaces (all in one call where the engine
searches several faces at once). A face's *centrality* is its mean
similarity to the other sampled faces (a similarity below the grouping threshold counts
0); the face with the highest is the medoid. The owner's cover comes first, then the
medoid, then, greedily, the face with the best Maximal Marginal Relevance (Carbonell &
Goldstein, SIGIR 1998): centrality minus the similarity to the closest face already
chosen, among the more central half of the sample, so the set is typical of the person
*and* spread over its looks (angles, ages) rather than near-duplicates, and a face put
there by mistake is not one of them. Ties go to what a reindex keeps (picture, box).

Cost of an update: O(sample) SearchFaces calls and O(the person's faces) catalog rows.
A person is chosen for again when one of its representatives left it, when it has more
or fewer than it should, when its cover changed, or when its face count reaches a power of two
(so a growing person is looked at again, amortised O(1) per face that joins); owner's
edits (merge, split, "not this person") always choose again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..album import Album
from ..domain import Face, Person, largest_first

log = logging.getLogger(__name__)


def telling(face: Face) -> tuple:
    """Sort key: the sharpest first (unmeasured counts as sharp), then the largest,
    then what a reindex keeps."""
    sharp = face.sharpness if face.sharpness is not None else 100.0
    return (-round(sharp, 6), *largest_first(face))


def choose(
    album: Album, person: Person, faces: Sequence[Face], current: Sequence[str] = ()
) -> list[str]:
    """Up to ``person_representatives`` of ``faces`` (the person's), best first: the
    cover (if it is one of them), the medoid, then spread by MMR (module docstring)."""
    s = album.settings
    by_id = {f.face_id: f for f in faces}
    if not by_id:
        return []
    ranked = sorted(by_id.values(), key=telling)
    known = [f for f in current if f in by_id]
    sample = list(dict.fromkeys([*known, *(f.face_id for f in ranked)]))
    sample = sample[: s.person_representatives_sample]
    inside = set(sample)
    sim: dict[tuple[str, str], float] = {}
    if len(sample) > 1:  # one call: a single index search where the engine can
        searched = album.collection.matches_many(sample, s.people_threshold)
        for face_id, hits in zip(sample, searched, strict=True):
            for hit in hits:
                if hit.face_id in inside and hit.face_id != face_id:
                    a, b = sorted((face_id, hit.face_id))
                    sim[(a, b)] = max(sim.get((a, b), 0.0), hit.similarity)

    def between(a: str, b: str) -> float:
        return sim.get((a, b) if a < b else (b, a), 0.0)

    others = max(len(sample) - 1, 1)
    central = {f: sum(between(f, g) for g in sample if g != f) / others for f in sample}
    chosen: list[str] = []
    if person.cover_face_id in by_id:
        chosen.append(person.cover_face_id)  # type: ignore[arg-type]
    typical = sorted(sample, key=lambda f: (-central[f], largest_first(by_id[f])))
    rank = {f: i for i, f in enumerate(typical)}
    pool = [f for f in typical[: (len(typical) + 1) // 2] if f not in chosen]  # central half
    rest = [f for f in typical if f not in pool and f not in chosen]  # if it runs out
    want = s.person_representatives
    while len(chosen) < want and (pool or rest):
        if not pool:
            pool, rest = rest, []
        best = max(
            pool,
            key=lambda f: (
                central[f] - max((between(f, c) for c in chosen), default=0.0),
                -rank[f],
            ),
        )
        chosen.append(best)
        pool.remove(best)
    return chosen[:want]


def stale(person: Person, live: Sequence[str], want: int) -> bool:
    """Whether ``person``'s representatives (``live``: those still its faces) should be
    chosen again (module docstring)."""
    n = person.face_count
    if not n:
        return bool(person.representatives)
    if list(live) != list(person.representatives) or len(live) != min(want, n):
        return True
    if person.cover_face_id and live[0] != person.cover_face_id:
        return True
    return n >= 2 * want and n & (n - 1) == 0


def refresh(album: Album, person_ids: Iterable[str | None], full: bool = False) -> None:
    """Choose these persons' representatives again where they are stale (every one
    with ``full``), and store them (``Catalog.set_representatives``, which keeps only
    faces that are the person's as it writes). Called after each change of persons'
    faces; a person gone is passed over."""
    ids = [p for p in dict.fromkeys(person_ids) if p]
    if not ids:
        return
    catalog, want = album.catalog, album.settings.person_representatives
    live = catalog.representatives(ids)
    for person_id in ids:
        person = catalog.get_person(person_id)
        if person is None:
            continue
        mine = live.get(person_id, [])
        if not full and not stale(person, mine, want):
            continue
        faces = catalog.person_faces(person_id) if person.face_count else []
        catalog.set_representatives(person_id, choose(album, person, faces, mine))


def refresh_quietly(album: Album, person_ids: Iterable[str | None], full: bool = False) -> None:
    """:func:`refresh` where a failure must not undo what was done (an import's
    placement, the owner's edit): logged; the next change of the person, or the next
    read without representatives, chooses them again."""
    try:
        refresh(album, person_ids, full)
    except Exception:
        log.warning("could not choose representative faces", exc_info=True)


def of(album: Album, persons: Sequence[Person]) -> dict[str, list[str]]:
    """The representatives of these persons, in one catalog read; a person with faces
    but none stored (its first read after the migration that added them, or a failed
    refresh) has them chosen now."""
    found = album.catalog.representatives([p.person_id for p in persons])
    missing = [p.person_id for p in persons if p.face_count and not found.get(p.person_id)]
    if missing:
        refresh_quietly(album, missing, full=True)
        found.update(album.catalog.representatives(missing))
    return found
