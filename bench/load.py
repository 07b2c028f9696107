"""Load and fault benchmark: many uploaders and visitors on one real server, a kill -9
in the middle, and a full disk.

    .venv/bin/python -m bench.load [--uploaders 16] [--photos 50] [--sets 4] [--visitors 50]
                                   [--phases load,kill,disk]

* load: ``uploaders`` owners' scripts each send ``photos`` distinct photos (one per
  request) into ``sets`` sets while ``visitors`` browse (sets, a set, a thumbnail, a
  picture) and search (a face's matches), each with a think time of 0-0.5 s. Reports
  lost, duplicated and 5xx counts and the visitors' p50/p99 while uploads are being
  accepted and processed.
* kill: the same load; when 40 % of the uploads are accepted the server and its worker
  processes get SIGKILL and it is started again at once. Uploaders re-send what got no
  answer. Every accepted upload must end added, duplicate (a re-send of a file the dead
  server had accepted) or failed, none queued; every photo must be in the album once.
* disk: the album on a 48 MB tmpfs (needs root; skipped where mount is refused); one
  uploader sends photos until the disk is full. The error must be clear, the album
  readable, and ``facealbum check`` clean (nothing half-written).

Photos are the ``../shared/faces`` people and group photos, made distinct by a few
bytes after the image data (the decoder ignores them; the content hash does not).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.common import SHARED, machine, other_pixels, pct

SECRET = "load benchmark secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def photos(n: int) -> list[tuple[str, bytes]]:
    sources = sorted(
        p
        for folder in ("people", "groups")
        for p in (SHARED / folder).rglob("*")
        if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    data = [p.read_bytes() for p in sources]
    return [
        (f"{i:04d}-{sources[i % len(sources)].name}", other_pixels(data[i % len(data)], i + 1))
        for i in range(n)
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, **env: str):
        self.home, self.port = home, free_port()
        self.env = os.environ | {"FACEALBUM_HOME": str(home), "FACEALBUM_OWNER_SECRET": SECRET}
        self.env |= env
        self.base = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facealbum", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.home.parent / "server.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/sets", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        """Like a power cut for the server: it and its worker processes, SIGKILL."""
        procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        for p in procs:
            p.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def seed(home: Path) -> None:
    """A set to browse from the first second on."""
    env = os.environ | {"FACEALBUM_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "facealbum", "import", str(SHARED / "groups"), "--set", "Seed"],
        env=env,
        check=True,
        capture_output=True,
    )


@dataclass
class Tally:
    accepted: dict[str, str] = field(default_factory=dict)  # upload id -> photo name
    refused: list[str] = field(default_factory=list)  # errors the server gave per file
    resent: int = 0
    server_errors: int = 0  # 5xx from anyone
    unreachable: int = 0  # requests that met a dead server (kill phase)
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)


async def uploader(
    c: httpx.AsyncClient, mine: list[tuple[str, bytes]], set_name: str, t: Tally
) -> None:
    for name, data in mine:
        while True:
            try:
                r = await c.post(
                    f"/api/sets/{set_name}/pictures", files=[("files", (name, data))], headers=AUTH
                )
            except httpx.TransportError:  # the server is down: send it again once it is up
                t.unreachable += 1
                t.resent += 1
                await asyncio.sleep(0.2)
                continue
            if r.status_code >= 500:
                t.server_errors += 1
                await asyncio.sleep(0.2)
                continue
            [u] = r.json()["uploads"]
            if u["status"] == "failed":
                t.refused.append(u["error"])
            else:
                t.accepted[u["upload_id"]] = name
            break


async def visitor(c: httpx.AsyncClient, t: Tally, stop: asyncio.Event, rng: random.Random) -> None:
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(0, 0.5))
        try:
            began = time.perf_counter()
            r = await c.get("/api/sets")
            sets = r.json()["sets"] if r.status_code == 200 else []
            t.server_errors += r.status_code >= 500
            if not sets:
                continue
            chosen = rng.choice(sets)["name"]
            r = await c.get(f"/api/sets/{chosen}", params={"limit": 200})
            t.server_errors += r.status_code >= 500
            pictures = r.json().get("pictures", []) if r.status_code == 200 else []
            _record(t, "sets + a set", time.perf_counter() - began)
            if not pictures:
                continue
            picture = rng.choice(pictures)
            for kind, url in (
                ("thumbnail", picture["thumb_url"]),
                ("picture", f"/api/pictures/{picture['image_id']}"),
            ):
                began = time.perf_counter()
                r = await c.get(url)
                t.server_errors += r.status_code >= 500
                _record(t, kind, time.perf_counter() - began)
            if picture["faces"]:
                began = time.perf_counter()
                r = await c.get(f"/api/faces/{rng.choice(picture['faces'])['face_id']}/matches")
                t.server_errors += r.status_code >= 500
                _record(t, "face search", time.perf_counter() - began)
        except httpx.TransportError:
            t.unreachable += 1
            await asyncio.sleep(0.2)


def _record(t: Tally, kind: str, seconds: float) -> None:
    t.latencies.append(seconds)
    t.by_kind.setdefault(kind, []).append(seconds)


async def statuses(c: httpx.AsyncClient, ids: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i in range(0, len(ids), 300):
        while True:
            try:
                r = await c.get(
                    "/api/uploads", params={"ids": ",".join(ids[i : i + 300])}, headers=AUTH
                )
                break
            except httpx.TransportError:
                await asyncio.sleep(0.5)
        out |= {u["upload_id"]: u for u in r.json()["uploads"]}
    return out


async def drive(server: Server, args, all_photos, kill_at: float | None = None) -> dict:
    t = Tally()
    stop = asyncio.Event()
    sets = [f"Load {k + 1}" for k in range(args.sets)]
    limits = httpx.Limits(max_connections=args.uploaders + args.visitors + 4)
    async with httpx.AsyncClient(base_url=server.base, timeout=600, limits=limits) as c:
        began = time.monotonic()
        visitors = [
            asyncio.create_task(visitor(c, t, stop, random.Random(v))) for v in range(args.visitors)
        ]
        per = args.photos
        uploads = [
            asyncio.create_task(
                uploader(c, all_photos[u * per : (u + 1) * per], sets[u % args.sets], t)
            )
            for u in range(args.uploaders)
        ]
        killed_at = restarted_at = None
        if kill_at is not None:
            while len(t.accepted) < kill_at * len(all_photos):
                await asyncio.sleep(0.05)
            server.kill9()
            killed_at = time.monotonic()
            await asyncio.to_thread(server.start)
            restarted_at = time.monotonic()
        await asyncio.gather(*uploads)
        accepted_in = time.monotonic() - began
        ids = list(t.accepted)
        while True:  # until nothing is queued any more (or clearly stuck)
            found = await statuses(c, ids)
            queued = [i for i in ids if found.get(i, {}).get("status") == "queued"]
            if not queued or time.monotonic() - began > args.timeout:
                break
            await asyncio.sleep(1)
        processed_in = time.monotonic() - began
        stop.set()
        await asyncio.gather(*visitors)
    return {
        "tally": t,
        "statuses": found,
        "queued": queued,
        "accepted_in": accepted_in,
        "processed_in": processed_in,
        "killed_at": killed_at,
        "restarted_at": restarted_at,
        "began": began,
        "sets": sets,
    }


async def visitors_alone(server: Server, args, seconds: float) -> Tally:
    """The same visitors on the seeded album with no uploads: the baseline."""
    t, stop = Tally(), asyncio.Event()
    limits = httpx.Limits(max_connections=args.visitors + 4)
    async with httpx.AsyncClient(base_url=server.base, timeout=600, limits=limits) as c:
        tasks = [
            asyncio.create_task(visitor(c, t, stop, random.Random(1000 + v)))
            for v in range(args.visitors)
        ]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
    return t


def report_latencies(t: Tally) -> None:
    print("| visitor request | n | p50 ms | p99 ms |\n|---|---:|---:|---:|")
    for kind, values in sorted(t.by_kind.items()):
        print(
            f"| {kind} | {len(values)} | {pct(values, 50) * 1000:.0f} | "
            f"{pct(values, 99) * 1000:.0f} |"
        )
    v = t.latencies
    print(f"| all | {len(v)} | {pct(v, 50) * 1000:.0f} | {pct(v, 99) * 1000:.0f} |")


def verify(home: Path, run: dict, all_photos) -> dict:
    """What the album holds, read from its catalog after the run."""
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    album = open_album(Settings(home=home))
    names, shas = [], []
    for s in run["sets"]:
        for p in album.get_set(s)[1]:
            names.append(p.name)
            shas.append(p.sha256)
    counts: dict[str, int] = {}
    for u in run["statuses"].values():
        counts[u["status"]] = counts.get(u["status"], 0) + 1
    sent = {name for name, _ in all_photos}
    rerun = [u for u in album.catalog.get_uploads(list(run["statuses"])) if u.attempts > 1]
    return {
        "rerun": len(rerun),
        "pictures": len(names),
        "lost": len(sent - set(names)),
        "duplicated": len(names) - len(set(shas)),
        "statuses": counts,
        "stuck": len(run["queued"]),
    }


def report_load(title: str, run: dict, found: dict) -> None:
    t: Tally = run["tally"]
    print(f"\n## {title}")
    print(
        f"accepted {len(t.accepted)} uploads in {run['accepted_in']:.1f} s, all processed after "
        f"{run['processed_in']:.1f} s; pictures {found['pictures']}, lost {found['lost']}, "
        f"duplicated {found['duplicated']}, stuck queued {found['stuck']}, "
        f"5xx {t.server_errors}, final statuses {found['statuses']}, "
        f"run again after their runner died {found['rerun']}"
    )
    if t.refused:
        print(f"refused by the server: {len(t.refused)} (first: {t.refused[0]})")
    if run["killed_at"]:
        print(
            f"kill -9 after {run['killed_at'] - run['began']:.1f} s, serving again "
            f"{run['restarted_at'] - run['killed_at']:.1f} s later; uploads re-sent "
            f"{t.resent}, requests that met the dead server {t.unreachable}"
        )
    report_latencies(t)


def phase_load(args, all_photos, kill: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="facealbum-load-") as tmp:
        home = Path(tmp) / "home"
        seed(home)
        env = {"FACEALBUM_UPLOAD_LEASE_SECONDS": "6", "FACEALBUM_UPLOAD_REQUEUE_AFTER": "20"}
        server = Server(home, **(env if kill else {}))
        try:
            if not kill:
                alone = asyncio.run(visitors_alone(server, args, args.baseline))
                print(f"\n## {args.visitors} visitors alone, {args.baseline:.0f} s (baseline)")
                report_latencies(alone)
            run = asyncio.run(drive(server, args, all_photos, 0.4 if kill else None))
        finally:
            server.stop()
        found = verify(home, run, all_photos)
        title = "kill -9 in the middle (lease 6 s, re-queue after 20 s)" if kill else "load"
        report_load(title, run, found)
        ok_statuses = set(found["statuses"]) <= (
            {"added", "duplicate", "failed"} if kill else {"added"}
        )
        return (
            found["lost"] == 0
            and found["duplicated"] == 0
            and found["stuck"] == 0
            and run["tally"].server_errors == 0
            and ok_statuses
        )


def phase_disk(args, all_photos) -> bool:
    mount = Path(tempfile.mkdtemp(prefix="facealbum-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        print(f"\n## full disk\nskipped: cannot mount a small filesystem ({done.stderr.strip()})")
        return True
    try:
        home = mount / "home"
        seed(home)
        server = Server(home, FACEALBUM_MIN_FREE_BYTES=str(4 << 20))
        t = Tally()
        try:

            async def fill() -> dict:
                async with httpx.AsyncClient(base_url=server.base, timeout=600) as c:
                    for i in range(0, len(all_photos), 10):
                        batch = all_photos[i : i + 10]
                        r = await c.post(
                            "/api/sets/Full/pictures",
                            headers=AUTH,
                            files=[("files", (n, d)) for n, d in batch],
                        )
                        t.server_errors += r.status_code >= 500
                        for u in r.json().get("uploads", []):
                            if u["status"] == "failed":
                                t.refused.append(u["error"])
                            else:
                                t.accepted[u["upload_id"]] = u["name"]
                        if t.refused:
                            break
                    ids = list(t.accepted)
                    for _ in range(300):
                        found = await statuses(c, ids)
                        if all(u["status"] != "queued" for u in found.values()):
                            break
                        await asyncio.sleep(1)
                    # then something else fills the disk to the last byte
                    filler = _fill(mount)
                    r = await c.post(
                        "/api/sets/Full/pictures", headers=AUTH, files=[("files", all_photos[-1])]
                    )
                    t.server_errors += r.status_code >= 500
                    late = r.json()["uploads"][0]
                    r = await c.patch("/api/sets/Full", headers=AUTH, json={"name": "Renamed"})
                    edit = f"{r.status_code} {r.json().get('error')}"
                    sets = (await c.get("/api/sets")).json()["sets"]
                    thumb = (await c.get(f"/api/sets/{sets[-1]['name']}")).json()["pictures"][0]
                    readable = (await c.get(thumb["thumb_url"])).status_code == 200
                    filler.unlink()
                    return {
                        "statuses": found,
                        "readable": readable,
                        "sets": len(sets),
                        "late": late,
                        "edit": edit,
                    }

            out = asyncio.run(fill())
        finally:
            server.stop()
        check = subprocess.run(
            [sys.executable, "-m", "facealbum", "check"],
            capture_output=True,
            text=True,
            env=os.environ | {"FACEALBUM_HOME": str(home)},
        )
        counts: dict[str, int] = {}
        for u in out["statuses"].values():
            counts[u["status"]] = counts.get(u["status"], 0) + 1
        failed = [u["error"] for u in out["statuses"].values() if u["status"] == "failed"]
        leftovers = list((home / "blobs" / ".tmp").iterdir())
        print("\n## full disk (48 MB tmpfs)")
        print(
            f"accepted {len(t.accepted)} uploads before the disk filled; final statuses {counts}; "
            f"5xx {t.server_errors}; album readable: {out['readable']}; partial files: "
            f"{len(leftovers)}; facealbum check exit {check.returncode}"
        )
        print(f"error shown for the refused file: {t.refused[0] if t.refused else '-'}")
        print(
            f"disk then filled to the last byte: an upload gets {out['late'].get('error')!r}; "
            f"renaming a set gets {out['edit']!r}"
        )
        if failed:
            print(f"error shown for an upload that could not be stored: {failed[0]}")
        return (
            bool(t.refused)
            and "full" in t.refused[0]
            and "full" in str(out["late"].get("error"))
            and out["edit"].startswith(("200", "507"))  # SQLite may reuse its WAL pages
            and out["readable"]
            and not leftovers
            and t.server_errors == 0
            and check.returncode == 0
        )
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def _fill(mount: Path) -> Path:
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uploaders", type=int, default=16)
    ap.add_argument("--photos", type=int, default=50, help="per uploader")
    ap.add_argument("--sets", type=int, default=4)
    ap.add_argument("--visitors", type=int, default=50)
    ap.add_argument("--phases", default="load,kill,disk")
    ap.add_argument("--baseline", type=float, default=30, help="seconds of visitors alone")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for the queue")
    args = ap.parse_args()
    all_photos = photos(args.uploaders * args.photos)
    print(f"# bench/load.py on {machine()}")
    print(
        f"{args.uploaders} uploaders x {args.photos} photos into {args.sets} sets, "
        f"{args.visitors} visitors"
    )
    ok = True
    phases = args.phases.split(",")
    if "load" in phases:
        ok &= phase_load(args, all_photos, kill=False)
    if "kill" in phases:
        ok &= phase_load(args, all_photos, kill=True)
    if "disk" in phases:
        ok &= phase_disk(args, photos(400))
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
