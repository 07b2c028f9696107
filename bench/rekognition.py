"""The Rekognition-compatible faces port: what its similarity means, and what the wire
costs.

    .venv/bin/python -m bench.rekognition [--rounds 3]

1. Calibration: every photo of ``../shared/faces/people/<person>/`` is indexed into a
   collection; each single-face photo's face is searched (threshold 0, all matches), and
   every pair is labelled same person or not. Precision and recall of "similarity >=
   t" are printed for t = 50, 80, 90, 99.
2. Overhead: IndexFaces and SearchFacesByImage on the same photos, in-process (the
   port's local implementation) and through a stock boto3 client against
   ``facealbum rekognition serve`` on loopback, one call at a time, interleaved per
   round. The target: HTTP + serialisation under 20 % of the in-process time per call.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import httpx

from bench.common import SHARED, machine, pct
from facealbum.adapters.catalog_sql import SqlCatalog
from facealbum.faces import InvalidParameter
from facealbum.settings import Settings
from facealbum.wiring import make_faces

KEY, SECRET = "FABENCH000000000", "bench-secret"


def people() -> list[tuple[str, Path]]:
    return [
        (p.parent.name, p)
        for p in sorted((SHARED / "people").glob("*/*"))
        if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    ]


def calibrate(faces) -> None:
    faces.create_collection("calibration")
    label: dict[str, str] = {}  # face id -> person
    singles = []
    for person, path in people():
        done = faces.index_faces("calibration", path.read_bytes(), _external(person, path))
        for record, _ in done.records:
            label[record.face_id] = person
        if len(done.records) == 1:
            singles.append(done.records[0][0].face_id)
    scored: dict[frozenset, tuple[float, bool]] = {}
    for face_id in singles:
        for m in faces.search_faces("calibration", face_id, 0, 4096):
            pair = frozenset((face_id, m.face.face_id))
            scored[pair] = (m.similarity, label[face_id] == label[m.face.face_id])
    same_total = sum(1 for _, same in scored.values() if same)
    print(
        f"\n## Calibration: {len(label)} faces of {len(set(label.values()))} people, "
        f"{len(scored)} pairs ({same_total} same person)"
    )
    print("| threshold | precision | recall | pairs at or above |\n|---:|---:|---:|---:|")
    for t in (50, 80, 90, 99):
        above = [same for sim, same in scored.values() if sim >= t]
        tp = sum(above)
        precision = tp / len(above) if above else 1.0
        print(f"| {t} | {precision:.3f} | {tp / same_total:.3f} | {len(above)} |")


def _external(person: str, path: Path) -> str:
    return re.sub(r"[^a-zA-Z0-9_.\-:]", "_", f"{person}:{path.name}")[:255]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = 18000 + os.getpid() % 1000
    env = os.environ | {
        "FACEALBUM_HOME": str(home),
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": SECRET,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "facealbum", "rekognition", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.post(url, timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def overhead(local, remote, photos: list[bytes], rounds: int) -> None:
    local.create_collection("speed")
    remote.create_collection(CollectionId="speed")
    times: dict[str, list[float]] = {
        k: [] for k in ("index-local", "index-http", "search-local", "search-http")
    }
    for _ in range(rounds):
        for data in photos:  # interleaved, so drift hits both alike
            t = time.perf_counter()
            local.index_faces("speed", data)
            times["index-local"].append(time.perf_counter() - t)
            t = time.perf_counter()
            remote.index_faces(CollectionId="speed", Image={"Bytes": data})
            times["index-http"].append(time.perf_counter() - t)
        for data in photos:
            t = time.perf_counter()
            with contextlib.suppress(InvalidParameter):  # no face found: same on both sides
                local.search_faces_by_image("speed", data, 80, 10)
            times["search-local"].append(time.perf_counter() - t)
            t = time.perf_counter()
            with contextlib.suppress(remote.exceptions.InvalidParameterException):
                remote.search_faces_by_image(
                    CollectionId="speed", Image={"Bytes": data}, FaceMatchThreshold=80, MaxFaces=10
                )
            times["search-http"].append(time.perf_counter() - t)
    print(f"\n## Per call, {len(photos)} photos x {rounds} rounds, one call at a time")
    print("| call | in-process p50 / p99 ms | boto3 → server p50 / p99 ms | overhead (mean) |")
    print("|---|---:|---:|---:|")
    for op in ("index", "search"):
        a, b = times[f"{op}-local"], times[f"{op}-http"]
        over = (statistics.mean(b) - statistics.mean(a)) / statistics.mean(a)
        print(
            f"| {op} | {pct(a, 50) * 1e3:.0f} / {pct(a, 99) * 1e3:.0f} | "
            f"{pct(b, 50) * 1e3:.0f} / {pct(b, 99) * 1e3:.0f} | {over * 100:+.1f} % |"
        )


def throughput(local, remote, photos: list[bytes], threads: int) -> None:
    """IndexFaces from several clients at once: photos per second, both ways."""
    from concurrent.futures import ThreadPoolExecutor

    local.create_collection("load")
    remote.create_collection(CollectionId="load")
    runs = {
        "in-process": lambda d: local.index_faces("load", d),
        "boto3 → server": lambda d: remote.index_faces(CollectionId="load", Image={"Bytes": d}),
    }
    print(f"\n## IndexFaces throughput, {len(photos)} photos, {threads} client threads")
    print("| path | photos/s |\n|---|---:|")
    for name, call in runs.items():
        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(call, photos))
        print(f"| {name} | {len(photos) / (time.perf_counter() - began):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"# bench/rekognition.py on {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "local")
        local = make_faces(settings, SqlCatalog(settings.catalog_url).engine)
        calibrate(local)
        if not args.rounds:
            return
        proc, url = start_server(Path(tmp) / "server")
        try:
            remote = boto3.client(
                "rekognition",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=KEY,
                aws_secret_access_key=SECRET,
            )
            photos = [p.read_bytes() for _, p in people()] + [
                p.read_bytes() for p in sorted((SHARED / "groups").glob("*.jp*g"))
            ]
            overhead(local, remote, photos, args.rounds)
            throughput(local, remote, photos, threads=4)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
