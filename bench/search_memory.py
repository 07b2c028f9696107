"""Memory of what visitors send: four searches by photo at once, and one anonymous
1 GiB POST to an owner's route: how much the server grows.

    python bench/search_memory.py [--before /work/main]

Four 10900x11000 PNGs of one colour (120 MP each, 0.4 MB on disk) are sent at once to
``POST /api/search/by-image`` of a real `facealbum serve` on loopback, by visitors
(no credentials). Resident memory of the server and of each process under it is
sampled every 20 ms. Three servers, one after the other, in one run:

- the code before (``--before``: a checkout with its own .venv, started from there),
  which decodes each photo in the server process;
- this code with its defaults: the header says 120 MP, over FACEALBUM_SEARCH_MAX_PIXELS,
  so each photo is refused (413) before a pixel is decoded, or 429 past the searches
  allowed at once;
- this code with the pixel cap lifted, so the photos are decoded, in the search worker
  processes, never in the server.

Then, for the code before and this code, one visitor POSTs 1 GiB of JSON to
``/api/sets`` (an owner's route) without credentials: the head first, the body only if
no answer came within 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from common import machine  # noqa: E402
from conftest import PHOTOS, free_port  # noqa: E402
from upload_memory import MB, Sampler  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def flat_png(width: int = 10900, height: int = 11000) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (180, 140, 120)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def start(python: str, cwd: Path, home: Path, env: dict[str, str]):
    port = free_port()
    proc = subprocess.Popen(
        [python, "-m", "facealbum", "serve", "--port", str(port)],
        cwd=cwd,
        env=os.environ | {"FACEALBUM_HOME": str(home)} | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/api/sets", timeout=1).status_code == 200:
                return proc, base
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def run(label: str, python: str, cwd: Path, data: bytes, env: dict[str, str]) -> None:
    home = Path(tempfile.mkdtemp(prefix="facealbum-search-mem-")) / "home"
    proc, base = start(python, cwd, home, env)
    try:
        with httpx.Client(base_url=base, timeout=600) as c:
            warm = (PHOTOS / "obama" / "obama.jpg").read_bytes()  # model and workers up
            c.post("/api/search/by-image", files={"file": ("warm.jpg", warm)})
            time.sleep(1)
            sampler = Sampler(proc.pid)
            before = sampler.rss()
            sampler.thread.start()
            answers: list[int] = []

            def send(source: str) -> None:
                # four visitors, four addresses (one address runs one search at once)
                transport = httpx.HTTPTransport(local_address=source)
                with httpx.Client(base_url=base, timeout=600, transport=transport) as v:
                    r = v.post("/api/search/by-image", files={"file": ("big.png", data)})
                answers.append(r.status_code)

            t = time.perf_counter()
            threads = [threading.Thread(target=send, args=(f"127.0.0.{i + 2}",)) for i in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            seconds = time.perf_counter() - t
            time.sleep(1)
            sampler.stop.set()
            sampler.thread.join()
            after = sampler.rss()
        server_before, server_peak = before[proc.pid], sampler.peaks[proc.pid]
        print(f"\n{label}: answers {sorted(answers)} in {seconds:.1f} s")
        print(
            f"  server      : {server_before / MB:.0f} MB -> peak {server_peak / MB:.0f} MB "
            f"(+{(server_peak - server_before) / MB:.0f} MB), "
            f"afterwards {(after[proc.pid] - server_before) / MB:+.0f} MB"
        )
        for pid, peak in sorted(sampler.peaks.items()):
            if pid != proc.pid:
                start_rss = before.get(pid)
                grew = f"+{(peak - start_rss) / MB:.0f} MB" if start_rss else "(new)"
                print(f"  worker {pid}: peak {peak / MB:.0f} MB {grew}")
    finally:
        proc.terminate()
        proc.wait(30)


def anonymous_gib(label: str, python: str, cwd: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="facealbum-body-mem-")) / "home"
    proc, base = start(python, cwd, home, {})
    try:
        sampler = Sampler(proc.pid)
        before = sampler.rss()[proc.pid]
        sampler.thread.start()
        port = int(base.rsplit(":", 1)[1])
        head = (
            "POST /api/sets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2**30}\r\n\r\n"
        ).encode()
        sent = 0
        t = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(head)
            try:
                answer = s.recv(4096)
            except TimeoutError:  # no answer yet: the server waits for the body
                s.settimeout(600)
                chunk = b"a" * MB
                with contextlib.suppress(OSError):
                    for _ in range(1024):
                        s.sendall(chunk)
                        sent += len(chunk)
                answer = s.recv(4096)
        seconds = time.perf_counter() - t
        time.sleep(1)
        sampler.stop.set()
        sampler.thread.join()
        after = sampler.rss()[proc.pid]
        status = answer.split(b"\r\n", 1)[0].decode() or "(closed)"
        peak = sampler.peaks[proc.pid]
        print(
            f"\n{label}: {status} after {sent / MB:.0f} MB sent, {seconds:.1f} s; server "
            f"{before / MB:.0f} MB -> peak {peak / MB:.0f} MB (+{(peak - before) / MB:.0f} MB), "
            f"afterwards {(after - before) / MB:+.0f} MB"
        )
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, default=Path("/work/main"))
    ap.add_argument("--before-rev", help="its commit, if --before is no git checkout")
    ap.add_argument("--only-bodies", action="store_true", help="skip the searches")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    before_python = str(args.before / ".venv" / "bin" / "python")
    rev = subprocess.run(
        ["git", "-C", str(args.before), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    rev = args.before_rev or rev
    if not args.only_bodies:
        data = flat_png()
        print(f"each photo: 10900x11000 PNG (120 MP), {len(data) / MB:.2f} MB; four at once")
        run(f"before ({rev})", before_python, args.before, data, {})
        run("this code, defaults", sys.executable, HERE, data, {})
        run(
            "this code, pixel cap lifted (decoded in the workers)",
            sys.executable,
            HERE,
            data,
            {"FACEALBUM_SEARCH_MAX_PIXELS": "200000000"},
        )
    anonymous_gib(f"1 GiB anonymous POST /api/sets, before ({rev})", before_python, args.before)
    anonymous_gib("1 GiB anonymous POST /api/sets, this code", sys.executable, HERE)


if __name__ == "__main__":
    main()
