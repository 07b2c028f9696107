"""The faces port on this machine: dlib finds and describes faces, collection rows in
the catalog keep them (with their descriptors), an index per collection
(face_index.py) searches them.

Indexes follow the rows: new faces by sequence number, deleted ones through the
deletion feed (``collection_face_deletions``), each removed in place. Inserts and
deletions hold the collection row's lock until they commit (it is also where the face
count lives), so on PostgreSQL sequence numbers become visible in order. An index is
saved under ``face_index_dir`` now and then with its positions in both, so a process
starting loads it and reads only what changed since.
"""

from __future__ import annotations

import base64
import math
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import BadInput, Box
from ..faces import (
    CollectionExists,
    CollectionInfo,
    CollectionNotFound,
    Comparison,
    Deletion,
    FaceDetail,
    FaceNotFound,
    FaceRecord,
    ImageSearch,
    ImageTooLarge,
    Indexed,
    InvalidImage,
    InvalidParameter,
    InvalidToken,
    Match,
    Refusal,
    Unindexed,
    cosine_for,
    similarities,
    similarity,
)
from ..imaging import decode, detection_array
from ..ports import FaceEngine
from ..settings import Settings
from . import face_feed, face_index
from .catalog_schema import (
    collection_face_deletions,
    collection_faces,
    collection_users,
    collections,
)
from .face_index import IvfFaceIndex
from .faces_users_local import LocalUsers
from .sql_in import one_row, rows_in

COLLECTION_ID = re.compile(r"[a-zA-Z0-9_.\-]{1,255}")
EXTERNAL_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,255}")
FACE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# quality filters: (smallest face side in pixels of the image, lowest detector confidence)
QUALITY = {
    "NONE": (0, 0.0),
    "LOW": (20, 0.0),
    "AUTO": (30, 0.0),
    "MEDIUM": (40, 85.0),
    "HIGH": (60, 90.0),
}


@dataclass
class _Found:
    face: FaceDetail
    vector: np.ndarray
    side_px: float  # shorter side of the box in pixels of the (oriented) image


@dataclass
class _Loaded:
    index: IvfFaceIndex
    high: int = -1  # the last face seq it holds; -1: never loaded
    deleted: int = 0  # the last deletion feed id it applied
    unsaved: int = 0  # changes since it was last saved
    began: float = -1.0  # when the last catch-up that succeeded began (time.monotonic())
    stamp: tuple | None = None  # the collection row's stamp it was last synced at
    syncing: threading.Lock = field(default_factory=threading.Lock)


class LocalFaces(LocalUsers):
    def __init__(self, db: Engine, engine: FaceEngine, settings: Settings, processes: int = 0):
        self.db, self.engine, self.settings = db, engine, settings
        self.processes = processes
        self.chunk = 50_000  # rows per query when an index loads
        self.save_every = 10_000  # changes after which a synced index is saved again
        self.sync_wait = 0.25  # seconds a search waits for another thread's catch-up
        self.builds = 0  # indexes built from every row (a start without a file, a compaction)
        self._executor: ProcessPoolExecutor | None = None
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    # -- collections ----------------------------------------------------------------

    def create_collection(self, collection_id: str) -> CollectionInfo:
        _check_id(collection_id)
        now = time.time()
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(collections).values(
                        collection_id=collection_id, created_at=now, face_count=0, epoch=0
                    )
                )
        except IntegrityError:
            raise CollectionExists(f"The collection id: {collection_id} already exists") from None
        return CollectionInfo(collection_id, 0, now)

    def delete_collection(self, collection_id: str) -> None:
        _check_id(collection_id)
        with self.db.begin() as conn:
            conn.execute(
                delete(collection_faces).where(collection_faces.c.collection_id == collection_id)
            )
            conn.execute(
                delete(collection_users).where(collection_users.c.collection_id == collection_id)
            )
            gone = conn.execute(
                delete(collections).where(collections.c.collection_id == collection_id)
            ).rowcount
        if not gone:
            raise _no_collection(collection_id)
        with self._lock:
            self._loaded.pop(collection_id, None)
        face_index.drop(self._index_path(collection_id))

    def list_collections(self, limit: int, token: str | None) -> tuple[list[str], str | None]:
        q = select(collections.c.collection_id).order_by(collections.c.collection_id)
        if token:
            q = q.where(collections.c.collection_id > _untoken(token))
        with self.db.connect() as conn:
            ids = list(conn.execute(q.limit(limit + 1)).scalars())
        more = len(ids) > limit
        ids = ids[:limit]
        return ids, _token(ids[-1]) if more and ids else None

    def describe_collection(self, collection_id: str) -> CollectionInfo:
        """Also every call's check that the collection exists: one query, users counted
        in it."""
        _check_id(collection_id)
        users = (
            select(func.count())
            .where(collection_users.c.collection_id == collection_id)
            .scalar_subquery()
        )
        with self.db.connect() as conn:
            row = conn.execute(
                select(collections, users.label("user_count")).where(
                    collections.c.collection_id == collection_id
                )
            ).first()
        if row is None:
            raise _no_collection(collection_id)
        return CollectionInfo(
            collection_id, row.face_count, row.created_at, user_count=row.user_count
        )

    # -- faces ------------------------------------------------------------------------

    def index_faces(
        self,
        collection_id: str,
        image: bytes,
        external_image_id: str | None = None,
        max_faces: int | None = None,
        quality_filter: str = "AUTO",
    ) -> Indexed:
        _check_id(collection_id)
        if external_image_id is not None and not EXTERNAL_ID.fullmatch(external_image_id):
            raise InvalidParameter(f"invalid ExternalImageId {external_image_id!r}")
        check_quality_filter(quality_filter)
        if max_faces is not None and max_faces < 1:
            raise InvalidParameter("MaxFaces must be at least 1")
        self.describe_collection(collection_id)  # before the expensive part
        keep: list[_Found] = []
        unindexed: list[Unindexed] = []
        for f in sorted(self._analyze(image), key=lambda f: -f.side_px):
            reasons = quality_reasons(f, quality_filter)
            if not reasons and max_faces is not None and len(keep) >= max_faces:
                reasons.append("EXCEEDS_MAX_FACES")  # the largest faces are kept, as on AWS
            if reasons:
                unindexed.append(Unindexed(f.face, reasons))
            else:
                keep.append(f)
        image_id = str(uuid.uuid4())
        records = [
            (
                FaceRecord(
                    str(uuid.uuid4()), image_id, external_image_id, f.face.box, f.face.confidence
                ),
                f,
            )
            for f in keep
        ]
        self._store(collection_id, [_row(collection_id, r, f.vector) for r, f in records])
        return Indexed([(r, f.face) for r, f in records], unindexed)

    def add_faces(
        self, collection_id: str, records: Sequence[FaceRecord], vectors: np.ndarray
    ) -> None:
        """Store faces whose descriptors are known already (unit float32 rows of
        ``vectors``, one per record, in order): what bench/scale.py builds its synthetic
        albums with, as IndexFaces would have stored them, in one transaction under the
        collection row's lock. Not part of Rekognition's API: this engine's own."""
        vectors = np.asarray(vectors, dtype="<f4")
        if vectors.ndim != 2 or len(vectors) != len(records):
            raise InvalidParameter("one descriptor row per face is needed")
        self._store(
            collection_id,
            [_row(collection_id, r, v) for r, v in zip(records, vectors, strict=True)],
        )

    def _store(self, collection_id: str, rows: list[dict]) -> None:
        """Insert face rows in one transaction under the collection row's lock (its
        count raised first, so concurrent writers queue on it and seqs follow commits);
        CollectionNotFound if the collection is gone."""
        with self.db.begin() as conn:
            locked = conn.execute(
                update(collections)
                .where(collections.c.collection_id == collection_id)
                .values(face_count=collections.c.face_count + len(rows))
            ).rowcount
            if not locked:
                raise _no_collection(collection_id)
            if rows:
                conn.execute(insert(collection_faces), rows)

    def list_faces(
        self, collection_id: str, limit: int, token: str | None, user_id: str | None = None
    ) -> tuple[list[FaceRecord], str | None]:
        self.describe_collection(collection_id)
        q = (
            select(collection_faces)
            .where(collection_faces.c.collection_id == collection_id)
            .order_by(collection_faces.c.seq)
        )
        if user_id is not None:
            q = q.where(collection_faces.c.user_id == user_id)
        if token:
            try:
                after = int(_untoken(token))
            except ValueError:
                raise InvalidToken("invalid NextToken") from None
            if not 0 <= after < 2**63:  # a seq the catalog can hold (SQL's BIGINT)
                raise InvalidToken("invalid NextToken")
            q = q.where(collection_faces.c.seq > after)
        with self.db.connect() as conn:
            rows = conn.execute(q.limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        return [_record(r) for r in rows], _token(str(rows[-1]["seq"])) if more and rows else None

    def delete_faces(self, collection_id: str, face_ids: list[str]) -> list[str]:
        return self.delete_faces_detailed(collection_id, face_ids).deleted

    def delete_faces_detailed(self, collection_id: str, face_ids: list[str]) -> Deletion:
        """Faces associated with a user stay (ASSOCIATED_TO_AN_EXISTING_USER), as on
        AWS; their rows are locked while the others go, so an association made
        meanwhile waits for this call and never loses its face."""
        self.describe_collection(collection_id)
        for face_id in face_ids:
            _check_face_id(face_id)
        where = (collection_faces.c.collection_id == collection_id) & (
            collection_faces.c.face_id.in_(face_ids)
        )
        with self.db.begin() as conn:
            held = dict(
                conn.execute(
                    select(collection_faces.c.face_id, collection_faces.c.user_id)
                    .where(where)
                    .order_by(collection_faces.c.face_id)
                    .with_for_update()
                ).all()
            )
            free = [f for f, user in held.items() if user is None]
            removed: list[tuple[str, int]] = []
            if free:
                removed = [
                    (r[0], r[1])
                    for r in conn.execute(
                        delete(collection_faces)
                        .where(
                            where,
                            collection_faces.c.face_id.in_(free),
                            collection_faces.c.user_id.is_(None),  # SQLite locks no rows
                        )
                        .returning(collection_faces.c.face_id, collection_faces.c.seq)
                    )
                ]
            seqs = [seq for _, seq in removed]
            gone = [face_id for face_id, _ in removed]
            if len(gone) < len(free):  # associated meanwhile: by whom
                late = [f for f in free if f not in set(gone)]
                held |= dict(
                    conn.execute(
                        select(collection_faces.c.face_id, collection_faces.c.user_id).where(
                            where, collection_faces.c.face_id.in_(late)
                        )
                    ).all()
                )
            if gone:
                conn.execute(
                    update(collections)
                    .where(collections.c.collection_id == collection_id)
                    .values(
                        face_count=collections.c.face_count - len(gone),
                        epoch=collections.c.epoch + 1,
                    )
                )
                # after the row lock: feed ids are then handed out in commit order
                conn.execute(
                    insert(collection_face_deletions),
                    [{"collection_id": collection_id, "face_seq": seq} for seq in seqs],
                )
        deleted = set(gone)
        refused = [
            Refusal(f, ["ASSOCIATED_TO_AN_EXISTING_USER"], held[f])
            if held.get(f)
            else Refusal(f, ["FACE_NOT_FOUND"])
            for f in dict.fromkeys(face_ids)
            if f not in deleted
        ]
        return Deletion(gone, refused)

    # -- searches ---------------------------------------------------------------------

    def search_faces(
        self, collection_id: str, face_id: str, threshold: float, max_faces: int
    ) -> list[Match]:
        _check_search(threshold, max_faces)
        return self.search_faces_ranked(collection_id, face_id, threshold, max_faces)

    def search_faces_ranked(
        self, collection_id: str, face_id: str, threshold: float, max_faces: int
    ) -> list[Match]:
        """SearchFaces without Rekognition's 4,096 cap on MaxFaces: the album's own
        paging asks for as many faces as the page it shows needs, O(that) whatever the
        threshold; fewer than ``max_faces`` back means there are no more."""
        _check_face_id(face_id)
        found = self.search_faces_ranked_many(collection_id, [face_id], threshold, max_faces)
        if found[0] is None:
            raise FaceNotFound(f"face {face_id} is not in collection {collection_id}")
        return found[0]

    def search_faces_ranked_many(
        self, collection_id: str, face_ids: Sequence[str], threshold: float, max_faces: int
    ) -> list[list[Match] | None]:
        """:meth:`search_faces_ranked` for several faces at once (a named person's
        click searches with the face and its representatives): one read of their
        descriptors, one index search with them as a matrix, one read of all their
        candidates' rows; None for a face the collection lacks. Cost O(faces ×
        max_faces), in a fixed number of queries."""
        index, asked, vectors = self._queries(collection_id, face_ids, threshold, max_faces)
        found = self._search_many(collection_id, index, vectors, threshold, max_faces, asked)
        by_face = dict(zip(asked, found, strict=True))
        return [by_face.get(f) for f in face_ids]

    def search_hits_many(
        self,
        collection_id: str,
        face_ids: Sequence[str],
        threshold: float,
        max_faces: int,
        side: bool = False,
    ) -> list[list[tuple[str, str, float]] | None]:
        """:meth:`search_faces_ranked_many` with each match as (face id, external image
        id, similarity) alone, what the album's search keeps of it (collection.py):
        the candidates' rows are read for those and the descriptor only, and no
        record is built per candidate (a named person's click ranks ~700 of them).
        Each face searches as :meth:`search_faces_ranked` does; with ``side`` (a named
        person's click: the face, then its person's representatives) the faces after
        the first with a smaller scan each (``face_index.SIDE_CODES``)."""
        index, asked, vectors = self._queries(collection_id, face_ids, threshold, max_faces)
        ranked = self._candidates(
            collection_id, index, vectors, threshold, max_faces, asked, _HIT_NAMES, side=side
        )
        out = [
            [(r[_FACE_ID], r[_HIT_EXTERNAL], score) for r, score in found if r[_HIT_EXTERNAL]]
            for found in ranked
        ]  # (a face that names no picture is no hit)
        by_face = dict(zip(asked, out, strict=True))
        return [by_face.get(f) for f in face_ids]

    def _queries(
        self, collection_id: str, face_ids: Sequence[str], threshold: float, max_faces: int
    ) -> tuple[IvfFaceIndex, list[str], np.ndarray]:
        """The collection's index (caught up), the faces of ``face_ids`` it holds and
        their descriptors (one read: ``len(asked)`` x dim, flat)."""
        _check_search(threshold, 1)
        if max_faces < 1:
            raise InvalidParameter("MaxFaces must be at least 1")
        for face_id in face_ids:
            _check_face_id(face_id)
        index = self._index(collection_id)  # CollectionNotFound if there is none
        with self.db.connect() as conn:
            # by face id alone (its unique index; with the collection's too, SQLite
            # walks the collection's index: every face), the collection checked here
            held = {
                r[0]: r[2]
                for r in rows_in(
                    conn,
                    ("face_id", "collection_id", "embedding"),
                    "collection_faces",
                    "face_id",
                    list(dict.fromkeys(face_ids)),
                )
                if r[1] == collection_id
            }
        asked = [f for f in face_ids if f in held]
        vectors = np.frombuffer(b"".join(held[f] for f in asked), dtype="<f4")
        return index, asked, vectors

    def search_faces_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_faces: int,
        quality_filter: str = "NONE",
    ) -> ImageSearch:
        _check_search(threshold, max_faces)
        check_quality_filter(quality_filter)
        self.describe_collection(collection_id)
        largest = self._largest(image, "image", quality_filter)
        matches = self._search(collection_id, largest.vector, threshold, max_faces)
        return ImageSearch(largest.face, matches)

    def detect_faces(self, image: bytes) -> list[FaceDetail]:
        return [f.face for f in self._analyze(image)]

    def compare_faces(
        self, source: bytes, target: bytes, threshold: float, quality_filter: str = "NONE"
    ) -> Comparison:
        _check_search(threshold, 1)
        check_quality_filter(quality_filter)
        src = self._largest(source, "source image", quality_filter)
        matches, unmatched = [], []
        for f in self._analyze(target):
            if quality_reasons(f, quality_filter):
                continue  # "filtered faces aren't compared"
            score = similarity(float(np.dot(src.vector, f.vector)))
            if score >= threshold:
                matches.append((score, f.face))
            else:
                unmatched.append(f.face)
        matches.sort(key=lambda m: -m[0])
        return Comparison(src.face, matches, unmatched)

    # -- internals --------------------------------------------------------------------

    def _search(
        self,
        collection_id: str,
        vector: np.ndarray,
        threshold: float,
        max_faces: int,
    ) -> list[Match]:
        index = self._index(collection_id)
        return self._search_many(collection_id, index, vector, threshold, max_faces, [None])[0]

    def _search_many(
        self,
        collection_id: str,
        index: IvfFaceIndex,
        vectors: np.ndarray,
        threshold: float,
        max_faces: int,
        exclude: Sequence[str | None],
    ) -> list[list[Match]]:
        """The best ``max_faces`` faces at or above ``threshold`` like each of
        ``vectors`` (but the face ``exclude`` names, the query itself), best first, as
        matches (:meth:`_candidates`)."""
        ranked = self._candidates(collection_id, index, vectors, threshold, max_faces, exclude)
        return [[Match(score, _record_of(r)) for r, score in found] for found in ranked]

    def _candidates(
        self,
        collection_id: str,
        index: IvfFaceIndex,
        vectors: np.ndarray,
        threshold: float,
        max_faces: int,
        exclude: Sequence[str | None],
        columns: Sequence[str] = (),
        side: bool = False,
    ) -> list[list[tuple[tuple, float]]]:
        """(row, similarity) of the best ``max_faces`` faces at or above ``threshold``
        like each of ``vectors`` (but the face ``exclude`` names, the query itself),
        best first: the index's candidates re-ranked with the rows' float32
        descriptors, which this reads anyway for the matches (one read for all the
        vectors, of ``columns``: every column by default, the seq, face id and
        collection id first). ``side``: the vectors after the first search with a
        smaller scan (face_index.py's ``ranked_many``). O(vectors × max_faces),
        whatever the threshold."""
        if not len(exclude):
            return []
        names = list(columns) or _NAMES
        at = names.index("embedding")
        rows: dict[int, Any] = {}

        def exact(seqs: np.ndarray) -> np.ndarray:
            found = self._rows(collection_id, seqs.tolist(), names)
            rows.update(found)
            gone = bytes(4 * index.dim)  # a row deleted meanwhile: dropped below
            blob = b"".join(found[q][at] if q in found else gone for q in seqs.tolist())
            return np.frombuffer(blob, dtype="<f4").reshape(len(seqs), index.dim)

        wanted = max_faces + 1  # the face itself may be among them
        ranked = index.ranked_many(vectors, wanted, cosine_for(threshold), exact, side=side)
        out = []
        for (seqs, cosines), skip in zip(ranked, exclude, strict=True):
            found = []
            scores = similarities(cosines)
            for seq, score in zip(seqs.tolist(), scores, strict=True):
                row = rows.get(seq)
                # deleted meanwhile; the face itself; the very cut
                if row is not None and row[_FACE_ID] != skip and score >= threshold:
                    found.append((row, score))
            out.append(found[:max_faces])
        return out

    def _rows(
        self, collection_id: str, seqs: list[int], names: Sequence[str] = ()
    ) -> dict[int, Any]:
        """seq -> row (a tuple of ``names``, every column by default, seq, face id and
        collection id first) of those of ``seqs`` that are still there, in batches of
        1,000: by seq alone, one primary-key lookup each (with the collection in the
        query, SQLite goes through the collection's index: two lookups a row, 3x
        slower), the collection checked here."""
        out: dict[int, Any] = {}
        with self.db.connect() as conn:  # driver-level (sql_in.py): 4x less than Core's
            for r in rows_in(conn, names or _NAMES, "collection_faces", "seq", seqs, 1000):
                if r[_COLLECTION] == collection_id:
                    out[r[_SEQ]] = r  # a plain tuple (positions below): no dict per row
        return out

    def warm(self, collection_id: str) -> None:
        """Load a collection's index now (a server does at start), not at the first
        search."""
        self._index(collection_id, wait=True)

    def _index_path(self, collection_id: str) -> Path:
        where = self.settings.face_index_dir or self.settings.home / "face-index"
        return Path(where) / f"{collection_id}.json"

    def _index(self, collection_id: str, wait: bool = False) -> IvfFaceIndex:
        """The collection's index, brought up to date with its rows. One read of the
        collection's row first (CollectionNotFound if it is gone): while its stamp
        (below) is the one last synced at, nothing changed and the index is used
        as it is (unless a save is due: another process held the file's lock).
        Otherwise a search that finds another thread updating it waits ``sync_wait``
        for it (a catch-up takes milliseconds; the other may have started before a
        write this search must see) and then catches up itself, unless a catch-up
        began after it came (that one saw every commit before it); past that (a build)
        it uses the index as it stands. Only the very first load is waited for."""
        _check_id(collection_id)
        came = time.monotonic()
        with self._lock:
            loaded = self._loaded.setdefault(collection_id, _Loaded(IvfFaceIndex()))
        # what changes whenever the collection's faces do, from its row alone: faces
        # added raise face_count, faces deleted bump epoch (both under the row's lock,
        # in the change's transaction), a collection made again has another created_at
        stamp = self._collection_row(
            collection_id, collections.c.created_at, collections.c.face_count, collections.c.epoch
        )
        if loaded.high != -1 and stamp == loaded.stamp and loaded.unsaved < self.save_every:
            return loaded.index  # (a save left to another process is tried again)
        block = wait or loaded.high == -1
        if not loaded.syncing.acquire(timeout=-1 if block else self.sync_wait):
            return loaded.index
        try:
            if loaded.began > came:
                return loaded.index
            began = time.monotonic()
            self._sync(collection_id, loaded)
            loaded.began = began  # (only once it succeeded)
            loaded.stamp = stamp  # read before the sync: a change meanwhile syncs again
        finally:
            loaded.syncing.release()
        return loaded.index

    def _sync(self, collection_id: str, loaded: _Loaded) -> None:
        """Catch up with the catalog: faces past the high-water seq are added, faces
        in the deletion feed past the last one applied are removed, both in place.
        The first time, the saved index is loaded (if it is this collection's: a
        collection deleted and made again has another ``created_at``), else built
        from every row; an index grown ``face_index.GROWTH``-fold since it was trained
        is built again aside and swapped in, and so is one behind the deletion feed's
        pruned horizon. Saved again every ``save_every`` changes. Three statements when
        nothing changed: the rows, the deletions, then the collection row (after them,
        so a pruning committed meanwhile shows)."""
        path = self._index_path(collection_id)
        first = loaded.high == -1
        if first:
            created = self._collection_row(collection_id, collections.c.created_at)[0]
            saved = IvfFaceIndex.load(path)
            if saved is None and path.exists():  # replaced while read: the newer one
                saved = IvfFaceIndex.load(path)
            if saved is not None and saved[1].get("created_at") == created:
                loaded.index = saved[0]
                loaded.high, loaded.deleted = saved[1]["high"], saved[1]["deleted"]
            else:
                self._build(collection_id, loaded)
        start = loaded.deleted
        changes = self._follow(collection_id, loaded.index, loaded)
        created, pruned = self._collection_row(
            collection_id, collections.c.created_at, collections.c.deletions_pruned
        )
        if (
            start < pruned  # deletions past ``start`` are gone from the feed
            # made again (by another process) since: the old faces left no feed
            or (loaded.stamp is not None and loaded.stamp[0] != created)
            or loaded.index.stale()
            or (first and not self._counts_match(collection_id, loaded))
        ):
            self._build(collection_id, loaded)
        loaded.unsaved += changes
        if loaded.unsaved >= self.save_every:
            state = {"high": loaded.high, "deleted": loaded.deleted, "created_at": created}
            try:  # one process at a time; the deletion feed pruned behind the file
                if face_feed.save(self.db, collection_id, loaded.index, path, state):
                    loaded.unsaved = 0
            except OSError:  # a full or read-only disk: the next start builds it again
                pass

    def _collection_row(self, collection_id: str, *columns: Any) -> tuple:
        """These ``columns`` of the collection's row, one read; CollectionNotFound (and
        the index forgotten) if the collection is gone."""
        names = [c.name for c in columns]  # this module's columns, never input
        with self.db.connect() as conn:  # driver-level: every search reads it (0.2 → 0.1 ms)
            row = one_row(conn, names, "collections", "collection_id", collection_id)
        if row is None:
            with self._lock:
                self._loaded.pop(collection_id, None)
            raise _no_collection(collection_id)
        return tuple(row)

    def _counts_match(self, collection_id: str, loaded: _Loaded) -> bool:
        """Whether the index holds as many faces as the collection row counts: a
        saved file that is not this catalog's past (a catalog restored from a backup
        under the same home) is built again instead. Faces added meanwhile are caught
        up once before it counts as a mismatch."""
        for _ in range(2):
            with self.db.connect() as conn:
                count = conn.execute(
                    select(collections.c.face_count).where(
                        collections.c.collection_id == collection_id
                    )
                ).scalar()
            if count == len(loaded.index):
                return True
            self._follow(collection_id, loaded.index, loaded)
        return False

    def _build(self, collection_id: str, loaded: _Loaded) -> None:
        """A fresh index from every row, filled aside (searches meanwhile use the old
        one), trained on the first ``face_index.train_size`` faces, then swapped in."""
        self.builds += 1
        with self.db.connect() as conn:
            count, deleted = conn.execute(
                select(
                    select(collections.c.face_count)
                    .where(collections.c.collection_id == collection_id)
                    .scalar_subquery(),
                    select(func.coalesce(func.max(collection_face_deletions.c.id), 0))
                    .where(collection_face_deletions.c.collection_id == collection_id)
                    .scalar_subquery(),
                )
            ).one()
            deleted = max(deleted, face_feed.horizon(conn, collection_id))  # all pruned
        fresh = _Loaded(IvfFaceIndex(train_at=face_index.train_size(count or 0)), -1, deleted)
        self._follow(collection_id, fresh.index, fresh)
        # (a pruning that passed it while it filled may leave a face deleted meanwhile
        # in it, which searches skip, as its row is gone)
        loaded.index, loaded.high, loaded.deleted = fresh.index, fresh.high, fresh.deleted
        loaded.unsaved = self.save_every  # save it

    def _follow(self, collection_id: str, index: IvfFaceIndex, at: _Loaded) -> int:
        """Add the rows past ``at.high`` (in chunks, so a million faces never sit in
        memory twice), then remove the feed's deletions past ``at.deleted``; how many
        changes. Rows first: a face added and deleted meanwhile is then removed too."""
        changes, high = 0, max(at.high, 0)
        while True:
            with self.db.connect() as conn:
                rows = conn.execute(
                    select(collection_faces.c.seq, collection_faces.c.embedding)
                    .where(
                        collection_faces.c.collection_id == collection_id,
                        collection_faces.c.seq > high,
                    )
                    .order_by(collection_faces.c.seq)
                    .limit(self.chunk)
                ).all()
            if rows:
                vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
                index.add(np.array([r[0] for r in rows], np.int64), vectors.reshape(len(rows), -1))
                high = at.high = rows[-1][0]  # each chunk as it is in: a failed read of
                changes += len(rows)  # the next must not add this one twice on a retry
            if len(rows) < self.chunk:
                break
        at.high = high
        while True:
            with self.db.connect() as conn:
                gone = conn.execute(
                    select(collection_face_deletions.c.id, collection_face_deletions.c.face_seq)
                    .where(
                        collection_face_deletions.c.collection_id == collection_id,
                        collection_face_deletions.c.id > at.deleted,
                    )
                    .order_by(collection_face_deletions.c.id)
                    .limit(self.chunk)
                ).all()
            if gone:
                index.remove(np.array([r[1] for r in gone], np.int64))
                at.deleted = gone[-1][0]
                changes += len(gone)
            if len(gone) < self.chunk:
                return changes

    def _analyze(self, image: bytes) -> list[_Found]:
        """In this process, or in the worker processes if there are any (dlib runs
        under one lock per process: workers are how face work uses every core)."""
        if self.processes:
            return self._pool().submit(_pooled_analyze, image).result()
        return analyze_image(image, self.settings, self.engine)

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:  # made on first use: an endpoint nobody calls costs nothing
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_pool,
                    initargs=(self.settings.model_dump_json(),),
                )
            return self._executor

    def _largest(self, image: bytes, what: str, quality_filter: str = "NONE") -> _Found:
        """The largest face of those that pass ``quality_filter``."""
        found = [f for f in self._analyze(image) if not quality_reasons(f, quality_filter)]
        if not found:
            passing = (
                "" if quality_filter == "NONE" else f" that pass QualityFilter {quality_filter}"
            )
            raise InvalidParameter(f"There are no faces in the {what}{passing}.")
        return max(found, key=lambda f: f.side_px)


def find_faces(rgb: np.ndarray, engine: FaceEngine) -> list[tuple[FaceDetail, np.ndarray]]:
    """The engine's faces as (detail, descriptor), left to right, boxes and landmarks
    as ratios of the image (as Rekognition gives them), so they hold at any size."""
    h, w = rgb.shape[:2]
    found = []
    for f in sorted(engine.analyze(rgb), key=lambda f: (f.left, f.top)):
        box = Box(
            left=round(f.left / w, 6),
            top=round(f.top / h, 6),
            width=round((f.right - f.left) / w, 6),
            height=round((f.bottom - f.top) / h, 6),
        )
        marks = {k: (round(x / w, 6), round(y / h, 6)) for k, (x, y) in f.landmarks.items()}
        pose = {}
        if "eyeLeft" in f.landmarks and "eyeRight" in f.landmarks:
            (x0, y0), (x1, y1) = f.landmarks["eyeLeft"], f.landmarks["eyeRight"]
            pose["Roll"] = round(math.degrees(math.atan2(y1 - y0, x1 - x0)), 4)
        crop = rgb[int(f.top) : int(f.bottom), int(f.left) : int(f.right)]
        luma = float((crop @ np.array([0.299, 0.587, 0.114])).mean()) if crop.size else 0.0
        detail = FaceDetail(
            box,
            f.confidence,
            landmarks=marks,
            sharpness=f.sharpness,
            brightness=round(luma / 2.55, 4),
            pose=pose,
        )
        found.append((detail, f.embedding))
    return found


def analyze_image(image: bytes, s: Settings, engine: FaceEngine) -> list[_Found]:
    """Decode, find and describe every face: pure CPU, no storage."""
    try:
        dec = decode(image, s.decode_size, s.max_pixels)
    except BadInput as exc:
        if "too large" in str(exc):
            raise ImageTooLarge(str(exc)) from None
        raise InvalidImage(f"Request has invalid image format: {exc}") from None
    rgb, _ = detection_array(dec.image, s.detect_size, s.detect_max_upscale)
    return [
        _Found(detail, vector, min(detail.box.width * dec.width, detail.box.height * dec.height))
        for detail, vector in find_faces(rgb, engine)
    ]


_worker: dict = {}


def _init_pool(settings_json: str) -> None:
    from ..wiring import make_engine
    from ..workers import exit_with_parent

    exit_with_parent()
    settings = Settings.model_validate_json(settings_json)
    _worker.update(settings=settings, engine=make_engine(settings))


def _pooled_analyze(image: bytes) -> list[_Found]:
    return analyze_image(image, _worker["settings"], _worker["engine"])


def _row(collection_id: str, r: FaceRecord, vector: np.ndarray) -> dict:
    return {
        "face_id": r.face_id,
        "collection_id": collection_id,
        "image_id": r.image_id,
        "external_image_id": r.external_image_id,
        "box_left": r.box.left,
        "box_top": r.box.top,
        "box_width": r.box.width,
        "box_height": r.box.height,
        "confidence": r.confidence,
        "embedding": np.asarray(vector, dtype="<f4").tobytes(),
    }


# a search's columns: a match's record and the descriptor it is re-ranked with (seq,
# face id and collection id first, at _SEQ, _FACE_ID, _COLLECTION in either list)
_FIRST = ("seq", "face_id", "collection_id")
_NAMES = [*_FIRST, *(c.name for c in collection_faces.c if c.name not in _FIRST)]
# and all the album's search keeps of a hit (search_hits_many)
_HIT_NAMES = (*_FIRST, "external_image_id", "embedding")
_HIT_EXTERNAL = _HIT_NAMES.index("external_image_id")
_SEQ, _FACE_ID, _COLLECTION, _IMAGE, _EXTERNAL, _LEFT, _TOP, _WIDTH, _HEIGHT, _CONFIDENCE = (
    _NAMES.index(n)
    for n in ("seq", "face_id", "collection_id", "image_id", "external_image_id", "box_left",
              "box_top", "box_width", "box_height", "confidence")
)  # fmt: skip
_EMBEDDING, _USER = _NAMES.index("embedding"), _NAMES.index("user_id")


def _record_of(r: tuple) -> FaceRecord:
    """:func:`_record` of a row as a tuple of ``_NAMES`` (a search reads thousands)."""
    box = Box(r[_LEFT], r[_TOP], r[_WIDTH], r[_HEIGHT])
    return FaceRecord(r[_FACE_ID], r[_IMAGE], r[_EXTERNAL], box, r[_CONFIDENCE], r[_USER])


def _record(r) -> FaceRecord:
    box = Box(r["box_left"], r["box_top"], r["box_width"], r["box_height"])
    return FaceRecord(
        r["face_id"], r["image_id"], r["external_image_id"], box, r["confidence"], r["user_id"]
    )


def check_quality_filter(quality_filter: str) -> None:
    if quality_filter not in QUALITY:
        raise InvalidParameter(f"invalid QualityFilter {quality_filter!r}")


def quality_reasons(found: _Found, quality_filter: str) -> list[str]:
    """Why a QualityFilter turns a face away (IndexFaces, SearchUsersByImage)."""
    min_side, min_conf = QUALITY[quality_filter]
    return (["SMALL_BOUNDING_BOX"] if found.side_px < min_side else []) + (
        ["LOW_CONFIDENCE"] if found.face.confidence < min_conf else []
    )


def _check_id(collection_id: str) -> None:
    if not isinstance(collection_id, str) or not COLLECTION_ID.fullmatch(collection_id):
        raise InvalidParameter(f"invalid CollectionId {collection_id!r}")


def _check_face_id(face_id: str) -> None:
    if not isinstance(face_id, str) or not FACE_ID.fullmatch(face_id):
        raise InvalidParameter(f"invalid FaceId {face_id!r}")


def _check_search(threshold: float, max_faces: int) -> None:
    if not 0 <= threshold <= 100:
        raise InvalidParameter("FaceMatchThreshold must be between 0 and 100")
    if not 1 <= max_faces <= 4096:
        raise InvalidParameter("MaxFaces must be between 1 and 4096")


def _no_collection(collection_id: str) -> CollectionNotFound:
    return CollectionNotFound(f"The collection id: {collection_id} does not exist")


TOKEN_VALUE = re.compile(r"[a-zA-Z0-9_.\-:]+")


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(token: str) -> str:
    """What :func:`_token` encoded: a position (a seq, a collection or user id, all
    of Rekognition's id alphabet); anything else is InvalidToken, never a value for
    the catalog to choke on (a NUL, which PostgreSQL refuses in a string)."""
    try:
        value = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("invalid NextToken") from None
    if not TOKEN_VALUE.fullmatch(value):
        raise InvalidToken("invalid NextToken")
    return value
