"""Memory of the Rekognition endpoint under one unsigned 1 GiB POST, before and after
the change that refuses a request from its headers (issue 16, item 1).

    .venv/bin/python -m bench.rekognition_body [--before b2c175f] [--gib 1]

Two `facealbum rekognition serve` processes side by side in one run: ``before``, the
code of a git revision (extracted with `git archive` into a temporary directory, put
first on PYTHONPATH), and this checkout. Each gets the same request: `X-Amz-Target:
RekognitionService.DetectFaces`, no Authorization, a Content-Length of ``--gib`` GiB
and that many bytes sent as fast as loopback takes them. The server's resident memory
is sampled every 20 ms; printed: its answer, the bytes it took before it stopped
reading, its peak growth and what it kept one second after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import free_port  # noqa: E402

from bench.common import machine  # noqa: E402

MB = 2**20
ROOT = Path(__file__).resolve().parent.parent


def post(port: int, total: int, server: psutil.Process) -> tuple[str, int, int, int]:
    """(status line, bytes the server took, peak RSS growth, RSS growth kept 1 s after)."""
    start = server.memory_info().rss
    peak = [start]
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    s.sendall(
        (
            f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "X-Amz-Target: RekognitionService.DetectFaces\r\n"
            "Content-Type: application/x-amz-json-1.1\r\n"
            f"Content-Length: {total}\r\n\r\n"
        ).encode()
    )
    sent, done = [0], threading.Event()

    def pump() -> None:
        block = b"\0" * MB
        with contextlib.suppress(OSError):  # the server closed: it reads no more
            while sent[0] < total:
                s.sendall(block)
                sent[0] += len(block)
        done.set()

    def watch() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], server.memory_info().rss)

    threads = [threading.Thread(target=pump), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    try:
        answer = s.recv(65536).decode("latin-1").split("\r\n", 1)[0]
    except OSError:
        answer = "(connection reset)"
    done.wait(600)
    s.close()
    done.set()
    for t in threads:
        t.join()
    time.sleep(1)
    kept = server.memory_info().rss
    return answer, sent[0], max(peak[0], kept) - start, kept - start


def serve(code: Path, home: Path, keys: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`facealbum rekognition serve` of the code in ``code``, once it answers (run from
    ``home``, so that no other checkout sits first on sys.path)."""
    home.mkdir(parents=True)
    port = free_port()
    env = os.environ | keys | {"FACEALBUM_HOME": str(home), "PYTHONPATH": str(code)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "facealbum", "rekognition", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return proc, port
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="b2c175f", help="git revision of the 'before' code")
    ap.add_argument("--gib", type=float, default=1.0)
    args = ap.parse_args()
    total = int(args.gib * 1024 * MB)
    keys = {
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": "FABENCH000000000",
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": "bench-secret",
    }
    print(f"machine: {machine()}")
    print(f"one unsigned POST of {total / MB:.0f} MB to `facealbum rekognition serve`")
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "facealbum"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        # the editable install's import hook would win over PYTHONPATH: drop it there
        (old / "sitecustomize.py").write_text(
            "import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
        )
        sides = {f"before ({args.before})": old, "after (this checkout)": ROOT}
        for name, code in sides.items():
            proc, port = serve(code, Path(tmp) / f"home-{name.split()[0]}", keys)
            try:
                server = psutil.Process(proc.pid)
                answer, took, peak, kept = post(port, total, server)
                print(
                    f"{name:24} {answer:48} took {took / MB:6.0f} MB  "
                    f"peak +{peak / MB:6.0f} MB  kept +{kept / MB:6.0f} MB"
                )
            finally:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
