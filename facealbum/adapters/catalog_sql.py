"""The catalog on SQLAlchemy Core: a SQLite file by default, PostgreSQL by URL.

Only portable SQL is used; the one SQLite-specific part is the connection pragmas
(WAL, so the web server reads while an import writes; foreign keys; a busy timeout).
PostgreSQL's engine (reads in autocommit, one round trip each) is catalog_sql_pg's, and
lists of ids go to it as one array (sql_in.one_of).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import (
    Engine,
    and_,
    create_engine,
    delete,
    event,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from .. import paging
from ..domain import (
    CAPTURE_FIELDS,
    BadInput,
    Box,
    Face,
    NotFound,
    OwnerSession,
    Picture,
    SetSummary,
    Stats,
    StorageFull,
    Upload,
)
from ..migrations import HEAD
from ..ports import CatalogSnapshot
from . import catalog_backup
from .catalog_schema import (
    album_counters,
    content_locks,
    faces,
    job_states,
    name_counters,
    pictures,
    sessions,
    sets,
    signin_failures,
    uploads,
)
from .catalog_sql_people import SqlPeople  # noqa: E402 - after the schema it reads
from .catalog_sql_pg import make_pg_engine
from .catalog_sql_reanalysis import SqlReanalysis  # noqa: E402
from .sql_in import one_row, rows_in

# the counts migration 0014's triggers keep, counted again from the rows (its backfill)
RECOUNT = [
    "UPDATE sets SET picture_count = "
    "(SELECT count(*) FROM pictures WHERE pictures.set_name = sets.name)",
    "UPDATE album_counters SET "
    "sets = (SELECT count(*) FROM sets), "
    "pictures = (SELECT count(*) FROM pictures), "
    "faces = (SELECT count(*) FROM faces), "
    "original_bytes = (SELECT coalesce(sum(b), 0) FROM "
    "(SELECT max(byte_size) AS b FROM pictures GROUP BY sha256) AS contents) "
    "WHERE id = 1",
]

SQLITE_MMAP_BYTES = 1 << 30  # of the catalog file mapped for reads (past it, read() as before)
# a WAL grown by a big migration or import (1.9 GB seen) is cut back to this after a
# checkpoint instead of keeping its largest size on disk
SQLITE_JOURNAL_LIMIT_BYTES = 64 << 20
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # reads map the file instead of copying each page through SQLite's 2 MB cache: a
    # page of 200 pictures and their faces seeks a few thousand pages (at a million
    # faces 34 -> 14 ms in-process); address space only, the pages are the OS's cache
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_LIMIT_BYTES}")
    cur.close()


def _disk_full(context) -> StorageFull | None:
    """SQLite's SQLITE_FULL and PostgreSQL's disk_full (53100) become one error the
    user can act on; the transaction was rolled back, so nothing is half-written."""
    exc = context.original_exception
    if "database or disk is full" in str(exc) or getattr(exc, "sqlstate", None) == "53100":
        return StorageFull(
            "the album's catalog has no space left on its disk; nothing was changed — "
            "free some space and try again"
        )
    return None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a web server runs requests on ~40 threads: keep their connections (and their
        # pragmas) instead of opening and closing one per request past the default 15
        engine = create_engine(url, connect_args={"timeout": 30}, pool_size=16, max_overflow=32)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:  # reads in autocommit, writes in engine.begin()'s transaction: catalog_sql_pg
        engine = make_pg_engine(url)
    event.listen(engine, "handle_error", _disk_full)
    return engine


MIGRATION_LOCK = 0x66616365  # PostgreSQL advisory lock key held while migrating ('face')


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run at every start, and by
    several processes at once: on PostgreSQL the first holds a transaction-scoped
    advisory lock and the others wait for it, then find the schema at head (two
    servers started together on a new database failed with DuplicateColumn). A schema
    already at head costs one SELECT: alembic is imported only to migrate."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def at_head(engine: Engine) -> bool:
    """Whether alembic_version names :data:`HEAD` (False if the table is missing)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, ProgrammingError):  # no such table: a new database
        return False
    return [r[0] for r in rows] == [HEAD]


class SqlCatalog(SqlPeople, SqlReanalysis):
    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine)

    # -- writes -------------------------------------------------------------------

    def add_picture(self, picture: Picture, create_set: bool = True) -> str:
        """'added', 'duplicate' (same content in the set), 'name_taken', or 'no_set' when
        the set does not exist and may not be created (an upload whose set was renamed
        or deleted while it was processed must not bring the old set back)."""
        for _ in range(3):
            try:
                return self._add_picture(picture, create_set)
            except IntegrityError:
                if self.find_by_hash(picture.set_name, picture.sha256) is not None:
                    return "duplicate"
                if picture.pixel_sha256 and self.find_by_pixels(
                    picture.set_name, picture.pixel_sha256
                ):
                    return "duplicate"
                if self._name_taken(picture.set_name, picture.name):
                    return "name_taken"
                if not create_set and self.get_set(picture.set_name) is None:
                    return "no_set"  # deleted between the check and the insert
                # else another writer created the set between our check and insert: again
        raise BadInput(f"could not add {picture.name!r} to {picture.set_name!r}: keeps conflicting")

    def _add_picture(self, picture: Picture, create_set: bool) -> str:
        now = time.time()
        with self.engine.begin() as conn:
            if (
                conn.execute(select(sets.c.name).where(sets.c.name == picture.set_name)).first()
                is None
            ):
                if not create_set:
                    return "no_set"
                conn.execute(insert(sets).values(**_set_row(picture.set_name), created_at=now))
            conn.execute(insert(pictures).values(**_picture_row(picture), created_at=now))
            if picture.faces:
                conn.execute(insert(faces), [_face_row(f) for f in picture.faces])
            # set once, like the original's conditional write to the '/' partition
            conn.execute(
                update(sets)
                .where(sets.c.name == picture.set_name, sets.c.featured_image_id.is_(None))
                .values(featured_image_id=picture.image_id)
            )
        return "added"

    def add_pictures(self, new: Sequence[Picture]) -> None:
        """:meth:`add_picture` for many new pictures at once, in one transaction: their
        sets created as needed, each set's first picture featured if it has none. All or
        nothing: a name or content already taken in its set raises BadInput and adds none.
        Rows go in bulk (:func:`_insert_rows`), so 100,000 rows cost seconds, not minutes."""
        if not new:
            return
        now = time.time()
        names = sorted({p.set_name for p in new})
        first: dict[str, str] = {}
        for p in new:
            first.setdefault(p.set_name, p.image_id)
        try:
            with self.engine.begin() as conn:
                have: set[str] = set()
                for i in range(0, len(names), 500):
                    have |= set(
                        conn.execute(
                            select(sets.c.name).where(sets.c.name.in_(names[i : i + 500]))
                        ).scalars()
                    )
                missing = [_set_row(n) | {"created_at": now} for n in names if n not in have]
                _insert_rows(conn, sets, missing)
                _insert_rows(conn, pictures, [_picture_row(p) | {"created_at": now} for p in new])
                _insert_rows(conn, faces, [_face_row(f) for p in new for f in p.faces])
                for set_name, image_id in first.items():
                    conn.execute(
                        update(sets)
                        .where(sets.c.name == set_name, sets.c.featured_image_id.is_(None))
                        .values(featured_image_id=image_id)
                    )
        except IntegrityError:
            raise BadInput(
                "some of the pictures' names or contents are taken in their sets; none was added"
            ) from None

    def set_featured(self, set_name: str, image_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sets).where(sets.c.name == set_name).values(featured_image_id=image_id)
            )

    def replace_faces(
        self, image_id: str, new_faces: list[Face], engine_tag: str
    ) -> list[str] | None:
        """The ids of the faces replaced, or None if the picture is gone: the update
        first takes the row's write lock, so a concurrent delete either happened
        already or waits for this transaction."""
        with self.engine.begin() as conn:
            found = conn.execute(
                update(pictures)
                .where(pictures.c.image_id == image_id)
                .values(engine_tag=engine_tag)
            ).rowcount
            if not found:
                return None
            removed = (
                conn.execute(
                    delete(faces)
                    .where(faces.c.image_id == image_id)
                    .returning(faces.c.face_id, faces.c.person_id)
                )
                .mappings()
                .all()
            )
            if new_faces:
                conn.execute(insert(faces), [_face_row(f) for f in new_faces])
        self._recount(r["person_id"] for r in removed)
        return [r["face_id"] for r in removed]

    def mark_stale(self, set_name: str | None) -> None:
        q = update(pictures).values(engine_tag="")
        if set_name is not None:
            q = q.where(pictures.c.set_name == set_name)
        with self.engine.begin() as conn:
            conn.execute(q)

    def create_set(self, name: str) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(sets).values(**_set_row(name), created_at=time.time()))
        except IntegrityError:
            return False
        return True

    def rename_set(self, old: str, new: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(sets.c.name).where(sets.c.name == new)).first():
                raise BadInput(f"a set named {new!r} exists already")
            # pictures follow through ON UPDATE CASCADE
            q = update(sets).where(sets.c.name == old).values(**_set_row(new))
            if not conn.execute(q).rowcount:
                raise NotFound(f"no set {old!r}")
            conn.execute(update(uploads).where(uploads.c.set_name == old).values(set_name=new))

    def rename_set_step(self, old: str, new: str, limit: int) -> bool:
        """One transaction: the old set's row written first (its lock: on SQLite the
        write lock, on PostgreSQL the row's, so no picture lands in it meanwhile), the
        new set's row made if missing (the old one's time and sharing; the set job
        hides it until done), up to ``limit`` pictures (name order) moved to it, the two
        rows' counts moved with them; with the last ones, the clash counters, uploads
        and cover move and the old row goes. A step after an interruption goes on."""
        with self.engine.begin() as conn:
            here = update(sets).where(sets.c.name == old)
            if not conn.execute(here.values(picture_count=sets.c.picture_count)).rowcount:
                raise NotFound(f"no set {old!r}")
            # PostgreSQL: FOR UPDATE, which an insert's foreign-key check waits for
            locked = select(sets).where(sets.c.name == old).with_for_update()
            row = conn.execute(locked).mappings().one()
            if conn.execute(select(sets.c.name).where(sets.c.name == new)).first() is None:
                conn.execute(insert(sets).values(**_set_row(new), created_at=row["created_at"],
                                                 share_location=row["share_location"],
                                                 picture_count=0))  # fmt: skip
            q = select(pictures.c.image_id).where(pictures.c.set_name == old)
            ids = list(conn.execute(q.order_by(pictures.c.name).limit(limit)).scalars())
            there = update(sets).where(sets.c.name == new)
            if ids:
                conn.execute(
                    update(pictures).where(pictures.c.image_id.in_(ids)).values(set_name=new)
                )
                conn.execute(here.values(picture_count=sets.c.picture_count - len(ids)))
                conn.execute(there.values(picture_count=sets.c.picture_count + len(ids)))
            if len(ids) == limit:
                return False
            for table in (name_counters, uploads):
                conn.execute(update(table).where(table.c.set_name == old).values(set_name=new))
            conn.execute(there.values(featured_image_id=row["featured_image_id"]))
            conn.execute(delete(sets).where(sets.c.name == old))
        return True

    def delete_set(self, name: str) -> list[Picture]:
        """The deleted pictures come from the DELETE itself (RETURNING), so a picture
        added while the set is deleted is either kept out or listed, never lost track of."""
        with self.engine.begin() as conn:
            in_set = select(pictures.c.image_id).where(pictures.c.set_name == name)
            removed = (
                conn.execute(delete(faces).where(faces.c.image_id.in_(in_set)).returning(*faces.c))
                .mappings()
                .all()
            )
            rows = (
                conn.execute(
                    delete(pictures).where(pictures.c.set_name == name).returning(*pictures.c)
                )
                .mappings()
                .all()
            )
            if not conn.execute(delete(sets).where(sets.c.name == name)).rowcount:
                raise NotFound(f"no set {name!r}")
            conn.execute(delete(uploads).where(uploads.c.set_name == name))
        self._recount(r["person_id"] for r in removed)
        return _with_faces([_picture(r) for r in rows], removed)

    def delete_pictures(self, image_ids: Sequence[str]) -> list[Picture]:
        """A batch of pictures (at most 500 ids: SQLite's variable limit) deleted with
        their faces in one transaction of two statements; those deleted come from the
        DELETEs themselves (RETURNING), so ids gone already are skipped."""
        ids = list(dict.fromkeys(image_ids))[:500]
        if not ids:
            return []
        with self.engine.begin() as conn:
            removed = (
                conn.execute(delete(faces).where(faces.c.image_id.in_(ids)).returning(*faces.c))
                .mappings()
                .all()
            )
            rows = (
                conn.execute(
                    delete(pictures).where(pictures.c.image_id.in_(ids)).returning(*pictures.c)
                )
                .mappings()
                .all()
            )
        self._recount(r["person_id"] for r in removed)
        return _with_faces([_picture(r) for r in rows], removed)

    def next_name_number(self, set_name: str, name: str) -> int:
        """One UPDATE ... RETURNING (an INSERT the first time): the row's lock makes two
        writers get two numbers."""
        for _ in range(3):
            with self.engine.begin() as conn:
                found = conn.execute(
                    update(name_counters)
                    .where(name_counters.c.set_name == set_name, name_counters.c.name == name)
                    .values(last=name_counters.c.last + 1)
                    .returning(name_counters.c.last)
                ).scalar()
            if found is not None:
                return int(found)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(name_counters).values(set_name=set_name, name=name, last=2))
                return 2
            except IntegrityError:  # another writer's first (or the set is gone)
                continue
        raise NotFound(f"no set {set_name!r}")

    def set_pixel_sha256(self, image_id: str, pixel_sha256: str) -> bool:
        q = (
            update(pictures)
            .where(pictures.c.image_id == image_id)
            .values(pixel_sha256=pixel_sha256)
        )
        try:
            with self.engine.begin() as conn:
                return bool(conn.execute(q).rowcount)
        except IntegrityError:  # another picture of its set has these pixels
            return False

    def set_capture(self, picture: Picture) -> bool:
        q = (
            update(pictures)
            .where(pictures.c.image_id == picture.image_id)
            .values(**{k: getattr(picture, k) for k in CAPTURE_FIELDS})
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(q).rowcount)

    def rename_picture(self, image_id: str, name: str) -> None:
        try:
            with self.engine.begin() as conn:
                q = update(pictures).where(pictures.c.image_id == image_id).values(name=name)
                if not conn.execute(q).rowcount:
                    raise NotFound(f"no picture {image_id}")
        except IntegrityError:
            raise BadInput(f"another picture in the set is named {name!r}") from None

    def delete_picture(self, image_id: str) -> Picture | None:
        with self.engine.begin() as conn:
            removed = (
                conn.execute(delete(faces).where(faces.c.image_id == image_id).returning(*faces.c))
                .mappings()
                .all()
            )
            row = (
                conn.execute(
                    delete(pictures).where(pictures.c.image_id == image_id).returning(*pictures.c)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            [picture] = _with_faces([_picture(row)], removed)
            successor = conn.execute(
                select(pictures.c.image_id)
                .where(pictures.c.set_name == picture.set_name)
                .order_by(pictures.c.created_at, pictures.c.name)
                .limit(1)
            ).scalar()
            conn.execute(
                update(sets)
                .where(sets.c.name == picture.set_name, sets.c.featured_image_id == image_id)
                .values(featured_image_id=successor)
            )
        self._recount(f.person_id for f in picture.faces)
        return picture

    def sha_in_use(self, sha256: str) -> bool:
        with self.engine.connect() as conn:
            q = select(pictures.c.image_id).where(pictures.c.sha256 == sha256).limit(1)
            return conn.execute(q).first() is not None

    def add_upload(self, upload: Upload) -> None:
        now = time.time()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(uploads).values(
                        **_upload_row(upload), created_at=now, enqueued_at=now, attempts=0
                    )
                )
        except IntegrityError:
            pass  # recorded already (another delivery of the same event): left as it is

    def claim_upload(self, upload_id: str, lease_seconds: float) -> Upload | None:
        """Take a queued upload for processing, unless another runner holds a live lease
        on it or it is done. The one conditional UPDATE makes two runners never both win."""
        now = time.time()
        with self.engine.begin() as conn:
            won = conn.execute(
                update(uploads)
                .where(
                    uploads.c.upload_id == upload_id,
                    uploads.c.status == "queued",
                    or_(uploads.c.lease_until.is_(None), uploads.c.lease_until < now),
                )
                .values(lease_until=now + lease_seconds, attempts=uploads.c.attempts + 1)
            ).rowcount
        return self.get_uploads([upload_id])[0] if won else None

    def renew_upload(self, upload_id: str, lease_seconds: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(uploads)
                .where(uploads.c.upload_id == upload_id, uploads.c.status == "queued")
                .values(lease_until=time.time() + lease_seconds)
            )

    def finish_upload(self, upload: Upload) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(uploads)
                .where(uploads.c.upload_id == upload.upload_id)
                .values(**_upload_row(upload), lease_until=None)
            )

    def requeue_stuck_uploads(self, unclaimed_after: float) -> list[Upload]:
        """Queued uploads whose runner died (lease expired), or that no runner has
        claimed for ``unclaimed_after`` seconds (their job was lost). Each is marked
        re-enqueued by a conditional update, so of several processes one re-enqueues it."""
        now = time.time()
        stuck = and_(
            uploads.c.status == "queued",
            or_(
                uploads.c.lease_until < now,
                and_(
                    uploads.c.lease_until.is_(None), uploads.c.enqueued_at < now - unclaimed_after
                ),
            ),
        )
        with self.engine.connect() as conn:
            ids = list(conn.execute(select(uploads.c.upload_id).where(stuck)).scalars())
        taken = []
        for upload_id in ids:
            with self.engine.begin() as conn:
                if conn.execute(
                    update(uploads)
                    .where(uploads.c.upload_id == upload_id, stuck)
                    .values(lease_until=None, enqueued_at=now)
                ).rowcount:
                    taken.append(upload_id)
        return self.get_uploads(taken)

    def upload_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(uploads.c.upload_id)).scalars())

    def queued_uploads(self) -> list[Upload]:
        q = select(uploads).where(uploads.c.status == "queued").order_by(uploads.c.created_at)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [_upload(r) for r in rows]

    def get_uploads(self, upload_ids: Sequence[str]) -> list[Upload]:
        q = select(uploads).where(uploads.c.upload_id.in_(list(upload_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(uploads.c.created_at)).mappings().all()
        return [_upload(r) for r in rows]

    # -- content locks: blob writes + row insert vs. last-use check + blob deletes --

    def lock_content(self, sha256: str, holder: str, seconds: float) -> bool:
        now = time.time()
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(content_locks).values(
                            sha256=sha256, holder=holder, expires_at=now + seconds
                        )
                    )
                return True
            except IntegrityError:  # held: take it over only if its holder died
                with self.engine.begin() as conn:
                    conn.execute(
                        delete(content_locks).where(
                            content_locks.c.sha256 == sha256, content_locks.c.expires_at < now
                        )
                    )
        return False

    def unlock_content(self, sha256: str, holder: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(content_locks).where(
                    content_locks.c.sha256 == sha256, content_locks.c.holder == holder
                )
            )

    # -- the album's background jobs: one row each, changed conditionally ----------

    def get_job(self, name: str) -> tuple[dict, int] | None:
        q = select(job_states.c.state, job_states.c.version).where(job_states.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return (json.loads(row[0]), row[1]) if row else None

    def put_job(self, name: str, state: dict, version: int) -> bool:
        text = json.dumps(state)
        try:
            with self.engine.begin() as conn:
                if version == 0:
                    conn.execute(insert(job_states).values(name=name, version=1, state=text))
                    return True
                done = conn.execute(
                    update(job_states)
                    .where(job_states.c.name == name, job_states.c.version == version)
                    .values(version=version + 1, state=text)
                )
                return done.rowcount == 1
        except IntegrityError:  # another writer created it first
            return False

    # -- the owner's sessions and the sign-in limit, shared by every server process --

    def add_session(self, session: OwnerSession) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(sessions).values(**vars(session)))

    def get_session(self, session_id: str) -> OwnerSession | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(sessions).where(sessions.c.session_id == session_id))
                .mappings()
                .first()
            )
        return OwnerSession(**row) if row else None

    def touch_session(self, session_id: str, at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sessions).where(sessions.c.session_id == session_id).values(last_seen=at)
            )

    def list_sessions(self) -> list[OwnerSession]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(sessions).order_by(sessions.c.created_at)).mappings().all()
        return [OwnerSession(**r) for r in rows]

    def delete_sessions(self, session_id: str | None = None, keep_tag: str | None = None) -> int:
        """One session, or all (``session_id`` None), or all not signed in with the
        secret whose tag is ``keep_tag``; returns how many ended."""
        q = delete(sessions)
        if session_id is not None:
            q = q.where(sessions.c.session_id == session_id)
        if keep_tag is not None:
            q = q.where(sessions.c.secret_tag != keep_tag)
        with self.engine.begin() as conn:
            return conn.execute(q).rowcount

    def add_signin_failure(self, client: str, at: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(signin_failures).where(signin_failures.c.at < at - 3600))
            conn.execute(insert(signin_failures).values(client=client, at=at))

    def signin_failures(self, client: str, since: float) -> list[float]:
        q = (
            select(signin_failures.c.at)
            .where(signin_failures.c.client == client, signin_failures.c.at >= since)
            .order_by(signin_failures.c.at)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def shares_location(self, sha256: str) -> bool:
        """Whether a set holding this content lets visitors have its full original."""
        q = (
            select(pictures.c.image_id)
            .join(sets, sets.c.name == pictures.c.set_name)
            .where(pictures.c.sha256 == sha256, sets.c.share_location.is_(True))
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def set_share_location(self, set_name: str, share: bool) -> None:
        with self.engine.begin() as conn:
            q = update(sets).where(sets.c.name == set_name).values(share_location=share)
            if not conn.execute(q).rowcount:
                raise NotFound(f"no set {set_name!r}")

    # -- reads --------------------------------------------------------------------

    def _name_taken(self, set_name: str, name: str) -> bool:
        q = select(pictures.c.image_id).where(
            pictures.c.set_name == set_name, pictures.c.name == name
        )
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def find_by_hash(self, set_name: str, sha256: str) -> Picture | None:
        q = select(pictures).where(pictures.c.set_name == set_name, pictures.c.sha256 == sha256)
        return self._one(q)

    def find_by_pixels(self, set_name: str, pixel_sha256: str) -> Picture | None:
        q = select(pictures).where(
            pictures.c.set_name == set_name, pictures.c.pixel_sha256 == pixel_sha256
        )
        return self._one(q)

    def hashes_in_set(self, set_name: str) -> list[str]:
        q = select(pictures.c.sha256).where(pictures.c.set_name == set_name)
        with self.engine.connect() as conn:
            return list(conn.execute(q).scalars())

    def get_picture(self, image_id: str) -> Picture | None:
        return self._one(select(pictures).where(pictures.c.image_id == image_id))

    def _one(self, query) -> Picture | None:
        found = self._load(query)
        return found[0] if found else None

    def get_pictures(self, image_ids: Sequence[str]) -> dict[str, Picture]:
        """One driver-level read (sql_in.py) of the pictures joined to their faces: a
        search page's 50 pictures took 3.5 ms through the expression layer's mappings,
        1.1 ms so (1M faces); the faces were a second statement, a round trip more on
        PostgreSQL for every page with pictures."""
        ids = list(dict.fromkeys(image_ids))
        with self.engine.connect() as conn:
            rows = rows_in(conn, _PICTURE_FACE_COLS, _PICTURE_FACES, "p.image_id", ids)
            return {p.image_id: p for p in _with_their_faces(rows)}

    def list_pictures(self, set_name: str, limit: int, offset: int) -> list[Picture]:
        q = (
            select(pictures)
            .where(pictures.c.set_name == set_name)
            .order_by(pictures.c.name)
            .limit(limit)
            .offset(offset)
        )
        return self._load(q)

    def picture_ids(self, set_name: str) -> list[str]:
        """In the order list_pictures pages through, without faces: cheap for big sets."""
        q = select(pictures.c.image_id).where(pictures.c.set_name == set_name)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(pictures.c.name)).scalars())

    def _load(self, query, with_faces: bool = True) -> list[Picture]:
        """Pictures with their faces, in two queries whatever the number of pictures
        (the faces: :func:`_add_faces`). Joined in one (a subquery of the page), a page
        of 200 took more CPU in building the statement than its round trip saves on
        PostgreSQL at low load, and SQLite sorted the join in a temporary B-tree."""
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            result = [_picture(r) for r in rows]
            if result and with_faces:
                _add_faces(conn, {p.image_id: p for p in result})
        return result

    def get_face(self, face_id: str) -> Face | None:
        """Driver-level, as get_pictures: every click reads its face first."""
        with self.engine.connect() as conn:
            row = one_row(conn, _FACE_COLUMNS, "faces", "face_id", face_id)
        return None if row is None else _face_of(row)

    def faces_of(self, face_ids: Sequence[str]) -> dict[str, str]:
        return {f: ref[0] for f, ref in self.face_refs(face_ids).items()}

    def face_refs(self, face_ids: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        out: dict[str, tuple[str, float | None]] = {}
        ids = list(dict.fromkeys(face_ids))
        cols = ("face_id", "image_id", "sharpness")
        with self.engine.connect() as conn:  # driver-level: a deep search page reads 1000s
            rows = rows_in(conn, cols, "faces", "face_id", ids)
            out.update({r[0]: (r[1], r[2]) for r in rows})
        return out

    def face_picture_refs(
        self, face_ids: Sequence[str]
    ) -> dict[str, tuple[str, float | None, str, str]]:
        """face id -> (image id, sharpness, sha256, set name): :meth:`face_refs` and
        :meth:`picture_refs` of their pictures in one statement (a join), what a search
        reads of its hits."""
        cols = ("f.face_id", "f.image_id", "f.sharpness", "p.sha256", "p.set_name")
        joined = "faces f JOIN pictures p ON p.image_id = f.image_id"
        with self.engine.connect() as conn:  # driver-level, as face_refs
            rows = rows_in(conn, cols, joined, "f.face_id", list(dict.fromkeys(face_ids)))
            return {r[0]: tuple(r[1:]) for r in rows}

    def face_people(
        self, face_ids: Sequence[str]
    ) -> dict[str, tuple[str, float | None, str | None]]:
        cols = ("face_id", "image_id", "sharpness", "person_id")
        with self.engine.connect() as conn:  # driver-level, as face_refs
            rows = rows_in(conn, cols, "faces", "face_id", list(dict.fromkeys(face_ids)))
            return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def picture_refs(self, image_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        ids = list(dict.fromkeys(image_ids))
        cols = ("image_id", "sha256", "set_name")
        with self.engine.connect() as conn:  # driver-level, as face_refs
            rows = rows_in(conn, cols, "pictures", "image_id", ids)
            out.update({r[0]: (r[1], r[2]) for r in rows})
        return out

    def content_image_ids(self, shas: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        wanted = list(dict.fromkeys(shas))
        with self.engine.connect() as conn:  # driver-level, as face_refs
            cols = ("sha256", "image_id")
            for sha, image_id in rows_in(conn, cols, "pictures", "sha256", wanted):
                out.setdefault(sha, []).append(image_id)
        return out

    def list_sets(self) -> list[SetSummary]:
        return self._sets(select_sets().order_by(sets.c.created_at.desc(), sets.c.name))

    def get_set(self, name: str) -> SetSummary | None:
        found = self._sets(select_sets().where(sets.c.name == name))
        return found[0] if found else None

    def sets_page(
        self, sort: str, limit: int, after: str | None = None
    ) -> tuple[list[SetSummary], str | None]:
        """Keyset paging on an index: (created_at, name) newest first, (sort_name, name)
        by name; one query for the sets, their counts and their covers."""
        key = paging.set_after(sort, after)
        q = select_sets().limit(limit + 1)
        if sort == "newest":
            q = q.order_by(sets.c.created_at.desc(), sets.c.name)
            if key is not None:
                c, n = key
                q = q.where(sets.c.created_at <= c, or_(sets.c.created_at < c, sets.c.name > n))
        else:
            q = q.order_by(sets.c.sort_name, sets.c.name)
            if key is not None:
                k, n = key
                q = q.where(sets.c.sort_name >= k, or_(sets.c.sort_name > k, sets.c.name > n))
        found = self._sets(q)
        if len(found) <= limit:
            return found, None
        last = found[limit - 1]
        return found[:limit], paging.encode(paging.set_key(sort, last.created_at, last.name))

    def _sets(self, query) -> list[SetSummary]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_summary(r) for r in rows]

    def pictures_page(
        self, set_name: str, limit: int, after: str | None = None, faces: bool = True
    ) -> tuple[list[Picture], str | None]:
        q = select(pictures).where(pictures.c.set_name == set_name)
        if after is not None:
            [name] = paging.decode(after, str)
            q = q.where(pictures.c.name > name)
        found = self._load(q.order_by(pictures.c.name).limit(limit + 1), faces)
        if len(found) <= limit:
            return found, None
        return found[:limit], paging.encode([found[limit - 1].name])

    def neighbours(self, image_id: str) -> tuple[str | None, str | None]:
        """One statement through the driver: the picture's row by its key, and from it
        two index seeks on (set, name). It was two, the picture's key read first: a
        round trip more for every picture page on PostgreSQL (and built through the
        expression layer, its aliases cost 1 ms of CPU a call)."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql(_NEIGHBOURS + mark, (image_id,)).first()
        return (None, None) if row is None else (row[0], row[1])

    def pictures_needing(self, engine_tag: str, set_name: str | None) -> list[str]:
        q = select(pictures.c.image_id).where(pictures.c.engine_tag != engine_tag)
        if set_name is not None:
            q = q.where(pictures.c.set_name == set_name)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(pictures.c.image_id)).scalars())

    def snapshot(self, dest_dir: Path) -> CatalogSnapshot:
        return catalog_backup.snapshot(self.engine, dest_dir)

    def restore_snapshot(self, fmt: str, path: Path) -> None:
        catalog_backup.restore(self.engine, fmt, path)
        migrate(self.engine)

    def stats(self) -> Stats:
        with self.engine.connect() as conn:
            row = conn.execute(select(album_counters).where(album_counters.c.id == 1)).first()
        if row is None:
            return Stats(0, 0, 0, 0, 0)
        return Stats(row.sets, row.pictures, row.faces, row.original_bytes, 0)

    def recount_stats(self) -> None:
        with self.engine.begin() as conn:
            for statement in RECOUNT:
                conn.execute(text(statement))


def select_sets():
    """The sets with their stored counts and their covers' columns, in one query."""
    cover = pictures.alias("cover")
    return select(
        sets,
        cover.c.set_name.label("cover_set"),
        cover.c.name.label("cover_name"),
        *(cover.c[c].label(f"cover_{c}") for c in _COVER),
    ).outerjoin(cover, cover.c.image_id == sets.c.featured_image_id)


_COVER = ("sha256", "width", "height", "original_key", "content_type", "byte_size",
          "engine_tag")  # fmt: skip


def _summary(r) -> SetSummary:
    featured = None
    if r["cover_sha256"] is not None:
        featured = Picture(
            image_id=r["featured_image_id"],
            set_name=r["cover_set"],
            name=r["cover_name"],
            **{c: r[f"cover_{c}"] for c in _COVER},
        )
    return SetSummary(
        r["name"], r["picture_count"], featured, r["created_at"], bool(r["share_location"])
    )


def _insert_rows(conn, table, rows: list[dict]) -> None:
    """New ``rows`` (dicts of the same keys) in bulk. On PostgreSQL one COPY: psycopg's
    executemany runs one INSERT per row, and the counting triggers of migration 0014
    fire per statement, each an update of the counters' one row (60,000 versions of it
    in one transaction of 20,000 pictures, each update walking the chain before it); a
    multi-row INSERT of that size costs more in the driver's parsing of the query than
    in the database. COPY fires the statement triggers once. On SQLite an executemany:
    its triggers count per row whatever the statement."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), rows)
        return
    import psycopg
    from psycopg import sql

    given = [c for c in table.columns if c.name in rows[0]]
    defaults = {  # the columns' Python-side defaults, as an INSERT would fill them
        c.name: c.default.arg
        for c in table.columns
        if c.name not in rows[0] and c.default is not None and c.default.is_scalar
    }
    names = [c.name for c in given] + list(defaults)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    tail = list(defaults.values())
    try:
        with conn.connection.driver_connection.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c.name] for c in given] + tail)
    except psycopg.errors.IntegrityError as e:  # as SQLAlchemy's own statements raise it
        raise IntegrityError(f"COPY {table.name}", None, e) from None


def _set_row(name: str) -> dict:
    return {"name": name, "sort_name": name.casefold()}


def _picture_row(p: Picture) -> dict:
    return {
        "image_id": p.image_id,
        "set_name": p.set_name,
        "name": p.name,
        "sha256": p.sha256,
        "width": p.width,
        "height": p.height,
        "original_key": p.original_key,
        "content_type": p.content_type,
        "byte_size": p.byte_size,
        "engine_tag": p.engine_tag,
        "pixel_sha256": p.pixel_sha256,
        **{k: getattr(p, k) for k in CAPTURE_FIELDS},
    }


_UPLOAD_FIELDS = ("upload_id", "set_name", "name", "status", "error", "image_id", "faces",
                  "duplicate")  # fmt: skip


def _upload_row(u: Upload) -> dict:
    return {k: getattr(u, k) for k in _UPLOAD_FIELDS}


def _upload(r) -> Upload:
    return Upload(
        **{k: r[k] for k in _UPLOAD_FIELDS}, attempts=r["attempts"], created_at=r["created_at"]
    )


def _picture(r) -> Picture:
    return Picture(
        image_id=r["image_id"],
        set_name=r["set_name"],
        name=r["name"],
        sha256=r["sha256"],
        width=r["width"],
        height=r["height"],
        original_key=r["original_key"],
        content_type=r["content_type"],
        byte_size=r["byte_size"],
        engine_tag=r["engine_tag"],
        pixel_sha256=r["pixel_sha256"],
        **{k: r[k] for k in CAPTURE_FIELDS},
    )


def _face_row(f: Face) -> dict:
    return {
        "face_id": f.face_id,
        "image_id": f.image_id,
        "box_left": f.box.left,
        "box_top": f.box.top,
        "box_width": f.box.width,
        "box_height": f.box.height,
        "confidence": f.confidence,
        "sharpness": f.sharpness,
    }


def _with_faces(found: list[Picture], face_rows) -> list[Picture]:
    by_id = {p.image_id: p for p in found}
    for r in sorted(face_rows, key=lambda r: r["box_left"]):
        if r["image_id"] in by_id:
            by_id[r["image_id"]].faces.append(_face(r))
    return found


# a face's columns as the driver-level reads take them: led by the order a picture
# lists its faces in (left to right, then as added)
_FACE_COLUMNS = ("box_left", "seq", "image_id", "face_id", "box_top", "box_width",
                 "box_height", "confidence", "person_id", "sharpness")  # fmt: skip
# get_pictures' columns, in the order of Picture's fields
_PICTURE_COLS = ("image_id", "set_name", "name", "sha256", "width", "height", "original_key",
                 "content_type", "byte_size", "engine_tag", "pixel_sha256",
                 *CAPTURE_FIELDS)  # fmt: skip
_LEADING = _PICTURE_COLS.index("pixel_sha256")  # Picture's positional fields before faces


def _picture_of(r: tuple) -> Picture:
    """A picture (without faces) from a row of :data:`_PICTURE_COLS`."""
    picture = Picture(*r[:_LEADING])
    for column, value in zip(_PICTURE_COLS[_LEADING:], r[_LEADING:], strict=True):
        setattr(picture, column, value)
    return picture


# a picture's neighbours in its set (name order), ended by the placeholder of its id
_NEIGHBOURS = (
    "SELECT (SELECT b.image_id FROM pictures b WHERE b.set_name = h.set_name"
    " AND b.name < h.name ORDER BY b.name DESC LIMIT 1),"
    " (SELECT a.image_id FROM pictures a WHERE a.set_name = h.set_name"
    " AND a.name > h.name ORDER BY a.name LIMIT 1)"
    " FROM pictures h WHERE h.image_id = "
)


# get_pictures' one read: the pictures joined to their faces (driver-level, sql_in.py)
_PICTURE_FACES = "pictures p LEFT JOIN faces f ON f.image_id = p.image_id"
_PICTURE_FACE_COLS = tuple(f"p.{c}" for c in _PICTURE_COLS) + tuple(f"f.{c}" for c in _FACE_COLUMNS)


def _face_of(r: tuple) -> Face:
    """A face from a row of :data:`_FACE_COLUMNS`."""
    left, _, image_id, face_id, top, width, height, conf, person, sharp = r
    return Face(face_id, image_id, Box(left, top, width, height), conf, person, sharp)


def _add_faces(conn, by_id: dict[str, Picture]) -> None:
    """These pictures' faces, listed in order, through the driver (sql_in.py): plain
    tuples sorted here, not SQLAlchemy's expanding ``IN`` with a mapping per row and
    SQLite's sort in a temporary B-tree (most of a page of 200 pictures' time)."""
    rows = rows_in(conn, _FACE_COLUMNS, "faces", "image_id", list(by_id))
    for r in sorted(map(tuple, rows)):  # plain tuples: a Row's < is slow
        by_id[r[2]].faces.append(_face_of(r))


def _with_their_faces(rows: Iterable[Sequence]) -> list[Picture]:
    """Pictures from rows of :data:`_PICTURE_FACE_COLS` (a picture's row joined to each
    of its faces, or once to NULLs when it has none), in the order of their first rows,
    each with its faces listed in order: plain tuples sorted here, not SQLite's sort in
    a temporary B-tree nor a ``Row``'s slow ``<``."""
    found: dict[str, Picture] = {}
    face_rows = []
    n = len(_PICTURE_COLS)
    for r in rows:
        if r[0] not in found:
            found[r[0]] = _picture_of(tuple(r[:n]))
        if r[n + 3] is not None:  # the face's id: NULL where the picture has no face
            face_rows.append(tuple(r[n:]))
    for f in sorted(face_rows):
        found[f[2]].faces.append(_face_of(f))
    return list(found.values())


def _face(r) -> Face:
    return Face(
        face_id=r["face_id"],
        image_id=r["image_id"],
        box=Box(r["box_left"], r["box_top"], r["box_width"], r["box_height"]),
        confidence=r["confidence"],
        person_id=r.get("person_id"),
        sharpness=r.get("sharpness"),
    )
