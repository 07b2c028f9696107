"""The narrow interfaces the core talks to. Each has a local adapter in
``facealbum.adapters`` and can be swapped for a scaled one (S3, PostgreSQL, an ANN
index, another queue) without the core noticing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

from .domain import Face, OwnerSession, Person, Picture, SetSummary, Stats, Upload

if TYPE_CHECKING:  # annotations only: light commands (stats) do not load numpy
    import numpy as np

Bucket = Literal["originals", "thumbnails", "incoming"]


@dataclass
class PersonRow:
    """A person as the people pages list it: its row (with the counts it keeps) and its
    cover, its first representative (the owner's chosen face leads those) if that is
    still its face, with the sha256 of the cover's picture (its thumbnail's key is
    made of it); None where the person has no such face stored."""

    person: Person
    cover: Face | None = None
    cover_sha256: str | None = None


@dataclass
class CatalogSnapshot:
    """A consistent copy of the catalog in a file, with what that copy refers to."""

    format: str  # "sqlite" | "pg_dump"
    file: Path
    pictures: list[tuple[str, str, str]]  # (image_id, sha256, original_key)
    upload_ids: list[str]


class BlobStore(Protocol):
    """Two buckets, as in the original design: a write to ``thumbnails`` never looks
    like a new upload to whatever watches ``originals``. A third, ``incoming``, holds
    accepted uploads until they are processed; nothing serves it to visitors.

    Large blobs move as streams (``put`` takes an open file, ``open`` returns one), so
    no process holds a 200 MB original in memory to store or serve it."""

    def put(self, bucket: Bucket, key: str, data: bytes | BinaryIO, content_type: str) -> None: ...
    def get(self, bucket: Bucket, key: str) -> bytes: ...
    def open(self, bucket: Bucket, key: str) -> BinaryIO:
        """A readable, seekable file; KeyError if there is no such blob."""
        ...

    def length(self, bucket: Bucket, key: str) -> int:
        """Size in bytes; KeyError if there is no such blob."""
        ...

    def exists(self, bucket: Bucket, key: str) -> bool: ...
    def delete(self, bucket: Bucket, key: str) -> None: ...
    def keys(self, bucket: Bucket) -> Iterator[str]: ...
    def size(self, bucket: Bucket) -> int: ...
    def free_bytes(self) -> int | None:
        """Space left where the blobs live; None where there is no such limit (S3)."""
        ...

    def open_version(self, bucket: Bucket, key: str) -> tuple[BinaryIO, str]:
        """``open``, with an opaque token naming the version of the object that was read
        (S3: its version id in a versioned bucket, else its ETag); KeyError if none."""
        ...

    def delete_version(self, bucket: Bucket, key: str, version: str) -> bool:
        """Delete that version of the object only (a token from ``open_version``): a
        newer object written under the key meanwhile stays. False if there was nothing
        of that version left to delete."""
        ...


class Catalog(Protocol):
    def add_picture(self, picture: Picture, create_set: bool = True) -> str:
        """Store a picture with its faces in one transaction; create its set (unless
        told not to) and make it the featured picture if the set has none. Returns
        "added", "duplicate" (the same content, or the same ``pixel_sha256``, is in the
        set already: a uniqueness the catalog enforces, so of two writers of one photo at
        once one adds it), "name_taken" (another picture has that name) or "no_set" (the
        set is missing and create_set is off)."""
        ...

    def add_pictures(self, pictures: Sequence[Picture]) -> None:
        """:meth:`add_picture` for many new pictures (a bulk load: bench/scale.py's
        synthetic albums), sets created as needed; BadInput if a name or content is
        taken (SQL: in one transaction, so then none is added)."""
        ...

    def find_by_hash(self, set_name: str, sha256: str) -> Picture | None: ...
    def find_by_pixels(self, set_name: str, pixel_sha256: str) -> Picture | None:
        """The set's picture whose decoded pixels hash to ``pixel_sha256`` (see
        ``ingest.pixel_sha256``), if any; pictures stored without one never match."""
        ...

    def set_pixel_sha256(self, image_id: str, pixel_sha256: str) -> bool:
        """Give a picture its pixel hash, or a new one: reindex does, for pictures stored
        before pixel hashes or decoded at another size. False, and nothing changed, if
        the picture is gone or another picture of its set has these pixels (an old
        duplicate: both stay as they are)."""
        ...

    def set_capture(self, picture: Picture) -> bool:
        """Store the picture's capture fields (``domain.CAPTURE_FIELDS``: when and where
        it was taken) as given, None clearing one; its other fields are not written.
        ``reindex --metadata`` does, for pictures stored before them. False if the
        picture is gone."""
        ...

    def hashes_in_set(self, set_name: str) -> list[str]: ...
    def get_picture(self, image_id: str) -> Picture | None: ...
    def get_pictures(self, image_ids: Sequence[str]) -> dict[str, Picture]: ...
    def get_face(self, face_id: str) -> Face | None: ...
    def faces_of(self, face_ids: Sequence[str]) -> dict[str, str]:
        """face id -> image id, for those of the ids that some picture lists."""
        ...

    def face_refs(self, face_ids: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        """face id -> (image id, sharpness), for those of the ids some picture lists:
        what a search needs of each hit, in one read."""
        ...

    def face_people(
        self, face_ids: Sequence[str]
    ) -> dict[str, tuple[str, float | None, str | None]]:
        """face id -> (image id, sharpness, person id or None), for those of the ids
        some picture lists: what placing a new face needs of each look-alike, in one
        read (not each look-alike's picture with all its faces)."""
        ...

    def picture_refs(self, image_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """image id -> (sha256, set name), for those of the ids that exist, without
        their faces: what listing a photo stored in several sets once needs of every
        picture of a search's result, in one batched read."""
        ...

    def content_image_ids(self, shas: Sequence[str]) -> dict[str, list[str]]:
        """sha256 -> the ids of the pictures with that content, in any set, for those of
        the hashes some picture has: a photo's copies, so a page of a person's pictures
        lists a photo once across pages (one read per page, O(the page's copies))."""
        ...

    def list_sets(self) -> list[SetSummary]: ...
    def get_set(self, name: str) -> SetSummary | None: ...
    def sets_page(
        self, sort: str, limit: int, after: str | None = None
    ) -> tuple[list[SetSummary], str | None]:
        """Up to ``limit`` sets in ``sort`` order ("newest" first, or by "name" casefolded)
        after the cursor ``after`` (paging.py; BadInput if it is not one), each with its
        stored count and cover (featured picture, without faces) read with it; and the
        cursor of the next page, None after the last. O(limit) whatever the album's size."""
        ...

    def list_pictures(self, set_name: str, limit: int, offset: int) -> list[Picture]: ...
    def pictures_page(
        self, set_name: str, limit: int, after: str | None = None, faces: bool = True
    ) -> tuple[list[Picture], str | None]:
        """Up to ``limit`` pictures of the set, with their faces, in name order after the
        cursor ``after``; and the next page's cursor (None after the last). O(limit) on
        the (set, name) key however deep the page. ``faces=False``: a catalog that keeps
        faces apart (SQL) may leave them out (a page of ids reads no faces)."""
        ...

    def neighbours(self, image_id: str) -> tuple[str | None, str | None]:
        """(previous, next) picture of the picture's set in name order (what ← / → step
        to), None at either end or if there is no such picture: two reads by key."""
        ...

    def picture_ids(self, set_name: str) -> list[str]: ...
    def set_featured(self, set_name: str, image_id: str) -> None: ...
    def replace_faces(self, image_id: str, faces: list[Face], engine_tag: str) -> list[str] | None:
        """Swap a picture's faces in one transaction: the ids of those it replaced,
        None if the picture is gone."""
        ...

    def replace_faces_keeping_people(
        self, image_id: str, faces: list[Face], engine_tag: str
    ) -> list[str] | None:
        """:meth:`replace_faces` for a picture analysed again, with the owner's work
        carried over in the same transaction: each new face that is one of the replaced
        faces (``domain.same_faces``: boxes overlapping by an IoU ≥ 0.5) takes its person,
        whether the owner put it there, its "not this person" answers and the cover of
        its person if it was that. The catalog pairs the faces it replaces, so nothing
        changed meanwhile is missed. Doing it again with the same (or newer) faces ends
        in the same state."""
        ...

    def mark_stale(self, set_name: str | None) -> None: ...
    def pictures_needing(self, engine_tag: str, set_name: str | None) -> list[str]: ...
    def stats(self) -> Stats:
        """The album's counts (sets, pictures, faces, bytes of originals: each content
        once) from counters kept as rows change: O(1). ``derived_bytes`` is 0 (only the
        blob store knows it)."""
        ...

    def recount_stats(self) -> None:
        """Count the sets' pictures and the album's counters again from the rows: the
        repair (``check --repair``) for counters a crash or a hand edit left wrong."""
        ...

    # backups: the engine's own consistent copy (SQLite backup API, pg_dump)
    def snapshot(self, dest_dir: Path) -> CatalogSnapshot: ...
    def restore_snapshot(self, fmt: str, path: Path) -> None:
        """Replace this (empty) catalog with a snapshot, then migrate it to the newest
        schema."""
        ...

    # owner's edits
    def create_set(self, name: str) -> bool: ...
    def rename_set(self, old: str, new: str) -> None: ...
    def rename_set_step(self, old: str, new: str, limit: int) -> bool:
        """One step of a set's rename (the set job's): up to ``limit`` of its pictures
        move to the new name; True once the rename is complete (the old name gone). The
        first step makes the new set (which the job hides until done; an existing set
        of that name is taken for the one this rename made); run again after an
        interruption it goes on. SQL: one transaction of ``limit`` pictures a step;
        DynamoDB: the whole rename at once (a transaction per picture, resumable).
        NotFound if neither a set ``old`` is left nor is this its last step."""
        ...
    def delete_set(self, name: str) -> list[Picture]:
        """The pictures deleted, with their faces (which the collection must forget)."""
        ...

    def delete_pictures(self, image_ids: Sequence[str]) -> list[Picture]:
        """A batch of pictures (at most 500 ids) deleted, each with its faces and counts
        as ``delete_picture`` does; those deleted, with their faces (ids already gone are
        skipped, so doing it twice is harmless). A set's featured picture is left as it
        is: the set-deleting job (set_jobs.py) that uses this deletes the set after."""
        ...

    def next_name_number(self, set_name: str, name: str) -> int:
        """The next number for a picture whose ``name`` is taken in the set ("IMG (n).JPG"):
        2, 3, … from a counter per (set, name), one atomic write whatever the clashes so
        far, two writers never getting the same number. SQL: NotFound if there is no set
        (DynamoDB counts anyway; the add that follows says "no_set")."""
        ...

    def rename_picture(self, image_id: str, name: str) -> None: ...
    def delete_picture(self, image_id: str) -> Picture | None:
        """The picture deleted, with its faces; None if there was none."""
        ...

    def sha_in_use(self, sha256: str) -> bool: ...

    def set_share_location(self, set_name: str, share: bool) -> None: ...
    def shares_location(self, sha256: str) -> bool: ...

    # uploads through the web
    def add_upload(self, upload: Upload) -> None:
        """Record a queued upload; an id recorded already is left as it is (a
        conditional write: two deliveries of one event record it once)."""
        ...

    def claim_upload(self, upload_id: str, lease_seconds: float) -> Upload | None: ...
    def renew_upload(self, upload_id: str, lease_seconds: float) -> None: ...
    def finish_upload(self, upload: Upload) -> None: ...
    def requeue_stuck_uploads(self, unclaimed_after: float) -> list[Upload]: ...
    def queued_uploads(self) -> list[Upload]: ...
    def upload_ids(self) -> list[str]: ...
    def get_uploads(self, upload_ids: Sequence[str]) -> list[Upload]: ...

    # a lease-lock per content: storing a picture vs. deleting its content's last use
    def lock_content(self, sha256: str, holder: str, seconds: float) -> bool: ...
    def unlock_content(self, sha256: str, holder: str) -> None: ...

    # the album's background jobs (people.regroup): a small JSON state per job name
    def get_job(self, name: str) -> tuple[dict, int] | None:
        """(state, version) of the job, or None if it never ran."""
        ...

    def put_job(self, name: str, state: dict, version: int) -> bool:
        """Write the job's state if its version is still ``version`` (0: not written
        yet); False if another writer changed it first (one conditional write)."""
        ...

    # people: faces grouped into persons; the owner's decisions are marked as such so
    # that automatic grouping never undoes them
    def add_person(self, person: Person) -> None: ...
    def get_person(self, person_id: str) -> Person | None:
        """With its face and picture counts."""
        ...

    def list_people(self) -> list[Person]:
        """Every person with its counts, oldest first."""
        ...

    def people_page(
        self, after: tuple[int, str] | None, limit: int, hidden: bool
    ) -> list[PersonRow]:
        """Up to ``limit`` persons with at least one picture, most pictured first
        (``picture_count`` descending, then ``person_id`` descending), strictly after
        the key ``after`` = (picture_count, person_id) of the last one of the previous
        page; hidden ones only with ``hidden``. Each with its cover read in the same
        query (SQL) or O(limit) batched reads (DynamoDB), by an index: O(limit) rows
        whatever the number of persons."""
        ...

    def face_persons(self, image_ids: Sequence[str]) -> dict[str, set[str]]:
        """image id -> the persons of its faces (an empty set where they are no one's),
        for those of the ids that exist (a picture without faces may be left out): what
        a search by people checks candidates against, reading these pictures' faces
        alone."""
        ...

    def images_with_person(self, person_id: str, image_ids: Sequence[str]) -> set[str]:
        """Those of ``image_ids`` that the person has a face in: what a
        search for ALL or ONLY of several people keeps of its candidates, one seek each
        in the index of the person's faces by picture (never the pictures' other faces).
        """
        ...

    def named_people(self) -> list[Person]:
        """Every person with a name (hidden ones too), by an index of the named: what
        "Who is this?" offers and resolves a typed name against, O(named persons)
        whatever the number of unnamed ones."""
        ...

    def person_image_ids(self, person_id: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` ids of the pictures the person is in (each once), in id order,
        strictly after ``after``: a person's pictures page by page, by an index of the
        person's faces by picture (O(limit) rows, never all of the person's faces)."""
        ...

    def update_person(self, person: Person) -> None:
        """Writes name, hidden and cover; NotFound if there is no such person."""
        ...

    def delete_person(self, person_id: str) -> None:
        """Its faces become unassigned (and free for automatic grouping again); a face
        placed into it concurrently is let go too, never left in a person that is gone."""
        ...

    def delete_unused_person(self, person_id: str) -> bool:
        """Delete the person only if it has no name and no faces, checked by the
        deleting write itself (what automatic grouping may delete: a person the owner
        named, or that a face joined, since it was read stays). True if deleted."""
        ...

    def assign_faces(
        self,
        assignments: dict[str, str | None],
        by_owner: bool,
        expected: dict[str, str | None] | None = None,
    ) -> int:
        """Set faces' persons (None: unassigned), each face's change atomic (its person
        and the persons' memberships and counts move together). An automatic assignment
        (not ``by_owner``) leaves alone every face the owner placed; a face is placed
        only into a person that exists; a face in ``expected`` changes only if its
        person is still the one given (what the caller read). Returns how many faces
        changed."""
        ...

    def face_assignments(self) -> dict[str, tuple[str | None, bool]]:
        """Every face: (person or None, whether the owner placed it)."""
        ...

    def person_faces(self, person_id: str) -> list[Face]: ...
    def reject_face(self, face_id: str, person_id: str) -> None:
        """ "Not this person": remembered, so grouping never puts the face there again."""
        ...

    def rejections(self) -> set[tuple[str, str]]: ...
    def rejections_of(self, face_ids: Collection[str]) -> set[tuple[str, str]]:
        """(face id, person id) "not this person" answers of these faces only: what
        placing a photo's faces needs, in reads of O(these faces), never all of them."""
        ...


    def hidden_persons(self, person_ids: Collection[str]) -> set[str]:
        """Which of these persons the owner hid: what a visitor's answer must not name.
        One batched read of just these persons (a page's faces'), never all of them."""
        ...

    def person_labels(self, person_ids: Collection[str]) -> dict[str, tuple[str | None, bool]]:
        """These persons' (name, hidden), of those that exist: what an answer's faces
        show of their persons. One batched read, as ``hidden_persons``."""
        ...

    def representatives(self, person_ids: Collection[str]) -> dict[str, list[str]]:
        """These persons' (of those that exist) representative face ids, best first
        (people/representatives.py), leaving out any face that is no longer the
        person's: what person-aware search and the people pages read instead of the
        persons' faces. One batched read of the persons and of those faces."""
        ...

    def recount_people(self, person_ids: Collection[str]) -> None:
        """Count these persons' faces and pictures again from the faces: the catalog
        does it itself after every change of a person's faces; this is the repair
        (``check --repair``) for a process killed between a change and its count."""
        ...

    def set_representatives(self, person_id: str, face_ids: Sequence[str]) -> list[str]:
        """Store the person's representatives: those of ``face_ids`` that are its faces
        as it writes, in that order (returned). Nothing if the person is gone. Two
        writers each store a list right when written; the face and picture counts are
        the catalog's own, recounted with every change of the person's faces."""
        ...

    # the owner's sessions and failed sign-ins, shared by every server process
    def add_session(self, session: OwnerSession) -> None: ...
    def get_session(self, session_id: str) -> OwnerSession | None: ...
    def touch_session(self, session_id: str, at: float) -> None: ...
    def list_sessions(self) -> list[OwnerSession]: ...
    def delete_sessions(
        self, session_id: str | None = None, keep_tag: str | None = None
    ) -> int: ...
    def add_signin_failure(self, client: str, at: float) -> None: ...
    def signin_failures(self, client: str, since: float) -> list[float]: ...


@dataclass
class DetectedFace:
    """A face in pixel coordinates of the analysed image, with its unit descriptor."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float
    embedding: np.ndarray
    sharpness: float | None = None  # 0-100 as the descriptor saw it (see quality.py)
    # where the engine found the eyes and nose: Rekognition's landmark names (eyeLeft,
    # leftEyeLeft…, "left" as seen in the image) -> (x, y) in pixels
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)


class FaceEngine(Protocol):
    """What the local faces port (adapters.faces_local) runs on: a detector and a
    descriptor. Settings that change its output are part of Settings.engine_tag,
    stored per picture, so that reindex knows which pictures an engine change touches."""

    def analyze(self, rgb: np.ndarray) -> list[DetectedFace]: ...


@dataclass
class Hit:
    face_id: str
    image_id: str
    similarity: float


class FaceIndex(Protocol):
    """The local faces port's vector index per collection (exact numpy today; an ANN
    index would slot in here)."""

    def add(
        self, face_ids: Sequence[str], image_ids: Sequence[str], vectors: np.ndarray
    ) -> None: ...

    def fresh(self) -> FaceIndex:
        """A new, empty index of the same kind: a reload fills one aside and swaps it in,
        so searches meanwhile use the old one instead of a half-filled one."""
        ...

    def clear(self) -> None: ...
    def __len__(self) -> int: ...

    def search(self, vector: np.ndarray, min_similarity: float) -> list[Hit]:
        """Every face at or above min_similarity (0-100), best first: no cap, since the
        core pages over pictures, not faces."""
        ...


class RowFaceIndex(Protocol):
    """The local faces port's index as it is now (adapters/face_index.py): rows named by
    the catalog's integer ``seq`` instead of id strings, changed in place, searched for
    the best ``k`` (any ``k``: pages go as deep as the caller asks), saved to a file.
    Cosines, not percentages; ``FaceIndex``'s exact scan is the reference in tests."""

    def __len__(self) -> int: ...
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids in place (ids it lacks are ignored); how many went."""
        ...

    def top(self, vector: np.ndarray, k: int, min_cosine: float) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the best ``k`` rows at or above ``min_cosine``, best first."""
        ...

    def ranked(
        self,
        vector: np.ndarray,
        k: int,
        min_cosine: float,
        exact: Callable[[np.ndarray], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """``top`` re-ranked with the float32 descriptors ``exact(ids)`` gives."""
        ...

    def above(self, vector: np.ndarray, min_cosine: float) -> np.ndarray:
        """Ids of every row at or above ``min_cosine``, best first."""
        ...

    def save(self, path: Path, state: dict) -> None: ...


class JobQueue(Protocol):
    def enqueue(self, task: str, /, **kwargs: object) -> str: ...
    def register(self, name: str, fn: Callable[..., object]) -> None: ...
    def run_pending(self, limit: int | None = None) -> int: ...
    def pending(self) -> int: ...
