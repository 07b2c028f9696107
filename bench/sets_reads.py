"""Reading sets and pictures at scale over HTTP, side by side: the code of a base commit
(default: the one before set paging) against this tree, on copies of one SQLite album.

    python -m bench.sets_reads [--sets 10000] [--big 200000] [--base fa86468] [--runs 15]

The album is filled once by the base commit's code (its own tables, bulk inserts:
10,000 sets with one picture each, plus one set of ``--big`` pictures), copied, and
each copy served by a real ``facealbum serve`` of its code (the new one migrates its
copy first: the counts' backfill, timed). Each route is asked ``--runs`` times; the
median ms and the answer's bytes are printed, and ``facealbum stats`` is timed with
its lines counted. Routes the base has no form of (cursors, neighbours) show as "-".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

FILL = r"""
import sys, time
from sqlalchemy import insert
from facealbum.adapters.catalog_sql import SqlCatalog
from facealbum.adapters.catalog_schema import sets, pictures
n_sets, n_big, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = SqlCatalog(url)
def pic(i, set_name, name):
    return {"image_id": f"img-{i:08d}", "set_name": set_name, "name": name,
            "sha256": f"{i:064x}", "width": 800, "height": 600,
            "original_key": f"{i:064x}.jpg", "content_type": "image/jpeg",
            "byte_size": 100000, "engine_tag": "t", "created_at": float(i)}
with c.engine.begin() as conn:
    conn.execute(insert(sets), [{"name": f"Set {i:05d}", "created_at": float(i),
                                 "featured_image_id": f"img-{i:08d}"} for i in range(n_sets)])
    conn.execute(insert(pictures), [pic(i, f"Set {i:05d}", "a.jpg") for i in range(n_sets)])
    conn.execute(insert(sets).values(name="Big", created_at=float(n_sets),
                                     featured_image_id=f"img-{n_sets:08d}"))
    rows = [pic(n_sets + i, "Big", f"photo-{i:07d}.jpg") for i in range(n_big)]
    for i in range(0, len(rows), 20000):
        conn.execute(insert(pictures), rows[i : i + 20000])
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(code: Path, home: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = os.environ | {"FACEALBUM_HOME": str(home), "PYTHONPATH": str(code)}
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "facealbum", "serve", "--port", str(port)],
        env=env, cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() - began < 600:
        try:
            if httpx.get(f"{base}/api/sets?limit=1", timeout=60).status_code == 200:
                return proc, base, time.monotonic() - began
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def measure(base: str, path: str, runs: int) -> tuple[float, int]:
    times, size = [], 0
    with httpx.Client(base_url=base, timeout=120) as c:
        for _ in range(runs):
            began = time.perf_counter()
            r = c.get(path)
            times.append((time.perf_counter() - began) * 1000)
            r.raise_for_status()
            size = len(r.content)
    return statistics.median(times), size


def stats_cli(code: Path, home: Path) -> tuple[float, int]:
    env = os.environ | {"FACEALBUM_HOME": str(home), "PYTHONPATH": str(code)}
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "facealbum", "stats"], env=env, cwd=code,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return (time.perf_counter() - began) * 1000, len(out.stdout.splitlines())


def routes(n_sets: int, n_big: int, new: bool) -> dict[str, str | None]:
    from facealbum import paging

    last = paging.encode([f"photo-{n_big - 201:07d}.jpg"])  # the last page of 200
    deep = f"img-{n_sets + n_big // 2:08d}"
    return {
        "/api/sets": "/api/sets",
        "/api/sets?sort=name": "/api/sets?sort=name",
        "set, first page of 200": "/api/sets/Big?limit=200",
        "set, last page of 200": (
            f"/api/sets/Big?limit=200&after={last}"
            if new
            else f"/api/sets/Big?limit=200&offset={n_big - 200}"
        ),
        "set, no limit given": "/api/sets/Big",
        "/ids": "/api/sets/Big/ids",
        "a picture (with neighbours)": f"/api/pictures/{deep}",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=200_000)
    ap.add_argument("--base", default="fa86468")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_code = Path(tmp) / "old"
        old_code.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base, "facealbum"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(old_code)], input=archive, check=True)
        homes = {"before": Path(tmp) / "before", "after": Path(tmp) / "after"}
        homes["before"].mkdir()
        began = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", FILL, str(args.sets), str(args.big),
             f"sqlite:///{homes['before'] / 'catalog.db'}"],
            env=os.environ | {"PYTHONPATH": str(old_code)}, cwd=old_code, check=True,
        )  # fmt: skip
        print(f"filled {args.sets} sets + {args.big} pictures in {time.monotonic() - began:.0f} s")
        shutil.copytree(homes["before"], homes["after"])
        table: dict[str, dict[str, str]] = {}
        for label, code in (("before", old_code), ("after", ROOT)):
            proc, base, started = serve(code, homes[label])
            try:
                if label == "after":
                    print(f"after: the server started (migration 0012 included) in {started:.1f} s")
                for name, path in routes(args.sets, args.big, label == "after").items():
                    ms, size = measure(base, path, args.runs) if path else (0.0, 0)
                    table.setdefault(name, {})[label] = f"{ms:8.1f} ms {size / 1000:9.1f} KB"
            finally:
                proc.terminate()
                proc.wait()
            ms, lines = stats_cli(code, homes[label])
            table.setdefault("facealbum stats (process)", {})[label] = (
                f"{ms:8.0f} ms {lines:6d} lines"
            )
        print(f"{'read':32} {'before':>26} {'after':>26}")
        for name, row in table.items():
            print(f"{name:32} {row.get('before', '-'):>26} {row.get('after', '-'):>26}")


if __name__ == "__main__":
    main()
