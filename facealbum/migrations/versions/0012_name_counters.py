"""The last number given to a clashing picture name per (set, name), so that a free
name ("IMG (52).JPG") is found with one write however many clashes came before.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "name_counters",
        sa.Column(
            "set_name",
            sa.String(100),
            sa.ForeignKey("sets.name", onupdate="CASCADE", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("name_counters")
