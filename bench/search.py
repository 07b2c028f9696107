"""Face search at 10k, 100k and 1M synthetic faces: the index call and the HTTP call.

    python bench/search.py [--sizes 10000,100000,1000000] [--queries 200]

Faces are random unit vectors (10 per picture) written to a real SQLite catalog (the
pictures' face rows, and the album's local collection holding the descriptors); the
HTTP figures come from a real `facealbum serve` process on loopback, measured after its
index has loaded. Memory is the server's resident set after loading, and the index's
own matrix.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from common import machine, pct  # noqa: E402
from conftest import start_server  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from facealbum.adapters.catalog_schema import (  # noqa: E402
    collection_faces,
    collections,
    faces,
    pictures,
    sets,
)
from facealbum.adapters.catalog_sql import SqlCatalog  # noqa: E402
from facealbum.adapters.index_numpy import NumpyFaceIndex  # noqa: E402

PER_PICTURE = 10


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 128), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def fill_catalog(url: str, vectors: np.ndarray) -> list[str]:
    catalog = SqlCatalog(url)
    n = len(vectors)
    face_ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    with catalog.engine.begin() as conn:
        conn.execute(insert(sets).values(name="bench", created_at=time.time()))
        conn.execute(
            insert(collections).values(
                collection_id="facealbum", created_at=time.time(), face_count=n, epoch=0
            )
        )
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            pics = range(start // PER_PICTURE, (stop + PER_PICTURE - 1) // PER_PICTURE)
            conn.execute(
                insert(pictures),
                [
                    dict(
                        image_id=f"img-{i}",
                        set_name="bench",
                        name=f"{i}.jpg",
                        sha256=f"{i:064d}",
                        width=100,
                        height=100,
                        original_key=f"{i}.jpg",
                        content_type="image/jpeg",
                        byte_size=1,
                        engine_tag="bench",
                        created_at=0.0,
                    )
                    for i in pics
                ],
            )
            conn.execute(
                insert(faces),
                [
                    dict(
                        face_id=face_ids[i],
                        image_id=f"img-{i // PER_PICTURE}",
                        box_left=0.1,
                        box_top=0.1,
                        box_width=0.2,
                        box_height=0.2,
                        confidence=99.0,
                    )
                    for i in range(start, stop)
                ],
            )
            conn.execute(
                insert(collection_faces),
                [
                    dict(
                        face_id=face_ids[i],
                        collection_id="facealbum",
                        image_id=f"img-{i // PER_PICTURE}",
                        external_image_id=f"img-{i // PER_PICTURE}",
                        box_left=0.1,
                        box_top=0.1,
                        box_width=0.2,
                        box_height=0.2,
                        confidence=99.0,
                        embedding=vectors[i].tobytes(),
                    )
                    for i in range(start, stop)
                ],
            )
    return face_ids


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_size(n: int, queries: int, threshold: float) -> None:
    rng = np.random.default_rng(n)
    vectors = unit_vectors(rng, n)
    index = NumpyFaceIndex()
    index.add([str(i) for i in range(n)], [str(i // PER_PICTURE) for i in range(n)], vectors)
    picks = rng.integers(0, n, queries)
    it = iter(np.concatenate([picks, picks]))
    index_ms = timed(lambda: index.search(vectors[next(it)], threshold), queries)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        t0 = time.perf_counter()
        face_ids = fill_catalog(f"sqlite:///{home / 'catalog.db'}", vectors)
        fill_s = time.perf_counter() - t0
        proc, base = start_server(home)
        try:
            with httpx.Client(base_url=base, timeout=300) as client:
                t0 = time.perf_counter()
                client.get(f"/api/faces/{face_ids[0]}/matches").raise_for_status()  # loads index
                load_s = time.perf_counter() - t0
                rss = psutil.Process(proc.pid).memory_info().rss / 2**20
                urls = iter([f"/api/faces/{face_ids[i]}/matches" for i in picks])
                http_ms = timed(lambda: client.get(next(urls)).raise_for_status(), queries)
        finally:
            proc.terminate()
            proc.wait(30)
    print(
        f"{n:>9,} faces | index p50 {pct(index_ms, 50):6.2f} ms  p99 {pct(index_ms, 99):6.2f} ms"
        f" | HTTP p50 {pct(http_ms, 50):6.2f} ms  p99 {pct(http_ms, 99):6.2f} ms"
        f" | matrix {vectors.nbytes / 2**20:6.0f} MiB, server RSS {rss:6.0f} MiB"
        f" | catalog fill {fill_s:5.1f} s, first search (index load) {load_s:5.1f} s",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--threshold", type=float, default=91.5, help="cosine x 100, for the index")
    args = ap.parse_args()
    print(
        f"machine: {machine()}; numpy {np.__version__}; "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(n, args.queries, args.threshold)


if __name__ == "__main__":
    main()
