"""Each face's sharpness as the face model saw it (0-100): blurred faces all look alike
to the model, so their matches need a higher similarity (quality.py). Faces stored
before this are NULL, ranked as sharp, until `facealbum faces reindex`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("sharpness", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("sharpness")
