"""Sets and pictures read a page at a time on every catalog: bounded reads (statements
or DynamoDB items that do not grow with the album), cursors that see every row once
while others write, neighbours by key, and counters kept as rows change."""

from __future__ import annotations

import threading

import pytest
from test_ports import catalog, picture, reads_counted  # noqa: F401 - the fixture

from facealbum.domain import BadInput, NotFound
from facealbum.paging import encode


def add_sets(catalog, names):  # noqa: F811
    for name in names:
        assert catalog.create_set(name)


def reads(catalog) -> dict:  # noqa: F811
    """Every read a sets page, a set's page and a picture's page make, counted."""
    with reads_counted(catalog) as seen:
        newest, after = catalog.sets_page("newest", 3)
        catalog.sets_page("newest", 3, after)
        by_name, after = catalog.sets_page("name", 3)
        catalog.sets_page("name", 3, after)
        catalog.get_set("Big")
        first, deeper = catalog.pictures_page("Big", 4)
        catalog.pictures_page("Big", 4, deeper)
        catalog.neighbours("big-0002")
        catalog.stats()
    covers = [s.featured.image_id if s.featured else None for s in newest + by_name]
    return {"calls": seen["calls"], "items": seen["items"], "covers": covers}


def test_set_reads_cost_the_same_however_many_sets_and_pictures(catalog):  # noqa: F811
    """Today /api/sets counts every set's pictures and /api/sets/{name} offsets: both
    grew with the album. A page costs the same with 8 sets or 20, 10 pictures or 22."""
    for i in range(10):
        catalog.add_picture(picture(f"big-{i:04d}", "Big", f"sha-{i}", 1))
    add_sets(catalog, [f"s{i:02d}" for i in range(6)])
    catalog.add_picture(picture("cover", "s05", "sha-c", 2))
    before = reads(catalog)
    add_sets(catalog, [f"t{i:02d}" for i in range(12)])
    for i in range(10, 22):
        catalog.add_picture(picture(f"big-{i:04d}", "Big", f"sha-{i}", 1))
    catalog.add_picture(picture("cover2", "t11", "sha-c", 0))  # the newest set, a cover
    after = reads(catalog)
    assert before["calls"] == after["calls"]
    assert before["items"] == after["items"]  # DynamoDB: items read (SQL: 0 counted)
    assert before["covers"][0] == "cover" and after["covers"][0] == "cover2"


def page_all(read, limit):
    seen, after = [], None
    while True:
        found, after = read(limit, after)
        assert len(found) <= limit
        seen += found
        if after is None:
            return seen


def test_cursor_paging_reaches_every_set_and_picture_once_under_inserts(catalog):  # noqa: F811
    """Sets and pictures added while a client pages never shift one of those there
    before into two pages or none (offset paging did both)."""
    add_sets(catalog, [f"Set {i:02d}" for i in range(12)] + ["apple", "Banana", "cherry"])
    for i in range(15):
        catalog.add_picture(picture(f"p{i:02d}", "Set 03", f"sha-{i}", 0))
    stop = threading.Event()

    def write():
        i = 0
        while not stop.is_set() and i < 40:
            catalog.create_set(f"New {i:02d}")
            catalog.add_picture(picture(f"n{i:02d}", "Set 03", f"sha-n{i}", 0))
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        newest = page_all(lambda n, a: catalog.sets_page("newest", n, a), 4)
        by_name = page_all(lambda n, a: catalog.sets_page("name", n, a), 4)
        pics = page_all(lambda n, a: catalog.pictures_page("Set 03", n, a), 4)
    finally:
        stop.set()
        writer.join()
    for found in (newest, by_name):
        names = [s.name for s in found]
        assert len(names) == len(set(names))
        assert {f"Set {i:02d}" for i in range(12)} <= set(names)
    old = [s.name for s in newest if not s.name.startswith("New")]
    assert old == ["cherry", "Banana", "apple"] + [f"Set {i:02d}" for i in range(11, -1, -1)]
    casefolded = [s.name for s in by_name if not s.name.startswith("New")]
    assert casefolded[:3] == ["apple", "Banana", "cherry"]  # by name, case aside
    ids = [p.image_id for p in pics]
    assert len(ids) == len(set(ids)) and {f"p{i:02d}" for i in range(15)} <= set(ids)
    assert [p.name for p in pics] == sorted(p.name for p in pics)
    # a clear 4xx for whatever a client makes up, never a 500 from the database
    made_up = ["not a cursor", encode(["a", "b", "c"]), encode([""]), encode(["x" * 1100]),
               encode(["[" * 1500]).replace("WyJb", "W1tb"), "W05hTiwiYSJd"]  # fmt: skip
    for cursor in made_up:
        for read in (lambda c: catalog.sets_page("newest", 3, c),
                     lambda c: catalog.sets_page("name", 3, c),
                     lambda c: catalog.pictures_page("Set 03", 3, c)):  # fmt: skip
            with pytest.raises(BadInput):
                read(cursor)


def test_neighbours_step_through_a_set_by_name_and_stop_at_its_ends(catalog):  # noqa: F811
    for i in (3, 1, 2):
        catalog.add_picture(picture(f"p{i}", "S", f"sha-{i}", 0))
    catalog.add_picture(picture("other", "T", "sha-9", 0))
    assert catalog.neighbours("p1") == (None, "p2")
    assert catalog.neighbours("p2") == ("p1", "p3")
    assert catalog.neighbours("p3") == ("p2", None)
    assert catalog.neighbours("other") == (None, None)
    assert catalog.neighbours("nope") == (None, None)
    catalog.delete_picture("p2")
    assert catalog.neighbours("p1") == (None, "p3")


def counts(catalog) -> tuple:  # noqa: F811
    s = catalog.stats()
    per_set = {x.name: x.picture_count for x in catalog.list_sets()}
    return (s.sets, s.pictures, s.faces, s.original_bytes), per_set


def test_counters_follow_every_change_and_check_counts_them_again(catalog):  # noqa: F811
    catalog.add_picture(picture("a", "S", "sha-a", 2))  # 10 bytes each (test_ports)
    catalog.add_picture(picture("b", "S", "sha-b", 1))
    catalog.add_picture(picture("a2", "T", "sha-a", 2))  # the same content again
    assert counts(catalog) == ((2, 3, 5, 20), {"S": 2, "T": 1})
    catalog.replace_faces("b", picture("b", "S", "sha-b", 2).faces, "t2")
    assert counts(catalog) == ((2, 3, 6, 20), {"S": 2, "T": 1})
    catalog.delete_picture("a")  # its content stays, in T
    assert counts(catalog) == ((2, 2, 4, 20), {"S": 1, "T": 1})
    catalog.rename_set("S", "S2")
    assert counts(catalog) == ((2, 2, 4, 20), {"S2": 1, "T": 1})
    catalog.create_set("Empty")
    catalog.delete_set("T")  # the last use of sha-a
    assert counts(catalog) == ((2, 1, 2, 10), {"S2": 1, "Empty": 0})
    assert [s.name for s in catalog.sets_page("name", 10)[0]] == ["Empty", "S2"]
    assert [s.name for s in catalog.sets_page("newest", 10)[0]] == ["Empty", "S2"]
    # a crash between a change and its count (or a hand edit): recounting repairs it
    if hasattr(catalog, "engine"):
        from sqlalchemy import text

        with catalog.engine.begin() as conn:
            conn.execute(text("UPDATE album_counters SET pictures = 99, original_bytes = 7"))
            conn.execute(text("UPDATE sets SET picture_count = 42"))
    else:
        catalog.album.put_item(Item={"pk": "counters", "sk": "-", "pictures": 99, "faces": 1})
        catalog.pics.update_item(Key={"set": "/", "name": "S2"},
                                 UpdateExpression="SET picture_count = :n",
                                 ExpressionAttributeValues={":n": 42})  # fmt: skip
    assert counts(catalog) != ((2, 1, 2, 10), {"S2": 1, "Empty": 0})
    catalog.recount_stats()
    assert counts(catalog) == ((2, 1, 2, 10), {"S2": 1, "Empty": 0})


def test_set_routes_answer_a_bounded_page_and_the_next_cursor(tmp_path):
    """Over real HTTP: /api/sets answered every set (10,000 sets: 2.5 MB), a set every
    picture up to 10,000 and /ids every id (7.8 MB). Now each is a page (100 by
    default, at most 1000) with the cursor of the next; a picture names its neighbours."""
    import httpx
    from conftest import start_server

    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    home = tmp_path / "home"
    album = open_album(Settings(home=home))
    add_sets(album.catalog, [f"set {i:03d}" for i in range(130)])
    for i in range(120):
        album.catalog.add_picture(picture(f"img-{i:03d}", "Big", f"{i:064x}", 0))
    album.close()
    proc, base = start_server(home)
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            got = c.get("/api/sets")
            assert got.status_code == 200, got.text
            first = got.json()
            assert len(first["sets"]) == 100 and first["next"]
            rest = c.get("/api/sets", params={"after": first["next"], "limit": 1000})
            assert rest.status_code == 200, rest.text
            rest = rest.json()
            names = [s["name"] for s in first["sets"] + rest["sets"]]
            assert rest["next"] is None and len(names) == len(set(names)) == 131
            page = c.get("/api/sets/Big").json()
            assert len(page["pictures"]) == 100 and page["picture_count"] == 120
            more = c.get("/api/sets/Big", params={"after": page["next"]}).json()
            listed = [p["name"] for p in page["pictures"] + more["pictures"]]
            assert more["next"] is None and listed == [f"img-{i:03d}.jpg" for i in range(120)]
            ids = c.get("/api/sets/Big/ids", params={"limit": 50}).json()
            assert len(ids["image_ids"]) == 50 and ids["next"]
            for bad in ({"limit": 1001}, {"after": "not a cursor"}, {"offset": 10_001}):
                got = c.get("/api/sets/Big", params=bad)
                assert got.status_code == 422, (bad, got.text)
            assert c.get("/api/sets", params={"limit": 1001}).status_code == 422
            assert c.get("/api/sets/Big/ids", params={"limit": 1001}).status_code == 422
            ends = [c.get(f"/api/pictures/img-{i:03d}").json() for i in (0, 1, 119)]
            assert [(p["previous"], p["next"]) for p in ends] == [
                (None, "img-001"), ("img-000", "img-002"), ("img-118", None)
            ]  # fmt: skip
    finally:
        proc.terminate()
        proc.wait()


def test_check_finds_wrong_counters_and_repair_counts_them_again(tmp_path):
    """A crash between a change and its count (or a hand edit) must not leave `stats`
    and the sets' counts wrong for ever: check says so and --repair recounts."""
    from sqlalchemy import text

    from facealbum.check import check_album
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    album = open_album(Settings(home=tmp_path / "home"))
    for i in range(3):
        album.catalog.add_picture(picture(f"p{i}", "S", f"sha-{i}", 0))
    right = album.catalog.stats()
    with album.catalog.engine.begin() as conn:
        conn.execute(text("UPDATE album_counters SET pictures = 7, original_bytes = 1"))
        conn.execute(text("UPDATE sets SET picture_count = 5"))
    found = {p.kind: p for p in check_album(album)}
    assert {"album-counts", "set-counts"} <= set(found) and not found["set-counts"].repaired
    repaired = {p.kind: p for p in check_album(album, repair=True)}
    assert repaired["album-counts"].repaired and repaired["set-counts"].repaired
    assert album.catalog.stats() == right and album.catalog.get_set("S").picture_count == 3
    assert not {"album-counts", "set-counts"} & {p.kind for p in check_album(album)}
    album.close()


def test_sqlite_reads_each_page_by_an_index(tmp_path):
    """Statement counts alone would not catch a page that sorts or scans a whole table:
    SQLite's plan of every statement a page runs seeks or walks an index (a walk stops
    at LIMIT) and never sorts, not even the rows that tie on the index's first column
    (sets created in one instant, as an import of many folders makes them: a temp
    B-tree "for the right part of ORDER BY" sorted every one of them)."""
    from sqlalchemy import event

    from facealbum.adapters.catalog_sql import SqlCatalog

    sql = SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    add_sets(sql, [f"s{i:02d}" for i in range(30)])
    for i in range(30):
        sql.add_picture(picture(f"big-{i:04d}", "Big", f"sha-{i}", 1))
    seen: list = []
    listen = lambda conn, cursor, statement, params, *_: seen.append((statement, params))  # noqa: E731
    event.listen(sql.engine, "before_cursor_execute", listen)
    try:
        reads(sql)
    finally:
        event.remove(sql.engine, "before_cursor_execute", listen)
    with sql.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement, params in seen:
            plan = [r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + statement, params)]
            scans = [s for s in plan if s.startswith("SCAN") and "CONSTANT ROW" not in s]
            whole = [s for s in scans if "INDEX" not in s]
            assert not whole and "USE TEMP B-TREE FOR ORDER BY" not in plan, (statement, plan)
            if "FROM sets" in statement:  # ties included: no sort at all
                assert not [s for s in plan if "TEMP B-TREE" in s], (statement, plan)


def test_a_dynamodb_album_from_before_pages_at_once_and_is_counted_off_lambda(
    moto_endpoint, monkeypatch
):
    """An album deployed before set paging has no index rows, counters or cover hashes.
    Its functions (in Lambda, where counting a big album would time out at a cold
    start) list sets as before, paged the same way; the first catalog opened elsewhere
    (the owner's `facealbum stats`, `check --repair`) counts it once, and pages then
    read the index."""
    import uuid

    from facealbum.adapters.catalog_dynamo import DynamoCatalog

    prefix = f"t{uuid.uuid4().hex[:10]}-"
    old = DynamoCatalog(prefix)
    add_sets(old, ["b", "A", "c"])
    old.add_picture(picture("p", "A", "sha-p", 1))
    for pk in ("sets#newest", "sets#name"):  # as the code before set paging left it
        for row in old.album.query(KeyConditionExpression="pk = :p",
                                   ExpressionAttributeValues={":p": pk})["Items"]:  # fmt: skip
            old.album.delete_item(Key={"pk": pk, "sk": row["sk"]})
    for key in ({"pk": "counters", "sk": "-"}, {"pk": "schema", "sk": "sets"}):
        old.album.delete_item(Key=key)
    old.pics.update_item(Key={"set": "/", "name": "A"}, UpdateExpression="REMOVE featured_sha256")

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "api")
    function = DynamoCatalog(prefix)
    pages = page_all(lambda n, a: function.sets_page("name", n, a), 2)
    assert [s.name for s in pages] == ["A", "b", "c"] and pages[0].featured.image_id == "p"
    assert [s.name for s in page_all(lambda n, a: function.sets_page("newest", n, a), 2)] == [
        "c", "A", "b"
    ]  # fmt: skip
    assert (function.stats().sets, function.stats().pictures) == (3, 1)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    owner = DynamoCatalog(prefix)  # counts it once
    with reads_counted(owner) as seen:
        found, after = owner.sets_page("newest", 2)
    assert [s.name for s in found] == ["c", "A"] and seen["items"] == 5  # 3 index rows, 2 sets
    assert found[1].featured.image_id == "p"
    assert owner.stats().original_bytes == 10


@pytest.mark.parametrize("catalog", ["sqlite", "dynamodb"], indirect=True)
def test_a_forged_cursor_of_huge_numbers_or_long_names_is_bad_input(catalog):  # noqa: F811
    """A visitor's cursor with a time past SQLite's 64-bit integers (2**70) was a 500
    (OverflowError); any key part a catalog cannot store is BadInput (a 422), and a
    forged key that fits reads a page as any cursor does."""
    add_sets(catalog, ["a", "b"])
    forged = [("newest", [2**70, "a"]), ("newest", [-(2**70), "a"]), ("newest", [1e300, "a"]),
              ("name", ["x" * 1000, "y" * 1000])]  # fmt: skip
    for sort, key in forged:
        with pytest.raises(BadInput):
            catalog.sets_page(sort, 3, encode(key))
    assert len(catalog.sets_page("newest", 3, encode([1e10, "a"]))[0]) == 2


def test_content_image_ids_names_each_picture_of_a_content(catalog):  # noqa: F811
    """What a person's page needs to list a photo stored in several sets once across
    pages: every picture of each content asked for, in any set."""
    catalog.add_picture(picture("a", "S", "sha-a", 1))
    catalog.add_picture(picture("b", "T", "sha-a", 1))
    catalog.add_picture(picture("c", "T", "sha-c", 0))
    got = catalog.content_image_ids(["sha-a", "sha-c", "sha-none"])
    assert {k: sorted(v) for k, v in got.items()} == {"sha-a": ["a", "b"], "sha-c": ["c"]}


def test_a_page_of_ids_reads_no_faces(catalog):  # noqa: F811
    """Issue 18, item 1: ``/api/sets/{name}/ids`` answers ids alone, yet it read each
    picture's faces too (a SQL statement of its own: at a million faces 100 ids cost
    as much CPU as a page of 100 pictures). A page without faces reads none on SQL;
    DynamoDB's items hold their faces, so it reads the same there."""
    for i in range(6):
        catalog.add_picture(picture(f"big-{i:04d}", "Big", f"sha-{i}", 2))
    with reads_counted(catalog) as whole:
        full, after = catalog.pictures_page("Big", 4)
    with reads_counted(catalog) as bare:
        ids, same = catalog.pictures_page("Big", 4, faces=False)
    assert [p.image_id for p in ids] == [p.image_id for p in full] and same == after
    assert all(p.faces for p in full)
    if hasattr(catalog, "engine"):
        assert (whole["calls"], bare["calls"]) == (2, 1)
        assert not any(p.faces for p in ids)


def test_a_rename_step_moves_a_batch_and_the_last_moves_the_rest(catalog):  # noqa: F811
    """Issue 18, item 3, on every catalog: a set job renames a set a step at a time
    (SQL: ``limit`` pictures a transaction; DynamoDB: all at once, a picture a
    transaction); meanwhile the old name holds what is left, counted; at the end every
    picture, clash counter and count is under the new name, the album's counts as
    before."""
    for i in range(3):
        catalog.add_picture(picture(f"r-{i}", "S", f"sha-r{i}", 1))
    assert catalog.next_name_number("S", "r-0.jpg") == 2
    before = catalog.stats()
    steps = 1
    while not catalog.rename_set_step("S", "T", 2):
        steps += 1
        assert catalog.get_set("S").picture_count == 1
        assert [p.image_id for p in catalog.pictures_page("S", 10)[0]] == ["r-2"]
    dynamo = "Dynamo" in type(catalog).__name__
    assert steps == (1 if dynamo else 2)
    assert catalog.get_set("S") is None and catalog.get_set("T").picture_count == 3
    assert {p.image_id for p in catalog.pictures_page("T", 10)[0]} == {"r-0", "r-1", "r-2"}
    assert catalog.stats() == before
    if not dynamo:  # DynamoDB's rename starts the clash counters again (as before)
        assert catalog.next_name_number("T", "r-0.jpg") == 3
    with pytest.raises(NotFound):
        catalog.rename_set_step("S", "T", 2)


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
def test_a_set_page_sorts_nothing_inside_sqlite(catalog):  # noqa: F811
    """A page's pictures come in order from the (set, name) index and its faces by the
    picture index; no statement of the page sorts in a temporary B-tree (the faces'
    ``ORDER BY image_id, box_left`` did, at every request: the page's faces are put in
    box order as plain tuples instead), and each picture still lists its faces left to
    right."""
    from sqlalchemy import event

    for i in range(6):
        p = picture(f"p{i}", "S", f"sha-{i}", 3)
        p.faces.reverse()  # stored right to left
        catalog.add_picture(p)
    seen: list = []
    listen = lambda conn, cursor, statement, params, *_: seen.append((statement, params))  # noqa: E731
    event.listen(catalog.engine, "before_cursor_execute", listen)
    try:
        found, after = catalog.pictures_page("S", 4)
        catalog.pictures_page("S", 4, after)
    finally:
        event.remove(catalog.engine, "before_cursor_execute", listen)
    with catalog.engine.connect() as conn:
        for statement, params in seen:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).fetchall()
            assert not [r for r in plan if "TEMP B-TREE" in r[3]], (statement, plan)
    assert [p.image_id for p in found] == ["p0", "p1", "p2", "p3"]
    assert all([f.face_id for f in p.faces] == [f"{p.image_id}-{i}" for i in range(3)]
               for p in found)  # fmt: skip


def test_a_cursor_with_a_lone_surrogate_or_a_nul_is_bad_input():
    """A forged cursor whose JSON holds a lone surrogate ("\\ud800") raised
    UnicodeEncodeError while its size was checked (a 500 on every paged route), and
    one holding NUL reached PostgreSQL, which cannot take it in a text parameter (a
    500 there); no name or id holds either, so both are BadInput (a 422)."""
    import base64

    from facealbum import paging

    for raw in ('["\\ud800"]', '["a\\u0000"]', '[1, "\\udfff"]', '["\\u0000", "b"]'):
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        types = (str,) if raw.count(",") == 0 else ((float, str) if raw[1] == "1" else (str, str))
        with pytest.raises(BadInput):
            paging.decode(cursor, *types)
