"""The catalog on PostgreSQL at scale: what differs from SQLite in how its writes and
reads run (statement-level triggers, the planner), checked on a real server at small
sizes by counts and plans, never by time."""

from __future__ import annotations

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
