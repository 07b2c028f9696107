"""Exact face search in numpy: one matrix product over every face.

Exact search over a million 128-d vectors is memory bound (~14 ms on 2 cores), so an
ANN index only pays off well past that; this class is the baseline it must beat.
Vectors grow in amortised chunks so adding one face does not copy the whole matrix.

Searches run in many threads while one thread adds: ``add`` writes rows and ids past
the published count and publishes the count last, and ``search`` reads the count
first, so a search sees a consistent prefix and never an id list shorter than its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ports import Hit

DIM = 128


class NumpyFaceIndex:
    def __init__(self, dim: int = DIM):
        self.dim = dim
        self.clear()

    def fresh(self) -> NumpyFaceIndex:
        return NumpyFaceIndex(self.dim)

    def clear(self) -> None:
        self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        self._n = 0
        self._face_ids: list[str] = []
        self._image_ids: list[str] = []

    def __len__(self) -> int:
        return self._n

    def add(self, face_ids: Sequence[str], image_ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        k = len(vectors)
        if k != len(face_ids) or k != len(image_ids):
            raise ValueError("face_ids, image_ids and vectors differ in length")
        if self._n + k > len(self._vectors):
            grown = np.zeros((max(2 * len(self._vectors), self._n + k, 1024), self.dim), np.float32)
            grown[: self._n] = self._vectors[: self._n]
            self._vectors = grown
        self._vectors[self._n : self._n + k] = vectors
        self._face_ids.extend(face_ids)
        self._image_ids.extend(image_ids)
        self._n += k  # publish last

    def search(self, vector: np.ndarray, min_similarity: float) -> list[Hit]:
        n = self._n  # read first: everything below it is complete
        vectors, face_ids, image_ids = self._vectors, self._face_ids, self._image_ids
        n = min(n, len(vectors), len(face_ids), len(image_ids))  # a racing clear()
        if n == 0:
            return []
        q = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        sims = vectors[:n] @ q
        # cosine -> Rekognition-style percentage; threshold in the same unit
        cut = min_similarity / 100.0
        idx = np.flatnonzero(sims >= cut)
        idx = idx[np.argsort(-sims[idx], kind="stable")]
        scores = np.clip(sims[idx], -1.0, 1.0) * 100.0
        return [
            Hit(face_ids[i], image_ids[i], round(float(s), 3))
            for i, s in zip(idx.tolist(), scores.tolist(), strict=True)
        ]
