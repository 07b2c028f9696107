"""`facealbum check [--repair]` on an album damaged on purpose, through the real CLI."""

from __future__ import annotations

import shutil

from conftest import PHOTOS, cli

from facealbum.settings import Settings
from facealbum.wiring import open_album


def test_check_finds_each_kind_of_damage_and_repairs_what_it_can(library_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    assert cli("check", home=home).returncode == 0  # a healthy album
    album = open_album(Settings(home=home))
    pictures = {p.name: p for p in album.get_set("fixtures")[1]}
    blobs = home / "blobs"
    (blobs / "thumbnails" / pictures["obama/obama.jpg"].thumb_key).unlink()
    damaged = pictures["biden/biden.jpg"]
    path = blobs / "originals" / damaged.original_key
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)
    stray = blobs / "originals" / "ab" / ("ab" + "0" * 62 + ".jpg")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes((PHOTOS / "nofaces" / "dog.jpg").read_bytes())
    (blobs / "incoming" / "no-such-upload").write_bytes(b"left behind")

    report = cli("check", home=home)
    assert report.returncode == 1
    for expected in ("missing-rendition", "damaged-original", "orphan-blob", "biden/biden.jpg"):
        assert expected in report.stdout, report.stdout
    assert stray.exists()  # a check alone changes nothing

    repaired = cli("check", "--repair", home=home)
    assert repaired.returncode == 1  # the damaged original cannot be repaired here
    assert (blobs / "thumbnails" / pictures["obama/obama.jpg"].thumb_key).exists()
    assert not stray.exists()
    assert (home / "lost+found" / "originals" / stray.relative_to(blobs / "originals")).exists()
    assert (home / "lost+found" / "incoming" / "no-such-upload").read_bytes() == b"left behind"

    again = cli("check", home=home)
    assert "damaged-original" in again.stdout
    assert "missing-rendition" not in again.stdout and "orphan-blob" not in again.stdout


def test_check_keeps_the_collection_in_step_with_the_pictures(library_home, tmp_path):
    """Faces the pictures list but the collection lost are indexed again; faces no
    picture lists (a crash between indexing and storing) are deleted."""
    from facealbum.check import check_album
    from facealbum.ingest import analyze, index_faces

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home, orphan_face_grace=0))
    pictures = {p.name: p for p in album.get_set("fixtures")[1]}
    lost = pictures["obama/obama2.jpg"]
    query = pictures["obama/obama.jpg"].faces[0].face_id
    assert lost.image_id in {m.picture.image_id for m in album.search(query).matches}
    album.collection.forget([f.face_id for f in lost.faces])  # its user's too
    assert lost.image_id not in {m.picture.image_id for m in album.search(query).matches}
    crashed = analyze((PHOTOS / "groups" / "two_people.jpg").read_bytes(), album.settings)
    strays = [f.face_id for f in index_faces(album.collection, crashed, "never-stored").faces]
    assert len(strays) == 2

    found = {p.kind: p for p in check_album(album)}
    assert set(found) == {"missing-faces", "orphan-faces"}
    assert found["missing-faces"].where == "fixtures/obama/obama2.jpg"
    assert "2 faces" in found["orphan-faces"].detail
    assert not any(p.repaired for p in found.values())

    repaired = check_album(album, repair=True)
    assert all(p.repaired for p in repaired) and len(repaired) == 2
    assert check_album(album) == []
    held = {r.face_id for r in album.collection.records()}
    assert not held & set(strays)
    now = album.picture(lost.image_id)
    assert now.faces and all(f.face_id in held for f in now.faces)
    assert lost.image_id in {m.picture.image_id for m in album.search(query).matches}


def test_check_leaves_alone_faces_of_a_picture_being_stored(album, tmp_path):
    """A photo's faces are indexed a moment before its row is written: a check in that
    moment must not call them orphans (it waits out ``orphan_face_grace``)."""
    import threading

    from facealbum.check import check_album
    from facealbum.ingest import analyze, index_faces, new_image_id, store

    data = (PHOTOS / "obama" / "obama.jpg").read_bytes()
    album.settings.orphan_face_grace = 1.0
    analysis = index_faces(album.collection, analyze(data, album.settings), new_image_id())
    args = (album.blobs, album.catalog, album.collection, "Trip", "o.jpg", data, analysis)
    later = threading.Timer(0.3, lambda: store(*args, album.settings.engine_tag))
    later.start()
    assert check_album(album) == []
    later.join()
    [picture] = album.get_set("Trip")[1]
    assert [f.face_id for f in picture.faces] == [r.face_id for r in album.collection.records()]


def test_check_finds_faces_in_a_person_that_is_gone_and_places_them_again(library_home, tmp_path):
    """A face left in a deleted person (as before placements were conditional on the
    person existing): reported, and with --repair placed again with its look-alikes."""
    import time

    from sqlalchemy import delete

    from facealbum.adapters.catalog_schema import persons
    from facealbum.domain import Person

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    pictures = {p.name: p for p in album.get_set("fixtures")[1]}
    face = pictures["obama/obama2.jpg"].faces[0]
    obama = album.catalog.get_face(pictures["obama/obama.jpg"].faces[0].face_id).person_id
    album.catalog.add_person(Person("ghost", created_at=time.time()))
    assert album.catalog.assign_faces({face.face_id: "ghost"}, by_owner=True) == 1
    with album.catalog.engine.begin() as conn:  # the person goes, its face does not
        conn.execute(delete(persons).where(persons.c.person_id == "ghost"))

    from facealbum.check import check_album

    [found] = check_album(album)
    assert (found.kind, found.where) == ("dangling-faces", "fixtures/obama/obama2.jpg")
    assert "ghost" in found.detail and not found.repaired
    assert album.catalog.get_face(face.face_id).person_id == "ghost"  # a check changes nothing
    repaired = cli("check", "--repair", home=home)
    assert repaired.returncode == 0 and "dangling-faces" in repaired.stdout, repaired.stdout
    assert album.catalog.get_face(face.face_id).person_id == obama
    assert check_album(album) == []


def test_check_recounts_a_person_whose_counts_a_killed_process_left_behind(library_home, tmp_path):
    """A person's counts are kept on its row and recounted after each change of its
    faces commits; a process killed in between leaves them wrong. `check` says so, and
    `--repair` counts again (issue 17: the people page no longer counts per request)."""
    from sqlalchemy import update

    from facealbum.adapters.catalog_schema import persons
    from facealbum.check import check_album

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    face = next(p for p in album.get_set("fixtures")[1] if p.name == "obama/obama.jpg").faces[0]
    person = album.catalog.get_person(album.catalog.get_face(face.face_id).person_id)
    with album.catalog.engine.begin() as conn:  # as if the recount never ran
        conn.execute(
            update(persons)
            .where(persons.c.person_id == person.person_id)
            .values(face_count=person.face_count + 5)
        )
    [found] = check_album(album)
    assert found.kind == "person-counts" and not found.repaired
    [fixed] = check_album(album, repair=True)
    assert fixed.kind == "person-counts" and fixed.repaired
    again = album.catalog.get_person(person.person_id)
    assert (again.face_count, again.picture_count) == (person.face_count, person.picture_count)
    assert check_album(album) == []
