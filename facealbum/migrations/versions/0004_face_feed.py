"""The face feed's lock row: face inserts take its row lock until they commit, so that
face sequence numbers become visible in order on PostgreSQL too.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Integer))
    op.bulk_insert(meta, [{"key": "face_feed", "value": 0}])


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'face_feed'")
