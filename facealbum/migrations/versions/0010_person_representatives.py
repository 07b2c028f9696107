"""Each person's face and picture counts and representative faces, kept on its row so
that the people pages and person-aware searches read a few rows, never every face.
Counts are filled in here; representatives (chosen from similarities, which only the
faces port knows) are chosen the first time a person is read without them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("face_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("picture_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("representatives", sa.Text, nullable=True))
    op.execute(
        "UPDATE persons SET "
        "face_count = (SELECT count(*) FROM faces WHERE faces.person_id = persons.person_id), "
        "picture_count = (SELECT count(DISTINCT image_id) FROM faces "
        "WHERE faces.person_id = persons.person_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("representatives")
        batch.drop_column("picture_count")
        batch.drop_column("face_count")
