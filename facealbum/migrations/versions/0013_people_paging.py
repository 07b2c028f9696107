"""Indexes the people pages read by: persons most pictured first (all of them for the
owner, the shown ones for visitors) and a person's faces by picture, so listing people,
a person's pictures and a search by people read a page of rows, never every person or
every face of a person; and the named persons, so the names offered read those only.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_persons_listed", "persons", ["picture_count", "person_id"])
    op.create_index("ix_persons_shown", "persons", ["hidden", "picture_count", "person_id"])
    op.create_index("ix_faces_person_image", "faces", ["person_id", "image_id"])
    op.create_index("ix_persons_name", "persons", ["name"])


def downgrade() -> None:
    op.drop_index("ix_persons_name", "persons")
    op.drop_index("ix_faces_person_image", "faces")
    op.drop_index("ix_persons_shown", "persons")
    op.drop_index("ix_persons_listed", "persons")
