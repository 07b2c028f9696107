"""The narrow interfaces the core talks to. Each has a local adapter in
``facealbum.adapters`` and can be swapped for a scaled one (S3, PostgreSQL, an ANN
index, another queue) without the core noticing."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .domain import Face, Picture, SetSummary, Stats

Bucket = Literal["originals", "thumbnails"]


class BlobStore(Protocol):
    """Two buckets, as in the original design: a write to ``thumbnails`` never looks
    like a new upload to whatever watches ``originals``."""

    def put(self, bucket: Bucket, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, bucket: Bucket, key: str) -> bytes: ...
    def exists(self, bucket: Bucket, key: str) -> bool: ...
    def delete(self, bucket: Bucket, key: str) -> None: ...
    def keys(self, bucket: Bucket) -> Iterator[str]: ...
    def size(self, bucket: Bucket) -> int: ...


class Catalog(Protocol):
    def add_picture(self, picture: Picture) -> str:
        """Store a picture with its faces in one transaction; create its set and make it
        the featured picture if the set has none. Returns "added", "duplicate" (same
        content already in the set) or "name_taken" (another picture has that name)."""
        ...

    def find_by_hash(self, set_name: str, sha256: str) -> Picture | None: ...
    def hashes_in_set(self, set_name: str) -> list[str]: ...
    def get_picture(self, image_id: str) -> Picture | None: ...
    def get_pictures(self, image_ids: Sequence[str]) -> dict[str, Picture]: ...
    def get_face(self, face_id: str) -> Face | None: ...
    def list_sets(self) -> list[SetSummary]: ...
    def get_set(self, name: str) -> SetSummary | None: ...
    def list_pictures(self, set_name: str, limit: int, offset: int) -> list[Picture]: ...
    def set_featured(self, set_name: str, image_id: str) -> None: ...
    def replace_faces(self, image_id: str, faces: list[Face], engine_tag: str) -> None: ...
    def mark_stale(self, set_name: str | None) -> None: ...
    def pictures_needing(self, engine_tag: str, set_name: str | None) -> list[str]: ...
    def face_changes(
        self, since: int, limit: int | None = None
    ) -> tuple[int, int, list[tuple[str, str, bytes]]]:
        """(epoch, high-water mark, up to limit (face_id, image_id, embedding) rows after since).
        The epoch changes whenever faces are removed, telling an index to reload."""
        ...

    def stats(self) -> Stats: ...


@dataclass
class DetectedFace:
    """A face in pixel coordinates of the analysed image, with its unit descriptor."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float
    embedding: np.ndarray


class FaceEngine(Protocol):
    tag: str

    def analyze(self, rgb: np.ndarray) -> list[DetectedFace]: ...


@dataclass
class Hit:
    face_id: str
    image_id: str
    similarity: float


class FaceIndex(Protocol):
    def add(
        self, face_ids: Sequence[str], image_ids: Sequence[str], vectors: np.ndarray
    ) -> None: ...

    def clear(self) -> None: ...
    def __len__(self) -> int: ...

    def search(self, vector: np.ndarray, min_similarity: float) -> list[Hit]:
        """Every face at or above min_similarity (0-100), best first: no cap, since the
        core pages over pictures, not faces."""
        ...


class JobQueue(Protocol):
    def enqueue(self, task: str, /, **kwargs: object) -> str: ...
    def register(self, name: str, fn: Callable[..., object]) -> None: ...
    def run_pending(self, limit: int | None = None) -> int: ...
    def pending(self) -> int: ...
