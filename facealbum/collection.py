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
from collections.abc import Iterator
from dataclasses import dataclass

from .domain import Face
from .faces import CollectionExists, CollectionNotFound, FaceNotFound, FaceRecord, Faces

log = logging.getLogger(__name__)
MAX_SEARCH = 4096  # Rekognition's largest MaxFaces for a search (the original kept 100)
DELETE_CHUNK = 4096  # DeleteFaces takes at most 4096 ids per call


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
        DeleteFaces does, so forgetting twice is harmless. Never raises: the catalog
        no longer lists these faces, so searches skip them whatever happens here, and
        if the engine cannot be reached now, ``check --repair`` deletes them later."""
        for i in range(0, len(face_ids), DELETE_CHUNK):
            try:
                self.faces.delete_faces(self.collection_id, face_ids[i : i + DELETE_CHUNK])
            except CollectionNotFound:
                return
            except Exception:
                log.warning(
                    "could not delete %d faces from collection %s; check --repair will",
                    len(face_ids[i : i + DELETE_CHUNK]),
                    self.collection_id,
                    exc_info=True,
                )

    def matches(self, face_id: str, threshold: float) -> list[Hit]:
        """Faces like ``face_id`` at or above ``threshold``, best first (the face itself
        not among them). A face the collection lacks (see ``check``) matches nothing."""
        try:
            found = self.faces.search_faces(self.collection_id, face_id, threshold, MAX_SEARCH)
        except (FaceNotFound, CollectionNotFound):
            return []
        return [
            Hit(m.face.face_id, m.face.external_image_id, m.similarity)
            for m in found
            if m.face.external_image_id
        ]

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
