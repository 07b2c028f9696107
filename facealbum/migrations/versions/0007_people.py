"""People: faces grouped into persons, with the owner's decisions kept apart from the
automatic grouping's, and the "not this person" answers remembered.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("cover_face_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("person_id", sa.String(36), nullable=True))
        batch.add_column(
            sa.Column("by_owner", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_faces_person_id", ["person_id"])
    op.create_table(
        "face_rejections",
        sa.Column("face_id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.String(36), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("face_rejections")
    with op.batch_alter_table("faces") as batch:
        batch.drop_index("ix_faces_person_id")
        batch.drop_column("by_owner")
        batch.drop_column("person_id")
    op.drop_table("persons")
