"""`facealbum serve --workers 2`: two real server processes (uvicorn's supervisor) on
one SQLite catalog, reached over real HTTP. Each connection is answered by one process,
found through the kernel's table of its sockets (psutil), so the test knows which
process answered what: a photo uploaded through one is found by searches on both, its
upload job runs once, and its deletion through one leaves both processes' indexes
without rebuilding them; killed, it takes its processes with it."""

from __future__ import annotations

import http.client
import io
import json
import shutil
import time
from pathlib import Path

import psutil
from conftest import PHOTOS, start_server
from PIL import Image

from facealbum.settings import Settings
from facealbum.wiring import open_album

SECRET = "workers-test-owner-secret"
OWNER = {"Authorization": f"Bearer {SECRET}"}


def _servers(parent: int) -> list[psutil.Process]:
    """The supervisor's server processes (not multiprocessing's resource tracker)."""
    return [
        p
        for p in psutil.Process(parent).children()
        if any("spawn_main" in part for part in p.cmdline())
    ]


class _Connection:
    """One keep-alive HTTP connection, and the server process that accepted it."""

    def __init__(self, port: int, servers: list[psutil.Process]):
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.http.connect()
        self.pid = 0
        self.servers, self.port = servers, port

    def request(self, method: str, path: str, body=None, headers=None, owner: bool = True):
        sent = (OWNER if owner else {}) | (headers or {})
        self.http.request(method, path, body=body, headers=sent)
        answer = self.http.getresponse()
        data = answer.read()
        if not self.pid:  # the server side of this very socket: its local port is ours
            mine = self.http.sock.getsockname()[1]
            self.pid = next(
                p.pid
                for p in self.servers
                for c in p.net_connections("tcp")
                if c.raddr and c.raddr.port == mine and c.laddr.port == self.port
            )
        return answer.status, data


def _one_per_process(port: int, servers: list[psutil.Process]) -> dict[int, _Connection]:
    """A connection answered by each server process (new ones until both have one;
    fresh for each step, as the server closes one idle for 5 s)."""
    found: dict[int, _Connection] = {}
    deadline = time.monotonic() + 60  # the second may still be starting
    while time.monotonic() < deadline:
        c = _Connection(port, servers)
        assert c.request("GET", "/api/sets")[0] == 200
        found.setdefault(c.pid, c)
        if len(found) == len(servers):
            return found
        time.sleep(0.05)
    raise AssertionError(f"only {sorted(found)} of {[p.pid for p in servers]} answered")


def _matching_pictures(c: _Connection, face_id: str) -> set[str]:
    status, data = c.request("GET", f"/api/faces/{face_id}/matches?limit=100")
    assert status == 200, data
    return {m["picture"]["image_id"] for m in json.loads(data)["matches"]}


def _index_files(home: Path) -> set[str]:
    return {p.name for p in (home / "face-index").glob("*.faiss")}


def test_two_processes_share_one_catalog_and_follow_its_change_feed(library_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    query = next(p for p in album.get_set("fixtures")[1] if p.name == "obama/obama.jpg")
    face_id = query.faces[0].face_id
    faces_before = album.stats().faces
    proc, base = start_server(
        home,
        {"FACEALBUM_OWNER_SECRET": SECRET, "FACEALBUM_WORKERS": "1", "FACEALBUM_MATCHES_RATE": "8"},
        ("serve", "--workers", "2"),
    )
    try:
        port = int(base.rsplit(":", 1)[1])
        servers = _servers(proc.pid)
        assert len(servers) == 2
        by_pid = _one_per_process(port, servers)
        before = {pid: _matching_pictures(c, face_id) for pid, c in by_pid.items()}
        writer = by_pid[servers[0].pid]

        # a new photo of the same man (another file: a resized copy) through one process
        photo = io.BytesIO()
        with Image.open(PHOTOS / "obama" / "obama2.jpg") as im:
            im.resize((im.width * 9 // 10, im.height * 9 // 10)).save(photo, "JPEG")
        form = b'--b\r\nContent-Disposition: form-data; name="files"; filename="o.jpg"\r\n'
        form += b"Content-Type: image/jpeg\r\n\r\n" + photo.getvalue() + b"\r\n--b--\r\n"
        status, data = writer.request(
            "POST", "/api/sets/new/pictures", form,
            {"Content-Type": "multipart/form-data; boundary=b"},
        )  # fmt: skip
        assert status == 202, data
        upload_id = json.loads(data)["uploads"][0]["upload_id"]
        deadline = time.monotonic() + 120
        while True:
            up = json.loads(writer.request("GET", f"/api/uploads?ids={upload_id}")[1])
            if up["uploads"][0]["status"] not in ("queued", "processing"):
                break
            assert time.monotonic() < deadline, up
            time.sleep(0.3)
        assert up["uploads"][0]["status"] == "added", up
        new_image, new_faces = up["uploads"][0]["image_id"], up["uploads"][0]["faces"]
        assert new_faces >= 1
        # its job ran once: one picture, its faces stored once
        assert [p.image_id for p in album.get_set("new")[1]] == [new_image]
        assert album.stats().faces == faces_before + new_faces

        # every process's index has it, searched at once
        for pid, c in _one_per_process(port, servers).items():
            assert _matching_pictures(c, face_id) == before[pid] | {new_image}

        files = _index_files(home)
        by_pid = _one_per_process(port, servers)
        status, _ = by_pid[servers[1].pid].request("DELETE", f"/api/pictures/{new_image}")
        assert status == 204
        for pid, c in _one_per_process(port, servers).items():  # gone from both, in place
            assert _matching_pictures(c, face_id) == before[pid]
        assert _index_files(home) == files  # no process built (and so saved) its index
        assert len(_servers(proc.pid)) == 2

        # a visitor's face searches: 8 a minute in all, not 8 in each process
        statuses = []
        for _ in range(6):
            for c in _one_per_process(port, servers).values():
                statuses.append(c.request("GET", f"/api/faces/{face_id}/matches", owner=False)[0])
        assert sorted(statuses) == [200] * 8 + [429] * 4, statuses

        proc.kill()  # the supervisor killed: its server processes go with it
        proc.wait(20)
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert not alive
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_parses_http_with_httptools(monkeypatch, tmp_path):
    """uvicorn is told to use httptools' C parser, a dependency (h11's pure Python was
    most of the HTTP stack's cost per request: a 404 6.0 -> 2.2 ms under load)."""
    import httptools  # noqa: F401 - installed with facealbum
    import uvicorn

    from facealbum.settings import Settings
    from facealbum.web import serve

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setattr(serve, "site", lambda album: None)
    serve.run(Settings(home=tmp_path), None, 1)  # type: ignore[arg-type]
    assert seen["http"] == "httptools"


def test_a_started_server_moves_what_it_holds_out_of_the_collector(tmp_path):
    """Issue 18, item 2: once the app has started, what it holds (modules, the app, its
    routes) is frozen (``gc.freeze``), so a full collection that a search's allocations
    set off walks only the request's own objects (~40 ms of a deep search page at 1M
    faces went to walking the server's)."""
    import asyncio
    import gc

    from facealbum.web.app import create_app
    from facealbum.web.auth import OwnerAuth

    album = open_album(Settings(home=tmp_path))
    app = create_app(album, run_jobs=False, auth=OwnerAuth("x" * 32, album.catalog))
    gc.unfreeze()

    async def started() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    try:
        assert asyncio.run(started()) > 10_000
    finally:
        gc.unfreeze()
