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
