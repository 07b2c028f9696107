"""The catalog on PostgreSQL at scale: what differs from SQLite in how its writes and
reads run (statement-level triggers, the planner), checked on a real server at small
sizes by counts and plans, never by time."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from test_ports import picture

from facealbum.adapters.catalog_sql import SqlCatalog


def test_bulk_add_fires_the_counting_triggers_once_per_table_not_once_per_row(pg_cluster):
    """bench/scale.py builds its 500,000 pictures with add_pictures. psycopg's
    executemany runs one INSERT per row, so the statement-level counting triggers of
    migration 0014 updated the counters' one row once per picture and per face: 60,000
    versions of that row in each transaction of 20,000 pictures (117 s a chunk at full
    size, the build past an hour). Counted in the transaction (pg_stat_xact_user_tables,
    at its start and before its commit): the row's updates no longer grow with the rows."""
    catalog = SqlCatalog(pg_cluster.new_database())
    updates: list[int] = []  # at each transaction's start and end

    def count(conn) -> None:  # this backend's counts not yet flushed, this one's included
        raw = conn.connection.driver_connection
        row = raw.execute(
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'album_counters'"
        ).fetchone()
        updates.append(row[0] if row else 0)

    event.listen(catalog.engine, "begin", count)
    event.listen(catalog.engine, "commit", count)
    new = [picture(f"p{i:03d}", f"S{i % 7}", f"sha-{i}", 2) for i in range(300)]
    catalog.add_pictures(new)
    event.remove(catalog.engine, "begin", count)
    event.remove(catalog.engine, "commit", count)
    assert updates[-1] - updates[-2] <= 3, updates  # sets, pictures, faces: one each
    stats = catalog.stats()
    assert (stats.sets, stats.pictures, stats.faces) == (7, 300, 600)
    sets = {s.name: s for s in catalog.list_sets()}
    assert sum(s.picture_count for s in sets.values()) == 300
    assert sets["S3"].featured.image_id == "p003"
    assert catalog.get_picture("p007").faces[1].face_id == "p007-1"
    catalog.engine.dispose()


def test_placing_many_faces_takes_a_few_statements_not_two_per_face(pg_cluster, tmp_path):
    """Import placement (and bench/scale.py's 900,000 faces) moves thousands of faces
    in one assign_faces: it held the target person (FOR SHARE) and updated the face by
    a statement each, two round trips per face (placing 900,000 faces took over an hour
    on PostgreSQL). Now the persons are held once and the faces move in executemany
    batches: the statements sent do not grow with the faces."""
    from facealbum.domain import Person

    for catalog in (
        SqlCatalog(pg_cluster.new_database()),
        SqlCatalog(f"sqlite:///{tmp_path / 'catalog.db'}"),
    ):
        catalog.add_pictures([picture(f"p{i:03d}", "S", f"sha-{i}", 2) for i in range(200)])
        for k in range(3):
            catalog.add_person(Person(f"person-{k}", created_at=float(k)))
        faces = {f"p{i:03d}-{j}": f"person-{i % 3}" for i in range(200) for j in range(2)}
        statements: list[str] = []
        listen = lambda conn, cursor, statement, *_, seen=statements: seen.append(statement)  # noqa: E731
        event.listen(catalog.engine, "before_cursor_execute", listen)
        assert catalog.assign_faces(faces, by_owner=False) == 400
        faces["p000-0"] = None  # one out, one across, one already there
        faces["p000-1"] = "person-1"  # and one the owner confirms
        assert catalog.assign_faces({f: faces[f] for f in ("p000-0", "p000-1", "p001-0")},
                                    by_owner=True) == 3  # fmt: skip
        event.remove(catalog.engine, "before_cursor_execute", listen)
        assert len(statements) <= 20, len(statements)
        counts = {p.person_id: p.face_count for p in catalog.list_people()}
        assert counts == {"person-0": 132, "person-1": 135, "person-2": 132}
        assert catalog.get_face("p000-0").person_id is None
        catalog.engine.dispose()


def test_a_read_is_one_round_trip_not_a_transaction(pg_cluster, tmp_path):
    """A read (``engine.connect()``) took four round trips a statement: the pool's
    check (SELECT 1), BEGIN, the statement, the pool's ROLLBACK; at a million faces a
    person's page of 8 reads spent more in them than in its queries. Now reads run in
    autocommit and the pool checks the socket: the round trips (the server's
    ReadyForQuery, in libpq's trace of the pooled connection) are the statements. A
    connection the server closed is still replaced before use, writes still commit or
    roll back as one transaction, and the pool hands out the connection returned last."""
    import time

    import psycopg
    from psycopg import pq
    from sqlalchemy import insert, text

    from facealbum.adapters.catalog_schema import sets

    catalog = SqlCatalog(pg_cluster.new_database())
    catalog.add_pictures([picture("p000", "S", "sha-0", 2)])
    catalog.engine.dispose()
    with catalog.engine.connect() as conn:  # the pool's one connection
        raw = conn.connection.driver_connection
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as out:
        raw.pgconn.trace(out.fileno())
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        assert catalog.stats().pictures == 1
        assert catalog.get_set("S").picture_count == 1
        raw.pgconn.untrace()
    lines = trace.read_text().splitlines()
    assert sum("\tReadyForQuery\t" in line for line in lines) == 2, "\n".join(lines)

    with psycopg.connect(pg_cluster.admin_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [raw.info.backend_pid])
        while admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [raw.info.backend_pid]
        ).fetchone():
            time.sleep(0.01)
    assert catalog.stats().pictures == 1  # the pool's one connection was replaced

    with pytest.raises(RuntimeError), catalog.engine.begin() as conn:  # still atomic
        conn.execute(insert(sets).values(name="T", created_at=1.0))
        assert conn.execute(text("SELECT count(*) FROM sets")).scalar_one() == 2
        raise RuntimeError("undone")
    assert catalog.get_set("T") is None

    pid = text("SELECT pg_backend_pid()")
    first, last = catalog.engine.connect(), catalog.engine.connect()
    last_pid = last.execute(pid).scalar_one()
    first.close()
    last.close()  # returned last: served next, twice (FIFO served `first`, then it)
    for _ in range(2):
        with catalog.engine.connect() as conn:
            assert conn.execute(pid).scalar_one() == last_pid
    catalog.engine.dispose()


def test_prepared_reads_are_planned_for_their_own_parameters(pg_cluster):
    """psycopg prepares a statement a connection has run 5 times, and PostgreSQL then
    plans it for any parameters (a generic plan) after 5 more: at a million faces
    the largest person's faces among a page's pictures took 2.3 s on one, 10 ms on a
    plan for its own person. The server's count of each prepared statement's plans,
    on the connection that ran them: all custom, none generic."""
    from sqlalchemy import text

    catalog = SqlCatalog(pg_cluster.new_database())
    catalog.add_pictures([picture(f"p{i:03d}", "S", f"sha-{i}", 2) for i in range(20)])
    catalog.engine.dispose()
    for i in range(12):
        assert catalog.get_picture(f"p{i:03d}").faces[1].face_id == f"p{i:03d}-1"
    plans = text(
        "SELECT count(*), coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0) "
        "FROM pg_prepared_statements"
    )
    with catalog.engine.connect() as conn:  # the same connection (the pool's only one)
        prepared, generic, custom = conn.execute(plans).one()
    assert prepared >= 2 and custom >= 2 * (12 - 5), (prepared, generic, custom)
    assert generic == 0, (prepared, generic, custom)
    catalog.engine.dispose()


def test_a_pages_reads_are_one_statement_whatever_the_pages_size(pg_cluster):
    """A page's pictures' faces, contents and persons were read by an expanding IN, a
    placeholder per value: every page size another statement, parsed anew and never
    prepared by psycopg. On PostgreSQL they are ``= ANY(array)``: the statements sent
    for 3 pictures and for 50 are the same texts, and the answers right."""
    catalog = SqlCatalog(pg_cluster.new_database())
    catalog.add_pictures([picture(f"p{i:03d}", "S", f"sha-{i}", 2) for i in range(60)])
    sent: dict[int, list[str]] = {}
    for n in (3, 50):
        ids = [f"p{i:03d}" for i in range(n)]
        seen = sent[n] = []
        listen = lambda conn, cursor, statement, *_, seen=seen: seen.append(statement)  # noqa: E731
        event.listen(catalog.engine, "before_cursor_execute", listen)
        got = catalog.get_pictures(ids)
        assert sorted(got) == ids and all(len(p.faces) == 2 for p in got.values())
        shas = catalog.content_image_ids([f"sha-{i}" for i in range(n)])
        assert shas == {f"sha-{i}": [f"p{i:03d}"] for i in range(n)}
        assert catalog.face_persons(ids) == {i: set() for i in ids}
        assert catalog.person_labels([f"person-{i}" for i in range(n)]) == {}
        event.remove(catalog.engine, "before_cursor_execute", listen)
    assert len(sent[3]) == 4 and sent[3] == sent[50], (sent[3], sent[50])  # pictures+faces: 1
    catalog.engine.dispose()
