"""Rekognition's users in the local collections: the album's persons, each with the
faces associated with it (CreateUser, AssociateFaces, SearchUsers…).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_users",
        sa.Column(
            "collection_id",
            sa.String(255),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("collection_faces") as batch:
        batch.add_column(sa.Column("user_id", sa.String(128), nullable=True))
        batch.create_index("ix_collection_faces_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("collection_faces") as batch:
        batch.drop_index("ix_collection_faces_user_id")
        batch.drop_column("user_id")
    op.drop_table("collection_users")
