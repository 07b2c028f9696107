"""The whole album on PostgreSQL: the catalog is a URL away from SQLite."""

from __future__ import annotations

import httpx
from conftest import PHOTOS, start_server

from facealbum.importer import import_folder, reindex
from facealbum.settings import Settings
from facealbum.wiring import open_album


def test_import_search_and_serve_on_postgresql(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    album = open_album(Settings(home=tmp_path / "home", database_url=url))
    report = import_folder(album, PHOTOS, "fixtures", workers=2)
    assert report.count("failed") == 0
    assert album.stats().pictures == report.count("imported")
    again = import_folder(album, PHOTOS, "fixtures", workers=2)
    assert again.count("imported") == 0  # idempotent on PostgreSQL too

    _, pictures = album.get_set("fixtures")
    obama = next(p for p in pictures if p.name == "obama/obama.jpg")
    names = [m.picture.name for m in album.search(obama.faces[0].face_id).matches]
    assert names[0] == "obama/obama.jpg"
    assert {"obama/obama2.jpg", "obama/obama-480p.jpg", "groups/two_people.jpg"} <= set(names)
    assert not [n for n in names if n.startswith(("biden/", "johns/"))]

    smaller = open_album(Settings(home=tmp_path / "home", database_url=url, detect_size=800))
    assert reindex(smaller, "fixtures", workers=2).done == len(pictures)

    proc, base = start_server(tmp_path / "home", {"FACEALBUM_DATABASE_URL": url})
    try:
        sets = httpx.get(f"{base}/api/sets").json()
        assert sets[0]["name"] == "fixtures" and sets[0]["picture_count"] == len(pictures)
    finally:
        proc.terminate()
        proc.wait(10)


def test_face_feed_misses_no_face_committed_out_of_order(pg_cluster):
    """PostgreSQL hands out face sequence numbers at insert time, not at commit: a
    reader that saw seq 11 must still get seq 10 committed after it. A trigger that
    sleeps after each insert makes commits come out of order as often as possible."""
    import random
    import threading
    import time
    import uuid

    import numpy as np
    import psycopg

    from facealbum.adapters.catalog_sql import SqlCatalog
    from facealbum.domain import Box, Face, Picture

    url = pg_cluster.new_database()
    catalog = SqlCatalog(url)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION dawdle() RETURNS trigger AS $$ BEGIN "
            "PERFORM pg_sleep(random() * 0.03); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER dawdle AFTER INSERT ON faces FOR EACH ROW EXECUTE FUNCTION dawdle()"
        )

    def picture(i: int) -> Picture:
        image_id = str(uuid.uuid4())
        vectors = np.random.default_rng(i).normal(size=(2, 128)).astype("<f4")
        box = Box(0, 0, 1, 1)
        found = [Face(str(uuid.uuid4()), image_id, box, 99, v / np.linalg.norm(v)) for v in vectors]
        return Picture(
            image_id, "s", f"{i}.jpg", uuid.uuid4().hex * 2, 10, 10, "k", "image/jpeg", 1, "t",
            found,
        )  # fmt: skip

    written: list[str] = []

    def write(k: int) -> None:
        for i in range(k * 100, k * 100 + 12):
            p = picture(i)
            assert catalog.add_picture(p) == "added"
            written.extend(f.face_id for f in p.faces)
            time.sleep(random.random() * 0.01)

    seen: set[str] = set()
    high = 0

    def read_once() -> None:
        nonlocal high
        _, high, rows = catalog.face_changes(high)
        seen.update(r[0] for r in rows)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        read_once()
    read_once()
    assert len(written) == 96
    assert set(written) - seen == set()
