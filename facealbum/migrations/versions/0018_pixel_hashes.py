"""A picture's ``pixel_sha256``: the sha256 of its decoded, oriented pixels
(``ingest.pixel_sha256``), so that a photo whose metadata alone was edited (a caption
written into its EXIF) is recognised as the picture the set has. Unique per set: of two
files of one photo stored at once, the database lets one in and the other is reported
as a duplicate. Pictures stored before have none (NULL, which a unique index never
compares equal), and match nothing until a reindex gives them one. An upload found a
duplicate records which kind (``uploads.duplicate``: "file" or "pixels").

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


# plain ALTER TABLE, never SQLite's batch copy of the table: dropping the old
# ``pictures`` would cascade (foreign keys are on) to every face
def upgrade() -> None:
    op.add_column("pictures", sa.Column("pixel_sha256", sa.String(64), nullable=True))
    op.create_index(
        "uq_pictures_set_pixels", "pictures", ["set_name", "pixel_sha256"], unique=True
    )
    op.add_column("uploads", sa.Column("duplicate", sa.String(10), nullable=True))


def downgrade() -> None:
    op.drop_column("uploads", "duplicate")
    op.drop_index("uq_pictures_set_pixels", "pictures")
    op.drop_column("pictures", "pixel_sha256")  # SQLite 3.35+
