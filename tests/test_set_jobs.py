"""Big changes are jobs (issue 18, items 3 and 4): a set is deleted or renamed in
batches on the job queue, resumably, its blobs going with their last user; a clashing
picture name gets a free one in O(1) catalog statements."""

from __future__ import annotations

import hashlib
import time
import uuid
from contextlib import contextmanager

import pytest
from conftest import cli
from sqlalchemy import event

from facealbum import set_jobs
from facealbum.domain import BadInput, Box, Face, NotFound
from facealbum.ingest import Analysis, store
from facealbum.settings import Settings
from facealbum.wiring import open_album


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


def fill(album, set_name: str, ns: range) -> list:
    """Pictures of distinct (fake) content, with a face each, stored as an import does."""
    out = []
    for n in ns:
        analysis = fake_analysis(n)
        face_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"face {n} {set_name}"))
        analysis.faces = [Face(face_id, analysis.image_id + set_name,
                               Box(0.1, 0.1, 0.2, 0.2), 99.0)]  # fmt: skip
        analysis.image_id += set_name
        got = store(album.blobs, album.catalog, album.collection, set_name, f"p{n:03d}.jpg",
                    b"abc", analysis, "tag")  # fmt: skip
        out.append(got.picture)
    return out


@pytest.fixture
def batched(tmp_path):
    settings = Settings(home=tmp_path / "home", set_job_batch=5, upload_lease_seconds=1)
    album = open_album(settings)
    big = fill(album, "Big", range(12))
    fill(album, "Keep", range(1))  # the same content as Big's first picture
    return album, big


def blobs_of(album, p) -> bool:
    return album.blobs.exists("originals", p.original_key) and album.blobs.exists(
        "thumbnails", p.thumb_key
    )


def test_deleting_a_set_returns_at_once_then_runs_in_bounded_batches(batched):
    """The request's part costs the same few statements whatever the set's size and
    does none of the work, yet visitors no longer see the set; the job then deletes it
    five pictures a batch, each batch a bounded number of statements, reporting its
    progress; blobs go with their last user, also one uploaded while it runs."""
    album, big = batched
    with statements(album.catalog) as seen:
        job = album.start_delete_set("Big")
    assert len(seen) <= 16, seen
    assert job["state"] == "queued" and job["total"] == 12 and job["done"] == 0
    assert album.catalog.get_set("Big").picture_count == 12  # the work is the job's
    assert [s.name for s in album.sets()] == ["Keep"]
    with pytest.raises(NotFound):
        album.get_set("Big")
    with pytest.raises(BadInput, match="being changed"):
        album.submit_upload("Big", "x.jpg", b"x")

    progress, costs = [], []
    with statements(album.catalog) as seen:

        def step(done: int, total: int) -> None:
            progress.append((done, total))
            costs.append(len(seen))  # statements since the last step
            if done == 5:  # meanwhile the same photo as one still to delete comes in
                fill(album, "Other", range(7, 8))
                [shown] = album.set_jobs()  # what GET /api/jobs gives the status line
                assert (shown["state"], shown["done"], shown["total"]) == ("running", 5, 12)
            seen.clear()

        assert set_jobs.run(album, job["id"], step)["state"] == "done"
    assert progress == [(0, 12), (5, 12), (10, 12), (12, 12)]
    assert max(costs[1:]) <= 6 * 5 + 12, costs  # O(batch) each, never O(set)
    assert album.catalog.get_set("Big") is None and album.set_jobs() == []
    assert blobs_of(album, big[0]) and blobs_of(album, big[7])  # Keep's, Other's
    assert not any(blobs_of(album, p) for p in big[1:7] + big[8:])
    assert album.catalog.get_face(big[3].faces[0].face_id) is None
    assert album.queue.run_pending() == 1  # the queued task finds it done: nothing more
    assert album.set_job(job["id"])["done"] == 12


def test_a_delete_killed_mid_batch_is_finished_by_the_next_runner(batched):
    """A runner killed between deleting a batch's rows and cleaning up after them
    leaves a lease; once it runs out the job loop queues the job again and the next
    runner cleans that batch up and finishes: nothing duplicated or left behind."""
    album, big = batched
    job = album.start_delete_set_here("Big")
    calls = []
    forget = album.collection.forget

    def killed(face_ids):
        calls.append(face_ids)
        if len(calls) == 2:
            raise SystemExit("killed")  # not an Exception: nothing is released
        forget(face_ids)

    album.collection.forget = killed
    with pytest.raises(SystemExit):
        set_jobs.run(album, job["id"])
    album.collection.forget = forget
    state = album.set_job(job["id"])
    assert state["state"] == "running" and state["done"] == 5
    assert album.catalog.get_set("Big").picture_count == 2  # batch two's rows are gone
    assert blobs_of(album, big[6])  # …but not yet its blobs
    assert set_jobs.run(album, job["id"]) is None  # its lease still holds
    assert set_jobs.recover(album) == 0
    time.sleep(album.settings.upload_lease_seconds + 0.1)  # the lease runs out
    assert set_jobs.recover(album) == 1
    assert album.queue.run_pending() == 1
    done = album.set_job(job["id"])
    assert done["state"] == "done" and done["done"] == 12 and done["total"] == 12
    assert album.catalog.get_set("Big") is None
    assert blobs_of(album, big[0]) and not any(blobs_of(album, p) for p in big[1:])


def test_renaming_a_big_set_is_a_job_too(batched):
    album, _ = batched
    job = album.start_rename_set("Big", "Large")
    assert job["state"] == "queued" and album.catalog.get_set("Big").picture_count == 12
    assert "Large" not in {s.name for s in album.sets()}  # until all its pictures are there
    with pytest.raises(NotFound):
        album.get_set("Large")
    with pytest.raises(BadInput, match="being changed"):  # hidden, yet not free (was 404)
        album.start_delete_set("Large")
    with pytest.raises(BadInput, match="being changed"):
        album.start_rename_set("Large", "Larger")
    with pytest.raises(BadInput, match="being changed"):
        album.create_set("Big")
    assert album.queue.run_pending() == 1
    assert album.set_job(job["id"])["state"] == "done"
    assert album.get_set("Large")[0].picture_count == 12
    assert album.catalog.get_set("Big") is None


def test_a_sql_rename_moves_a_batch_of_pictures_a_transaction_and_goes_on_after_a_crash(
    batched,
):
    """Issue 18, item 3: a SQL rename was one statement over the whole set (ON UPDATE
    CASCADE: 200,000 rows in one transaction at full size). Now each transaction moves
    ``set_job_batch`` pictures (5 here, of 12), the set reading under its old name
    alone until the last, and a runner that dies between batches is followed by one
    that goes on: every picture, clash counter, upload and count ends under the new
    name, the album's counts as before."""
    album, big = batched
    assert album.catalog.next_name_number("Big", "p000.jpg") == 2
    stats = album.catalog.stats()
    job = album.start_rename_set("Big", "Large")
    moved: list[list[int]] = [[]]  # pictures moved, per transaction

    def count(conn, cursor, statement, params, context, many) -> None:
        if statement.startswith("UPDATE pictures SET set_name"):
            moved[-1].append(cursor.rowcount)

    def commit(conn) -> None:
        moved.append([])

    event.listen(album.catalog.engine, "after_cursor_execute", count)
    event.listen(album.catalog.engine, "commit", commit)
    steps = []
    real = set_jobs._save

    def dies_after_one_batch(album_, job_id, holder, **changes):
        steps.append(changes)
        if len(steps) == 1:
            assert album.get_set("Big")[0].picture_count == 7  # read under its old name
            assert "Large" not in {s.name for s in album.sets()}
            raise KeyboardInterrupt  # the runner dies, its lease left to run out
        return real(album_, job_id, holder, **changes)

    set_jobs._save = dies_after_one_batch
    try:
        with pytest.raises(KeyboardInterrupt):
            set_jobs.run(album, job["id"])
        time.sleep(album.settings.upload_lease_seconds + 0.1)
        assert set_jobs.recover(album) == 1
        album.queue.run_pending()  # the job as queued at first, then again: one runs it
    finally:
        set_jobs._save = real
        event.remove(album.catalog.engine, "after_cursor_execute", count)
        event.remove(album.catalog.engine, "commit", commit)
    assert sorted(n for each in moved for n in each) == [2, 5, 5]
    assert max(len(each) for each in moved) == 1  # one batch a transaction
    assert album.set_job(job["id"])["state"] == "done"
    assert album.catalog.get_set("Big") is None
    summary, pictures = album.get_set("Large")
    assert summary.picture_count == 12 and len(pictures) == 12
    assert {p.image_id for p in pictures} == {p.image_id for p in big}
    assert album.catalog.stats() == stats
    assert album.catalog.next_name_number("Large", "p000.jpg") == 3


def test_cli_deletes_a_set_with_progress(batched):
    album, _ = batched
    out = cli("sets", "delete", "Big", home=album.settings.home,
              env_extra={"FACEALBUM_SET_JOB_BATCH": "5"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "12/12" in out.stdout and "Deleted 'Big': 12 pictures" in out.stdout
    assert album.catalog.get_set("Big") is None


def test_a_time_limited_runner_stops_between_batches_and_the_next_goes_on(batched):
    """AWS's scheduled function runs set jobs until a minute before its time limit: it
    frees the job at once for the next invocation, which finishes it."""
    album, _ = batched
    job = album.start_delete_set("Big")
    assert set_jobs.run_active(album, until=time.time() - 1) == 0
    assert set_jobs.run(album, job["id"], until=time.time() - 1) is None  # paused, free
    state = album.set_job(job["id"])
    assert state["state"] == "running" and state["done"] == 0
    assert set_jobs.run_active(album) == 1
    assert album.catalog.get_set("Big") is None


def test_deletes_of_one_set_at_once_make_one_job(batched):
    import threading

    album, _ = batched
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(album.start_delete_set("Big")["id"]))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert [j["id"] for j in album.set_jobs()] == ids[:1]


def test_a_delete_recorded_between_a_requests_reads_returns_that_job(batched):
    """Two deletes of one set at once: another request records its job right after
    this one read the jobs. This one still finds the set (hidden now, not gone) and
    gets that job, not a 404 (it read the jobs twice, and the second read hid the
    set from it)."""
    album, _ = batched
    real = album.catalog.get_job
    other: list[dict] = []

    def get_job(key):
        found = real(key)
        if key == set_jobs.REGISTRY and not other:
            album.catalog.get_job = real
            other.append(album.start_delete_set("Big"))
        return found

    album.catalog.get_job = get_job
    mine = album.start_delete_set("Big")
    assert other and mine["id"] == other[0]["id"]
    assert [j["id"] for j in album.set_jobs()] == [mine["id"]]


def test_reindex_is_a_job_whose_progress_the_site_reads(batched):
    """`facealbum reindex` runs as a job: while it works the owner's status line
    (GET /api/jobs, Album.set_jobs) shows it with its progress; then it is done, with
    what failed and why (these fake originals cannot be decoded)."""
    album, _ = batched
    job = set_jobs.start_reindex(album, "Keep", workers=1, queue=False)
    assert set_jobs.start_reindex(album, None)["id"] == job["id"]  # one at a time
    seen = []
    final = set_jobs.run(album, job["id"], on_outcome=lambda o: seen.append(album.set_jobs()))
    assert [(j["kind"], j["set"], j["state"], j["total"]) for [j] in seen] == [
        ("reindex", "Keep", "running", 1)
    ]
    assert final["state"] == "done" and final["done"] == 1 and final["reindexed"] == 0
    assert [name for name, _ in final["failed"]] == ["p000.jpg"] and album.set_jobs() == []

def test_a_delete_that_keeps_failing_is_marked_and_tried_again_when_asked(batched):
    """A job failing MAX_FAILURES runs in a row says so (the set stays hidden); asking
    for the delete again runs it once more."""
    album, _ = batched
    job = album.start_delete_set_here("Big")
    real = album.catalog.delete_pictures
    album.catalog.delete_pictures = lambda ids: 1 / 0
    for _ in range(set_jobs.MAX_FAILURES):
        with pytest.raises(ZeroDivisionError):
            set_jobs.run(album, job["id"])
    failed = album.set_job(job["id"])
    assert failed["state"] == "failed" and "division by zero" in failed["error"]
    assert "Big" not in {s.name for s in album.sets()}
    album.catalog.delete_pictures = real
    assert album.delete_set("Big") == 12 and album.catalog.get_set("Big") is None

