"""Two versions of the code serving one copy of a cached scale album, side by side.

python -m bench.side_by_side --base DIR [--catalog postgresql --dsn URL] [--repeat 15]
    [--pictures N --sets M --faces N --people P] [--json OUT]

``DIR`` is a checkout of the code to compare with (``git worktree add DIR COMMIT``, or
``git archive COMMIT | tar -x -C DIR``); this checkout is the other. One copy of the
album bench/scale.py cached (its default shape, built first with that command) is
served by two real ``facealbum serve`` on loopback, one per version, started one
after the other (a cached PostgreSQL album may be at an older revision, and two
processes migrating one database at once race). Each of bench/scale.py's reads (but
the last page, whose cursor needs a walk) and 10 click-face searches is asked
``--repeat`` times, alternating between the two servers and swapping which goes first
each round, so both see the same load. Prints and writes ``{"reads": {route: {"base":
ms, "this": ms}}, "load": [load average per round]}`` (p50s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.scale import (
    ROOT,
    SECRET,
    Shape,
    cached_album,
    postgres,
    reads,
    work_copy,
)


def serve(root: Path, home: Path, url: str | None, port: int, log: Path) -> subprocess.Popen:
    env = os.environ | {
        "FACEALBUM_HOME": str(home),
        "FACEALBUM_OWNER_SECRET": SECRET,
        "FACEALBUM_MATCHES_RATE": "1000000",
    }
    if url:
        env["FACEALBUM_DATABASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "facealbum", "serve", "--port", str(port)],
        env=env, cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="a checkout of the other code")
    ap.add_argument("--catalog", choices=["sqlite", "postgresql"], default="postgresql")
    ap.add_argument("--dsn", default=os.environ.get("FACEALBUM_SCALE_PG"))
    cache = os.environ.get("FACEALBUM_SCALE_CACHE", Path(tempfile.gettempdir()) / "facealbum-scale")
    ap.add_argument("--cache", type=Path, default=Path(cache))
    ap.add_argument("--pictures", type=int, default=500_000)
    ap.add_argument("--sets", type=int, default=10_000)
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    named = max(1, args.people // 100)  # bench/scale.py's default
    shape = Shape(args.pictures, args.sets, args.faces, args.people, named, args.seed)
    client = httpx.Client(timeout=120)
    with postgres(args.catalog, args.dsn) as pg:
        where, facts = cached_album(shape, args.cache, pg)
        home, url = work_copy(where, pg)
        ready = f"/api/faces/{facts.stranger_face or facts.queries[0]}/matches?limit=1"
        procs: dict[str, subprocess.Popen] = {}
        bases: dict[str, str] = {}
        try:
            for name, root in (("base", args.base.resolve()), ("this", ROOT)):
                own = home.parent / f"{home.name}.{name}"
                shutil.rmtree(own, ignore_errors=True)
                shutil.copytree(home, own)
                port = free_port()
                log = Path(tempfile.gettempdir()) / f"facealbum-side-by-side-{name}.log"
                procs[name] = serve(root, own, url, port, log)
                bases[name] = f"http://127.0.0.1:{port}"
                while True:  # one at a time (module docstring)
                    if procs[name].poll() is not None:
                        raise RuntimeError(f"the {name} server exited: see {log}")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(bases[name] + ready).status_code == 200:
                            break
                    time.sleep(0.5)
            paths = {n: p(facts, {}) for n, p in reads() if "last page" not in n}
            paths |= {f"click-face {i}": f"/api/faces/{f}/matches" for i, f in
                      enumerate(facts.queries[:10])}  # fmt: skip
            times: dict[str, dict[str, list[float]]] = {n: {k: [] for k in bases} for n in paths}
            load = [os.getloadavg()[0]]
            for rep in range(args.repeat):
                order = list(bases.items())
                for n, path in paths.items():
                    if not path:
                        continue
                    for k, base in order if rep % 2 else order[::-1]:
                        began = time.perf_counter()
                        r = client.get(base + path)
                        times[n][k].append((time.perf_counter() - began) * 1000)
                        if r.status_code != 200:
                            raise RuntimeError(f"{k} answered {r.status_code} to {path}")
                load.append(os.getloadavg()[0])
        finally:
            for p in procs.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                p.wait(60)
            for name in ("base", "this"):
                shutil.rmtree(home.parent / f"{home.name}.{name}", ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
            if pg:
                pg.drop_copy(where.name)
    p50 = {n: {k: round(statistics.median(v), 1) for k, v in d.items()} for n, d in times.items()
           if all(d.values())}  # fmt: skip
    clicks = [n for n in p50 if n.startswith("click-face ")]
    p50["click-face p50 (10 faces)"] = {
        k: round(statistics.median(p50[n][k] for n in clicks), 1) for k in bases
    }
    for n, d in p50.items():
        print(f"| {n} | {d['base']:.1f} ms | {d['this']:.1f} ms |")
    print(f"load average {min(load):.1f}-{max(load):.1f}")
    result = {"reads": p50, "load": load}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
