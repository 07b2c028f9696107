"""The face index side by side: exact float32 scan, quantised exact scan, ANN libraries.

    python bench/search_index.py [--faces 1000000] [--people 20000] [--queries 200]

Descriptors are REALISTIC clustered unit vectors, not uniform noise: ``--people``
persons of Zipf-like sizes (the largest ~6.7 % of all faces), each a centre in a
shared cone (centres' cosines 0.5-0.85) and faces around it (a person's faces'
cosines 0.93-0.97), in runs of up to 10 faces per picture as an import adds them.

Every candidate answers the same queries (faces of random persons, so large persons
weigh as they do in clicks) and is measured the same way, in one run:

- ``p50 ms``: a search at the default threshold (80, cosine 0.915), first page (the
  best 200 faces above it);
- ``recall@10``: of the exact float32 top 10;
- ``threshold 0``: pages of 50 pictures (best face per picture; every face is above
  the threshold): the first, the one at picture 4,000 (past today's 4,096-face cap:
  "empty" there) and the very last;
- ``MiB``: the index in memory (its file, which is its memory image; today: the
  matrix and its two lists of id strings);
- ``build s``, ``save s``, ``load s``: filling it from descriptors, writing it to a
  file, reading it back;
- ``delete ms``: removing one face so the next search no longer finds it (today: a
  rebuild of the whole matrix).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, pct  # noqa: E402

from facealbum.adapters.face_index import IvfFaceIndex, train_size  # noqa: E402
from facealbum.adapters.index_numpy import NumpyFaceIndex  # noqa: E402
from facealbum.faces import cosine_for  # noqa: E402
from facealbum.settings import Settings  # noqa: E402

DIM = 128
CUT = cosine_for(Settings.model_fields["match_threshold"].default)  # the default
PAGE = 50


def clustered_faces(
    n: int, people: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors n x 128 float32 unit, person of each face, picture of each face)."""
    sizes = 1.0 / np.arange(1, people + 1) ** 0.88
    sizes = np.maximum(1, np.floor(sizes / sizes.sum() * n)).astype(np.int64)
    sizes[0] += n - sizes.sum()
    mean = rng.standard_normal(DIM).astype(np.float32)
    mean /= np.linalg.norm(mean)
    spread = np.sqrt(rng.uniform(0.15, 0.8, people)).astype(np.float32)
    centres = mean + spread[:, None] * rng.standard_normal((people, DIM)).astype(
        np.float32
    ) / np.sqrt(DIM)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    person = np.repeat(np.arange(people), sizes)
    rng.shuffle(person)  # pictures mix persons
    noise = np.sqrt(rng.uniform(0.03, 0.075, n)).astype(np.float32)
    vectors = np.empty((n, DIM), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        g = rng.standard_normal((e - s, DIM)).astype(np.float32) / np.sqrt(DIM)
        v = centres[person[s:e]] + noise[s:e, None] * g
        vectors[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    per = rng.integers(1, 11, n)  # faces per picture, 1-10
    picture = np.repeat(np.arange(n), per)[:n]
    return vectors, person, picture


def timed(fn: Callable[[int], object], queries: np.ndarray) -> list[float]:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        fn(int(q))
        out.append((time.perf_counter() - t0) * 1000)
    return out


def rerank(v: np.ndarray, q: np.ndarray, ids: np.ndarray, k: int, cut: float) -> np.ndarray:
    """The best ``k`` of the candidates by their float32 cosine (the catalog's rows)."""
    sims = v[ids] @ q
    order = np.argsort(-sims, kind="stable")[:k]
    return ids[order][sims[order] >= cut]


class Candidate:
    name = ""

    def build(self, v: np.ndarray, pic: np.ndarray) -> None: ...
    def save(self, path: Path) -> None: ...
    def load(self, path: Path) -> None: ...
    def top(self, q: np.ndarray, k: int, cut: float) -> np.ndarray:
        """Row ids of the best k faces at or above ``cut``, best first."""
        ...

    def page(self, q: np.ndarray, offset: int, limit: int, cut: float) -> np.ndarray | None:
        """Pictures [offset, offset+limit) by best face; None if it cannot."""
        return None

    def delete(self, row: int) -> None: ...

    def mib(self, path: Path) -> float:
        """The index's size in memory: its file is its memory image."""
        return sum(f.stat().st_size for f in path.parent.iterdir()) / 2**20


class NumpyToday(Candidate):
    """Today's NumpyFaceIndex: float32 matrix + id strings; a delete rebuilds it."""

    name = "exact float32 scan (today)"

    def build(self, v, pic):
        self.v, self.pic = v, pic
        self.index = NumpyFaceIndex()
        self.index.add([str(i) for i in range(len(v))], [str(p) for p in pic], v)

    def save(self, path):
        pass  # today nothing is persisted: the catalog is read again at start

    def load(self, path):
        self.build(self.v, self.pic)  # what a start does (without the catalog reads)

    def mib(self, path):
        # the matrix, and two lists of 36-character id strings (85 B each + a pointer)
        return (self.v.nbytes + 2 * len(self.v) * (85 + 8)) / 2**20

    def top(self, q, k, cut):
        return np.array([int(h.face_id) for h in self.index.search(q, cut * 100)[:k]])

    def page(self, q, offset, limit, cut):
        seen: dict[str, None] = {}
        for h in self.index.search(q, cut * 100)[:4096]:  # today's cap
            seen.setdefault(h.image_id)
        return np.array([int(p) for p in list(seen)[offset : offset + limit]])

    def delete(self, row):
        keep = np.ones(len(self.v), bool)
        keep[row] = False
        fresh = NumpyFaceIndex()
        fresh.add(
            [str(i) for i in np.flatnonzero(keep)],
            [str(p) for p in self.pic[keep]],
            self.v[keep],
        )
        self.index = fresh


class FaissFlatSQ8(Candidate):
    """Quantised exact scan: faiss's 8-bit scalar quantiser over every face, the
    page re-ranked with float32 (which the catalog's rows hold)."""

    name = "exact int8 scan (faiss SQ8) + f32 re-rank"

    def build(self, v, pic):
        import faiss

        self.v, self.pic = v, pic
        self.index = faiss.IndexIDMap2(
            faiss.IndexScalarQuantizer(
                DIM, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        )
        self.index.train(v[:100_000])
        self.index.add_with_ids(v, np.arange(len(v), dtype=np.int64))

    def save(self, path):
        import faiss

        faiss.write_index(self.index, str(path))

    def load(self, path):
        import faiss

        self.index = faiss.read_index(str(path))

    def top(self, q, k, cut):
        import faiss

        faiss.omp_set_num_threads(1)  # as the chosen one searches: one thread a query
        _, ids = self.index.search(q[None], 2 * k + 16)
        return rerank(self.v, q, ids[0][ids[0] >= 0], k, cut)

    def delete(self, row):
        self.index.remove_ids(np.array([row], dtype=np.int64))


class FaissIvf(Candidate):
    """The chosen one, as facealbum/adapters/face_index.py builds it."""

    name = "IVF-SQ8 (faiss) + exact fallback"

    def build(self, v, pic):
        self.v, self.pic = v, pic
        self.index = IvfFaceIndex(train_at=train_size(len(v)))  # as faces_local builds it
        for s in range(0, len(v), 50_000):  # as faces_local loads the catalog: in chunks
            self.index.add(np.arange(s, min(len(v), s + 50_000), dtype=np.int64), v[s : s + 50_000])

    def save(self, path):
        self.index.save(path, {})

    def load(self, path):
        loaded = IvfFaceIndex.load(path)
        assert loaded is not None
        self.index = loaded[0]

    def top(self, q, k, cut):
        ids, _ = self.index.ranked(q, k, cut, lambda ids: self.v[ids])  # v: catalog rows
        return ids

    def page(self, q, offset, limit, cut):
        # as search.py pages: the best k faces, k growing until the page is full
        need, k = offset + limit, max(64, 2 * (offset + limit))
        while True:
            ids, _ = self.index.ranked(q, k, cut, lambda ids: self.v[ids])
            _, first = np.unique(self.pic[ids], return_index=True)
            if len(first) >= need or len(ids) < k:
                return self.pic[ids[np.sort(first)]][offset:need]
            k *= 4

    def delete(self, row):
        self.index.remove(np.array([row], dtype=np.int64))


class USearchI8(Candidate):
    name = "HNSW i8 (usearch, M=16)"

    def build(self, v, pic):
        from usearch.index import Index

        self.v = v
        self.index = Index(ndim=DIM, metric="cos", dtype="i8", connectivity=16)
        self.index.add(np.arange(len(v), dtype=np.uint64), v, threads=2)
        self.index.expansion_search = 128

    def save(self, path):
        self.index.save(str(path))

    def load(self, path):
        from usearch.index import Index

        self.index = Index.restore(str(path))
        self.index.expansion_search = 128

    def top(self, q, k, cut):
        m = self.index.search(q, 2 * k + 16)  # re-ranked as the chosen one is
        return rerank(self.v, q, np.asarray(m.keys, dtype=np.int64), k, cut)

    def page(self, q, offset, limit, cut):
        # exhaustive: usearch's exact search over the float32 matrix
        from usearch.index import search

        m = search(self.v, q, len(self.v), metric="ip", exact=True, threads=2)
        rows = np.asarray(m.keys, dtype=np.int64)
        _, first = np.unique(self.v_pic[rows], return_index=True)
        pics = self.v_pic[rows[np.sort(first)]]
        return pics[offset : offset + limit]

    def delete(self, row):
        self.index.remove(row)


class Hnswlib(Candidate):
    name = "HNSW f32 (hnswlib, M=16)"

    def build(self, v, pic):
        import hnswlib

        self.v = v
        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.init_index(max_elements=len(v), M=16, ef_construction=100)
        self.index.set_num_threads(2)
        self.index.add_items(v, np.arange(len(v)))
        self.index.set_ef(128)

    def save(self, path):
        self.index.save_index(str(path))

    def load(self, path):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.load_index(str(path))
        self.index.set_ef(128)

    def top(self, q, k, cut):
        ids, _ = self.index.knn_query(q, 2 * k + 16)  # re-ranked as the chosen one is
        return rerank(self.v, q, ids[0].astype(np.int64), k, cut)

    def delete(self, row):
        self.index.mark_deleted(row)


def run(c: Candidate, v, pic, queries, exact10, tmp: Path) -> dict:
    t0 = time.perf_counter()
    c.build(v, pic)
    build_s = time.perf_counter() - t0
    path = tmp / "index.bin"
    t0 = time.perf_counter()
    c.save(path)
    save_s = time.perf_counter() - t0
    c.__dict__.pop("index", None)
    gc.collect()
    t0 = time.perf_counter()
    c.load(path)
    load_s = time.perf_counter() - t0
    mib = c.mib(path)
    c.top(v[queries[0]], 200, CUT)  # warm
    ms = timed(lambda q: c.top(v[q], 200, CUT), queries)
    recall = 1.0  # today's scan is the exact reference
    if not isinstance(c, NumpyToday):
        recall = np.mean(
            [
                len(set(c.top(v[q], 10, -1.0).tolist()) & set(e)) / 10
                for q, e in zip(queries, exact10, strict=True)
            ]
        )
    pages = "n/a (top-k only)"
    if c.page(v[queries[0]], 0, PAGE, -1.0) is not None:
        few = queries[:3]
        n_pics = int(pic.max()) + 1
        shown = []
        for offset in (0, 4_000, n_pics - PAGE):
            got: list[int] = []
            took = timed(lambda q, o=offset, g=got: g.append(len(c.page(v[q], o, PAGE, -1.0))), few)
            shown.append(f"{pct(took, 50):.0f}" + ("" if min(got) == PAGE else " (empty)"))
        pages = " / ".join(shown)
    row = int(queries[1])
    t0 = time.perf_counter()
    c.delete(row)
    found = c.top(v[row], 10, -1.0)
    delete_ms = (time.perf_counter() - t0) * 1000
    assert row not in set(found.tolist()), f"{c.name}: deleted row still found"
    for f in path.parent.iterdir():
        f.unlink()
    return dict(
        name=c.name,
        p50=pct(ms, 50),
        p99=pct(ms, 99),
        recall=recall,
        pages=pages,
        mib=mib,
        build=build_s,
        save=save_s,
        load=load_s,
        delete=delete_ms,
    )


def sweep(v: np.ndarray, queries: np.ndarray, exact10: list[list[int]]) -> None:
    """IVF-SQ8's search parameters side by side on one built index (``--sweep``):
    lists probed (``face_index.NPROBE``), the share of the index a search scans at
    most (``CODES_SHARE``), candidates re-ranked in float32 (``RERANK``) — p50 of a
    first page (200 faces at the default threshold), recall@10 against the exact
    scan at the default threshold (the recall a click sees), and a named person's
    click: its 9 faces searched one by one or as one matrix (``ranked_many``)."""
    from facealbum.adapters import face_index

    c = FaissIvf()
    c.build(v, np.zeros(len(v), np.int64))
    rows = lambda ids: v[ids]  # noqa: E731  # the catalog's float32 rows
    print(
        "| nprobe | codes share | re-rank ×k | p50 ms | recall@10 | 9 faces one by one / "
        "as a matrix, ms |\n|---|---|---|---|---|---|",
        flush=True,
    )
    exact_cut = []
    for q, e in zip(queries, exact10, strict=True):
        exact_cut.append({j for j in e if j != q and float(v[j] @ v[q]) >= CUT})
    nine = [queries[i : i + 9] for i in range(0, len(queries) - 8, 9)][:10]
    saved = face_index.NPROBE, face_index.CODES_SHARE, face_index.RERANK
    try:
        for nprobe, share, rerank in [
            (96, 6, 2.0), (64, 8, 2.0), (48, 8, 2.0), (48, 8, 1.0), (32, 8, 2.0), (24, 8, 2.0)
        ]:  # fmt: skip
            face_index.NPROBE, face_index.CODES_SHARE, face_index.RERANK = nprobe, share, rerank
            ms = timed(lambda q: c.index.ranked(v[q], 200, CUT, rows), queries)
            got = []
            for q, e in zip(queries, exact_cut, strict=True):
                if e:
                    ids, _ = c.index.ranked(v[q], 11, CUT, rows)
                    got.append(len(set(ids.tolist()) & e) / len(e))
            one = timed(lambda i: [c.index.ranked(v[q], 102, CUT, rows) for q in nine[i]],
                        np.arange(len(nine)))  # fmt: skip
            many = timed(lambda i: c.index.ranked_many(v[nine[i]], 102, CUT, rows),
                         np.arange(len(nine)))  # fmt: skip
            print(
                f"| {nprobe} | 1/{share} | {rerank:g} | {pct(ms, 50):.2f} | {np.mean(got):.4f} "
                f"| {pct(one, 50):.1f} / {pct(many, 50):.1f} |",
                flush=True,
            )
    finally:
        face_index.NPROBE, face_index.CODES_SHARE, face_index.RERANK = saved


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--only", default="", help="comma-separated candidate numbers, 1-based")
    ap.add_argument("--sweep", action="store_true", help="IVF-SQ8's parameters side by side")
    ap.add_argument("--vectors", help="descriptors to use (bench/scale.py's vectors.npy)")
    args = ap.parse_args()
    rng = np.random.default_rng(18)
    t0 = time.perf_counter()
    v, person, pic = clustered_faces(args.faces, args.people, rng)
    if args.vectors:  # the scale album's (its persons are not known here: the same sizes)
        v = np.ascontiguousarray(np.load(args.vectors)[: args.faces], dtype=np.float32)
    counts = np.bincount(person)
    sample = rng.integers(0, len(v), 2000)
    same = np.einsum(
        "ij,ij->i",
        v[sample],
        v[
            np.array(
                [rng.choice(np.flatnonzero(person == person[i])) for i in sample[:200]] + [0] * 1800
            )
        ],
    )[:200]
    print(
        f"machine: {machine()}; {args.faces:,} faces of {args.people:,} people "
        f"(largest {counts.max():,}, median {int(np.median(counts))}); "
        f"same-person cosine p5-p95 {np.percentile(same, 5):.3f}-{np.percentile(same, 95):.3f}; "
        f"made in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    queries = rng.integers(0, len(v), args.queries)
    exact10 = []
    for q in queries:
        s = v @ v[q]
        top = np.argpartition(-s, 10)[:10]
        exact10.append(top.tolist())
    if args.sweep:
        sweep(v, queries, exact10)
        return
    cands: list[Candidate] = [NumpyToday(), FaissFlatSQ8(), FaissIvf(), USearchI8(), Hnswlib()]
    if args.only:
        cands = [cands[int(i) - 1] for i in args.only.split(",")]
    print(
        "| index | p50 ms (p99) | recall@10 | threshold 0: page 1 / at picture 4,000 / last, ms "
        "| MiB "
        "| build s | save s | load s | delete ms |\n|---|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for c in cands:
            c.v_pic = pic  # type: ignore[attr-defined]
            try:
                r = run(c, v, pic, queries, exact10, Path(tmp))
            except ImportError as exc:
                print(f"| {c.name} | not installed: {exc} |", flush=True)
                continue
            print(
                f"| {r['name']} | {r['p50']:.2f} ({r['p99']:.1f}) | {r['recall']:.3f} "
                f"| {r['pages']} | {r['mib']:.0f} "
                f"| {r['build']:.1f} | {r['save']:.2f} | {r['load']:.2f} | {r['delete']:.1f} |",
                flush=True,
            )
            c.__dict__.pop("index", None)
            gc.collect()


if __name__ == "__main__":
    main()
