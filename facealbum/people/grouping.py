"""People: the album's faces grouped into persons, from the faces port alone.

Every engine answers "which faces look like this one, and how much" (SearchFaces), so
people are found on that similarity graph (see clustering.py): a full re-grouping
(:func:`recluster`) clusters it by average linkage, and each new face is placed as it
arrives (:func:`place_faces`) with the person whose faces are on average most like it,
as the regrouping's average linkage would. After every batch (an import, uploads, an
S3-event batch, a migration) a full regrouping runs by itself (regroup.py).

Two faces of one photo are two people, in both. What the owner decided always stands:
a face the owner put in a person keeps its place and pulls its look-alikes along; a
face the owner said is "not this person" never goes back there; a named person keeps
its name (and its id) through any re-grouping, and is never deleted for having lost its
faces. Faces too small to judge stay unassigned.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from .. import collection
from ..album import Album
from ..collection import Hit
from ..domain import Face, Person, Picture
from .clustering import average_linkage
from .representatives import refresh_quietly
from .scoring import as_norm, cohort_of
from .users_mirror import mirror_joined_quietly, mirror_quietly

log = logging.getLogger(__name__)
# a face pair the search did not return (below the cut) counts this far under the cut in
# a person's average similarity (similarity points, Rekognition's 0-100 scale)
MISSING_BELOW = 10.0
# faces a regrouping searches at once (one index search with them as a matrix where
# the engine can): few calls, while their hits (up to MaxFaces each) stay small
SEARCH_CHUNK = 64


@dataclass
class GroupingReport:
    faces: int = 0  # judged
    too_small: int = 0  # left unassigned
    people: int = 0
    changed: int = 0  # faces whose person changed
    seconds: float = 0.0


def judgeable(face: Face, picture: Picture, min_side: int) -> bool:
    """Big enough to tell who it is: its box's shorter side, in the picture's pixels."""
    side = min(face.box.width * picture.width, face.box.height * picture.height)
    return side >= min_side


def recluster(
    album: Album,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[], None] = lambda: None,
) -> GroupingReport:
    """Group every judgeable face again, keeping the owner's decisions and the persons
    that the new groups mostly were (so ids, names and covers stay)."""
    started, began = time.perf_counter(), time.time()
    s, catalog = album.settings, album.catalog
    report = GroupingReport()
    faces: list[str] = []
    apart: dict[str, set[str]] = {}  # the other faces of the same photo (small ones too)
    sharp: dict[str, float | None] = {}
    for picture in album.all_pictures():
        mine: list[str] = []
        for face in picture.faces:
            if judgeable(face, picture, s.person_min_face_px):
                mine.append(face.face_id)
                sharp[face.face_id] = face.sharpness
            else:
                report.too_small += 1
        faces += mine
        for face_id in mine:  # a too small face the owner placed keeps its person
            apart[face_id] = {f.face_id for f in picture.faces} - {face_id}
    current = catalog.face_assignments()
    refused = catalog.rejections()
    on_start(len(faces))
    judged = set(faces)
    floor = s.people_edge_floor
    found: dict[str, list] = {}  # every face's search, at the floor
    for i in range(0, len(faces), SEARCH_CHUNK):  # a few index searches, not one a face
        chunk = faces[i : i + SEARCH_CHUNK]
        for face_id, hits in zip(chunk, album.collection.matches_many(chunk, floor), strict=True):
            found[face_id] = hits
            on_progress()
    edges, missing, cut = _scored_edges(album, found, sharp, judged)
    fixed: dict[str, Hashable] = {
        f: ("person", p) for f, (p, owned) in current.items() if owned and p and f in judged
    }
    refused_labels: set[tuple[str, Hashable]] = {(f, ("person", p)) for f, p in refused}
    labels = average_linkage(
        faces, edges, cut, missing, fixed=fixed, refused=refused_labels, apart=apart
    )
    labels = _outvoted(labels, fixed, current)
    people = {p.person_id: p for p in catalog.list_people()}
    persons = _persons_for(labels, current, refused, people, apart)
    wanted: dict[str, str | None] = {f: persons[labels[f]] for f in faces}
    for face_id in faces:
        if (face_id, wanted[face_id]) in refused:  # "not this person": someone else
            # the person it has, unless refused too or another face of its photo is
            # there (else two faces of one photo stay one person); else one of its own
            kept = current.get(face_id, (None, False))[0]
            taken = {
                wanted[f] if f in wanted else current.get(f, (None, False))[0]
                for f in apart.get(face_id, ())
            }
            usable = kept and (face_id, kept) not in refused and kept not in taken
            wanted[face_id] = kept if usable else str(uuid.uuid4())
    for face_id, (_, owned) in current.items():
        if face_id not in judged and not owned:
            wanted[face_id] = None
    now = time.time()
    made = set(wanted.values()) - set(people) - {None}
    for person_id in made:
        catalog.add_person(Person(person_id, created_at=now))  # type: ignore[arg-type]
    # each write conditional on the person the face had when read: a placement made
    # while this ran (a new photo's face, or the owner's) stands
    read = {f: current.get(f, (None, False))[0] for f in wanted}
    report.changed = catalog.assign_faces(wanted, by_owner=False, expected=read)
    touched: set[str | None] = set()  # the persons a face left or joined
    for f, after in wanted.items():
        before = current.get(f, (None, False))[0]
        if after != before:
            touched |= {after, before}
    # unnamed persons left without faces go, each checked as it is deleted (the owner
    # may name one, or put a face in one, meanwhile); not those made since this began
    # (a placement's or the owner's split's new person, its face on the way)
    for left in catalog.list_people():
        settled = left.created_at < began or left.person_id in made
        empty = left.face_count == 0 and left.name is None and settled
        if empty and catalog.delete_unused_person(left.person_id):
            touched.add(left.person_id)
    mirror_quietly(album, touched)  # their users follow
    refresh_quietly(album, touched)  # and their representatives
    report.faces = len(faces)
    report.people = len({p for p in wanted.values() if p})
    report.seconds = time.perf_counter() - started
    return report


def _scored_edges(
    album: Album,
    found: dict[str, list[Hit]],
    sharp: dict[str, float | None],
    judged: set[str],
) -> tuple[list[tuple[str, str, float]], float, float]:
    """(edges, the score of a pair the searches did not return, the cut) for average
    linkage, by ``people_score``: "similarity", each pair's similarity less the quality
    rule's raise, cut at ``people_linkage_cut``; or "as-norm", each pair's AS-norm score
    (scoring.py, every face's cohort from its own search), cut at ``people_cohort_cut``;
    "auto", AS-norm from ``people_cohort_min_faces`` judged faces on.
    Average linkage needs the pairs below the cut too (they pull a group's mean down),
    hence searches at ``people_edge_floor``."""
    s, rule = album.settings, album.quality
    edges = []
    score = s.people_score
    if score == "auto":
        score = "as-norm" if len(judged) >= s.people_cohort_min_faces else "similarity"
    if score == "as-norm":
        cohorts = {
            f: cohort_of([h.similarity for h in hits], s.people_edge_floor)
            for f, hits in found.items()
        }
        for f, hits in found.items():
            edges += [
                (f, h.face_id, as_norm(h.similarity, cohorts[f], cohorts[h.face_id]))
                for h in hits
                if h.face_id in judged and h.face_id in cohorts
            ]
        lowest = min((w for _, _, w in edges), default=0.0)
        return edges, min(0.0, lowest), s.people_cohort_cut
    for f, hits in found.items():
        edges += [
            (f, h.face_id, h.similarity - rule.raise_for(sharp[f], sharp.get(h.face_id)))
            for h in hits
            if h.face_id in judged
        ]
    return edges, 0.0, s.people_linkage_cut


def _outvoted(
    labels: dict[str, Hashable],
    fixed: dict[str, Hashable],
    current: dict[str, tuple[str | None, bool]],
) -> dict[str, Hashable]:
    """The owner's faces pull their look-alikes along only where they outweigh them:
    in a group that holds the owner's faces of a person, the other faces follow those
    when more of them were already another person than the owner placed (the owner
    moved one face of a person away, not the person). They become a group of their
    own, which the persons' votes then place (the owner's faces stay where put)."""
    members: dict[Hashable, list[str]] = defaultdict(list)
    for face_id, label in labels.items():
        members[label].append(face_id)
    out = dict(labels)
    for label, faces in members.items():
        if not (isinstance(label, tuple) and label[0] == "person"):
            continue
        owned = [f for f in faces if f in fixed]
        votes = Counter(
            p for f in faces if f not in fixed and (p := current.get(f, (None, False))[0])
        )
        top = votes.most_common(1)
        if top and top[0][0] != label[1] and top[0][1] > len(owned):
            for f in faces:
                if f not in fixed:
                    out[f] = ("outvoted", label[1])
    return out


def _persons_for(
    labels: dict[str, Hashable],
    current: dict[str, tuple[str | None, bool]],
    refused: set[tuple[str, str]],
    people: dict[str, Person],
    apart: dict[str, set[str]],
) -> dict[Hashable, str]:
    """A person for each cluster: the owner's where the owner placed faces; else the
    person most of the cluster's faces had, largest clusters choosing first (so a
    person is not split off under a new id); else a new one.

    A cluster of the owner's may hold only the faces the owner placed (the rest of the
    person's faces need not look like them): the largest other cluster that was mostly
    that person stays it too, unless it shares a photo with the owner's faces there,
    so that placing one face by hand does not take the name from the others."""
    members: dict[Hashable, list[str]] = defaultdict(list)
    for face_id, label in labels.items():
        members[label].append(face_id)
    out: dict[Hashable, str] = {}
    taken: set[str] = set()
    owners: dict[str, set[str]] = defaultdict(set)  # person -> the faces the owner put
    for label, faces in members.items():  # there: its owner's cluster
        if isinstance(label, tuple) and label[0] == "person":
            out[label] = label[1]
            owners[label[1]] |= set(faces)
    for f, (p, owned) in current.items():  # and those too small to judge
        if owned and p and f not in labels:
            owners[p].add(f)
    for label, faces in sorted(members.items(), key=lambda kv: -len(kv[1])):
        if label in out:
            continue
        votes = Counter(p for f in faces if (p := current.get(f, (None, False))[0]))
        for person, _ in votes.most_common():
            beside = owners.get(person, set())
            if beside and any(apart.get(f, set()) & beside for f in faces):
                continue  # one photo, two people
            if person not in taken and person in people:
                out[label] = person
                taken.add(person)
                break
        else:
            out[label] = str(uuid.uuid4())
    return out


def place_faces(
    album: Album,
    picture: Picture,
    only: set[str] | None = None,
    retry: bool = True,
    follow: bool = True,
) -> dict[str, str]:
    """Place a new picture's faces (or ``only`` some of them) where a full regrouping
    would: each goes to the person whose faces are on AVERAGE most like it (average
    linkage, as recluster groups), if that average is at the grouping cut
    (``people_threshold``) or above; else it starts a person of its own. The average
    runs over all the person's faces: those the search did not return count as
    :data:`MISSING_BELOW` under the cut (as alike as the last one returned, if the
    search returned all it may: a person larger than MaxFaces), so one look-alike
    among many faces of a person is not enough, while a face like most of them is.
    Rejections are respected and the picture's other people excluded, as in recluster.

    Cost per face, whatever the album's size: one SearchFaces of at most
    ``people_place_max_faces`` look-alikes (beyond them a person's faces count as alike
    as the last one returned), the catalog rows of those look-alikes and of their
    persons, and one write per face placed; the photo's faces are searched in one call
    (one index search where the engine can) and their look-alikes' rows read at once.
    Then (``follow``) the persons' users and representatives follow
    (:func:`follow_placements`); a batch passes False and follows once for all its
    photos (:class:`Placements`). Returns face id -> person."""
    s, catalog = album.settings, album.catalog
    placed: dict[str, str] = {}
    faces = [
        f
        for f in picture.faces
        if judgeable(f, picture, s.person_min_face_px) and (only is None or f.face_id in only)
    ]
    if not faces:
        return placed
    refused = catalog.rejections_of([f.face_id for f in faces])
    others = {  # one photo, many people
        f.person_id for f in picture.faces if f.person_id and f.face_id not in (only or ())
    }
    rule = album.quality
    cut = s.people_threshold
    sizes: dict[str, int] = {}  # person -> its faces, read once per candidate
    most = min(s.people_place_max_faces, collection.MAX_SEARCH)
    # the photo's faces searched at once, their look-alikes' rows and persons read at
    # once: a fixed number of calls per photo, whatever its faces (placing one face
    # does not change what the next one's search finds)
    searched = album.collection.matches_many([f.face_id for f in faces], cut, most)
    refs = catalog.face_people(list({h.face_id for hits in searched for h in hits}))
    assigned = {f: ref[2] for f, ref in refs.items() if ref[2] is not None}  # persons in
    for face, hits in zip(faces, searched, strict=True):
        # faces the search did not return are under the cut, unless it returned all it
        # may (MaxFaces): then they are only known to be no more alike than its last
        unlike = cut - MISSING_BELOW
        if hits and len(hits) >= most:
            unlike = max(unlike, min(h.similarity for h in hits))
        hits = [
            h
            for h in hits
            if h.face_id in refs
            and rule.accepts(h.similarity, cut, face.sharpness, refs[h.face_id][1])
        ]
        total: dict[str, float] = defaultdict(float)
        found: dict[str, int] = defaultdict(int)
        for h in hits:
            person = assigned.get(h.face_id)
            if person and (face.face_id, person) not in refused and person not in others:
                total[person] += h.similarity
                found[person] += 1
        best: tuple[float, str] | None = None
        for person in total:
            if person not in sizes:
                known = catalog.get_person(person)
                sizes[person] = known.face_count if known else found[person]
            missing = max(0, sizes[person] - found[person])
            mean = (total[person] + unlike * missing) / (found[person] + missing)
            if mean >= cut and (best is None or (mean, person) > best):
                best = (mean, person)
        if best is not None:
            person = best[1]
        else:
            person = str(uuid.uuid4())
            catalog.add_person(Person(person, created_at=time.time()))
        placed[face.face_id] = person
        sizes[person] = sizes.get(person, 0) + 1
        others.add(person)
    # each placement is conditional on its person existing (and on the face's person
    # being the one read): a person merged away meanwhile leaves its face unplaced, and
    # the face is placed again with what the persons are now
    read = {f.face_id: f.person_id for f in faces}
    changed = catalog.assign_faces(dict(placed), by_owner=False, expected=read)  # type: ignore[arg-type]
    # every face placed: each one's person existed as it went in, nothing to look up
    missed: set[str] = set()
    if changed != len(placed):
        gone = {p for p in set(placed.values()) if catalog.get_person(p) is None}
        missed = {f for f, p in placed.items() if p in gone}
    if missed and retry:
        again = catalog.get_picture(picture.image_id)
        if again is not None:
            still = {f.face_id for f in again.faces if f.face_id in missed and not f.person_id}
            placed.update(
                place_faces(album, again, still, retry=False, follow=False) if still else {}
            )
    if follow:
        follow_placements(album, placed)
    return placed


def follow_placements(
    album: Album, placed: dict[str, str], representatives: bool = True
) -> None:
    """After faces were placed (face id -> person): the persons' Rekognition users
    take the new faces (users_mirror.mirror_joined: no re-reading of whole persons) and
    (``representatives``) their representatives are chosen again where stale. Never
    raises (see both)."""
    joined: dict[str, list[str]] = defaultdict(list)
    for face_id, person_id in placed.items():
        joined[person_id].append(face_id)
    mirror_joined_quietly(album, joined)
    if representatives:
        refresh_quietly(album, joined)


class Placements:
    """The placements of a batch of photos (an import, an S3 event's records), whose
    persons follow (:func:`follow_placements`) once every ``every`` photos (or, given
    ``seconds``, once that long has passed since the last time) and at :meth:`flush`,
    not once per photo: a person that gains ten faces in the batch has its
    representatives chosen once, not ten times.

    With ``representatives_at_end`` (an import) only the users follow as it goes; the
    representatives of every person the batch changed (up to
    ``person_representatives_sample`` searches each) are chosen once, by
    :meth:`refresh_representatives` at its end, after its regrouping: O(changed
    people), however long the import and however often it followed. Meanwhile a
    person keeps the representatives it had (still its faces), and a new one has them
    chosen by its first read (representatives.of)."""

    def __init__(
        self,
        album: Album,
        every: int = 32,
        seconds: float | None = None,
        representatives_at_end: bool = False,
    ):
        self.album, self.every, self.seconds = album, every, seconds
        self.at_end = representatives_at_end
        self.placed: dict[str, str] = {}
        self.changed: set[str] = set()  # persons whose representatives wait for the end
        self.photos = 0
        self.since = time.monotonic()

    def add(self, placed: dict[str, str]) -> None:
        self.placed.update(placed)
        self.photos += 1
        if self.seconds is not None:
            due = time.monotonic() - self.since >= self.seconds
        else:
            due = self.photos >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        placed, self.placed, self.photos = self.placed, {}, 0
        self.since = time.monotonic()
        if placed:
            follow_placements(self.album, placed, representatives=not self.at_end)
            if self.at_end:
                self.changed.update(placed.values())

    def refresh_representatives(self) -> None:
        """The representatives of the persons the batch changed, where stale (those a
        regrouping chose again just now are not): once each. Never raises."""
        changed, self.changed = self.changed, set()
        refresh_quietly(self.album, sorted(changed))


def swap_faces(album: Album, picture: Picture, faces: list[Face]) -> list[str] | None:
    """Put a re-analysed picture's new faces (indexed already) in place of its old ones
    (``reindex``, ``faces reindex``, ``check --repair``), the owner's work kept: each
    new face that is an old one (same picture, boxes overlapping by IoU >= 0.5) takes
    its person, owner flag, "not this person" answers and cover, in the catalog's one
    transaction (Catalog.replace_faces_keeping_people). Then the persons' users follow,
    the old faces leave the collection, and faces found only now are placed as an
    import's are. Returns the ids replaced, or None if the picture is gone (its new
    faces forgotten).

    A process killed before the transaction leaves the picture as it was (and new
    faces no picture lists, which ``check --repair`` deletes); after it, the people are
    right, and what follows is redone by ``people mirror`` / ``check --repair`` /
    ``people recluster`` (a reindex ends with a full mirror). So a re-run converges
    with nothing lost."""
    replaced = album.catalog.replace_faces_keeping_people(
        picture.image_id, faces, album.settings.engine_tag
    )
    if replaced is None:
        album.collection.forget([f.face_id for f in faces])
        return None
    now = album.catalog.get_picture(picture.image_id)
    after = now.faces if now else []
    # users first: a face still associated with a user may not be deletable
    mirror_quietly(album, {f.person_id for f in (*picture.faces, *after)})
    refresh_quietly(album, {f.person_id for f in (*picture.faces, *after)})
    album.collection.forget(replaced)
    new = {f.face_id for f in after if f.person_id is None}
    if now is not None and new:
        try:
            place_faces(album, now, only=new)
        except Exception:  # as on import: the next recluster places them
            log.warning("could not place the new faces of %s", picture.name, exc_info=True)
    return replaced


def persons_of(catalog, wanted: dict[str, str]) -> dict[str, str]:
    """The persons of those faces (face id -> its picture's id, as the caller read it)
    that have one, read with their pictures."""
    pictures = catalog.get_pictures(list(set(wanted.values())))
    return {
        f.face_id: f.person_id
        for p in pictures.values()
        for f in p.faces
        if f.face_id in wanted and f.person_id is not None
    }
