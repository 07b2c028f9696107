"""Background processing of uploads through the durable job queue."""

from __future__ import annotations

import pytest
from badfiles import BAD_FILES, PHOTOS

from facealbum.domain import BadInput
from facealbum.wiring import open_album


def incoming(album) -> list[str]:
    return list(album.blobs.keys("incoming"))


def test_upload_is_processed_by_a_later_worker(settings):
    web = open_album(settings)
    web.submit_upload("Trip", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())
    assert web.queue.pending() == 1 and web.stats().pictures == 0
    assert len(incoming(web)) == 1
    worker = open_album(settings)  # another process would do the same: the queue is on disk
    assert worker.queue.run_pending() == 1
    assert worker.queue.pending() == 0
    [picture] = worker.get_set("Trip")[1]
    assert picture.name == "obama.jpg" and len(picture.faces) == 1
    assert incoming(worker) == []


def test_refused_upload_is_dropped_with_its_reason(album):
    data, reason = BAD_FILES["notes.jpg"]
    upload = album.submit_upload("Trip", "notes.jpg", data)
    assert album.uploads([upload.upload_id])[0].status == "queued"
    assert album.queue.run_pending() == 1
    [done] = album.uploads([upload.upload_id])
    assert done.status == "failed" and reason in done.error
    assert incoming(album) == [] and album.queue.pending() == 0
    assert album.stats().pictures == 0


def test_upload_outcomes_are_recorded(album):
    data = (PHOTOS / "groups" / "two_people.jpg").read_bytes()
    first = album.submit_upload("Trip", "two.jpg", data)
    again = album.submit_upload("Trip", "two-again.jpg", data)
    album.queue.run_pending()
    a, b = album.uploads([first.upload_id, again.upload_id])
    assert (a.status, a.faces) == ("added", 2)
    assert b.status == "duplicate" and b.image_id == a.image_id


def test_unsafe_names_are_refused_before_queueing(album):
    with pytest.raises(BadInput):
        album.submit_upload("Trip", "../x.jpg", b"data")
    assert album.queue.pending() == 0 and incoming(album) == []


def test_a_running_album_sees_faces_another_process_added(settings):
    web = open_album(settings)
    web.warm()
    loaded = web.collection.faces._loaded["facealbum"]
    assert len(loaded.index) == 0
    importer = open_album(settings)
    one = importer.ingest("Trip", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())
    two = importer.ingest("Trip", "obama2.jpg", (PHOTOS / "obama" / "obama2.jpg").read_bytes())
    result = web.search(one.picture.faces[0].face_id)
    assert [m.picture.image_id for m in result.matches] == [
        one.picture.image_id,
        two.picture.image_id,
    ]  # the second picture is found through the index, which followed the other album
    assert len(loaded.index) == 2


def test_an_unexpected_failure_keeps_the_file_and_says_so(album, monkeypatch):
    upload = album.submit_upload("Trip", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())

    def broken_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(album.blobs, "put", broken_disk)  # the failure no test can cause for real
    assert album.queue.run_pending() == 1
    [done] = album.uploads([upload.upload_id])
    assert done.status == "failed" and "kept" in done.error
    assert len(incoming(album)) == 1  # the photo is still there for a retry


def test_a_queued_upload_follows_its_set(album):
    data = (PHOTOS / "obama" / "obama.jpg").read_bytes()
    album.submit_upload("Trip", "obama.jpg", data)
    album.rename_set("Trip", "Rome")
    gone = album.submit_upload("Doomed", "obama.jpg", data)
    album.delete_set("Doomed")
    assert album.queue.run_pending() == 2
    assert [p.name for p in album.get_set("Rome")[1]] == ["obama.jpg"]
    assert album.catalog.get_set("Trip") is None and album.catalog.get_set("Doomed") is None
    assert album.uploads([gone.upload_id]) == [] and incoming(album) == []
