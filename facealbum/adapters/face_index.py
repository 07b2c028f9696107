"""The local faces port's vector index: faiss IVF over 8-bit scalar-quantised codes,
rows named by the catalog's integer ``seq`` (no per-face Python strings in memory).

Chosen by bench/search_index.py (1M clustered faces, side by side with the exact
float32 scan, a quantised exact scan and two HNSW libraries; README "Benchmarks"):
IVF-SQ8 holds 1M faces in 146 MiB (128 B of code + 8 B of id each; the float32 matrix
and id strings took 666), reaches recall@10 ≥ 0.99 against the exact scan, is a file
that loads in under a second, removes a face in place (faiss's hash-table direct map:
O(1) per id), and pages to any depth by probing every list, which HNSW cannot.

Below ``train_at`` faces there is nothing to train the coarse quantiser on, so the
index is an exact float32 scan (faiss IndexFlatIP, a few MiB); it becomes IVF-SQ8 the
first time it reaches ``train_at``. An index trained on far fewer faces than it now
holds has long lists: :meth:`IvfFaceIndex.stale` says so, and the owner (faces_local)
builds a fresh one aside and swaps it in ("compaction").

Searches: :meth:`top` probes a few lists for the best ``k`` (approximate, recall@10
≥ 0.99 on clustered faces); when ``k`` is a large part of the index it probes every
list, which is an exact scan of the quantised codes (a deep page, a low threshold).
Scores are the quantised cosines, within ~0.005 of the true ones; callers that cut at a
threshold ask with ``SLACK`` below it and re-rank the few rows they return with the
catalog's float32 descriptors. faiss does not let a search run during a change, so
every call holds the index's lock (searches of one index take turns, a few ms each;
faiss releases the GIL meanwhile, so other Python work goes on).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np


def _threads(n: int) -> None:
    """OpenMP threads for this thread's next faiss calls (the setting is per thread).
    One per search: a server runs many at once on few cores, and OpenMP's spinning
    workers cost more than they give a query of a few ms; every core to build."""
    faiss.omp_set_num_threads(n)


DIM = 128
TRAIN_AT = 20_000  # faces before the IVF is trained (below: exact float32)
NPROBE = 32  # lists a first page probes at most (48: recall@10 0.9982, 32: 0.9978, 24: 0.9956
# on 271 of the scale album's faces; a plain click's faiss CPU 1.98 -> 1.39 -> 1.16 ms)
# faces a first page scans at most (a sixth of the index, 32,768 at least): a large
# person's lists are long, and its faces' cosines so close together that the true ten
# best are spread over many of them (1M clustered faces, recall@10 over two sets of
# queries: 1/16 → 0.985, 1/8 → 0.989-0.996, 1/6 → 0.997)
MAX_CODES, CODES_SHARE = 32_768, 8
# faces a side search (a named person's representative, beside the clicked face) scans
SIDE_NPROBE, SIDE_CODES = NPROBE, 32_768
SLACK = 0.01  # cosine below a threshold that a quantised search still returns
GROWTH = 4  # an index holding this many times the faces it was trained on is stale
RERANK = 1.0  # candidates re-ranked in float32 per face wanted (+16; --sweep)
_EXHAUSTIVE = 0.25  # a k above this share of the rows scans every list


def train_size(count: int) -> int:
    """Faces to train on when building an index for ``count`` faces from the catalog:
    all of them up to 262,144 (a 1M-face collection's lists are then ~1,000 long),
    which sit as float32 until trained (128 MiB at most)."""
    return max(TRAIN_AT, min(count, 262_144))


def lists_for(n: int) -> int:
    """Coarse lists for ``n`` training faces: ~2·√n (1M faces: 2,000 lists of ~500)."""
    return int(min(8192, max(16, 2 * math.sqrt(n))))


class IvfFaceIndex:
    """Unit descriptors (float32, ``DIM`` wide) under int64 ids; cosine similarity."""

    def __init__(self, dim: int = DIM, train_at: int = TRAIN_AT):
        self.dim, self.train_at = dim, train_at
        self.trained_n = 0  # faces the IVF was trained on; 0: still the exact scan
        # faiss's stubs lack most of what its classes have (nlist, id_map, …)
        self.index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.index.nlist) if self.trained_n else 0

    def stale(self) -> bool:
        """Holding ``GROWTH``× the faces it was trained on: rebuild it aside."""
        return bool(self.trained_n) and len(self) > GROWTH * self.trained_n

    # -- changes ----------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        _threads(os.cpu_count() or 1)
        with self.lock:
            if not self.trained_n and len(self) + len(ids) >= self.train_at:
                self._train(ids, vectors)
            else:
                self.index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Remove these ids in place (ids it lacks are ignored); how many went."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not len(ids):
            return 0
        with self.lock:
            if self.trained_n:  # the hash-table direct map takes an id array only
                chosen = faiss.IDSelectorArray(len(ids), faiss.swig_ptr(ids))
                return int(self.index.remove_ids(chosen))
            return int(self.index.remove_ids(ids))

    def _train(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Move the exact rows and these into a freshly trained IVF-SQ8."""
        old = self.index
        if old.ntotal:
            old_ids = faiss.vector_to_array(old.id_map).astype(np.int64)
            old_vectors = old.index.reconstruct_n(0, old.ntotal)
            ids = np.concatenate([old_ids, ids])
            vectors = np.concatenate([old_vectors, vectors])
        nlist = lists_for(len(ids))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, self.dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        ivf.cp.niter = 10
        ivf.cp.max_points_per_centroid = 64  # a sample, not every face: seconds at 1M
        ivf.train(vectors)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = min(NPROBE, nlist)
        self._quantizer = quantizer  # faiss holds it by pointer
        self.index, self.trained_n = ivf, len(ids)

    # -- searches ---------------------------------------------------------------------

    def top(self, vector: np.ndarray, k: int, min_cosine: float) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosines) of the best ``k`` rows at or above ``min_cosine``, best first.
        Cost O(k) on top of a few lists' scan; a ``k`` near the size of the index scans
        every list (exact over the quantised codes)."""
        return self.top_many(np.reshape(vector, (1, self.dim)), k, min_cosine)[0]

    def top_many(
        self, vectors: np.ndarray, k: int, min_cosine: float, side: bool = False
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`top` for each row of ``vectors`` (m x dim), in one faiss search with
        them as a matrix (a named person's click: the face and its representatives),
        so the lock and thread set-up are paid once. ``side``: the rows after the first
        are side searches (the person's representatives, whose look-alikes add to the
        face's): each scans at most ``SIDE_CODES`` codes, a quarter of a first page's
        (at 1M faces 9 full scans were 13 of a named person's click's ~35 ms of CPU)."""
        q = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        _threads(1)
        with self.lock:
            n = len(self)
            k = min(k, n)
            if k <= 0 or not len(q):
                return [empty for _ in range(len(q))]
            if self.trained_n:
                nlist = self.nlist
                wanted = math.ceil(NPROBE * max(1.0, 4 * k * nlist / (NPROBE * n)))
                if k > _EXHAUSTIVE * n or wanted > nlist // 2:
                    return [self._scan(q[i : i + 1], k, min_cosine) for i in range(len(q))]
                codes = max(MAX_CODES, n // CODES_SHARE, 8 * k)
                params = faiss.SearchParametersIVF(  # type: ignore[call-arg]
                    nprobe=wanted, max_codes=codes
                )
                if side and len(q) > 1:
                    sims, ids = self.index.search(q[:1], k, params=params)
                    params = faiss.SearchParametersIVF(  # type: ignore[call-arg]
                        nprobe=min(wanted, SIDE_NPROBE), max_codes=max(SIDE_CODES, 8 * k)
                    )
                    more = self.index.search(q[1:], k, params=params)
                    sims, ids = np.concatenate([sims, more[0]]), np.concatenate([ids, more[1]])
                else:
                    sims, ids = self.index.search(q, k, params=params)
            elif k > _EXHAUSTIVE * n:
                return [self._scan(q[i : i + 1], k, min_cosine) for i in range(len(q))]
            else:
                sims, ids = self.index.search(q, k)
        out = []
        for row_sims, row_ids in zip(sims, ids, strict=True):
            keep = (row_ids >= 0) & (row_sims >= min_cosine)
            out.append((row_ids[keep], row_sims[keep]))
        return out

    def _scan(self, q: np.ndarray, k: int, min_cosine: float) -> tuple[np.ndarray, np.ndarray]:
        """Every row at or above ``min_cosine`` (every list: exact over the codes), the
        best ``k`` of them: a range search and a partial sort, not a heap of ``k``."""
        params = _probe_all(self.nlist) if self.trained_n else None
        _, sims, ids = self.index.range_search(q, float(min_cosine) - 1e-6, params=params)
        if len(ids) > k:
            part = np.argpartition(-sims, k - 1)[:k]
            sims, ids = sims[part], ids[part]
        order = np.argsort(-sims, kind="stable")
        return ids[order], sims[order]

    def above(self, vector: np.ndarray, min_cosine: float, start: int = 256) -> np.ndarray:
        """Ids of every row at or above ``min_cosine`` (best first): ``top`` with a
        growing ``k`` until a page comes back short. O(the rows above it)."""
        k = start
        while True:
            ids, _ = self.top(vector, k, min_cosine)
            if len(ids) < k or k >= len(self):
                return ids
            k *= 4

    def ranked(
        self,
        vector: np.ndarray,
        k: int,
        min_cosine: float,
        exact: Callable[[np.ndarray], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top` re-ranked with float32: ``exact(ids)`` gives those rows'
        descriptors (the catalog's, one read of O(k) rows). Candidates come ``SLACK``
        below the cut and ``RERANK`` × as many (plus 16) as wanted, so quantisation neither
        drops a face at the threshold nor reorders the best ones."""
        return self.ranked_many(np.reshape(vector, (1, self.dim)), k, min_cosine, exact)[0]

    def ranked_many(
        self,
        vectors: np.ndarray,
        k: int,
        min_cosine: float,
        exact: Callable[[np.ndarray], np.ndarray],
        side: bool = False,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`ranked` for each row of ``vectors``: one :meth:`top_many` (``side``:
        see there) and one ``exact`` call for the candidates of all of them (each id
        once)."""
        q = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        found = self.top_many(q, math.ceil(RERANK * k) + 16, min_cosine - SLACK, side)
        if not found:
            return []
        every = np.unique(np.concatenate([ids for ids, _ in found]))
        if not len(every):
            return [(ids, np.zeros(0, np.float32)) for ids, _ in found]
        rows = np.asarray(exact(every), dtype=np.float32).reshape(len(every), self.dim)
        out = []
        for (ids, _), one in zip(found, q, strict=True):
            sims = rows[np.searchsorted(every, ids)] @ one
            order = np.argsort(-sims, kind="stable")
            order = order[sims[order] >= min_cosine][:k]
            out.append((ids[order], sims[order]))
        return out

    # -- files ------------------------------------------------------------------------

    def save(self, path: Path, state: dict) -> None:
        """Write the index and ``state`` (what the owner needs to catch up: positions
        in the catalog) atomically: the codes go to a new file, then a small JSON file
        naming it replaces the old one, then the old codes go. A reader never sees a
        half-written index, and two writers each leave a complete one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        codes = path.with_name(f"{path.stem}-{uuid.uuid4().hex}.faiss")
        with self.lock:
            faiss.write_index(self.index, str(codes))
            meta = {"codes": codes.name, "trained_n": self.trained_n, "state": state}
        tmp = path.with_name(f".{codes.stem}.json")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)
        for other in path.parent.glob(f"{path.stem}-*.faiss"):  # this one's forerunners
            # (a minute's grace: another process may be reading the one it replaced)
            if other != codes and other.stat().st_mtime < time.time() - 60:
                other.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, train_at: int = TRAIN_AT) -> tuple[IvfFaceIndex, dict] | None:
        """The index saved at ``path`` with its state, or None if there is none (or it
        cannot be read: the owner then builds one from the catalog)."""
        try:
            meta = json.loads(path.read_text())
            index = faiss.read_index(str(path.with_name(meta["codes"])))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        out = cls(index.d, train_at)
        out.index, out.trained_n = index, int(meta["trained_n"])
        return out, meta["state"]


def _probe_all(nlist: int) -> Any:
    return faiss.SearchParametersIVF(nprobe=nlist)  # type: ignore[call-arg]


def _codes_of(path: Path) -> Path | None:
    try:
        return path.with_name(json.loads(path.read_text())["codes"])
    except (OSError, ValueError, KeyError):
        return None


def drop(path: Path) -> None:
    """Remove a saved index (its collection went)."""
    codes = _codes_of(path)
    if codes is not None:
        codes.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
