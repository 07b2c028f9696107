"""Counts kept as rows change, so that listing sets and ``facealbum stats`` read a few
rows, never every picture or face:

- ``sets.picture_count``: the set's pictures; ``sets.sort_name``: its name casefolded
  (what "by name" sorts by), both indexed with the newest-first order for keyset paging;
- ``album_counters``: one row (id 1) with the album's sets, pictures, faces and the
  bytes of its originals (each content once, however many sets hold it).

The database keeps them itself, by triggers on ``sets``, ``pictures`` and ``faces``, so
every write path (an import, a batched delete, a restore) counts, whoever wrote it.
PostgreSQL counts once per statement (transition tables), SQLite once per row. All
counters live on one row, so writers take its lock in one order (no deadlock between a
counter of pictures and one of faces). ``check --repair`` recounts (``recount_stats``)
in case a database was changed with the triggers off.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# counted ones: AFTER INSERT / DELETE on each table
_SQLITE = [
    """CREATE TRIGGER sets_counted_insert AFTER INSERT ON sets BEGIN
        UPDATE album_counters SET sets = sets + 1 WHERE id = 1; END""",
    """CREATE TRIGGER sets_counted_delete AFTER DELETE ON sets BEGIN
        UPDATE album_counters SET sets = sets - 1 WHERE id = 1; END""",
    """CREATE TRIGGER pictures_counted_insert AFTER INSERT ON pictures BEGIN
        UPDATE album_counters SET pictures = pictures + 1,
            original_bytes = original_bytes + CASE WHEN EXISTS (SELECT 1 FROM pictures
                WHERE sha256 = NEW.sha256 AND image_id <> NEW.image_id)
                THEN 0 ELSE NEW.byte_size END
        WHERE id = 1;
        UPDATE sets SET picture_count = picture_count + 1 WHERE name = NEW.set_name; END""",
    """CREATE TRIGGER pictures_counted_delete AFTER DELETE ON pictures BEGIN
        UPDATE album_counters SET pictures = pictures - 1,
            original_bytes = original_bytes - CASE WHEN EXISTS (SELECT 1 FROM pictures
                WHERE sha256 = OLD.sha256) THEN 0 ELSE OLD.byte_size END
        WHERE id = 1;
        UPDATE sets SET picture_count = picture_count - 1 WHERE name = OLD.set_name; END""",
    """CREATE TRIGGER faces_counted_insert AFTER INSERT ON faces BEGIN
        UPDATE album_counters SET faces = faces + 1 WHERE id = 1; END""",
    """CREATE TRIGGER faces_counted_delete AFTER DELETE ON faces BEGIN
        UPDATE album_counters SET faces = faces - 1 WHERE id = 1; END""",
]

_PG_FUNCTIONS = {
    "sets_counted_insert": "UPDATE album_counters SET sets = sets + (SELECT count(*) FROM changed)"
    " WHERE id = 1;",
    "sets_counted_delete": "UPDATE album_counters SET sets = sets - (SELECT count(*) FROM changed)"
    " WHERE id = 1;",
    # the album's row first, then the sets' rows: every writer locks in this order
    "pictures_counted_insert": """
        UPDATE album_counters SET pictures = pictures + (SELECT count(*) FROM changed),
            original_bytes = original_bytes + (SELECT coalesce(sum(c.b), 0) FROM
                (SELECT sha256, count(*) AS n, max(byte_size) AS b FROM changed
                 GROUP BY sha256) c
                WHERE (SELECT count(*) FROM pictures p WHERE p.sha256 = c.sha256) = c.n)
        WHERE id = 1;
        UPDATE sets SET picture_count = sets.picture_count + d.n
        FROM (SELECT set_name, count(*) AS n FROM changed GROUP BY set_name) d
        WHERE sets.name = d.set_name;""",
    "pictures_counted_delete": """
        UPDATE album_counters SET pictures = pictures - (SELECT count(*) FROM changed),
            original_bytes = original_bytes - (SELECT coalesce(sum(c.b), 0) FROM
                (SELECT sha256, max(byte_size) AS b FROM changed GROUP BY sha256) c
                WHERE NOT EXISTS (SELECT 1 FROM pictures p WHERE p.sha256 = c.sha256))
        WHERE id = 1;
        UPDATE sets SET picture_count = sets.picture_count - d.n
        FROM (SELECT set_name, count(*) AS n FROM changed GROUP BY set_name) d
        WHERE sets.name = d.set_name;""",
    "faces_counted_insert": "UPDATE album_counters SET faces = faces + (SELECT count(*) FROM"
    " changed) WHERE id = 1;",
    "faces_counted_delete": "UPDATE album_counters SET faces = faces - (SELECT count(*) FROM"
    " changed) WHERE id = 1;",
}

RECOUNT = [
    "UPDATE sets SET picture_count = "
    "(SELECT count(*) FROM pictures WHERE pictures.set_name = sets.name)",
    "UPDATE album_counters SET "
    "sets = (SELECT count(*) FROM sets), "
    "pictures = (SELECT count(*) FROM pictures), "
    "faces = (SELECT count(*) FROM faces), "
    "original_bytes = (SELECT coalesce(sum(b), 0) FROM "
    "(SELECT max(byte_size) AS b FROM pictures GROUP BY sha256) AS contents) "
    "WHERE id = 1",
]


def upgrade() -> None:
    with op.batch_alter_table("sets") as batch:
        batch.add_column(sa.Column("picture_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("sort_name", sa.String(400), nullable=False, server_default=""))
    conn = op.get_bind()
    # an older pg_dump restored over a newer catalog (pg_restore --clean drops only what
    # the dump holds) leaves these behind: start from none
    if sa.inspect(conn).has_table("album_counters"):
        op.drop_table("album_counters")
    op.create_index("ix_sets_newest", "sets", [sa.text("created_at DESC"), "name"])
    op.create_index("ix_sets_sort_name", "sets", ["sort_name", "name"])
    # the featured picture's successor (the set's oldest) by key, not by reading the set
    op.create_index("ix_pictures_set_created", "pictures", ["set_name", "created_at", "name"])
    op.create_table(
        "album_counters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sets", sa.BigInteger, nullable=False),
        sa.Column("pictures", sa.BigInteger, nullable=False),
        sa.Column("faces", sa.BigInteger, nullable=False),
        sa.Column("original_bytes", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO album_counters VALUES (1, 0, 0, 0, 0)")
    names = conn.execute(sa.text("SELECT name FROM sets")).scalars().all()
    for name in names:  # casefold is Python's (SQL's lower() differs per engine)
        conn.execute(
            sa.text("UPDATE sets SET sort_name = :s WHERE name = :n"),
            {"s": name.casefold(), "n": name},
        )
    for statement in RECOUNT:
        op.execute(statement)
    if conn.dialect.name == "postgresql":
        for name, body in _PG_FUNCTIONS.items():
            table, _, when = name.split("_")
            op.execute(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {body} RETURN NULL; END $$"
            )
            rows = "NEW TABLE AS changed" if when == "insert" else "OLD TABLE AS changed"
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when.upper()} ON {table} "
                f"REFERENCING {rows} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        for statement in _SQLITE:
            op.execute(statement)


def downgrade() -> None:
    conn = op.get_bind()
    for name in _PG_FUNCTIONS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {name.split('_')[0]}"
                   if conn.dialect.name == "postgresql" else ""))  # fmt: skip
        if conn.dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("album_counters")
    op.drop_index("ix_pictures_set_created", "pictures")
    op.drop_index("ix_sets_sort_name", "sets")
    op.drop_index("ix_sets_newest", "sets")
    # not batch mode: on SQLite it copies ``sets`` and drops the old table, whose
    # foreign keys' ON DELETE CASCADE would take every picture with it
    op.execute("ALTER TABLE sets DROP COLUMN sort_name")
    op.execute("ALTER TABLE sets DROP COLUMN picture_count")
