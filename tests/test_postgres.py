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
        sets = httpx.get(f"{base}/api/sets").json()["sets"]
        assert sets[0]["name"] == "fixtures" and sets[0]["picture_count"] == len(pictures)
    finally:
        proc.terminate()
        proc.wait(10)


def test_collection_index_misses_no_face_committed_out_of_order(pg_cluster, tmp_path):
    """PostgreSQL hands out sequence numbers at insert time, not at commit: an index
    that loaded up to seq 11 must still get seq 10 committed after it. A trigger that
    sleeps after each insert makes commits come out of order as often as possible;
    four writers index real photos while a reader keeps its index up to date."""
    import threading

    import psycopg

    from facealbum.adapters.catalog_sql import SqlCatalog
    from facealbum.wiring import make_faces

    url = pg_cluster.new_database()
    settings = Settings(home=tmp_path / "home", database_url=url)
    db = SqlCatalog(url).engine
    writer, reader = make_faces(settings, db), make_faces(settings, db)
    writer.create_collection("c")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION dawdle() RETURNS trigger AS $$ BEGIN "
            "PERFORM pg_sleep(random() * 0.03); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER dawdle AFTER INSERT ON collection_faces "
            "FOR EACH ROW EXECUTE FUNCTION dawdle()"
        )
    photos = [(PHOTOS / "obama" / n).read_bytes() for n in ("obama.jpg", "obama2.jpg")]
    written: list[str] = []

    def write(k: int) -> None:
        for i in range(8):
            indexed = writer.index_faces("c", photos[(k + i) % 2], external_image_id=f"{k}-{i}")
            written.extend(r.face_id for r, _ in indexed.records)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        reader.warm("c")
    reader.warm("c")
    assert len(written) == 32
    assert len(reader._index("c")) == 32
    found = reader.search_faces_ranked("c", written[0], 0, 100)
    assert {written[0], *(m.face.face_id for m in found)} == set(written)


def test_a_nul_in_an_id_or_a_name_is_not_a_500_on_postgresql(pg_cluster, tmp_path):
    """PostgreSQL's text cannot hold NUL: an id or a set name with %00 in the URL made
    psycopg refuse the parameter (DataError, a 500); SQLite answered 404. Nothing in
    the album has one: a 4xx on either."""
    from fastapi.testclient import TestClient

    from facealbum.web.app import create_app

    album = open_album(Settings(home=tmp_path / "home", database_url=pg_cluster.new_database()))
    client = TestClient(create_app(album, run_jobs=False), raise_server_exceptions=False)
    for path in ("/api/people/a%00b", "/api/search?people=a%00b", "/api/pictures/a%00b",
                 "/api/faces/a%00b/matches", "/api/sets/a%00b", "/api/sets/a%00b/ids"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code in (404, 422), (path, answer.status_code)
