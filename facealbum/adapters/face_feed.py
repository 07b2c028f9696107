"""The local collections' change feed as several processes share it: where a saved
index stands, one writer at a time for the saved file, and the deletion feed pruned.

New faces are followed by ``collection_faces.seq`` and deletions through
``collection_face_deletions`` (faces_local.py does both, O(changes) per catch-up).
Every server process (``facealbum serve --workers N``) keeps an index of its own and
may save it under ``home/face-index``: :func:`save` lets one process write at a time
(an advisory ``flock`` on a lock file beside it; a process finding it held skips this
save, the file is written again a few thousand changes later), writes nothing when the
file on disk has applied as much already, and replaces the file atomically
(``IvfFaceIndex.save``), so a process loading it meanwhile reads the old or the new one.

The deletion feed would grow with every face ever deleted; after a save it is pruned
up to where the *previous* saved file stood. A file loaded later, or a process's index
in memory that fell behind that horizon (``collections.deletions_pruned``), cannot
catch up from the feed and is built again from the rows: :func:`horizon` tells.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, select, update

from .catalog_schema import collection_face_deletions, collections
from .face_index import IvfFaceIndex


def horizon(conn: Connection, collection_id: str) -> int:
    """The highest deletion feed id pruned from ``collection_id``'s feed (0: none).
    Read it *after* the feed rows: a pruning committed in between then shows here."""
    return int(
        conn.execute(
            select(collections.c.deletions_pruned).where(
                collections.c.collection_id == collection_id
            )
        ).scalar()
        or 0
    )


def saved_state(path: Path) -> dict | None:
    """The state saved with the index at ``path`` (its positions in the feed), without
    reading the index itself; None if there is none."""
    try:
        state = json.loads(path.read_text())["state"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) else None


@contextlib.contextmanager
def _one_writer(path: Path) -> Iterator[bool]:
    """Whether this process holds the right to write ``path`` (released on exit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.stem}.lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ahead(saved: dict | None, state: dict) -> bool:
    """Whether the saved file has applied at least what ``state`` has (same collection)."""
    return (
        saved is not None
        and saved.get("created_at") == state["created_at"]
        and int(saved.get("high", -1)) >= state["high"]
        and int(saved.get("deleted", -1)) >= state["deleted"]
    )


def save(db: Engine, collection_id: str, index: IvfFaceIndex, path: Path, state: dict) -> bool:
    """Save ``index`` (at ``state``: ``high``, ``deleted``, ``created_at``) unless another
    process is saving or the file is as far already; then prune the deletion feed up to
    the file this one replaced (or this one, if that had applied more deletions).
    Whether the file on disk is now at least this far (False: another process holds
    the lock; try again later). OSError from a full disk."""
    with _one_writer(path) as mine:
        if not mine:
            return False
        before = saved_state(path)
        if _ahead(before, state):
            return True
        index.save(path, state)
        if before is not None and before.get("created_at") == state["created_at"]:
            prune(db, collection_id, min(int(before.get("deleted", 0)), state["deleted"]))
        return True


def prune(db: Engine, collection_id: str, up_to: int) -> int:
    """Remove the feed's rows up to id ``up_to`` and raise the collection's horizon to
    it (in one transaction, under the collection row's lock, as deletions write the
    feed); how many rows went."""
    if up_to <= 0:
        return 0
    with db.begin() as conn:
        raised = conn.execute(
            update(collections)
            .where(
                collections.c.collection_id == collection_id,
                collections.c.deletions_pruned < up_to,
            )
            .values(deletions_pruned=up_to)
        ).rowcount
        if not raised:
            return 0
        return int(
            conn.execute(
                delete(collection_face_deletions).where(
                    collection_face_deletions.c.collection_id == collection_id,
                    collection_face_deletions.c.id <= up_to,
                )
            ).rowcount
        )
