"""The SQL catalog's re-analysis: a picture's faces swapped for new ones with the
owner's work carried over, in one transaction (see Catalog.replace_faces_keeping_people)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import Engine, delete, insert, select, update

from ..domain import Box, Face, same_faces
from .catalog_schema import face_rejections, faces, persons, pictures


class SqlReanalysis:
    engine: Engine
    _recount: Callable[[Iterable[str | None]], None]  # SqlPeople's

    def replace_faces_keeping_people(
        self, image_id: str, new_faces: list[Face], engine_tag: str
    ) -> list[str] | None:
        """The update of the picture's row comes first and takes its write lock, and the
        faces are read FOR UPDATE (SQLite: the database's write lock, taken by the
        update), so the faces paired are the ones replaced, with the persons they have
        (no placement, delete or other reindex of this picture interleaves), and
        everything below commits or none of it does."""
        from .catalog_sql import _face_row

        with self.engine.begin() as conn:
            found = conn.execute(
                update(pictures)
                .where(pictures.c.image_id == image_id)
                .values(engine_tag=engine_tag)
            ).rowcount
            if not found:
                return None
            # locked too: a face's person may change by itself (a placement meanwhile)
            rows = (
                conn.execute(select(faces).where(faces.c.image_id == image_id).with_for_update())
                .mappings()
                .all()
            )
            old = {r["face_id"]: r for r in rows}
            boxes = [Face(r["face_id"], image_id, _box(r), r["confidence"]) for r in old.values()]
            pairs = same_faces(boxes, new_faces)
            refused = (
                conn.execute(select(face_rejections).where(face_rejections.c.face_id.in_(old)))
                .mappings()
                .all()
            )
            conn.execute(delete(faces).where(faces.c.image_id == image_id))
            conn.execute(delete(face_rejections).where(face_rejections.c.face_id.in_(old)))
            if new_faces:
                conn.execute(
                    insert(faces),
                    [
                        _face_row(f)
                        | {
                            "person_id": old[pairs[f.face_id]]["person_id"]
                            if f.face_id in pairs
                            else None,
                            "by_owner": bool(
                                f.face_id in pairs and old[pairs[f.face_id]]["by_owner"]
                            ),
                        }
                        for f in new_faces
                    ],
                )
            back = {o: n for n, o in pairs.items()}
            carried = [
                {"face_id": back[r["face_id"]], "person_id": r["person_id"]}
                for r in refused
                if r["face_id"] in back
            ]
            if carried:
                conn.execute(insert(face_rejections), carried)
            for o, n in back.items():  # a cover is one of its person's faces (by key)
                if old[o]["person_id"] is not None:
                    conn.execute(
                        update(persons)
                        .where(persons.c.person_id == old[o]["person_id"])
                        .where(persons.c.cover_face_id == o)
                        .values(cover_face_id=n)
                    )
        self._recount(r["person_id"] for r in old.values())  # unpaired faces left them
        return list(old)


def _box(r) -> Box:
    return Box(r["box_left"], r["box_top"], r["box_width"], r["box_height"])
