"""What a visitor can cost the server (issue 16, items 1, 2 and 13): bodies capped and
the owner's routes refused before their body is read; search by photo decoded in
worker processes, within pixel, face, concurrency and per-address limits; and its
matches held to the same quality rule as every other search. One real server on a
copy of the shared library serves the HTTP tests."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from conftest import PHOTOS, serve_copy
from PIL import Image, ImageFilter

SECRET = "visitor tests secret"
OWNER = {"Authorization": f"Bearer {SECRET}"}
MB = 2**20


@pytest.fixture(scope="module")
def limited(library_home, tmp_path_factory):
    """A server with small limits: one search at once, 8 a minute, one face each."""
    env = {
        "FACEALBUM_OWNER_SECRET": SECRET,
        "FACEALBUM_SEARCH_CONCURRENCY": "1",
        "FACEALBUM_SEARCH_RATE": "8",
        "FACEALBUM_SEARCH_MAX_FACES": "1",
        "FACEALBUM_WORKERS": "1",
        "FACEALBUM_SEARCH_BODY_SECONDS": "3",
        "FACEALBUM_MATCHES_RATE": "4",
    }
    proc, base = serve_copy(library_home, tmp_path_factory.mktemp("visitor"), env)
    yield proc, base
    proc.terminate()
    proc.wait(10)


def first_answer(base: str, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """The status line the server sends after the request's head (and ``body``, if
    any) while the rest of the declared body is still unsent: b"" if none comes."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=wait) as s:
        s.sendall(head + body)
        try:
            return s.recv(4096).split(b"\r\n", 1)[0]
        except TimeoutError:
            return b""


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def search(base: str, data: bytes, name: str = "q.png") -> httpx.Response:
    return httpx.post(f"{base}/api/search/by-image", files={"file": (name, data)}, timeout=120)


def huge_png() -> bytes:
    """10900 x 11000 pixels of one colour: 120 MP (360 MB decoded) in < 1 MB."""
    buf = io.BytesIO()
    Image.new("RGB", (10900, 11000), (180, 140, 120)).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


class Peak:
    """The largest resident size of one process while the block runs (every 10 ms)."""

    def __init__(self, pid: int):
        self.proc, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __enter__(self) -> Peak:
        self.before = self.proc.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        time.sleep(0.2)
        self.stop.set()
        self.thread.join()


def test_search_by_photo_works_in_workers_within_its_limits(limited):
    """Item 2: a group photo has only its largest face searched (the face cap), in a
    worker process; four 120 MP PNGs at once are refused with a clear 4xx and grow
    the server by at most 100 MB (today: 2 GB); one search at a time, more get 429
    with Retry-After; eight a minute per address, then 429."""
    proc, base = limited
    group = (PHOTOS / "groups" / "two_people.jpg").read_bytes()
    answer = search(base, group, "two.jpg")
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["faces"]) == 1 and answer.json()["unsearched"] == 1
    server = psutil.Process(proc.pid)
    assert server.children(), "the search ran in a worker process of the server's"

    big = huge_png()
    assert len(big) < MB
    with Peak(proc.pid) as rss, httpx.Client(timeout=120) as client:
        answers: list[httpx.Response] = []

        def send() -> None:
            answers.append(
                client.post(f"{base}/api/search/by-image", files={"file": ("big.png", big)})
            )

        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    codes = sorted(a.status_code for a in answers)
    assert set(codes) <= {413, 429} and 413 in codes, [a.text for a in answers]
    assert all("too" in a.json()["error"] for a in answers)
    assert rss.peak - rss.before <= 100 * MB, (rss.before / MB, rss.peak / MB)

    # one search at a time: a slow visitor holds the only slot while sending its photo
    url = urlsplit(base)
    boundary = "slowslowslow"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    head = request_head(
        "POST",
        "/api/search/by-image",
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(part) + len(group) + 100),
        },
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as slow:
        slow.sendall(head + part + group[:1000])
        time.sleep(1.5)  # the server has taken the slot and waits for the rest
        busy = search(base, group, "two.jpg")
    assert busy.status_code == 429 and "at once" in busy.json()["error"], busy.text
    assert int(busy.headers["Retry-After"]) >= 1

    # eight a minute from one address: this client has used up to 7 of them (a
    # refusal for being busy counts too: it cost the server a request)
    answers = []
    while len(answers) < 9 and (not answers or answers[-1].status_code == 422):
        answers.append(search(base, b"not a photo", "x.jpg"))
    assert 1 <= len(answers) <= 8, [a.status_code for a in answers]
    limited_answer = answers[-1]
    assert limited_answer.status_code == 429 and "address" in limited_answer.json()["error"]
    assert 1 <= int(limited_answer.headers["Retry-After"]) <= 61


def test_bodies_are_capped_and_owner_routes_refused_before_their_body(limited):
    """Item 1: a request to an owner's route without the owner's credentials is
    answered 401 on its head alone, the 2 GiB it announces never read; a body over
    its route's cap is answered 413 on its Content-Length, and a chunked one as soon
    as it passes the cap. Today the server waits for (and reads) every byte."""
    _proc, base = limited
    huge = {"Content-Length": str(2**31)}  # 2 GiB, over every cap
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    as_json = {"Content-Type": "application/json"}
    for method, path, kind in (
        ("POST", "/api/sets/fixtures/pictures", multipart),
        ("POST", "/api/sets", as_json),
        ("PATCH", "/api/people/x", as_json),
        ("POST", "/api/people/split", as_json),
    ):
        answer = first_answer(base, request_head(method, path, huge | kind))
        assert answer.startswith(b"HTTP/1.1 401"), (path, answer)
    # the owner's own request: past the credentials, refused on its size
    for method, path, kind in (
        ("POST", "/api/sets/fixtures/pictures", multipart),
        ("POST", "/api/sets", as_json),
    ):
        answer = first_answer(base, request_head(method, path, huge | kind | OWNER))
        assert answer.startswith(b"HTTP/1.1 413"), (path, answer)
    # visitors' bodies: sign-in and search by photo
    for path, kind in (("/api/session", as_json), ("/api/search/by-image", multipart)):
        answer = first_answer(base, request_head("POST", path, huge | kind))
        assert answer.startswith(b"HTTP/1.1 413"), (path, answer)

    def chunks(total: int):
        yield b'{"secret": "'
        for _ in range(total // 4096):
            yield b"a" * 4096

    signin = httpx.post(f"{base}/api/session", content=chunks(MB), headers=as_json, timeout=30)
    assert signin.status_code == 413 and "too large" in signin.json()["error"], signin.text
    owner = httpx.post(
        f"{base}/api/sets", content=chunks(4 * MB), headers=as_json | OWNER, timeout=30
    )
    assert owner.status_code == 413, owner.text
    # what fits still works
    fine = httpx.post(f"{base}/api/session", json={"secret": SECRET}, timeout=30)
    assert fine.status_code == 200


def test_the_rate_limit_slides_and_slots_free_up():
    """Per client, at most N in any 60 s: the answer says when the next is allowed,
    other clients are not affected, and a refused event is not counted."""
    from facealbum.web.limits import RateLimit, Slots, TooManyRequests

    now = [1000.0]
    rate = RateLimit(2, "searches", clock=lambda: now[0])
    rate.hit("a")
    now[0] += 30
    rate.hit("a")
    with pytest.raises(TooManyRequests) as refused:
        rate.hit("a")
    assert refused.value.retry_after == 31
    rate.hit("b")  # another address
    now[0] += 30.5  # the first has left the window
    rate.hit("a")
    with pytest.raises(TooManyRequests):
        rate.hit("a")
    slots = Slots(1, "searches")
    with slots:
        with pytest.raises(TooManyRequests) as busy:
            slots.__enter__()
        assert busy.value.retry_after == 1
    with slots:  # freed
        pass


def test_a_rate_shared_by_processes_counts_each_event_once_in_all(tmp_path):
    """`serve --workers N`: each process's limiter maps one file (two limiters here
    stand for two processes), so a client gets N events in any minute in all, not in
    each; the window slides by 5 s slots, a refusal says when the next is allowed and is
    not counted, and other clients are not affected."""
    from facealbum.web.limits import RateLimit, TooManyRequests

    now = [1000.0]
    one, two = (RateLimit(3, "searches", clock=lambda: now[0], shared=tmp_path / ".rate")
                for _ in range(2))  # fmt: skip
    one.hit("a")
    now[0] += 30
    two.hit("a")
    one.hit("a")
    for rate in (one, two):
        with pytest.raises(TooManyRequests) as refused:
            rate.hit("a")
        assert 25 <= refused.value.retry_after <= 31
    two.hit("b")  # another address
    now[0] += 30.5  # the first event has left the window
    two.hit("a")
    with pytest.raises(TooManyRequests):
        one.hit("a")
    assert (tmp_path / ".rate").stat().st_size == 3 * 2**20  # whatever the clients


def test_search_by_photo_keeps_the_quality_rule(tmp_path):
    """Item 13: a heavily blurred Biden searched by photo matches a blurred John
    Savage above the plain threshold (50 here); the quality rule that click-face
    search and grouping apply refuses that match, and search by photo now applies it
    too: only Biden's own photos come back (today: Savage as well)."""
    from facealbum.people.edits import search_by_image
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    def blurred(name: str, radius: float) -> bytes:
        out = io.BytesIO()
        Image.open(PHOTOS / name).filter(ImageFilter.GaussianBlur(radius)).save(out, "JPEG")
        return out.getvalue()

    savage = "johns/john_savage/000264_01099001.jpg"
    album = open_album(Settings(home=tmp_path / "home", blurry_face_penalty=1.0, workers=1))
    try:
        for name, data in {
            "biden.jpg": (PHOTOS / "biden/biden.jpg").read_bytes(),
            "biden2.jpg": (PHOTOS / "biden/biden2.jpg").read_bytes(),
            "savage-blurred.jpg": blurred(savage, 3),
        }.items():
            album.ingest("S", name, data)
        query = blurred("biden/biden.jpg", 6)
        faces = album.collection.faces
        plain = faces.search_faces_by_image(album.collection.collection_id, query, 50, 10)
        names = {album.catalog.get_picture(m.face.external_image_id).name for m in plain.matches}
        assert "savage-blurred.jpg" in names  # above the plain threshold
        answer = search_by_image(album, query, threshold=50)
        [found] = getattr(answer, "faces", answer)
        assert sorted(p.name for _, p, _ in found.matches) == ["biden.jpg", "biden2.jpg"]
    finally:
        with contextlib.suppress(Exception):
            album.close()


def slow_search(base: str, source: str) -> socket.socket:
    """A search by photo from ``source`` whose body has begun and then stalls."""
    url = urlsplit(base)
    s = socket.create_connection((url.hostname, url.port), timeout=15, source_address=(source, 0))
    head = request_head(
        "POST",
        "/api/search/by-image",
        {"Content-Type": "multipart/form-data; boundary=B", "Content-Length": "100000"},
    )
    s.sendall(head + b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n')
    return s


def search_from(base: str, source: str, data: bytes) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60) as c:
        return c.post(f"{base}/api/search/by-image", files={"file": ("q.jpg", data)})


def test_slow_search_bodies_cannot_hold_the_slots(limited):
    """A body that trickles in held its search slot for as long as its sender liked:
    two such connections (the default slots) kept search by photo from everyone, for
    good (uvicorn has no body timeout). Now the body has FACEALBUM_SEARCH_BODY_SECONDS
    (3 here; 408 after), and one address holds one slot at most (429 for its second)."""
    _, base = limited
    photo = (PHOTOS / "obama" / "obama-480p.jpg").read_bytes()
    started = time.monotonic()
    stalled = slow_search(base, "127.0.0.2")
    try:
        time.sleep(0.5)
        busy = search_from(base, "127.0.0.3", photo)  # the one slot is held
        assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        second = slow_search(base, "127.0.0.2")  # the same address: refused at once
        try:
            assert second.recv(4096).startswith(b"HTTP/1.1 429")
        finally:
            second.close()
        answer = stalled.recv(4096)  # the stalled body runs out of time
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - started < 10
    finally:
        stalled.close()
    assert search_from(base, "127.0.0.3", photo).status_code == 200  # the slot is free


def test_header_checks_count_what_decoding_costs():
    """A progressive JPEG holds every coefficient of its full size, whatever the scale
    it is decoded at: 600 bytes claiming 10900 x 11000 passed the 8 MP cap (as 1/8 of
    it) and took a worker 513 MB. A PNG of many compressed metadata chunks is inflated
    by Pillow as the header is read: 70 zTXt chunks (74 KB) grew the server 124 MB,
    5000 iCCP chunks (5 MB) cost 35 s of CPU. Both are refused from their headers now;
    a baseline JPEG still counts at the scale it decodes at."""
    import struct
    import zlib

    from facealbum.domain import BadInput
    from facealbum.photo_search import TooLarge, check_photo
    from facealbum.settings import Settings

    s = Settings()

    def claiming(w: int, h: int, progressive: bool) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (120, 80, 40)).save(buf, "JPEG", progressive=progressive)
        data = buf.getvalue()
        i = 2
        while data[i + 1] not in (0xC0, 0xC2):  # to the frame header (SOF0 / SOF2)
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
        return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :]

    with pytest.raises(TooLarge):
        check_photo(claiming(10900, 11000, progressive=True), s)
    check_photo(claiming(10900, 11000, progressive=False), s)  # 1/8 scale: 1.9 MP

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "PNG")
    png = buf.getvalue()
    text = zlib.compress(b"A" * (MB - 16), 9)
    bomb = png[:33] + b"".join(chunk(b"zTXt", b"k\0\0" + text) for _ in range(70)) + png[33:]
    started = time.monotonic()
    with pytest.raises(BadInput, match="metadata"):
        check_photo(bomb, s)
    assert time.monotonic() - started < 0.5
    check_photo(png[:33] + chunk(b"zTXt", b"k\0\0" + text) + png[33:], s)  # one is fine


def test_numbers_past_any_integer_are_4xx(limited):
    """A Range of 5000 digits (int() refuses over 4300) and an offset of 2**63 (past
    SQLite's integer) answered 500."""
    _, base = limited
    picture = httpx.get(f"{base}/api/sets/fixtures?limit=1", timeout=30).json()["pictures"][0]
    for value in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000):
        got = httpx.get(base + picture["original_url"], headers={"Range": value}, timeout=30)
        assert got.status_code < 500, value[:20]
    for path in ("/api/sets/fixtures", f"/api/faces/{picture['faces'][0]['face_id']}/matches"):
        got = httpx.get(f"{base}{path}?offset={2**63}", timeout=30)
        assert got.status_code == 422, (path, got.text)


def test_serve_trusts_no_forwarded_for_unless_told(monkeypatch, tmp_path):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: from there (or behind
    a local tunnel, where every visitor comes from there) a client named any address
    and passed every per-address limit, the sign-in guesses' included (30 searches and
    12 wrong Bearer tokens, one address each: no 429). Now serve trusts it only from
    FACEALBUM_FORWARDED_ALLOW_IPS."""
    import uvicorn
    from typer.testing import CliRunner

    from facealbum.cli import app

    seen: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: seen.append(kw))
    monkeypatch.setenv("FACEALBUM_OWNER_SECRET", SECRET)
    home = str(tmp_path / "home")
    assert CliRunner().invoke(app, ["serve", "--home", home]).exit_code == 0
    assert seen[-1]["proxy_headers"] is False
    monkeypatch.setenv("FACEALBUM_FORWARDED_ALLOW_IPS", "10.0.0.5")
    assert CliRunner().invoke(app, ["serve", "--home", home]).exit_code == 0
    assert seen[-1]["proxy_headers"] is True
    assert seen[-1]["forwarded_allow_ips"] == "10.0.0.5"


def test_face_searches_are_rate_limited_for_visitors_only(limited):
    """A click on a face searches the whole collection (a billed SearchFaces on AWS):
    a visitor's address gets FACEALBUM_MATCHES_RATE a minute, then 429 with
    Retry-After; the owner is not counted."""
    _, base = limited
    picture = httpx.get(f"{base}/api/sets/fixtures?limit=1", timeout=30).json()["pictures"][0]
    url = f"{base}/api/faces/{picture['faces'][0]['face_id']}/matches"
    transport = httpx.HTTPTransport(local_address="127.0.0.4")  # an address of its own
    with httpx.Client(transport=transport, timeout=60) as visitor:
        codes = [visitor.get(url).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429], codes
        refused = visitor.get(url)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "face searches" in refused.json()["error"]
        assert visitor.get(url, headers=OWNER).status_code == 200
