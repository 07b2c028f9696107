"""The SQL catalog's people: persons, each face's person (and whether the owner put it
there), and the owner's "not this person" answers."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, delete, distinct, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import Face, NotFound, Person
from .catalog_schema import face_rejections, faces, persons


class SqlPeople:
    engine: Engine

    def add_person(self, person: Person) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(persons).values(
                    person_id=person.person_id,
                    name=person.name,
                    hidden=person.hidden,
                    cover_face_id=person.cover_face_id,
                    created_at=person.created_at,
                )
            )

    def get_person(self, person_id: str) -> Person | None:
        found = self._people(person_id)
        return found[0] if found else None

    def list_people(self) -> list[Person]:
        return self._people(None)

    def _people(self, person_id: str | None) -> list[Person]:
        counts = (
            select(
                faces.c.person_id,
                func.count().label("n_faces"),
                func.count(distinct(faces.c.image_id)).label("n_pictures"),
            )
            .where(faces.c.person_id.is_not(None))
            .group_by(faces.c.person_id)
            .subquery()
        )
        q = (
            select(persons, counts.c.n_faces, counts.c.n_pictures)
            .outerjoin(counts, counts.c.person_id == persons.c.person_id)
            .order_by(persons.c.created_at, persons.c.person_id)
        )
        if person_id is not None:
            q = q.where(persons.c.person_id == person_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        return [
            Person(
                person_id=r["person_id"],
                name=r["name"],
                hidden=bool(r["hidden"]),
                cover_face_id=r["cover_face_id"],
                created_at=r["created_at"],
                face_count=r["n_faces"] or 0,
                picture_count=r["n_pictures"] or 0,
            )
            for r in rows
        ]

    def update_person(self, person: Person) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(persons)
                .where(persons.c.person_id == person.person_id)
                .values(name=person.name, hidden=person.hidden, cover_face_id=person.cover_face_id)
            ).rowcount
        if not done:
            raise NotFound(f"no person {person.person_id}")

    def delete_person(self, person_id: str) -> None:
        """The person's row goes first: a placement into it (which holds the row, see
        ``assign_faces``) either ends before, and its face is let go below, or finds no
        person and places nothing."""
        with self.engine.begin() as conn:
            conn.execute(delete(persons).where(persons.c.person_id == person_id))
            conn.execute(
                update(faces)
                .where(faces.c.person_id == person_id)
                .values(person_id=None, by_owner=False)
            )

    def assign_faces(
        self,
        assignments: dict[str, str | None],
        by_owner: bool,
        expected: dict[str, str | None] | None = None,
    ) -> int:
        """One UPDATE per face in one transaction, each conditional on the target
        person existing (on PostgreSQL its row is held, FOR SHARE, until commit, so a
        concurrent ``delete_person`` waits) and, for the faces in ``expected``, on the
        person the face had when the caller read it."""
        changed = 0
        hold = self.engine.dialect.name == "postgresql"
        with self.engine.begin() as conn:
            for face_id, person_id in assignments.items():
                owned = by_owner and person_id is not None  # unassigned: free again
                q = update(faces).where(faces.c.face_id == face_id)
                if not by_owner:  # the owner's decisions stand
                    q = q.where(faces.c.by_owner.is_(False))
                if expected is not None and face_id in expected:
                    q = q.where(faces.c.person_id.is_not_distinct_from(expected[face_id]))
                if person_id is not None:
                    there = select(persons.c.person_id).where(persons.c.person_id == person_id)
                    if hold and conn.execute(there.with_for_update(read=True)).first() is None:
                        continue
                    q = q.where(exists(there))
                q = q.where(
                    faces.c.person_id.is_distinct_from(person_id) | (faces.c.by_owner != owned)
                )
                changed += conn.execute(q.values(person_id=person_id, by_owner=owned)).rowcount
        return changed

    def face_assignments(self) -> dict[str, tuple[str | None, bool]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(faces.c.face_id, faces.c.person_id, faces.c.by_owner))
            return {r[0]: (r[1], bool(r[2])) for r in rows}

    def person_faces(self, person_id: str) -> list[Face]:
        q = select(faces).where(faces.c.person_id == person_id).order_by(faces.c.seq)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        from .catalog_sql import _face

        return [_face(r) for r in rows]

    def reject_face(self, face_id: str, person_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(face_rejections).values(face_id=face_id, person_id=person_id))
        except IntegrityError:
            pass  # said before

    def rejections(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return {(r[0], r[1]) for r in conn.execute(select(face_rejections))}

    def hidden_persons(self, person_ids: Collection[str]) -> set[str]:
        return {p for p, (_, hidden) in self.person_labels(person_ids).items() if hidden}

    def person_labels(self, person_ids: Collection[str]) -> dict[str, tuple[str | None, bool]]:
        found: dict[str, tuple[str | None, bool]] = {}
        ids = list(dict.fromkeys(person_ids))
        cols = (persons.c.person_id, persons.c.name, persons.c.hidden)
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):  # well under every dialect's bound parameters
                q = select(*cols).where(persons.c.person_id.in_(ids[i : i + 500]))
                found.update((r[0], (r[1] or None, bool(r[2]))) for r in conn.execute(q))
        return found
