"""When and where a picture was taken (issue 20): ``taken_at`` (ISO 8601, with its
offset from UTC when known: capture.py) and ``taken_at_source`` (the metadata field or
fallback it was read from), the GPS position (``latitude``/``longitude`` in WGS 84
degrees, ``altitude`` in metres: place.py) and ``place``, the nearest named place
("city, region, country"). All nullable: pictures stored before have none until
``facealbum reindex --metadata`` reads them from their originals (no face work).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("taken_at", sa.String(40)),
    ("taken_at_source", sa.String(40)),
    ("latitude", sa.Float),
    ("longitude", sa.Float),
    ("altitude", sa.Float),
    ("place", sa.String(300)),
)


# plain ALTER TABLE, never SQLite's batch copy of the table: dropping the old
# ``pictures`` would cascade (foreign keys are on) to every face
def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("pictures", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("pictures", name)  # SQLite 3.35+
