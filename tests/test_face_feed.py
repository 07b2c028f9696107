"""The deletion feed shared by several processes' face indexes (adapters/face_feed.py):
it is pruned behind the saved index, so it stays bounded however many faces are
deleted; a process that fell behind the pruned horizon, and a saved file older than
it, are built again rather than missing deletions. SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
import time
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select

from facealbum.adapters.catalog_schema import collection_face_deletions
from facealbum.adapters.catalog_sql import SqlCatalog
from facealbum.adapters.faces_local import LocalFaces
from facealbum.domain import Box
from facealbum.faces import FaceRecord
from facealbum.settings import Settings
from facealbum.wiring import open_album


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path) -> Settings:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").new_database()
    return Settings(home=tmp_path / "home", database_url=url)


def _process(settings: Settings) -> LocalFaces:
    """The faces port as one server process has it (no detector: faces come with
    their descriptors), saving its index every 50 changes."""
    port = LocalFaces(SqlCatalog(settings.catalog_url).engine, None, settings)  # type: ignore[arg-type]
    port.save_every = 50
    return port


def _feed_rows(port: LocalFaces) -> int:
    with port.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(collection_face_deletions)).scalar()


def test_the_deletion_feed_is_pruned_and_a_process_behind_it_builds_again(settings):
    one = _process(settings)
    one.create_collection("c")
    vectors = np.random.default_rng(5).standard_normal((400, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [str(uuid.uuid4()) for _ in vectors]
    box = Box(0.1, 0.1, 0.2, 0.2)
    one.add_faces("c", [FaceRecord(f, f, None, box, 99.0) for f in ids], vectors)
    one.warm("c")  # built (no file yet) and saved
    idle = _process(settings)  # a second process: loads the file, then nobody asks it
    idle.warm("c")
    path = one._index_path("c")
    before = path.read_text()  # the file as it stood before any deletion
    codes = path.with_name(json.loads(before)["codes"])
    shutil.copy(codes, codes.with_name("old.faiss"))

    for round_ in range(8):  # 8 × 25 deletions, each seen by the live process at once
        one.delete_faces("c", ids[round_ * 25 : (round_ + 1) * 25])
        one.warm("c")
    assert one.builds == 1  # in place: never built again
    assert len(one._index("c")) == 200
    assert _feed_rows(one) <= 2 * one.save_every  # not all 200: pruned behind the file

    # the idle process's index is behind the horizon: it builds, and misses nothing
    left = {m.face.face_id for m in idle.search_faces("c", ids[-1], 0, 4096)}
    assert idle.builds == 1 and len(idle._index("c")) == 200
    assert left == set(ids[200:-1])
    # so is a file saved before the pruning (a process starting on it builds again)
    shutil.copy(codes.with_name("old.faiss"), codes)
    path.write_text(before)
    late = _process(settings)
    late.warm("c")
    assert late.builds == 1 and len(late._index("c")) == 200


def test_the_saved_index_has_one_writer_at_a_time(tmp_path):
    """Several processes may reach their save at once: one writes, a process finding
    the file's lock taken leaves it alone (and saves at a later catch-up), and none
    writes a file that is as far along already."""
    one = _process(Settings(home=tmp_path / "home"))
    one.create_collection("c")
    vectors = np.eye(128, dtype=np.float32)[:60]
    box = Box(0.1, 0.1, 0.2, 0.2)
    one.add_faces(
        "c", [FaceRecord(str(uuid.uuid4()), "i", None, box, 99.0) for _ in vectors], vectors
    )
    one.warm("c")  # built and saved
    path = one._index_path("c")
    saved = path.read_text()
    other = _process(one.settings)
    other.warm("c")  # loaded, nothing new: the same file
    one.add_faces(
        "c", [FaceRecord(str(uuid.uuid4()), "i", None, box, 99.0) for _ in vectors], vectors
    )
    with open(path.with_name(f".{path.stem}.lock"), "a") as lock:  # another process saving
        fcntl.flock(lock, fcntl.LOCK_EX)
        one.warm("c")
        assert path.read_text() == saved  # left to the one holding it
    one.warm("c")  # the next catch-up saves it
    assert json.loads(path.read_text())["state"]["high"] > json.loads(saved)["state"]["high"]
    written = path.read_text()
    other.save_every = 1
    other.warm("c")  # as far as the file: nothing written
    assert path.read_text() == written and len(other._index("c")) == 120


def test_a_server_process_nobody_searches_follows_the_feed(tmp_path):
    """What keeps each process of `serve --workers N` near the feed's head (and so
    ahead of the pruning): every ``face_follow_seconds`` it catches up by itself."""
    settings = Settings(home=tmp_path / "home", face_follow_seconds=0.05)
    album = open_album(settings)
    stop = threading.Event()
    follower = threading.Thread(target=album.follow_faces, args=(stop,))
    follower.start()
    try:
        other = _process(settings)  # another process writes
        vectors = np.eye(128, dtype=np.float32)[:5]
        box = Box(0.1, 0.1, 0.2, 0.2)
        records = [FaceRecord(str(uuid.uuid4()), "i", None, box, 99.0) for _ in vectors]
        other.add_faces(album.collection.collection_id, records, vectors)
        other.delete_faces(album.collection.collection_id, [records[0].face_id])
        loaded = album.collection.faces._loaded
        deadline = time.monotonic() + 30
        while not (
            album.collection.collection_id in loaded and len(loaded["facealbum"].index) == 4
        ):
            assert time.monotonic() < deadline, "the idle process never caught up"
            time.sleep(0.05)
        assert album.collection.faces.builds == 1  # the first (empty) one only
    finally:
        stop.set()
        follower.join()


def test_a_collection_made_again_by_another_process_is_built_again(settings):
    """DeleteCollection then CreateCollection through another process (the
    /rekognition endpoint, ``facealbum faces``): the old collection's faces left no
    deletion feed, so a process that had it loaded builds again rather than keep
    them, dead, crowding its searches' top k."""
    one, other = _process(settings), _process(settings)
    one.create_collection("c")
    vectors = np.random.default_rng(7).standard_normal((30, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    box = Box(0.1, 0.1, 0.2, 0.2)
    old = [str(uuid.uuid4()) for _ in vectors]
    one.add_faces("c", [FaceRecord(f, f, None, box, 99.0) for f in old], vectors)
    one.warm("c")
    other.warm("c")
    one.delete_collection("c")
    one.create_collection("c")
    new = [str(uuid.uuid4()) for _ in vectors]  # the same faces indexed again
    one.add_faces("c", [FaceRecord(f, f, None, box, 99.0) for f in new], vectors)
    found = {m.face.face_id for m in other.search_faces("c", new[0], 0, 20)}
    assert len(found) == 20 and found <= set(new)
    assert len(other._index("c")) == 30


def test_a_catch_up_that_fails_between_chunks_adds_no_face_twice(settings):
    """A catch-up reads new faces in chunks; one whose next chunk's read fails (SQLite
    busy, a dropped connection) is tried again at the next search: the chunks already
    added must not be added again (the same face was then found twice)."""
    from sqlalchemy.exc import OperationalError

    one, other = _process(settings), _process(settings)
    other.chunk = 4
    vectors = np.random.default_rng(9).standard_normal((20, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [str(uuid.uuid4()) for _ in vectors]
    box = Box(0.1, 0.1, 0.2, 0.2)
    one.create_collection("c")
    one.add_faces("c", [FaceRecord(f, f, None, box, 99.0) for f in ids[:5]], vectors[:5])
    other.warm("c")
    one.add_faces("c", [FaceRecord(f, f, None, box, 99.0) for f in ids[5:]], vectors[5:])
    connect, reads = other.db.connect, [0]

    def flaky():
        reads[0] += 1
        if reads[0] == 3:  # the stamp, the first chunk, then this
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return connect()

    other.db.connect = flaky  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        other.search_faces("c", ids[0], 0, 30)
    other.db.connect = connect  # type: ignore[method-assign]
    found = [m.face.face_id for m in other.search_faces("c", ids[0], 0, 30)]
    assert sorted(found) == sorted(ids[1:])
    assert len(other._index("c")) == 20
