"""Rekognition's users on the local engine: a user row per person, each face row naming
its user. A mixin of :class:`~.faces_local.LocalFaces`, whose rows, index and image
analysis it uses.

A user's similarity to a face is its best face's (the largest of the face-to-face
similarities): a person photographed young and old matches through either, as the owner
would expect when the faces were put together on purpose.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..faces import (
    MAX_USER_FACES,
    USER_ID,
    Association,
    Conflict,
    FaceNotFound,
    InvalidParameter,
    QuotaExceeded,
    Refusal,
    Unindexed,
    User,
    UserImageSearch,
    UserMatch,
    UserNotFound,
    cosine_for,
    similarity,
)
from .catalog_schema import collection_faces, collection_users
from .face_index import SLACK

if TYPE_CHECKING:
    from ..faces import CollectionInfo
    from .face_index import IvfFaceIndex
    from .faces_local import _Found

MAX_USERS = 500  # SearchUsers' MaxUsers and ListUsers' MaxResults top out here
FACE_IDS = 100  # AssociateFaces / DisassociateFaces take at most 100 ids


class LocalUsers:
    db: Engine

    if TYPE_CHECKING:  # provided by LocalFaces

        def describe_collection(self, collection_id: str) -> CollectionInfo: ...
        def _index(self, collection_id: str, wait: bool = False) -> IvfFaceIndex: ...
        def _analyze(self, image: bytes) -> list[_Found]: ...

    def create_user(self, collection_id: str, user_id: str) -> None:
        _check_user(user_id)
        self.describe_collection(collection_id)
        try:
            with self.db.begin() as conn:
                conn.execute(
                    insert(collection_users).values(
                        collection_id=collection_id, user_id=user_id, created_at=time.time()
                    )
                )
        except IntegrityError:
            raise Conflict(f"A user with the id {user_id} already exists") from None

    def delete_user(self, collection_id: str, user_id: str) -> None:
        """The user goes; its faces stay in the collection, associated with no one."""
        _check_user(user_id)
        self.describe_collection(collection_id)
        with self.db.begin() as conn:
            gone = conn.execute(delete(collection_users).where(_user(collection_id, user_id)))
            if not gone.rowcount:
                raise _no_user(user_id)
            conn.execute(
                update(collection_faces)
                .where(_faces_of(collection_id, user_id))
                .values(user_id=None)
            )

    def list_users(
        self, collection_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]:
        from .faces_local import _token, _untoken

        self.describe_collection(collection_id)
        q = (
            select(collection_users.c.user_id)
            .where(collection_users.c.collection_id == collection_id)
            .order_by(collection_users.c.user_id)
        )
        if token:
            q = q.where(collection_users.c.user_id > _untoken(token))
        with self.db.connect() as conn:
            ids = list(conn.execute(q.limit(limit + 1)).scalars())
            more = len(ids) > limit
            ids = ids[:limit]
            users = [
                User(u, s)
                for u, s in zip(ids, self._statuses(conn, collection_id, ids), strict=True)
            ]
        return users, _token(ids[-1]) if more and ids else None

    def associate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str], threshold: float
    ) -> Association:
        """Each face must match the user's faces (those it had and those taken before it
        in this call) at ``threshold`` or more; a user's first face sets who it is."""
        _check_faces(face_ids)
        if not 0 <= threshold <= 100:
            raise InvalidParameter("UserMatchThreshold must be between 0 and 100")
        with self.db.begin() as conn:
            self._lock_user(conn, collection_id, user_id)
            rows = self._face_rows(conn, collection_id, face_ids)
            mine = [
                np.frombuffer(e, dtype="<f4")
                for e in conn.execute(
                    select(collection_faces.c.embedding).where(_faces_of(collection_id, user_id))
                ).scalars()
            ]
            done, failed = [], []
            for face_id in dict.fromkeys(face_ids):
                row = rows.get(face_id)
                if row is None:
                    failed.append(Refusal(face_id, ["FACE_NOT_FOUND"]))
                    continue
                owner, vector = row
                if owner not in (None, user_id):
                    failed.append(Refusal(face_id, ["ASSOCIATED_TO_A_DIFFERENT_USER"], owner))
                    continue
                if owner is None and mine:
                    best = max(similarity(float(np.dot(vector, v))) for v in mine)
                    if best < threshold:
                        failed.append(
                            Refusal(face_id, ["LOW_MATCH_CONFIDENCE"], user_id, round(best, 4))
                        )
                        continue
                if owner is None:
                    mine.append(vector)
                done.append(face_id)
            if len(mine) > MAX_USER_FACES:
                raise QuotaExceeded(
                    f"a user holds at most {MAX_USER_FACES} faces; {user_id} would have {len(mine)}"
                )
            _set_user(conn, collection_id, done, user_id)
        return Association(done, failed, "ACTIVE" if mine else "CREATED")

    def disassociate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str]
    ) -> Association:
        _check_faces(face_ids)
        with self.db.begin() as conn:
            self._lock_user(conn, collection_id, user_id)
            rows = self._face_rows(conn, collection_id, face_ids)
            done, failed = [], []
            for face_id in dict.fromkeys(face_ids):
                if face_id not in rows:
                    failed.append(Refusal(face_id, ["FACE_NOT_FOUND"]))
                elif rows[face_id][0] != user_id:
                    failed.append(
                        Refusal(face_id, ["ASSOCIATED_TO_A_DIFFERENT_USER"], rows[face_id][0])
                    )
                else:
                    done.append(face_id)
            _set_user(conn, collection_id, done, None)
            [status] = self._statuses(conn, collection_id, [user_id])
        return Association(done, failed, status)

    def search_users(
        self,
        collection_id: str,
        threshold: float,
        max_users: int,
        user_id: str | None = None,
        face_id: str | None = None,
    ) -> list[UserMatch]:
        """The users like a face (by id) or like a user (through each of its faces),
        best first; a user never matches itself."""
        _check_user_search(threshold, max_users)
        if (user_id is None) == (face_id is None):
            raise InvalidParameter("give either UserId or FaceId")
        self.describe_collection(collection_id)
        with self.db.connect() as conn:
            if face_id is not None:
                where = and_(
                    collection_faces.c.collection_id == collection_id,
                    collection_faces.c.face_id == face_id,
                )
            else:
                _check_user(user_id)
                if not conn.execute(
                    select(collection_users.c.user_id).where(_user(collection_id, user_id))
                ).first():
                    raise _no_user(user_id)
                where = _faces_of(collection_id, user_id)
            vectors = [
                np.frombuffer(e, dtype="<f4")
                for e in conn.execute(select(collection_faces.c.embedding).where(where)).scalars()
            ]
        if face_id is not None and not vectors:
            raise FaceNotFound(f"face {face_id} is not in collection {collection_id}")
        return self._users_like(collection_id, vectors, threshold, max_users, user_id)

    def search_users_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_users: int,
        quality_filter: str = "NONE",
    ) -> UserImageSearch:
        from .faces_local import check_quality_filter, quality_reasons

        _check_user_search(threshold, max_users)
        check_quality_filter(quality_filter)
        self.describe_collection(collection_id)
        found = sorted(self._analyze(image), key=lambda f: -f.side_px)
        if not found:
            raise InvalidParameter("There are no faces in the image.")
        largest, rest = found[0], found[1:]
        unsearched = [Unindexed(f.face, ["FACE_NOT_LARGEST"]) for f in rest]
        reasons = quality_reasons(largest, quality_filter)
        if reasons:
            return UserImageSearch(None, [], [Unindexed(largest.face, reasons), *unsearched])
        matches = self._users_like(collection_id, [largest.vector], threshold, max_users)
        return UserImageSearch(largest.face, matches, unsearched)

    # -- internals --------------------------------------------------------------------

    def _users_like(
        self,
        collection_id: str,
        vectors: list[np.ndarray],
        threshold: float,
        max_users: int,
        exclude: str | None = None,
    ) -> list[UserMatch]:
        index = self._index(collection_id)
        cut = cosine_for(threshold)
        seqs: set[int] = set()
        for vector in vectors:  # every face above the cut: O(those faces)
            seqs.update(index.above(vector, cut - SLACK).tolist())
        if not seqs:
            return []
        users: dict[str, float] = defaultdict(lambda: -1.0)
        q = np.stack([np.asarray(v, dtype=np.float32) for v in vectors])
        with self.db.connect() as conn:
            ids = sorted(seqs)
            for i in range(0, len(ids), 1000):
                for user, embedding in conn.execute(
                    select(collection_faces.c.user_id, collection_faces.c.embedding).where(
                        collection_faces.c.collection_id == collection_id,
                        collection_faces.c.seq.in_(ids[i : i + 1000]),
                        collection_faces.c.user_id.is_not(None),
                    )
                ):
                    if user != exclude:  # the float32 cosine: the very cut
                        cos = float((q @ np.frombuffer(embedding, dtype="<f4")).max())
                        users[user] = max(users[user], cos)
        scored = sorted(
            ((similarity(cos), u) for u, cos in users.items()), key=lambda su: (-su[0], su[1])
        )
        return [UserMatch(s, User(u, "ACTIVE")) for s, u in scored if s >= threshold][:max_users]

    def _lock_user(self, conn, collection_id: str, user_id: str) -> None:
        """Hold the user's row for the transaction (associations of one user are made
        one at a time, so the 100-face limit holds)."""
        _check_user(user_id)
        self.describe_collection(collection_id)
        locked = conn.execute(
            update(collection_users)
            .where(_user(collection_id, user_id))
            .values(created_at=collection_users.c.created_at)
        ).rowcount
        if not locked:
            raise _no_user(user_id)

    def _face_rows(
        self, conn, collection_id: str, face_ids: list[str]
    ) -> dict[str, tuple[str | None, np.ndarray]]:
        """The faces' users and vectors, their rows locked in one order (on PostgreSQL;
        SQLite has one writer at a time), so two users claiming a face take turns."""
        rows = conn.execute(
            select(
                collection_faces.c.face_id, collection_faces.c.user_id, collection_faces.c.embedding
            )
            .where(
                collection_faces.c.collection_id == collection_id,
                collection_faces.c.face_id.in_(face_ids),
            )
            .order_by(collection_faces.c.face_id)
            .with_for_update()
        )
        return {f: (u, np.frombuffer(e, dtype="<f4")) for f, u, e in rows}

    def _statuses(self, conn, collection_id: str, user_ids: list[str]) -> list[str]:
        if not user_ids:
            return []
        with_faces = set(
            conn.execute(
                select(collection_faces.c.user_id)
                .where(
                    collection_faces.c.collection_id == collection_id,
                    collection_faces.c.user_id.in_(user_ids),
                )
                .distinct()
            ).scalars()
        )
        return ["ACTIVE" if u in with_faces else "CREATED" for u in user_ids]


def _set_user(conn, collection_id: str, face_ids: list[str], user_id: str | None) -> None:
    if face_ids:
        conn.execute(
            update(collection_faces)
            .where(
                collection_faces.c.collection_id == collection_id,
                collection_faces.c.face_id.in_(face_ids),
            )
            .values(user_id=user_id)
        )


def _user(collection_id: str, user_id: str | None):
    return and_(
        collection_users.c.collection_id == collection_id, collection_users.c.user_id == user_id
    )


def _faces_of(collection_id: str, user_id: str | None):
    return and_(
        collection_faces.c.collection_id == collection_id, collection_faces.c.user_id == user_id
    )


def _check_user(user_id: str | None) -> None:
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        raise InvalidParameter(f"invalid UserId {user_id!r}")


def _check_faces(face_ids: list[str]) -> None:
    from .faces_local import _check_face_id

    if not isinstance(face_ids, list) or not 1 <= len(face_ids) <= FACE_IDS:
        raise InvalidParameter(f"FaceIds must list 1 to {FACE_IDS} face ids")
    for face_id in face_ids:
        _check_face_id(face_id)


def _check_user_search(threshold: float, max_users: int) -> None:
    if not 0 <= threshold <= 100:
        raise InvalidParameter("UserMatchThreshold must be between 0 and 100")
    if not 1 <= max_users <= MAX_USERS:
        raise InvalidParameter(f"MaxUsers must be between 1 and {MAX_USERS}")


def _no_user(user_id: str | None) -> UserNotFound:
    return UserNotFound(f"The user id: {user_id} does not exist")
