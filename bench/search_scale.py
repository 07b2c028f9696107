"""Click-face search at full size, two versions of the code side by side in one run.

    python -m bench.search_scale --album /tmp/facealbum-scale/p500000-...-sqlite \\
        --base 5e3d613 [--rounds 2] [--clicks 10]

``--album`` is a directory bench/scale.py built (its ``home/``, ``vectors.npy``,
``facts.json``); it is copied once (never changed in place) and both versions search
the same copy, the same saved face index, in turns (base, this, base, this: the load
of the machine falls on both alike). ``--base`` is a git revision, checked out aside
with ``git archive``. Per version, as a visitor: the p50 of a click on each of the
album's ``--clicks`` query faces (the median over them of each face's median over
``--repeat``) in-process (``Album.search``) and over HTTP (``facealbum serve`` on
loopback), recall@10 against the exact scan of the
descriptors (bench/scale.py's ``in_process``), a click on a named person's face and
on the largest person's, and at threshold 0 the first page and the page at
picture ``--deep``. Beside the wall times, the CPU they took (``cpu_*``: the searching
thread's in-process, the server process's over HTTP), which the load sways far less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _p50(fn, repeat: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        began = clock()
        fn()
        times.append((clock() - began) * 1000)
    return round(statistics.median(times), 2)


def _cpu_of(pid: int) -> float:
    """Seconds of CPU a process has used (user + system, /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _of_faces(per: dict[str, list[float]]) -> float:
    """The median over the faces of each face's median: at a high load average one
    request's time swings 2x, a face's median over a few much less."""
    return round(statistics.median(statistics.median(t) for t in per.values()), 2)


def inner(album_dir: Path, home: Path, clicks: int, deep: int, repeat: int) -> dict:
    """Run in the version's own tree (its bench.scale, its facealbum)."""
    from bench.scale import Facts, Server, fetch, in_process, settings_for
    from facealbum.wiring import open_album

    raw = json.loads((album_dir / "facts.json").read_text())
    facts = Facts(**raw)
    import facealbum

    out: dict = {"code": str(Path(facealbum.__file__).parents[1])}
    server = Server(home, None, 120)
    try:
        server.start(facts.stranger_face or facts.queries[0])

        def get(path: str) -> float:
            ms, status, _ = fetch(server, "GET", path, 120)
            assert status == 200, (path, status)
            return ms

        assert server.proc is not None
        pid = server.proc.pid
        per = {q: [get(f"/api/faces/{q}/matches") for _ in range(repeat)]
               for q in facts.queries[:clicks]}  # fmt: skip
        out["http_p50_ms"] = _of_faces(per)
        # the server's CPU per click (the clock ticks at 10 ms: 20 clicks of a face
        # each, divided): far less swayed by the machine's load than the wall time
        cpu: dict[str, list[float]] = {}
        for q in facts.queries[:clicks]:
            began = _cpu_of(pid)
            for _ in range(20):
                get(f"/api/faces/{q}/matches")
            cpu[q] = [(_cpu_of(pid) - began) * 1000 / 20]
        out["http_cpu_p50_ms"] = _of_faces(cpu)
        for name, face in (("named", facts.named_face), ("largest", facts.largest_face)):
            began = _cpu_of(pid)
            for _ in range(10):
                get(f"/api/faces/{face}/matches")
            out[f"http_cpu_{name}_ms"] = round((_cpu_of(pid) - began) * 100, 2)
        m = "/api/faces/{}/matches"
        out["http_named_ms"] = _p50(lambda: get(m.format(facts.named_face)), repeat)
        out["http_largest_ms"] = _p50(lambda: get(m.format(facts.largest_face)), repeat)
        s = facts.stranger_face
        out["http_t0_first_ms"] = _p50(lambda: get(m.format(s) + "?threshold=0"), repeat)
        deep_path = m.format(s) + f"?threshold=0&offset={deep}"
        out["http_t0_deep_ms"] = _p50(lambda: get(deep_path), 1)
    finally:
        server.stop()
    out.update(in_process(home, None, album_dir, facts, clicks))
    album = open_album(settings_for(home, None))
    album.warm()
    for q in facts.queries[:clicks]:
        album.search(q)
    per = {q: [] for q in facts.queries[:clicks]}
    for _ in range(repeat):
        for q in per:
            began = time.perf_counter()
            album.search(q)
            per[q].append((time.perf_counter() - began) * 1000)
    out["p50_ms"] = _of_faces(per)  # warmed
    per = {q: [] for q in facts.queries[:clicks]}
    for _ in range(repeat):
        for q in per:
            began = time.thread_time()  # this thread's CPU (faiss runs in it: 1 thread)
            album.search(q)
            per[q].append((time.thread_time() - began) * 1000)
    out["cpu_p50_ms"] = _of_faces(per)
    cpu = time.thread_time
    out["cpu_named_ms"] = _p50(lambda: album.search(facts.named_face), repeat, cpu)
    out["cpu_largest_ms"] = _p50(lambda: album.search(facts.largest_face), repeat, cpu)
    out["named_ms"] = _p50(lambda: album.search(facts.named_face), repeat)
    out["largest_ms"] = _p50(lambda: album.search(facts.largest_face), repeat)
    out["t0_first_ms"] = _p50(lambda: album.search(s, threshold=0), repeat)
    out["t0_deep_ms"] = _p50(lambda: album.search(s, threshold=0, offset=deep), 1)
    album.close()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--album", type=Path, required=True)
    ap.add_argument("--base", default="HEAD", help="git revision to compare with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--deep", type=int, default=4_000, help="threshold 0: page at this picture")
    ap.add_argument("--work", type=Path, help="a copy of the album's home/ to search in")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.inner:
        print(json.dumps(inner(a.album, a.home, a.clicks, a.deep, a.repeat)))
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", a.base], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        home = a.work or Path(tmp) / "home"
        if not a.work:
            shutil.copytree(a.album / "home", home)
        results: dict[str, list[dict]] = {a.base: [], "this": []}
        for _ in range(a.rounds):
            for name, tree in ((a.base, base), ("this", ROOT)):
                cmd = [sys.executable, __file__, "--inner", "--album",
                       str(a.album), "--home", str(home), "--clicks", str(a.clicks),
                       "--deep", str(a.deep), "--repeat", str(a.repeat)]  # fmt: skip
                env = os.environ | {"PYTHONPATH": str(tree)}
                done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{name}: {done.stderr[-3000:]}")
                results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(name, results[name][-1], flush=True)
    sys.path.insert(0, str(ROOT / "bench"))
    from common import machine

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{machine()}; load average {load}\n")
    keys = [k for k in results["this"][0] if k != "code"]
    print(f"| p50 | {a.base} | this |\n|---|---:|---:|")
    for k in keys:
        row = [statistics.median(r[k] for r in results[n]) for n in (a.base, "this")]
        print(f"| {k} | {row[0]:g} | {row[1]:g} |")


if __name__ == "__main__":
    main()
