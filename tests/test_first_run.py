"""Issue 19, item 6: the first five minutes. `scripts/start.sh` run again starts at once
(nothing installed or imported twice), a busy port is one line that names the way out,
the first start prints the owner's secret and not the Rekognition keys (their own command
prints them), and the server logs each request and each processed upload in one line."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import PHOTOS, start_server

from facealbum.settings import Settings
from facealbum.wiring import open_album

ROOT = Path(__file__).resolve().parent.parent


def facealbum(*args: str, home: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = os.environ | {"FACEALBUM_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "facealbum", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def held_port() -> socket.socket:
    """A port another program listens on."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_a_busy_port_is_one_line_naming_port_and_facealbum_port(tmp_path):
    with held_port() as holder:
        port = str(holder.getsockname()[1])
        for command in (("serve",), ("rekognition", "serve")):
            done = facealbum(*command, "--port", port, home=tmp_path / "home")
            assert done.returncode == 2, done
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert port in lines[0] and "--port" in lines[0] and "FACEALBUM_PORT" in lines[0]
            assert "Errno" not in done.stderr + done.stdout


def test_start_sh_again_installs_and_imports_nothing(tmp_path):
    """A fresh clone's start.sh (its install already done: .venv and its mark), run
    twice: the first imports the samples, the second goes straight to serving. Both
    end at once here, on a busy port."""
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "start.sh", clone / "scripts")
    shutil.copy(ROOT / "pyproject.toml", clone)
    shutil.copytree(ROOT / "samples" / "nofaces", clone / "samples")  # two, for speed
    bin_ = clone / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name in ("python", "facealbum"):  # no pip: an install here must fail, not reinstall
        (bin_ / name).symlink_to(Path(sys.executable).parent / name)
    (clone / ".venv" / ".facealbum-installed").touch()  # newer than pyproject.toml
    env = os.environ | {"COLUMNS": "200"}
    env.pop("FACEALBUM_HOME", None)
    outputs = []
    with held_port() as holder:
        port = str(holder.getsockname()[1])
        for _ in range(2):
            done = subprocess.run(
                ["bash", str(clone / "scripts" / "start.sh"), "--port", port],
                env=env, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 2, done  # the busy port, after install and import
            outputs.append(done.stdout)
    assert "Installing" not in outputs[0] + outputs[1]
    assert "Import into Sample" in outputs[0]
    assert "Import" not in outputs[1] and "Starting" in outputs[1]
    album = open_album(Settings(home=clone / "facealbum-data"))
    samples = [p for p in (clone / "samples").rglob("*.jpg")]
    assert album.catalog.get_set("Sample").picture_count == len(samples)  # once each


def test_first_serve_prints_the_secret_once_not_the_keys_and_logs_requests_and_uploads(
    tmp_path,
):
    home = tmp_path / "home"
    proc, base = start_server(home, {"FACEALBUM_ACCESS_LOG": "true"})
    try:
        secret = (home / "owner-secret").read_text().strip()
        photo = PHOTOS / "obama" / "obama-480p.jpg"
        with httpx.Client(base_url=base, timeout=60) as c:
            c.headers["Authorization"] = f"Bearer {secret}"
            assert c.post("/api/sets", json={"name": "Trip"}).status_code == 201
            files = {"files": ("obama.jpg", photo.read_bytes())}
            r = c.post("/api/sets/Trip/pictures", files=files)
            upload = r.json()["uploads"][0]["upload_id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = c.get("/api/uploads", params={"ids": upload}).json()["uploads"][0]
                if got["status"] != "queued":
                    break
                time.sleep(0.2)
            assert got["status"] == "added"
            time.sleep(0.3)  # the upload's log line follows its status
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    lines = out.splitlines()
    assert sum(secret in line for line in lines) == 1
    keys = facealbum("rekognition", "keys", home=home)
    assert keys.returncode == 0, keys
    key_id = keys.stdout.split("AWS_ACCESS_KEY_ID=")[1].split()[0]
    assert key_id.startswith("FA") and key_id not in out and "AWS_SECRET" not in out
    assert [line for line in lines if '"POST /api/sets/Trip/pictures HTTP/1.1" 202' in line]
    assert len([line for line in lines if '"GET /api/uploads?' in line]) >= 1
    uploads = [line for line in lines if "upload obama.jpg" in line]
    assert len(uploads) == 1 and "'Trip': added (1 faces" in uploads[0], out


def test_the_printed_address_can_be_opened_on_ipv6():
    """`serve --host ::1` printed http://::1:8000, which no browser opens (RFC 3986
    writes an IPv6 host in brackets)."""
    from facealbum.cli import _http_url

    assert _http_url(Settings(host="::1", port=8001)) == "http://[::1]:8001"
    assert _http_url(Settings(host="127.0.0.1", port=8000)) == "http://127.0.0.1:8000"
