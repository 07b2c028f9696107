"""The album's faces move behind the faces port: their descriptors go into the local
collection ``facealbum`` (the default ``FACEALBUM_REKOGNITION_COLLECTION``), keeping
every face id, with the picture's image id as ExternalImageId. Nothing is analysed
again and every face id in a URL stays valid. The catalog keeps ids and boxes only;
the album's own index feed (its epoch and its lock row) is no longer needed.

Revision ID: 0006
Revises: 0005
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLLECTION = "facealbum"


def upgrade() -> None:
    conn = op.get_bind()
    moved = conn.execute(sa.text("SELECT count(*) FROM faces")).scalar() or 0
    if moved:
        exists = conn.execute(
            sa.text("SELECT 1 FROM collections WHERE collection_id = :c"), {"c": COLLECTION}
        ).first()
        if exists is None:
            conn.execute(
                sa.text(
                    "INSERT INTO collections (collection_id, created_at, face_count, epoch) "
                    "VALUES (:c, :t, 0, 0)"
                ),
                {"c": COLLECTION, "t": time.time()},
            )
        conn.execute(
            sa.text(
                "INSERT INTO collection_faces (face_id, collection_id, image_id, "
                "external_image_id, box_left, box_top, box_width, box_height, confidence, "
                "embedding) SELECT face_id, :c, image_id, image_id, box_left, box_top, "
                "box_width, box_height, confidence, embedding FROM faces ORDER BY seq"
            ),
            {"c": COLLECTION},
        )
        conn.execute(
            sa.text(
                "UPDATE collections SET face_count = face_count + :n, epoch = epoch + 1 "
                "WHERE collection_id = :c"
            ),
            {"n": moved, "c": COLLECTION},
        )
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("embedding")
    op.execute("DELETE FROM meta WHERE key IN ('face_feed', 'face_epoch')")


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary, nullable=True))
    op.execute(
        "UPDATE faces SET embedding = (SELECT embedding FROM collection_faces c "
        "WHERE c.face_id = faces.face_id)"
    )
    op.bulk_insert(
        sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Integer)),
        [{"key": "face_feed", "value": 0}],
    )
