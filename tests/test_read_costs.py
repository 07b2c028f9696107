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
    """An album of two sets (12 and 3 pictures, two faces each), one named person."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").new_database()
    album = open_album(Settings(home=tmp_path / "home", database_url=url))
    catalog = album.catalog
    catalog.add_pictures([picture(f"p{i:02d}", "Big", f"sha-{i}", 2) for i in range(12)])
    catalog.add_pictures([picture(f"s{i:02d}", "Small", f"sha-s{i}", 2) for i in range(3)])
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
