"""The deletion feed's horizon: ``collections.deletions_pruned`` is the highest feed id
removed from ``collection_face_deletions`` (0: none yet). The feed is pruned up to what
the saved index still needs; an index that has applied less than this (a file saved
long ago, a process that sat idle) cannot catch up from the feed and is built again.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


# plain ALTER TABLE, never SQLite's batch copy of the table: dropping the old
# ``collections`` would cascade (foreign keys are on) to every face of every collection
def upgrade() -> None:
    op.add_column(
        "collections",
        sa.Column("deletions_pruned", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("collections", "deletions_pruned")  # SQLite 3.35+
