"""The album's face collection: the faces port under one collection id, in the album's
terms. A picture's faces are indexed with its image id as ``ExternalImageId``, which
is how a search hit finds its way back to a picture, on the local engine as on AWS.

The catalog is the truth about which faces a picture has. The collection may hold a
few more for a while (a crash between indexing and storing the picture, a picture
deleted while its faces were being removed): searches skip them, since no picture
lists them, and ``check --repair`` deletes them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .domain import Face, NotFound
from .faces import CollectionExists, CollectionNotFound, FaceNotFound, FaceRecord, Faces

log = logging.getLogger(__name__)
MAX_SEARCH = 4096  # Rekognition's largest MaxFaces for a search (the original kept 100)
DELETE_CHUNK = 4096  # DeleteFaces takes at most 4096 ids per call
USER_CHUNK = 100  # and DisassociateFaces 100


@dataclass
class Hit:
    face_id: str
    image_id: str  # the picture (ExternalImageId)
    similarity: float  # 0-100, Rekognition's scale


@dataclass
class AlbumCollection:
    faces: Faces
    collection_id: str

    def ensure(self) -> None:
        """Create the collection unless it exists (idempotent: every process calls it)."""
        with contextlib.suppress(CollectionExists):
            self.faces.create_collection(self.collection_id)

    def index(self, image: bytes, image_id: str) -> list[Face]:
        """Every face the engine finds in ``image`` (no quality filter: the album shows
        small faces too), left to right."""
        indexed = self.faces.index_faces(
            self.collection_id, image, external_image_id=image_id, quality_filter="NONE"
        )
        found = [
            Face(r.face_id, image_id, r.box, r.confidence, sharpness=d.sharpness)
            for r, d in indexed.records
        ]
        return sorted(found, key=lambda f: (f.box.left, f.box.top))

    def forget(self, face_ids: list[str]) -> None:
        """Delete faces from the collection; ids it does not hold are ignored, as
        DeleteFaces does, so forgetting twice is harmless. A face still associated with
        a user (a person's, see people/users_mirror.py) is disassociated first: DeleteFaces
        refuses it otherwise, on AWS as here. Never raises: the catalog no longer lists
        these faces, so searches skip them whatever happens here, and if the engine
        cannot be reached now, ``check --repair`` deletes them later."""
        for i in range(0, len(face_ids), DELETE_CHUNK):
            chunk = face_ids[i : i + DELETE_CHUNK]
            try:
                self._forget(chunk)
            except CollectionNotFound:
                return
            except Exception:
                log.warning(
                    "could not delete %d faces from collection %s; check --repair will",
                    len(chunk),
                    self.collection_id,
                    exc_info=True,
                )

    def _forget(self, face_ids: list[str]) -> None:
        done = self.faces.delete_faces_detailed(self.collection_id, face_ids)
        held: dict[str, list[str]] = {}
        for r in done.unsuccessful:
            if "ASSOCIATED_TO_AN_EXISTING_USER" in r.reasons and r.user_id:
                held.setdefault(r.user_id, []).append(r.face_id)
        for user_id, ids in held.items():
            for j in range(0, len(ids), USER_CHUNK):
                with contextlib.suppress(NotFound):  # the user went meanwhile
                    self.faces.disassociate_faces(
                        self.collection_id, user_id, ids[j : j + USER_CHUNK]
                    )
        if held:
            self.faces.delete_faces(self.collection_id, [f for ids in held.values() for f in ids])

    def matches(self, face_id: str, threshold: float, limit: int = MAX_SEARCH) -> list[Hit]:
        """The best ``limit`` faces like ``face_id`` at or above ``threshold``, best
        first (the face itself not among them); fewer than ``limit`` means no more. Past
        Rekognition's 4,096 only on an engine that can (the local one's
        ``search_faces_ranked``); elsewhere 4,096 is all there is. A face the collection
        lacks (see ``check``) matches nothing."""
        ranked = getattr(self.faces, "search_faces_ranked", None)
        try:
            if ranked is not None:
                found = ranked(self.collection_id, face_id, threshold, limit)
            else:
                found = self.faces.search_faces(
                    self.collection_id, face_id, threshold, min(limit, MAX_SEARCH)
                )
        except (FaceNotFound, CollectionNotFound):
            return []
        return _hits(found)

    def matches_many(
        self,
        face_ids: Sequence[str],
        threshold: float,
        limit: int = MAX_SEARCH,
        side: bool = False,
    ) -> list[list[Hit]]:
        """:meth:`matches` for each of ``face_ids`` (a photo's faces, a regrouping's
        chunk, a person's sample): in one call where the engine can search several
        faces at once (the local one's ``search_hits_many``: one index search with
        them as a matrix, each match as a hit's three fields alone), else one search
        each. ``side`` (a named person's click: the face, then its representatives):
        the faces after the first are side searches, with a smaller scan each where
        the engine has one; every other caller wants each face's full search."""
        many = getattr(self.faces, "search_hits_many", None)
        if many is None or not face_ids:
            return [self.matches(f, threshold, limit) for f in face_ids]
        try:
            found = many(self.collection_id, list(face_ids), threshold, limit, side)
        except CollectionNotFound:
            return [[] for _ in face_ids]
        return [[Hit(*hit) for hit in one or ()] for one in found]

    def records(self, page: int = 4096) -> Iterator[FaceRecord]:
        """Every face in the collection, a page at a time."""
        token: str | None = None
        while True:
            try:
                found, token = self.faces.list_faces(self.collection_id, page, token)
            except CollectionNotFound:
                return
            yield from found
            if not token:
                return


def _hits(found: Iterable) -> list[Hit]:
    """Matches as hits, those of a face that names no picture left out."""
    return [
        Hit(m.face.face_id, m.face.external_image_id, m.similarity)
        for m in found
        if m.face.external_image_id
    ]
