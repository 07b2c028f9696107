"""A lifetime of photos: every read of a big album, measured from outside (issue 18).

    python -m bench.scale [--pictures 500000 --sets 10000 --faces 1000000 --people 20000]
                          [--catalog sqlite|postgresql --dsn URL] [--json OUT]

It builds a synthetic album through the project's own code (``Catalog.add_pictures``,
the local faces port's ``add_faces``, ``add_person``, ``assign_faces``,
``set_representatives``, ``update_person``: no SQL of its own, so migrations keep it
working), caches it on disk keyed by its shape (a copy is measured, so the cache stays
as built), starts a real ``facealbum serve`` on loopback and measures each JSON read
(p50 of a few runs, bytes of the answer), the click-face searches over HTTP and
in-process, the face index's memory and recall, a restart until the first search
answers, a deletion until the next search answers, and ``facealbum stats``.

The album's shape (defaults: issue 18's): ``--sets`` sets, the first of them holding
40 % of the pictures (200,000 of 500,000), the rest spread evenly; faces spread over
the pictures at random; 90 % of the faces belong to ``--people`` persons of Zipf-like
sizes (the largest ~6 % of the faces, the median a dozen), the rest are strangers
nobody grouped. Descriptors are unit 128-d float32, each a person's centre plus noise:
cosines within a person ~0.93-0.97, between persons ~0.5-0.85 (5th-95th percentile),
as dlib's are. Persons are as import placement leaves them (faces assigned
automatically, representatives stored), the largest ``--named`` of them named by the
owner. Pictures have no blobs: no JSON read opens one.

Every measurement has a timeout (``--timeout``); a read that runs past it is reported
as the timeout (ms) with no byte count, and the server is restarted so the runaway
request does not slow the next ones. Reads are listed in :func:`reads`: add a route
there to measure it; one that answers an error (a route gone) is left out, and said so.

Writes ``{"reads_p50_ms": {route: ms}, "reads_max_bytes": {route: bytes},
"search": {"p50_ms", "http_p50_ms", "recall_at_10", "wide_p50_ms", "index_mib",
"start_s", "delete_update_ms"}}`` to ``--json``; ``facealbum stats`` is the route
``cli: facealbum stats`` (its output's bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.common import machine
from facealbum.domain import Box, Face, Person, Picture
from facealbum.faces import FaceRecord, cosine_for
from facealbum.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BUILD_VERSION = 1  # bump when the built album's shape changes: old caches are not reused
DIM = 128
SECRET = "scale-bench-owner-secret-0123456789abcdef"
CHUNK = 20_000  # pictures per add_pictures call (one transaction each)
# the first start of a copy builds the face index of every face (a cached album holds
# none; the work copy then keeps it): minutes at a million faces on a busy machine
FIRST_START_S = 1200.0
CLICKS = 10  # faces clicked (HTTP and in-process) for the search p50s; 20 for recall


def say(line: str) -> None:
    """Progress, flushed at once (a build takes half an hour at full size)."""
    print(line, flush=True)


# -- the album's shape -----------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    pictures: int = 500_000
    sets: int = 10_000
    faces: int = 1_000_000
    people: int = 20_000
    named: int = 200
    seed: int = 18

    def key(self, catalog: str) -> str:
        return (
            f"p{self.pictures}-s{self.sets}-f{self.faces}-pp{self.people}-n{self.named}"
            f"-seed{self.seed}-v{BUILD_VERSION}-{catalog}"
        )


@dataclass
class Facts:
    """What the measurements need to know of the built album (kept with the cache)."""

    big_set: str = ""
    big_set_pictures: int = 0
    small_set: str = ""
    largest_person: str = ""
    largest_faces: int = 0
    median_person: str = ""
    median_faces: int = 0
    pair: list[str] = field(default_factory=list)  # two persons for /api/search
    stranger_face: str = ""  # a face of no person
    named_face: str = ""  # a face of a named person (not the largest)
    largest_face: str = ""  # a face of the largest person
    queries: list[str] = field(default_factory=list)  # faces clicked, at random
    doomed_picture: str = ""  # the picture deleted
    any_picture: str = ""  # what tells that a server is up


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Reproducible version-4 UUIDs (the faces port checks face ids' form)."""
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    out = []
    for hi, lo in raw.tolist():
        value = (hi << 64) | lo
        out.append(str(uuid.UUID(int=value & ((1 << 128) - 1), version=4)))
    return out


class Descriptors:
    """Per-person centres around a shared direction (dlib's descriptors share one):
    between-person cosines 0.5-0.85; a face is its centre plus noise, cosines within
    a person 0.93-0.97. Anisotropic centre offsets (effective dimension ~24) give the
    between-person cosines dlib's spread."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.common = unit(rng.standard_normal(DIM))
        self.scales = np.exp(-np.arange(DIM) / 12.0)

    def centres(self, n: int) -> np.ndarray:
        r = unit(self.rng.standard_normal((n, DIM)) * self.scales)
        a = self.rng.uniform(0.76, 0.88, (n, 1))
        return unit(a * self.common + np.sqrt(1 - a * a) * r)

    def faces(self, centres: np.ndarray) -> np.ndarray:
        noise = self.rng.uniform(0.17, 0.27, (len(centres), 1))
        return unit(centres + noise * self.rng.standard_normal(centres.shape) / np.sqrt(DIM))


def person_sizes(rng: np.random.Generator, people: int, faces: int) -> np.ndarray:
    """Which person each of ``faces`` grouped faces is: Zipf-like sizes (exponent 0.93:
    the largest person ~60,000 of a million faces among 20,000 persons)."""
    weights = 1.0 / np.arange(1, people + 1) ** 0.93
    return rng.choice(people, size=faces, p=weights / weights.sum())


# -- building through the project's own code --------------------------------------------


def settings_for(home: Path, url: str | None) -> Settings:
    return Settings.load(home=home, database_url=url)


def build(
    shape: Shape, home: Path, url: str | None, out: Path, log=say, resume: bool = False
) -> Facts:
    """Fill an empty album at ``home`` (catalog ``url``, None: SQLite in home) with
    ``shape``; keeps the descriptors (vectors.npy) and face ids beside it for recall.
    ``resume``: the album is one an interrupted build left; what it holds is generated
    again (the same seed) but not written again: chunks whose pictures are in, persons
    that exist; placement and representatives are idempotent. (A build stopped between
    a chunk's faces and its pictures is not resumable: build it again.)"""
    from facealbum.wiring import open_album

    started = time.perf_counter()
    rng = np.random.default_rng(shape.seed)
    album = open_album(settings_for(home, url))
    catalog, faces_port = album.catalog, album.collection.faces
    collection_id = album.collection.collection_id
    n, m = shape.pictures, max(1, shape.sets)
    big = n if m == 1 else max(1, n * 2 // 5)
    set_names = [f"set-{i:05d}" for i in range(m)]
    set_of = np.zeros(n, dtype=np.int64)
    if m > 1:
        set_of[big:] = 1 + np.arange(n - big) % (m - 1)
    image_ids = uuids(rng, n)
    face_picture = np.sort(rng.integers(0, n, shape.faces))
    face_ids = uuids(rng, shape.faces)
    grouped = int(shape.faces * 0.9) if shape.people else 0
    who = np.full(shape.faces, -1, dtype=np.int64)
    if grouped:
        chosen = rng.permutation(shape.faces)[:grouped]
        who[chosen] = person_sizes(rng, shape.people, grouped)
    gen = Descriptors(rng)
    centres = gen.centres(shape.people) if shape.people else np.zeros((0, DIM), np.float32)
    vectors = np.lib.format.open_memmap(
        out / "vectors.npy", mode="w+", dtype=np.float32, shape=(shape.faces, DIM)
    )
    starts = np.searchsorted(face_picture, np.arange(n + 1))
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        f_lo, f_hi = starts[lo], starts[hi]
        ids = who[f_lo:f_hi]
        c = np.empty((len(ids), DIM), dtype=np.float32)
        c[ids >= 0] = centres[ids[ids >= 0]]
        c[ids < 0] = gen.centres(int((ids < 0).sum()))  # strangers: one face each
        v = gen.faces(c)
        vectors[f_lo:f_hi] = v
        if resume and catalog.get_picture(image_ids[hi - 1]) is not None:
            continue  # written before the interruption
        pictures, records = [], []
        for i in range(lo, hi):
            found = []
            for k, j in enumerate(range(starts[i], starts[i + 1])):
                box = Box(round(0.05 + 0.2 * (k % 4), 4), 0.2, 0.12, 0.16)
                found.append(Face(face_ids[j], image_ids[i], box, 99.0, sharpness=80.0))
                records.append(FaceRecord(face_ids[j], image_ids[i], image_ids[i], box, 99.0))
            pictures.append(
                Picture(
                    image_ids[i], set_names[set_of[i]], f"IMG_{i:07d}.jpg",
                    hashlib.sha256(image_ids[i].encode()).hexdigest(), 4000, 3000,
                    f"{i:07d}.jpg", "image/jpeg", 3_000_000, album.settings.engine_tag, found,
                )
            )  # fmt: skip
        faces_port.add_faces(collection_id, records, v)  # the faces port first, as ingest
        catalog.add_pictures(pictures)
        log(f"  pictures {hi:,}/{n:,}  ({time.perf_counter() - started:.0f} s)")
    vectors.flush()
    np.save(out / "face_ids.npy", np.array(face_ids, dtype="S36"))
    np.save(out / "who.npy", who)
    person_ids = uuids(rng, shape.people)
    now = time.time()
    done = resume and catalog.get_person(person_ids[-1]) is not None
    for p, person_id in enumerate(person_ids):  # created in the order faces arrive
        if not done and not (resume and catalog.get_person(person_id) is not None):
            catalog.add_person(Person(person_id, created_at=now + p * 1e-3))
    log(f"  {shape.people:,} persons ({time.perf_counter() - started:.0f} s)")
    order = np.flatnonzero(who >= 0)
    for lo in range(0, len(order), 50_000):
        part = order[lo : lo + 50_000]
        catalog.assign_faces(
            {face_ids[j]: person_ids[who[j]] for j in part.tolist()}, by_owner=False
        )
        log(f"  placed {min(len(order), lo + 50_000):,}/{len(order):,} faces "
            f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    sizes = np.bincount(who[who >= 0], minlength=shape.people)
    keep = album.settings.person_representatives
    members = np.argsort(who, kind="stable")
    bounds = np.searchsorted(who[members], np.arange(shape.people + 1))
    for p, person_id in enumerate(person_ids):
        mine = members[bounds[p] : bounds[p + 1]]
        if len(mine):  # its medoids: the faces nearest its centre
            best = mine[np.argsort(-(vectors[mine] @ centres[p]))[:keep]]
            catalog.set_representatives(person_id, [face_ids[j] for j in best.tolist()])
    by_size = np.argsort(-sizes, kind="stable")
    for rank, p in enumerate(by_size[: shape.named].tolist()):
        person = catalog.get_person(person_ids[p])
        if person is not None and person.face_count:
            person.name = f"Person {rank + 1}"
            catalog.update_person(person)
    log(f"  people done ({time.perf_counter() - started:.0f} s)")
    facts = _facts(rng, shape, set_names, big, image_ids, face_ids, face_picture, who,
                   person_ids, sizes, by_size)  # fmt: skip
    album.close()
    with contextlib.suppress(Exception):
        catalog.engine.dispose()  # type: ignore[attr-defined]
    return facts


def _facts(rng, shape, set_names, big, image_ids, face_ids, face_picture, who, person_ids,
           sizes, by_size) -> Facts:  # fmt: skip
    f = Facts(big_set=set_names[0], big_set_pictures=big, any_picture=image_ids[0])
    f.small_set = set_names[-1]
    if shape.people:
        with_faces = by_size[sizes[by_size] > 0]
        f.largest_person, f.largest_faces = person_ids[with_faces[0]], int(sizes[with_faces[0]])
        mid = with_faces[len(with_faces) // 2]
        f.median_person, f.median_faces = person_ids[mid], int(sizes[mid])
        f.pair = [person_ids[p] for p in with_faces[:2]]
        largest = np.flatnonzero(who == with_faces[0])
        f.largest_face = face_ids[int(largest[0])]
        if len(with_faces) > 1 and shape.named > 1:
            second = np.flatnonzero(who == with_faces[1])
            f.named_face = face_ids[int(second[0])]
    strangers = np.flatnonzero(who < 0)
    if len(strangers):
        f.stranger_face = face_ids[int(strangers[0])]
    picks = rng.choice(len(face_ids), size=min(20, len(face_ids)), replace=False)
    f.queries = [face_ids[int(j)] for j in picks]
    # a picture of the big set, not its first (featured) one, with none of the faces
    # searched for
    kept = {face_ids.index(x) for x in (*f.queries, f.largest_face, f.named_face) if x}
    held = {int(face_picture[j]) for j in kept}
    for i in rng.permutation(max(1, big)).tolist():
        if i not in held and 0 < i < len(image_ids):
            f.doomed_picture = image_ids[i]
            break
    return f


# -- the cache -------------------------------------------------------------------------


def cached_album(
    shape: Shape, cache: Path, pg: PgServer | None, log=say, resume: bool = False
) -> tuple[Path, Facts]:
    """The built album's directory (home/, vectors, facts.json), built once per shape
    (``resume``: an interrupted build is carried on, see :func:`build`)."""
    catalog = "postgresql" if pg else "sqlite"
    where = cache / shape.key(catalog)
    there = pg is None or pg.exists(where.name)
    if (where / "facts.json").exists() and there:
        log(f"album from the cache: {where}")
        return where, Facts(**json.loads((where / "facts.json").read_text()))
    if resume and (where / "home").exists() and there:
        log(f"resuming the build of {shape} in {where}")
        url = pg.url(pg.dbname(where.name)) if pg else None
    else:
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        log(f"building {shape} into {where}")
        url = pg.create(where.name) if pg else None
        resume = False
    facts = build(shape, where / "home", url, where, log, resume)
    (where / "facts.json").write_text(json.dumps(asdict(facts)))
    return where, facts


@dataclass
class PgServer:
    """A PostgreSQL server (``--dsn``: a URL of its maintenance database, or one this
    run starts, tests/pg.py's): the cached album is a database, the measured one a
    copy (CREATE DATABASE … TEMPLATE)."""

    admin: str  # postgresql://user@host:port/postgres

    def _run(self, sql: str, database: str | None = None) -> list:
        import psycopg

        url = self.admin if database is None else self.admin.rsplit("/", 1)[0] + "/" + database
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def url(self, name: str) -> str:
        base = self.admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}/{name}"

    @staticmethod
    def dbname(key: str) -> str:
        return "fa_scale_" + hashlib.sha1(key.encode()).hexdigest()[:16]

    def exists(self, key: str) -> bool:
        return bool(self._run(f"SELECT 1 FROM pg_database WHERE datname = '{self.dbname(key)}'"))

    def create(self, key: str) -> str:
        self._run(f"DROP DATABASE IF EXISTS {self.dbname(key)}")
        self._run(f"CREATE DATABASE {self.dbname(key)}")
        return self.url(self.dbname(key))

    def copy(self, key: str) -> str:
        """The work copy (the cached album is its template and is never changed),
        vacuumed and analysed: a live album's autovacuum has done both long since,
        while a bulk-built one may not have (no statistics for the planner, no
        visibility map for index-only scans)."""
        work = f"{self.dbname(key)}_work{os.getpid()}"  # runs side by side don't meet
        self._run(f"DROP DATABASE IF EXISTS {work} WITH (FORCE)")
        self._run(f"CREATE DATABASE {work} TEMPLATE {self.dbname(key)}")
        self._run("VACUUM (ANALYZE)", work)
        return self.url(work)

    def drop_copy(self, key: str) -> None:
        self._run(f"DROP DATABASE IF EXISTS {self.dbname(key)}_work{os.getpid()} WITH (FORCE)")


def work_copy(where: Path, pg: PgServer | None) -> tuple[Path, str | None]:
    """A copy of the cached album to measure (a deletion must not change the cache)."""
    work = where.parent / f"{where.name}.work{os.getpid()}"  # one per run: runs side by side
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(where / "home", work)
    return work, pg.copy(where.name) if pg else None


# -- measuring -------------------------------------------------------------------------


@dataclass
class Sample:
    ms: list[float] = field(default_factory=list)
    bytes: int | None = None
    timed_out: bool = False
    status: int = 0
    body: bytes = b""  # the last answer


class Server:
    """``facealbum serve`` in a process group of its own on a free loopback port."""

    def __init__(self, home: Path, url: str | None, timeout: float):
        self.home, self.url_, self.timeout = home, url, timeout
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.client = httpx.Client()

    def env(self) -> dict[str, str]:
        env = os.environ | {
            "FACEALBUM_HOME": str(self.home),
            "FACEALBUM_OWNER_SECRET": SECRET,
            "FACEALBUM_MATCHES_RATE": "1000000",  # a visitor's clicks are not limited here
        }
        if self.url_:
            env["FACEALBUM_DATABASE_URL"] = self.url_
        return env

    def start(self, ready_face: str, wait: float = 120.0) -> float:
        """Seconds from starting the process until a click-face search answers, within
        ``wait`` seconds (at least the timeout)."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "facealbum", "serve", "--port", str(port)],
            env=self.env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = began + max(self.timeout, wait)
        path = f"/api/faces/{ready_face}/matches?limit=1"
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"facealbum serve exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                r = self.client.get(self.base + path, timeout=deadline - time.perf_counter())
                if r.status_code == 200:
                    return time.perf_counter() - began
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("facealbum serve did not answer a search in time")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def owner() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRET}"}


def fetch(
    server: Server, method: str, path: str, timeout: float, as_owner: bool = False
) -> tuple[float, int, bytes]:
    """One request, as a visitor (reads) or as the owner (the deletion)."""
    headers = owner() if as_owner else {}
    began = time.perf_counter()
    r = server.client.request(method, server.base + path, headers=headers, timeout=timeout)
    return (time.perf_counter() - began) * 1000, r.status_code, r.content


def measure(
    server: Server, path: str, repeat: int, timeout: float, ready_face: str, budget: float = 5.0
) -> Sample:
    """Up to ``repeat`` GETs (fewer once ``budget`` seconds are spent: a 25 s read is
    timed once). A timeout restarts the server, so the runaway request stops."""
    sample, spent = Sample(), 0.0
    for _ in range(repeat):
        try:
            ms, status, body = fetch(server, "GET", path, timeout)
        except httpx.TimeoutException:
            sample.timed_out, sample.ms = True, [timeout * 1000]
            server.stop()
            server.start(ready_face)
            return sample
        sample.ms.append(ms)
        sample.status, sample.body = status, body
        sample.bytes = max(sample.bytes or 0, len(body))
        spent += ms / 1000
        if spent > budget:
            break
    return sample


Read = tuple[str, Callable[[Facts, dict], str | None]]


def reads() -> list[Read]:
    """The JSON reads measured: (name, path from the album's facts and what earlier
    answers said); None skips the read (the album has no such thing). Add routes here."""

    def last_page(f: Facts, seen: dict) -> str:
        if seen.get("big_last_after"):  # by key, as the site pages
            return f"/api/sets/{f.big_set}?limit=200&after={seen['big_last_after']}"
        return f"/api/sets/{f.big_set}?limit=200&offset={max(0, f.big_set_pictures - 200)}"

    def wide_last(f: Facts, seen: dict) -> str | None:
        total = seen.get("wide_total")
        if not f.stranger_face or total is None:
            return None
        return f"/api/faces/{f.stranger_face}/matches?threshold=0&offset={max(0, total - 50)}"

    def face(attr: str, extra: str = "") -> Callable[[Facts, dict], str | None]:
        return lambda f, seen: (
            f"/api/faces/{getattr(f, attr)}/matches{extra}" if getattr(f, attr) else None
        )

    def person(attr: str) -> Callable[[Facts, dict], str | None]:
        return lambda f, seen: getattr(f, attr) and f"/api/people/{getattr(f, attr)}"

    def both(f: Facts, seen: dict) -> str | None:
        return f"/api/search?people={','.join(f.pair)}&mode=all" if len(f.pair) == 2 else None

    big = "GET /api/sets/{big}"
    matches = "GET /api/faces/{id}/matches"
    return [
        ("GET /api/sets", lambda f, s: "/api/sets"),
        (f"{big}?limit=200 (first page)", lambda f, s: f"/api/sets/{f.big_set}?limit=200"),
        (f"{big}?limit=200 (last page)", last_page),
        (f"{big} (no limit)", lambda f, s: f"/api/sets/{f.big_set}"),
        (f"{big}/ids", lambda f, s: f"/api/sets/{f.big_set}/ids"),
        ("GET /api/sets/{small}", lambda f, s: f"/api/sets/{f.small_set}"),
        ("GET /api/pictures/{id}", lambda f, s: f"/api/pictures/{f.any_picture}"),
        ("GET /api/people", lambda f, s: "/api/people"),
        ("GET /api/people/names", lambda f, s: "/api/people/names"),
        ("GET /api/people/{median}", person("median_person")),
        ("GET /api/people/{largest}", person("largest_person")),
        ("GET /api/search?people=A,B&mode=all", both),
        (f"{matches} (a face of no person)", face("stranger_face")),
        (f"{matches} (a named person's face)", face("named_face")),
        (f"{matches} (the largest person's face)", face("largest_face")),
        (f"{matches}?threshold=0 (first page)", face("stranger_face", "?threshold=0")),
        (f"{matches}?threshold=0 (last page)", wide_last),
    ]


def last_page_cursor(home: Path, url: str | None, facts: Facts) -> str | None:
    """The cursor a client holds when it asks for the big set's last page of 200: the
    name of the picture before it, walked once in-process by key (None on a catalog
    without key paging, whose last page is then asked for by offset)."""
    from facealbum import paging
    from facealbum.wiring import open_album

    album = open_album(settings_for(home, url))
    try:
        page = getattr(album.catalog, "pictures_page", None)
        if page is None:
            return None
        names: list[str] = []
        after: str | None = None
        while True:  # names only: the faces of 200,000 pictures are not what is asked
            found, after = page(facts.big_set, 1000, after, False)
            names += [p.name for p in found]
            if after is None:
                break
        return paging.encode([names[-201]]) if len(names) > 200 else None
    finally:
        album.close()


def is_last_page(body: bytes, size: int = 200) -> bool:
    """Whether a set page's answer is the set's true last page of ``size``: full, and
    no ``next`` after it (what the "last page" row must measure)."""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        answer = json.loads(body)
        return answer["next"] is None and len(answer["pictures"]) == size
    return False


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def index_memory(home: Path, url: str | None) -> float:
    """MiB resident that loading the saved index adds (:func:`_index_mib`), in a
    process of its own: in this one, memory a build or an earlier album freed is
    reused, and the growth shows a fraction of it (24 of 166 MiB, once)."""
    code = f"from bench.scale import _index_mib; _index_mib({str(home)!r}, {url!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=FIRST_START_S)  # fmt: skip
    return float(done.stdout.split()[-1])


def _index_mib(home: str, url: str | None) -> None:
    from facealbum.wiring import open_album

    album = open_album(settings_for(Path(home), url))
    gc.collect()
    before = rss_bytes()
    album.warm()
    gc.collect()
    print((rss_bytes() - before) / 2**20)


def in_process(
    home: Path, url: str | None, where: Path, facts: Facts, clicks: int = CLICKS
) -> dict:
    """The index's memory (resident growth while it loads), search p50 (album.search as a
    visitor: person-aware for named persons) and recall@10 against the exact scan of
    the descriptors the album was built with, at the default threshold."""
    from facealbum.wiring import open_album

    index_mib = index_memory(home, url)
    album = open_album(settings_for(home, url))
    album.warm()
    times = []
    for face_id in facts.queries[:clicks]:
        began = time.perf_counter()
        album.search(face_id)
        times.append((time.perf_counter() - began) * 1000)
    vectors = np.load(where / "vectors.npy", mmap_mode="r")
    ids = [x.decode() for x in np.load(where / "face_ids.npy").tolist()]
    row = {f: i for i, f in enumerate(ids)}
    threshold = album.settings.match_threshold
    cut = cosine_for(threshold)
    recalls = []
    port, cid = album.collection.faces, album.collection.collection_id
    for face_id in facts.queries:
        q = np.asarray(vectors[row[face_id]])
        sims = np.asarray(vectors @ q)
        sims[row[face_id]] = -2.0  # not the face itself
        top = np.argsort(-sims)[:10]
        exact = {ids[j] for j in top.tolist() if sims[j] >= cut}
        if not exact:
            continue
        found = {m.face.face_id for m in port.search_faces(cid, face_id, threshold, 10)}
        recalls.append(len(found & exact) / len(exact))
    album.close()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "recall_at_10": round(float(np.mean(recalls)), 4) if recalls else 1.0,
        "index_mib": round(index_mib, 1),
    }


def run_stats(home: Path, url: str | None, timeout: float) -> Sample:
    env = os.environ | {"FACEALBUM_HOME": str(home), "COLUMNS": "120"}
    if url:
        env["FACEALBUM_DATABASE_URL"] = url
    began = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "facealbum", "stats"],
            env=env, cwd=ROOT, capture_output=True, timeout=timeout, check=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Sample([timeout * 1000], None, True)
    return Sample([(time.perf_counter() - began) * 1000], len(done.stdout), False, 0)


def measure_album(
    where: Path,
    facts: Facts,
    pg: PgServer | None,
    repeat: int,
    timeout: float,
    clicks: int = CLICKS,
    log=say,
) -> dict:
    home, url = work_copy(where, pg)
    ready = facts.stranger_face or facts.queries[0]  # a plain search: no person's
    server = Server(home, url, timeout)
    result: dict = {"reads_p50_ms": {}, "reads_max_bytes": {}, "search": {}}
    p50, size, search = result["reads_p50_ms"], result["reads_max_bytes"], result["search"]
    try:
        first_start = server.start(ready, FIRST_START_S)
        log(f"  server answered its first search {first_start:.1f} s after start")
        seen: dict = {"big_last_after": last_page_cursor(home, url, facts)}
        for name, path_of in reads():
            path = path_of(facts, seen)
            if not path:
                continue
            sample = measure(server, path, repeat, timeout, ready)
            ms = round(statistics.median(sample.ms), 2)
            if not sample.timed_out and not 200 <= sample.status < 300:
                log(f"  {name}: answered {sample.status}, left out (update reads())")
                continue
            last = name.endswith("?limit=200 (last page)") and not sample.timed_out
            if last and not is_last_page(sample.body, min(200, facts.big_set_pictures)):
                raise RuntimeError(f"{name}: {path} is not the set's last page")
            p50[name], size[name] = ms, sample.bytes
            if "threshold=0 (first" in name:
                search["wide_p50_ms"] = ms
                with contextlib.suppress(ValueError, KeyError):
                    seen["wide_total"] = int(json.loads(sample.body)["total"])
            flag = " (timeout)" if sample.timed_out else ""
            log(f"  {name}: {ms:.1f} ms{flag}, {sample.bytes} B")
        times: list[float] = []
        for face_id in facts.queries[:clicks]:
            sample = measure(server, f"/api/faces/{face_id}/matches", 1, timeout, ready)
            times += sample.ms
        search["http_p50_ms"] = round(statistics.median(times), 2)
        search.update(in_process(home, url, where, facts, clicks))
        doomed = f"/api/pictures/{facts.doomed_picture}"
        ms, status, _ = fetch(server, "DELETE", doomed, timeout, as_owner=True)
        log(f"  DELETE /api/pictures/{{id}}: {ms:.1f} ms ({status})")
        after = measure(server, f"/api/faces/{ready}/matches", 1, timeout, ready)
        search["delete_update_ms"] = round(after.ms[0], 2)
        server.stop()
        search["start_s"] = round(server.start(ready), 2)  # a restart, as users see one
        server.stop()
        stats = run_stats(home, url, timeout)
        p50["cli: facealbum stats"] = round(stats.ms[0], 2)
        size["cli: facealbum stats"] = stats.bytes
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        if pg:
            pg.drop_copy(where.name)
    order = ["p50_ms", "http_p50_ms", "recall_at_10", "wide_p50_ms", "index_mib", "start_s",
             "delete_update_ms"]  # fmt: skip
    result["search"] = {k: search.get(k) for k in order}
    return result


# -- the command -----------------------------------------------------------------------


@contextlib.contextmanager
def postgres(catalog: str, dsn: str | None) -> Iterator[PgServer | None]:
    """The PostgreSQL server to build on: ``--dsn`` (or FACEALBUM_SCALE_PG), else a
    throwaway cluster started here (tests/pg.py) whose albums are not kept."""
    if catalog != "postgresql":
        yield None
        return
    if dsn:
        yield PgServer(dsn)
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from pg import Cluster  # type: ignore[import-not-found]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(port)
    try:
        yield PgServer(cluster.admin_url())
    finally:
        cluster.stop()


def table(result: dict) -> str:
    lines = ["| read | p50 (ms) | bytes |", "|---|---:|---:|"]
    for name, ms in result["reads_p50_ms"].items():
        lines.append(f"| `{name}` | {ms:,.1f} | {result['reads_max_bytes'].get(name) or '-'} |")
    lines += ["", "| search | value |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in result["search"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", type=int, default=500_000)
    ap.add_argument("--sets", type=int, default=10_000)
    ap.add_argument("--faces", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--named", type=int, default=None, help="default: 1 %% of the people")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--catalog", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--dsn", default=os.environ.get("FACEALBUM_SCALE_PG"),
                    help="PostgreSQL maintenance database URL (postgresql://user@host:port/"
                    "postgres); default FACEALBUM_SCALE_PG, else a throwaway cluster")  # fmt: skip
    cache = os.environ.get("FACEALBUM_SCALE_CACHE", Path(tempfile.gettempdir()) / "facealbum-scale")
    ap.add_argument("--cache", type=Path, default=Path(cache), help="built albums")
    ap.add_argument("--repeat", type=int, default=5, help="runs per read (p50)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per measurement")
    ap.add_argument("--clicks", type=int, default=CLICKS, help="faces clicked for the p50s")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--resume", action="store_true",
                    help="carry on an interrupted build (else it starts again)")  # fmt: skip
    args = ap.parse_args(argv)
    # a SIGTERM unwinds as an exception: the server and the measured copy go with it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    named = args.named if args.named is not None else max(1, args.people // 100)
    shape = Shape(args.pictures, args.sets, args.faces, args.people, named, args.seed)
    print(f"# scale: {shape}, catalog {args.catalog}; {machine()}", flush=True)
    with postgres(args.catalog, args.dsn) as pg:
        where, facts = cached_album(shape, args.cache, pg, resume=args.resume)
        result = measure_album(where, facts, pg, args.repeat, args.timeout, args.clicks)
    print(table(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
