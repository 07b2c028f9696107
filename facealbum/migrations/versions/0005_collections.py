"""Face collections for the Rekognition-compatible faces port.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("collection_id", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("face_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("epoch", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "collection_faces",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("face_id", sa.String(36), nullable=False, unique=True),
        sa.Column(
            "collection_id",
            sa.String(255),
            sa.ForeignKey("collections.collection_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("external_image_id", sa.String(255), nullable=True),
        sa.Column("box_left", sa.Float, nullable=False),
        sa.Column("box_top", sa.Float, nullable=False),
        sa.Column("box_width", sa.Float, nullable=False),
        sa.Column("box_height", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("collection_faces")
    op.drop_table("collections")
