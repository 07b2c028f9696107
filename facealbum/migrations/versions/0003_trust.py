"""Trust: revocable owner sessions, a shared sign-in limit, leases that let a crashed
upload be picked up again, per-content locks between storing and deleting blobs, and a
per-set switch for sharing originals' location with visitors.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("secret_tag", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=False),
    )
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(100), nullable=False, index=True),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "content_locks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("lease_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("enqueued_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.create_index("ix_uploads_status", ["status"])
    with op.batch_alter_table("sets") as batch:
        batch.add_column(
            sa.Column("share_location", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sets") as batch:
        batch.drop_column("share_location")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_index("ix_uploads_status")
        batch.drop_column("attempts")
        batch.drop_column("enqueued_at")
        batch.drop_column("lease_until")
    op.drop_table("content_locks")
    op.drop_table("signin_failures")
    op.drop_table("sessions")
