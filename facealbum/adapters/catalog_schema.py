"""The catalog's tables, as the application sees them; Alembic migrations create them.

It mirrors the original's DynamoDB layout: ``pictures`` keyed by (set, file name) with
its faces, ``sets`` for the ``/`` partition with its featured picture, and the image id
as the ``pics_by_image_id`` lookup.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

sets = Table(
    "sets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("featured_image_id", String(36), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("share_location", Boolean, nullable=False, default=False),
    # kept by the database's triggers (migration 0014) as pictures come and go
    Column("picture_count", Integer, nullable=False, default=0),
    Column("sort_name", String(400), nullable=False, default=""),  # name.casefold()
    Index("ix_sets_sort_name", "sort_name", "name"),
)
# newest first, ties by name (the DynamoDB index rows' order): an index in that mixed
# order serves the page; (created_at, name) left every tie in created_at to a sort
Index("ix_sets_newest", sets.c.created_at.desc(), sets.c.name)

# the album's counts, one row (id 1), kept by the same triggers: what `stats` reads
album_counters = Table(
    "album_counters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("sets", BigInteger, nullable=False),
    Column("pictures", BigInteger, nullable=False),
    Column("faces", BigInteger, nullable=False),
    Column("original_bytes", BigInteger, nullable=False),  # each content once
)

pictures = Table(
    "pictures",
    metadata,
    Column("image_id", String(36), primary_key=True),
    Column(
        "set_name",
        String(100),
        ForeignKey("sets.name", onupdate="CASCADE", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("original_key", String(255), nullable=False),
    Column("content_type", String(50), nullable=False),
    Column("byte_size", Integer, nullable=False),
    Column("engine_tag", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    # of the decoded pixels (migration 0018, ingest.pixel_sha256); NULL: stored before
    Column("pixel_sha256", String(64), nullable=True),
    # when and where it was taken (migration 0019, capture.py and place.py); NULL: unknown
    Column("taken_at", String(40), nullable=True),
    Column("taken_at_source", String(40), nullable=True),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("altitude", Float, nullable=True),
    Column("place", String(300), nullable=True),
    UniqueConstraint("set_name", "name", name="uq_pictures_set_name"),
    UniqueConstraint("set_name", "sha256", name="uq_pictures_set_sha256"),
    Index("ix_pictures_set_created", "set_name", "created_at", "name"),
    # one photo once per set, whatever its metadata; NULLs never clash
    Index("uq_pictures_set_pixels", "set_name", "pixel_sha256", unique=True),
)

faces = Table(
    "faces",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("face_id", String(36), nullable=False, unique=True),
    Column(
        "image_id",
        String(36),
        ForeignKey("pictures.image_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("box_left", Float, nullable=False),
    Column("box_top", Float, nullable=False),
    Column("box_width", Float, nullable=False),
    Column("box_height", Float, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("person_id", String(36), nullable=True, index=True),
    Column("by_owner", Boolean, nullable=False, default=False),
    Column("sharpness", Float, nullable=True),  # see quality.py; None: not measured
)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(36), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("cover_face_id", String(36), nullable=True),
    Column("created_at", Float, nullable=False),
    # kept with every change of the person's faces, so listing people reads no faces
    Column("face_count", Integer, nullable=False, default=0),
    Column("picture_count", Integer, nullable=False, default=0),
    Column("representatives", Text, nullable=True),  # JSON list of face ids
)
# what the people pages read by (migration 0013): most pictured first, and a person's
# faces by picture
Index("ix_persons_listed", persons.c.picture_count, persons.c.person_id)
Index("ix_persons_shown", persons.c.hidden, persons.c.picture_count, persons.c.person_id)
Index("ix_faces_person_image", faces.c.person_id, faces.c.image_id)
Index("ix_persons_name", persons.c.name)
# a picture's faces' persons from the index alone (migration 0017): a search by people's
# candidates checked without reading their faces' rows
Index("ix_faces_image_person", faces.c.image_id, faces.c.person_id)

face_rejections = Table(
    "face_rejections",
    metadata,
    Column("face_id", String(36), primary_key=True),
    Column("person_id", String(36), primary_key=True),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Integer, nullable=False),
)

uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", String(36), primary_key=True),
    Column("set_name", String(100), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("status", String(20), nullable=False),  # queued | added | duplicate | failed
    Column("error", Text, nullable=True),
    Column("image_id", String(36), nullable=True),
    Column("faces", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    # a runner holds a lease while it processes; one that expired means it died
    Column("lease_until", Float, nullable=True),
    Column("enqueued_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("duplicate", String(10), nullable=True),  # "file" | "pixels" (migration 0018)
)

# the owner's sessions: a signed cookie names one, and only a row here makes it valid
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("secret_tag", String(64), nullable=False),  # which secret signed it in
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("client", String(100), nullable=False),
    Column("user_agent", String(300), nullable=False),
)

signin_failures = Table(
    "signin_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client", String(100), nullable=False, index=True),
    Column("at", Float, nullable=False),
)

# held while a content's blobs are written and its row inserted, or checked and deleted
content_locks = Table(
    "content_locks",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# the state of a background job of the whole album (e.g. "people.regroup": its lease,
# schedule and progress), written only conditionally on the version read
job_states = Table(
    "job_states",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),  # JSON
)

# the last number given to a clashing picture name per (set, name): "IMG.JPG" taken,
# the next one is "IMG (n).JPG" with n from here, one write whatever the clashes
name_counters = Table(
    "name_counters",
    metadata,
    Column(
        "set_name",
        String(100),
        ForeignKey("sets.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", String(255), primary_key=True),
    Column("last", Integer, nullable=False),
)

# the faces port's own collections (facealbum as a Rekognition endpoint): a face row
# holds its descriptor; the collection row counts faces, and its lock orders inserts
collections = Table(
    "collections",
    metadata,
    Column("collection_id", String(255), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("face_count", Integer, nullable=False, default=0),
    Column("epoch", Integer, nullable=False, default=0),  # bumped when faces go
    # the highest deletion feed id pruned (0: none): an index behind it is built again
    Column("deletions_pruned", Integer, nullable=False, default=0, server_default="0"),
)

collection_faces = Table(
    "collection_faces",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("face_id", String(36), nullable=False, unique=True),
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("image_id", String(36), nullable=False),
    Column("external_image_id", String(255), nullable=True),
    Column("box_left", Float, nullable=False),
    Column("box_top", Float, nullable=False),
    Column("box_width", Float, nullable=False),
    Column("box_height", Float, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("user_id", String(128), nullable=True, index=True),  # its user, if any
    sqlite_autoincrement=True,  # a seq is never reused: indexes follow faces by seq
)

# the deletion feed: one row per face DeleteFaces removed, numbered in commit order
# (written under the collection row's lock), which every process's index follows to
# remove the face in place
collection_face_deletions = Table(
    "collection_face_deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("face_seq", Integer, nullable=False),
    Index("ix_collection_face_deletions_collection_id_id", "collection_id", "id"),
    sqlite_autoincrement=True,
)

# Rekognition's users: a person, whose faces (collection_faces.user_id) search as one
collection_users = Table(
    "collection_users",
    metadata,
    Column(
        "collection_id",
        String(255),
        ForeignKey("collections.collection_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", String(128), primary_key=True),
    Column("created_at", Float, nullable=False),
)
