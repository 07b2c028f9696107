"""What one new photo costs: its writes and reads are O(what it changes), not O(album).
Counted, never timed: the faces port's user calls, the catalog rows placement reads
(test_aws.py counts an S3 event's calls by operation)."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from conftest import PHOTOS

from facealbum.ingest import analyze, index_faces, new_image_id, store
from facealbum.settings import Settings
from facealbum.wiring import open_album

USER_CALLS = ("create_user", "delete_user", "list_users", "list_faces", "associate_faces",
              "disassociate_faces")  # fmt: skip


@pytest.fixture
def album(library_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    return open_album(Settings(home=home))


def stored_copy(album, photo: str, set_name: str):
    """``photo`` stored into ``set_name`` as an upload stores it, its people not placed."""
    data = (PHOTOS / photo).read_bytes()
    analysis = index_faces(album.collection, analyze(data, album.settings), new_image_id())
    return store(album.blobs, album.catalog, album.collection, set_name, "x.jpg", data,
                 analysis, album.settings.engine_tag).picture  # fmt: skip


def counted(monkeypatch, target, names) -> Counter:
    """Count calls of ``target``'s methods ``names`` (the real ones still run)."""
    calls: Counter = Counter()
    for name in names:
        real = getattr(target, name)

        def wrapper(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(target, name, wrapper)
    return calls


def test_an_embedded_upload_mirrors_only_the_person_its_face_joins(album, monkeypatch):
    """A new photo of Obama joins his person: his user takes the face with one
    AssociateFaces; no other user is read or written, nor the album's list of people,
    nor every face of the person."""
    obama = next(p for p in album.get_set("fixtures")[1] if p.name == "obama/obama.jpg")
    person = obama.faces[0].person_id
    assert person and album.catalog.get_person(person).face_count >= 3
    picture = stored_copy(album, "obama/obama.jpg", "Again")
    users = counted(monkeypatch, album.collection.faces, USER_CALLS)
    reads = counted(monkeypatch, album.catalog, ("list_people", "person_faces"))
    album.place_people(picture)
    assert album.catalog.get_picture(picture.image_id).faces[0].person_id == person
    assert users == {"associate_faces": 1}
    assert reads["list_people"] == 0
    faces, collection = album.collection.faces, album.collection.collection_id
    held = {f.face_id for f in faces.list_faces(collection, 100, None, user_id=person)[0]}
    assert picture.faces[0].face_id in held


def test_placement_reads_as_many_look_alikes_however_many_the_album_has(album, monkeypatch):
    """Obama has four faces in the library; with people_place_max_faces at 2, placing
    another reads the catalog rows of 2 look-alikes (and of their pictures), not of
    every face like it, nor every "not this person" answer, and still finds him."""
    from facealbum.people.grouping import place_faces

    obama = next(p for p in album.get_set("fixtures")[1] if p.name == "obama/obama.jpg")
    person = obama.faces[0].person_id
    assert len(album.collection.matches(obama.faces[0].face_id, 80)) >= 3
    picture = stored_copy(album, "obama/obama2.jpg", "Again")
    album.settings.people_place_max_faces = 2
    asked: Counter = Counter()
    for name in ("face_refs", "get_pictures"):
        real = getattr(album.catalog, name)

        def wrapper(ids, _real=real, _name=name):
            asked[_name] += len(ids)
            return _real(ids)

        monkeypatch.setattr(album.catalog, name, wrapper)
    everyone = counted(monkeypatch, album.catalog, ("rejections", "list_people"))
    placed = place_faces(album, picture, follow=False)
    assert placed == {picture.faces[0].face_id: person}
    assert asked["face_refs"] <= 2 and asked["get_pictures"] <= 2
    assert not everyone  # nor the album's "not this person" answers, nor its people
