"""A server's start: what opening an album and its first search by face id load."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from facealbum.adapters.catalog_sql import MIGRATIONS, SQLITE_JOURNAL_LIMIT_BYTES, make_engine
from facealbum.adapters.engine_lazy import LazyFaceEngine
from facealbum.migrations import HEAD

OPEN_AND_SEARCH = """
import json, sys
from facealbum.search import search_face
from facealbum.settings import Settings
from facealbum.web.serve import site
from facealbum.wiring import open_album
album = open_album(Settings(home=sys.argv[1]))
site(album)
found = search_face(album.catalog, album.collection, sys.argv[2], 80, limit=5)
loaded = sorted(m for m in ("alembic", "dlib", "botocore") if m in sys.modules)
print(json.dumps({"photos": len(found.matches), "loaded": loaded}))
"""


def test_head_is_alembics_head():
    """A migration added without moving HEAD fails here (a start would skip it)."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_opening_an_album_at_head_and_searching_by_face_id_loads_no_alembic_dlib_botocore(
    library_home: Path, library
):
    """One SELECT tells the schema is at head; dlib waits for an upload or a photo search,
    botocore for the Rekognition endpoint's first request."""
    with sqlite3.connect(library_home / "catalog.db") as db:
        (face_id,) = db.execute("SELECT face_id FROM faces LIMIT 1").fetchone()
    out = subprocess.run(
        [sys.executable, "-c", OPEN_AND_SEARCH, str(library_home), face_id],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["photos"] >= 1  # the face's own photo at least
    assert result["loaded"] == []


def test_sqlite_caps_the_wal_left_after_a_checkpoint(tmp_path: Path):
    with make_engine(f"sqlite:///{tmp_path / 'c.db'}").connect() as conn:
        limit = conn.exec_driver_sql("PRAGMA journal_size_limit").scalar()
    assert limit == SQLITE_JOURNAL_LIMIT_BYTES == 64 << 20


def test_the_lazy_engine_loads_once_for_threads_asking_at_once():
    loads = []
    started = threading.Barrier(8)

    class Engine:
        def analyze(self, rgb):
            return []

    def load():
        loads.append(1)
        return Engine()

    lazy = LazyFaceEngine(load)
    assert not lazy.loaded

    def ask():
        started.wait()
        lazy.analyze(None)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lazy.loaded and len(loads) == 1
