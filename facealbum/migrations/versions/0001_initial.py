"""Initial catalog: sets, pictures, faces, meta.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("featured_image_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "pictures",
        sa.Column("image_id", sa.String(36), primary_key=True),
        sa.Column(
            "set_name",
            sa.String(100),
            sa.ForeignKey("sets.name", onupdate="CASCADE", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("original_key", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("byte_size", sa.Integer, nullable=False),
        sa.Column("engine_tag", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("set_name", "name", name="uq_pictures_set_name"),
        sa.UniqueConstraint("set_name", "sha256", name="uq_pictures_set_sha256"),
    )
    op.create_table(
        "faces",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("face_id", sa.String(36), nullable=False, unique=True),
        sa.Column(
            "image_id",
            sa.String(36),
            sa.ForeignKey("pictures.image_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("box_left", sa.Float, nullable=False),
        sa.Column("box_top", sa.Float, nullable=False),
        sa.Column("box_width", sa.Float, nullable=False),
        sa.Column("box_height", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("faces", "pictures", "sets", "meta"):
        op.drop_table(table)
