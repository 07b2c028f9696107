"""The local collections' deletion feed: each face DeleteFaces removes leaves a row
(its collection and ``seq``), numbered in commit order, so that every process's face
index removes it in place instead of loading the whole collection again (it follows
new faces by ``seq`` already). On SQLite ``collection_faces.seq`` becomes AUTOINCREMENT:
without it a new face could take the ``seq`` of the newest face just deleted, one
that an index following by ``seq`` has already passed.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_face_deletions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "collection_id",
            sa.String(255),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("face_seq", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_collection_face_deletions_collection_id_id",
        "collection_face_deletions",
        ["collection_id", "id"],
    )
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "collection_faces", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    op.drop_index(
        "ix_collection_face_deletions_collection_id_id", table_name="collection_face_deletions"
    )
    op.drop_table("collection_face_deletions")
