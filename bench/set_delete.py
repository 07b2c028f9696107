"""Deleting a big set: the old single request against the job (set_jobs.py), side by side.

    python -m bench.set_delete [--pictures N] [--batch B] [--json OUT]

Builds two identical albums (SQLite, local blobs) of one set of N pictures through the
project's own ``ingest.store`` (distinct tiny contents, one face each, no model run),
then deletes the set in each:

- *before*: what ``Album.delete_set`` did until issue 18, inside one request: the
  catalog's one-transaction ``delete_set``, then every face forgotten and every
  picture's blobs dropped under its content's lock;
- *after*: ``Album.start_delete_set`` (what DELETE /api/sets/{name} now does before it
  answers 202) and the job that then runs on the queue, in batches of B.

Prints the request's time in each case, the job's total time and its progress writes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import machine
from facealbum import set_jobs
from facealbum.domain import Box, Face
from facealbum.ingest import Analysis, store
from facealbum.settings import Settings
from facealbum.wiring import open_album


def build(home: Path, n: int, batch: int):
    album = open_album(Settings(home=home, set_job_batch=batch))
    for i in range(n):
        sha = hashlib.sha256(f"photo {i}".encode()).hexdigest()
        image_id = str(uuid.uuid4())
        a = Analysis(sha, "JPEG", "image/jpeg", 10, 10, 3, b"t", b"p", b"", image_id)
        a.faces = [Face(str(uuid.uuid4()), image_id, Box(0.1, 0.1, 0.2, 0.2), 99.0)]
        store(album.blobs, album.catalog, album.collection, "Big", f"p{i:06d}.jpg", b"abc",
              a, "bench")  # fmt: skip
    return album


def before(album) -> float:
    """The pre-issue-18 Album.delete_set, inside one request."""
    started = time.perf_counter()
    doomed = album.catalog.delete_set("Big")
    album.collection.forget([f.face_id for p in doomed for f in p.faces])
    album._refresh_people({f.person_id for p in doomed for f in p.faces})
    for picture in doomed:
        album._drop_blobs(picture)
    return time.perf_counter() - started


def after(album) -> tuple[float, float, int]:
    started = time.perf_counter()
    job = album.start_delete_set("Big")
    request = time.perf_counter() - started
    steps: list[tuple[int, int]] = []
    started = time.perf_counter()
    set_jobs.run(album, job["id"], lambda done, total: steps.append((done, total)))
    return request, time.perf_counter() - started, len(steps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        old = build(Path(tmp) / "before", args.pictures, args.batch)
        new = build(Path(tmp) / "after", args.pictures, args.batch)
        built = time.perf_counter() - t0
        old_request = before(old)
        new_request, job_s, steps = after(new)
    result = {
        "machine": machine(),
        "pictures": args.pictures,
        "batch": args.batch,
        "before_request_s": round(old_request, 3),
        "after_request_ms": round(new_request * 1000, 1),
        "after_job_s": round(job_s, 3),
        "after_progress_reports": steps,
        "build_s": round(built, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
