"""Memory of one huge upload: how much the server and its worker processes grow.

    python bench/upload_memory.py [--megapixels 88]

A real `facealbum serve` on loopback; a photo enlarged to 88 MP and saved as PNG (under
the 120 MP limit, so it is accepted) is uploaded by the owner. Resident memory of the
server and of every process under it is sampled every 20 ms. Two runs: the defaults
(a photo that decodes past `big_image_pixels` is analysed in a process of its own), and
with that limit raised so the same photo goes through a pooled worker, which shows what
a long-lived worker would keep.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import contextlib

from common import machine  # noqa: E402
from conftest import PHOTOS, start_server  # noqa: E402

SECRET = "bench secret"
MB = 2**20


def big_png(megapixels: float) -> bytes:
    photo = Image.open(PHOTOS / "obama" / "obama.jpg").convert("RGB")
    k = (megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
    big = photo.resize((round(photo.width * k), round(photo.height * k)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    big.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


class Sampler:
    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def rss(self) -> dict[int, int]:
        out = {}
        for p in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                out[p.pid] = p.memory_info().rss
        return out

    def run(self) -> None:
        while not self.stop.is_set():
            for pid, rss in self.rss().items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
            time.sleep(0.02)


def wait(c: httpx.Client, upload_id: str) -> dict:
    while True:
        [u] = c.get("/api/uploads", params={"ids": upload_id}).json()["uploads"]
        if u["status"] != "queued":
            return u
        time.sleep(0.1)


def send(c: httpx.Client, name: str, data: bytes) -> dict:
    r = c.post("/api/sets/Bench/pictures", files=[("files", (name, data, "image/png"))])
    return wait(c, r.json()["uploads"][0]["upload_id"])


def run(data: bytes, env: dict[str, str], label: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="facealbum-mem-")) / "home"
    proc, base = start_server(home, {"FACEALBUM_OWNER_SECRET": SECRET} | env)
    try:
        with httpx.Client(base_url=base, timeout=600) as c:
            csrf = c.post("/api/session", json={"secret": SECRET}).json()["csrf"]
            c.headers["X-CSRF-Token"] = csrf
            send(c, "warm.jpg", (PHOTOS / "obama" / "obama2.jpg").read_bytes())
            sampler = Sampler(proc.pid)
            before = sampler.rss()
            sampler.thread.start()
            t = time.perf_counter()
            outcome = send(c, "huge.png", data)
            seconds = time.perf_counter() - t
            time.sleep(0.5)
            sampler.stop.set()
            sampler.thread.join()
            after = sampler.rss()
        print(f"\n{label}: {outcome['status']} ({outcome.get('faces')} faces) in {seconds:.1f} s")
        for pid, peak in sorted(sampler.peaks.items()):
            kind = (
                "server"
                if pid == proc.pid
                else ("pooled worker" if pid in before else "process of its own")
            )
            start = before.get(pid)
            grew = f"+{(peak - start) / MB:.0f} MB" if start else "(new)"
            end = after.get(pid)
            left = f"{(end - start) / MB:+.0f} MB" if start and end else "exited"
            print(f"  {kind:<20} pid {pid}: peak {peak / MB:.0f} MB {grew}; afterwards {left}")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--megapixels", type=float, default=88)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    data = big_png(args.megapixels)
    with Image.open(io.BytesIO(data)) as img:
        size = img.size
    mp = size[0] * size[1] / 1e6
    print(f"upload: {size[0]}x{size[1]} PNG ({mp:.0f} MP, {len(data) / MB:.0f} MB)")
    run(data, {}, "defaults (big photos in a process of their own)")
    run(data, {"FACEALBUM_BIG_IMAGE_PIXELS": "1000000000"}, "forced through a pooled worker")


if __name__ == "__main__":
    main()
