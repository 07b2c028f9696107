"""Big changes are jobs (issue 18, items 3 and 4): a set is deleted or renamed in
batches on the job queue, resumably, its blobs going with their last user; a clashing
picture name gets a free one in O(1) catalog statements."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

from sqlalchemy import event

from facealbum.ingest import Analysis, store


@contextmanager
def statements(catalog):
    """Count the SQL statements the catalog sends while the block runs."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(catalog.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(catalog.engine, "before_cursor_execute", count)


def fake_analysis(n: int) -> Analysis:
    """A stored photo's analysis without the photo: what naming needs (distinct content)."""
    sha = hashlib.sha256(f"photo {n}".encode()).hexdigest()
    return Analysis(sha, "JPEG", "image/jpeg", 10, 10, 3, b"t", b"p", b"", f"img-{n:04d}")


def test_a_free_picture_name_costs_the_same_after_fifty_clashes(album):
    """52 different photos all named IMG.JPG in one set: the 52nd is "IMG (52).JPG",
    found in as many statements as the 2nd (today each clash probed one more name)."""
    cost = []
    for n in range(1, 53):
        with statements(album.catalog) as seen:
            got = store(album.blobs, album.catalog, album.collection, "S", "IMG.JPG", b"abc",
                        fake_analysis(n), "tag")  # fmt: skip
        cost.append(len(seen))
        assert got.status == "added"
    assert got.picture.name == "IMG (52).JPG"
    assert cost[-1] <= cost[1] + 2, cost
