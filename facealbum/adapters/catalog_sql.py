"""The catalog on SQLAlchemy Core: a SQLite file by default, PostgreSQL by URL.

Only portable SQL is used; the one SQLite-specific part is the connection pragmas
(WAL, so the web server reads while an import writes; foreign keys; a busy timeout).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import BadInput, Box, Face, NotFound, Picture, SetSummary, Stats, Upload
from .catalog_schema import faces, meta, pictures, sets, uploads

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")
EPOCH = "face_epoch"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run at every start."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class SqlCatalog:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine)

    # -- writes -------------------------------------------------------------------

    def add_picture(self, picture: Picture) -> str:
        """'added', 'duplicate' (same content in the set) or 'name_taken'."""
        now = time.time()
        try:
            with self.engine.begin() as conn:
                if (
                    conn.execute(select(sets.c.name).where(sets.c.name == picture.set_name)).first()
                    is None
                ):
                    conn.execute(insert(sets).values(name=picture.set_name, created_at=now))
                conn.execute(insert(pictures).values(**_picture_row(picture), created_at=now))
                if picture.faces:
                    conn.execute(insert(faces), [_face_row(f) for f in picture.faces])
                # set once, like the original's conditional write to the '/' partition
                conn.execute(
                    update(sets)
                    .where(sets.c.name == picture.set_name, sets.c.featured_image_id.is_(None))
                    .values(featured_image_id=picture.image_id)
                )
        except IntegrityError:
            if self.find_by_hash(picture.set_name, picture.sha256) is not None:
                return "duplicate"
            if self._name_taken(picture.set_name, picture.name):
                return "name_taken"
            raise
        return "added"

    def set_featured(self, set_name: str, image_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sets).where(sets.c.name == set_name).values(featured_image_id=image_id)
            )

    def replace_faces(self, image_id: str, new_faces: list[Face], engine_tag: str) -> None:
        with self.engine.begin() as conn:
            removed = conn.execute(faces.delete().where(faces.c.image_id == image_id)).rowcount
            if new_faces:
                conn.execute(insert(faces), [_face_row(f) for f in new_faces])
            conn.execute(
                update(pictures)
                .where(pictures.c.image_id == image_id)
                .values(engine_tag=engine_tag)
            )
            if removed:
                self._bump_epoch(conn)

    def mark_stale(self, set_name: str | None) -> None:
        q = update(pictures).values(engine_tag="")
        if set_name is not None:
            q = q.where(pictures.c.set_name == set_name)
        with self.engine.begin() as conn:
            conn.execute(q)

    def create_set(self, name: str) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(sets).values(name=name, created_at=time.time()))
        except IntegrityError:
            return False
        return True

    def rename_set(self, old: str, new: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(sets.c.name).where(sets.c.name == new)).first():
                raise BadInput(f"a set named {new!r} exists already")
            # pictures follow through ON UPDATE CASCADE
            if not conn.execute(update(sets).where(sets.c.name == old).values(name=new)).rowcount:
                raise NotFound(f"no set {old!r}")
            conn.execute(update(uploads).where(uploads.c.set_name == old).values(set_name=new))

    def delete_set(self, name: str) -> list[Picture]:
        doomed = self._load(select(pictures).where(pictures.c.set_name == name))
        with self.engine.begin() as conn:
            conn.execute(delete(pictures).where(pictures.c.set_name == name))
            if not conn.execute(delete(sets).where(sets.c.name == name)).rowcount:
                raise NotFound(f"no set {name!r}")
            conn.execute(delete(uploads).where(uploads.c.set_name == name))
            if any(p.faces for p in doomed):
                self._bump_epoch(conn)
        return doomed

    def rename_picture(self, image_id: str, name: str) -> None:
        try:
            with self.engine.begin() as conn:
                q = update(pictures).where(pictures.c.image_id == image_id).values(name=name)
                if not conn.execute(q).rowcount:
                    raise NotFound(f"no picture {image_id}")
        except IntegrityError:
            raise BadInput(f"another picture in the set is named {name!r}") from None

    def delete_picture(self, image_id: str) -> Picture | None:
        picture = self.get_picture(image_id)
        if picture is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(delete(pictures).where(pictures.c.image_id == image_id))
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
            if picture.faces:
                self._bump_epoch(conn)
        return picture

    def sha_in_use(self, sha256: str) -> bool:
        with self.engine.connect() as conn:
            q = select(pictures.c.image_id).where(pictures.c.sha256 == sha256).limit(1)
            return conn.execute(q).first() is not None

    def add_upload(self, upload: Upload) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(uploads).values(**_upload_row(upload), created_at=time.time()))

    def finish_upload(self, upload: Upload) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(uploads)
                .where(uploads.c.upload_id == upload.upload_id)
                .values(**_upload_row(upload))
            )

    def get_uploads(self, upload_ids: Sequence[str]) -> list[Upload]:
        q = select(uploads).where(uploads.c.upload_id.in_(list(upload_ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(uploads.c.created_at)).mappings().all()
        return [Upload(**{k: r[k] for k in _UPLOAD_FIELDS}) for r in rows]

    def _bump_epoch(self, conn) -> None:
        if (
            conn.execute(
                update(meta).where(meta.c.key == EPOCH).values(value=meta.c.value + 1)
            ).rowcount
            == 0
        ):
            conn.execute(insert(meta).values(key=EPOCH, value=1))

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
        out: dict[str, Picture] = {}
        ids = list(dict.fromkeys(image_ids))
        for i in range(0, len(ids), 500):
            for p in self._load(select(pictures).where(pictures.c.image_id.in_(ids[i : i + 500]))):
                out[p.image_id] = p
        return out

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

    def _load(self, query) -> list[Picture]:
        """Pictures with their faces, in two queries whatever the number of pictures."""
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            result = [_picture(r) for r in rows]
            if result:
                by_id = {p.image_id: p for p in result}
                fq = (
                    select(faces)
                    .where(faces.c.image_id.in_(list(by_id)))
                    .order_by(faces.c.image_id, faces.c.box_left)
                )
                for f in conn.execute(fq).mappings():
                    by_id[f["image_id"]].faces.append(_face(f))
        return result

    def get_face(self, face_id: str) -> Face | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(faces).where(faces.c.face_id == face_id)).mappings().first()
        return _face(row, with_embedding=True) if row else None

    def list_sets(self) -> list[SetSummary]:
        return self._sets(None)

    def get_set(self, name: str) -> SetSummary | None:
        found = self._sets(name)
        return found[0] if found else None

    def _sets(self, name: str | None) -> list[SetSummary]:
        counted = select(pictures.c.set_name, func.count().label("n"))
        if name is not None:  # count one set's pictures, not the whole album's
            counted = counted.where(pictures.c.set_name == name)
        counts = counted.group_by(pictures.c.set_name).subquery()
        q = (
            select(sets, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.set_name == sets.c.name)
            .order_by(sets.c.created_at.desc(), sets.c.name)
        )
        if name is not None:
            q = q.where(sets.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        featured = self.get_pictures(
            [r["featured_image_id"] for r in rows if r["featured_image_id"]]
        )
        return [
            SetSummary(
                r["name"], r["n"], featured.get(r["featured_image_id"] or ""), r["created_at"]
            )
            for r in rows
        ]

    def pictures_needing(self, engine_tag: str, set_name: str | None) -> list[str]:
        q = select(pictures.c.image_id).where(pictures.c.engine_tag != engine_tag)
        if set_name is not None:
            q = q.where(pictures.c.set_name == set_name)
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(pictures.c.image_id)).scalars())

    def face_changes(
        self, since: int, limit: int | None = None
    ) -> tuple[int, int, list[tuple[str, str, bytes]]]:
        with self.engine.connect() as conn:
            epoch = conn.execute(select(meta.c.value).where(meta.c.key == EPOCH)).scalar() or 0
            rows = conn.execute(
                select(faces.c.seq, faces.c.face_id, faces.c.image_id, faces.c.embedding)
                .where(faces.c.seq > since)
                .order_by(faces.c.seq)
                .limit(limit)
            ).all()
        high = rows[-1][0] if rows else since
        return epoch, high, [(r[1], r[2], r[3]) for r in rows]

    def stats(self) -> Stats:
        with self.engine.connect() as conn:
            n_sets = conn.execute(select(func.count()).select_from(sets)).scalar() or 0
            n_pics = conn.execute(select(func.count()).select_from(pictures)).scalar() or 0
            n_faces = conn.execute(select(func.count()).select_from(faces)).scalar() or 0
        return Stats(n_sets, n_pics, n_faces, 0, 0)


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
    }


_UPLOAD_FIELDS = ("upload_id", "set_name", "name", "status", "error", "image_id", "faces")


def _upload_row(u: Upload) -> dict:
    return {k: getattr(u, k) for k in _UPLOAD_FIELDS}


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
    )


def _face_row(f: Face) -> dict:
    assert f.embedding is not None
    return {
        "face_id": f.face_id,
        "image_id": f.image_id,
        "box_left": f.box.left,
        "box_top": f.box.top,
        "box_width": f.box.width,
        "box_height": f.box.height,
        "confidence": f.confidence,
        "embedding": np.asarray(f.embedding, dtype="<f4").tobytes(),
    }


def _face(r, with_embedding: bool = False) -> Face:
    return Face(
        face_id=r["face_id"],
        image_id=r["image_id"],
        box=Box(r["box_left"], r["box_top"], r["box_width"], r["box_height"]),
        confidence=r["confidence"],
        embedding=np.frombuffer(r["embedding"], dtype="<f4") if with_embedding else None,
    )
