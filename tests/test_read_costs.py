"""What a visitor's JSON read costs the SQL catalog, per route, on SQLite and on
PostgreSQL: the statements it sends. On PostgreSQL each statement is a round trip to
another process, which on a loaded machine waits for that process to be scheduled, so
at issue 18's million faces a read's time went mostly to its count of statements (the
plans are index scans of the page). Counted through the real app (FastAPI's
TestClient, no lifespan: no face-index thread sending statements of its own)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from test_ports import picture

from facealbum.domain import Person
from facealbum.settings import Settings
from facealbum.web.app import create_app
from facealbum.wiring import open_album


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, tmp_path):
    """An album of two sets (12 and 3 pictures, two faces each but the last, which has
    none), one named person."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").new_database()
    album = open_album(Settings(home=tmp_path / "home", database_url=url))
    catalog = album.catalog
    catalog.add_pictures([picture(f"p{i:02d}", "Big", f"sha-{i}", 2) for i in range(12)])
    catalog.add_pictures([picture(f"s{i:02d}", "Small", f"sha-s{i}", 2 if i < 2 else 0)
                          for i in range(3)])  # fmt: skip
    catalog.add_person(Person("ann", name="Ann", created_at=1.0))
    catalog.assign_faces({"p01-0": "ann", "p03-1": "ann", "s00-0": "ann"}, by_owner=True)
    yield TestClient(create_app(album, run_jobs=False))
    album.close()


def statements(client: TestClient, path: str) -> list[str]:
    """The statements every engine sent while ``path`` was read (a 200, checked)."""
    sent: list[str] = []

    def seen(conn, cursor, statement, *_):
        sent.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        answer = client.get(path)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert answer.status_code == 200, (path, answer.text)
    return sent


def test_a_pictures_page_reads_its_neighbours_in_one_statement(client):
    """``GET /api/pictures/{id}`` read the picture (and its faces), then the picture's
    set and name again for its neighbours, then the neighbours, then its persons: 5
    statements. The neighbours come from the picture's row in the same statement: 4."""
    sent = statements(client, "/api/pictures/p03")
    assert len(sent) <= 4, "\n".join(sent)
    body = client.get("/api/pictures/p03").json()
    assert (body["previous"], body["next"]) == ("p02", "p04")
    assert body["faces"][1]["person"] == {"person_id": "ann", "name": "Ann"}
    ends = [client.get(f"/api/pictures/{i}").json() for i in ("p00", "p11", "s02")]
    assert [(b["previous"], b["next"]) for b in ends] == [(None, "p01"), ("p10", None),
                                                          ("s01", None)]  # fmt: skip
    assert client.get("/api/pictures/nope").status_code == 404


def test_listed_pictures_come_with_their_faces_in_one_statement(client):
    """The sets page read the covers, then their faces in a second statement (as did
    a person's page, a search's and a click's pictures): a round trip more on
    PostgreSQL. The pictures are joined to their faces: the sets page is the sets, the
    job registry, the covers with their faces (3, was 4). A set's page keeps the
    page's faces a statement of its own (5): joined, it cost more CPU to build than
    the round trip, and SQLite sorted it in a temporary B-tree. A picture of no face
    is listed once, with none."""
    for path, most in {"/api/sets": 3, "/api/sets/Big?limit=5": 5, "/api/sets/Small": 5}.items():
        sent = statements(client, path)
        assert len(sent) <= most, (path, "\n".join(sent))
    page = client.get("/api/sets/Big?limit=5").json()
    assert [p["image_id"] for p in page["pictures"]] == [f"p{i:02d}" for i in range(5)]
    assert [[f["face_id"] for f in p["faces"]] for p in page["pictures"][:2]] == [
        ["p00-0", "p00-1"], ["p01-0", "p01-1"]]  # fmt: skip
    assert page["pictures"][1]["faces"][0]["person"] == {"person_id": "ann", "name": "Ann"}
    rest = client.get(f"/api/sets/Big?limit=5&after={page['next']}").json()
    assert [p["image_id"] for p in rest["pictures"]] == [f"p{i:02d}" for i in range(5, 10)]
    sets = {s["name"]: s for s in client.get("/api/sets").json()["sets"]}
    assert sets["Small"]["featured"]["image_id"] == "s00"
    assert sets["Big"]["picture_count"] == 12
    small = client.get("/api/sets/Small").json()["pictures"]
    assert [(p["image_id"], len(p["faces"])) for p in small] == [("s00", 2), ("s01", 2),
                                                                  ("s02", 0)]  # fmt: skip
