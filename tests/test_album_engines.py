"""The album on either face engine: dlib in-process, or Rekognition's API through boto3
(here a real `facealbum rekognition serve` process). Search and the JSON API run on
both in test_search.py and test_api.py; this file holds what is about the engines."""

from __future__ import annotations

import pytest
from conftest import PHOTOS, cli, engine_settings

from facealbum.importer import import_folder, reindex
from facealbum.wiring import open_album

OBAMA = (PHOTOS / "obama" / "obama.jpg").read_bytes()
TWO = (PHOTOS / "groups" / "two_people.jpg").read_bytes()


def held(album) -> set[str]:
    return {r.face_id for r in album.collection.records()}


def test_rekognition_through_boto3_gives_the_same_album_as_dlib(library, tmp_path, request):
    """The same photos imported on both engines: the same faces in the same places,
    and every face's search ranks the same pictures with the same similarities."""
    settings, _ = engine_settings("rekognition", tmp_path / "home", request)
    remote = open_album(settings)
    report = import_folder(remote, PHOTOS, "fixtures", workers=2)
    assert report.count("failed") == 0, report.failures
    local_pics = {p.name: p for p in library.get_set("fixtures")[1]}
    remote_pics = {p.name: p for p in remote.get_set("fixtures")[1]}
    assert set(local_pics) == set(remote_pics)
    compared = 0
    for name, here in local_pics.items():
        there = remote_pics[name]
        assert [f.box for f in there.faces] == [f.box for f in here.faces], name
        for a, b in zip(here.faces, there.faces, strict=True):
            ours = library.search(a.face_id, limit=100).matches
            theirs = remote.search(b.face_id, limit=100).matches
            assert [m.picture.name for m in ours] == [m.picture.name for m in theirs], name
            assert [m.similarity for m in ours] == pytest.approx(
                [m.similarity for m in theirs], abs=0.01
            )
            compared += 1
    assert compared >= 15
    info = remote.collection.faces.describe_collection(settings.rekognition_collection)
    assert info.face_count == remote.stats().faces


def test_uploads_deletes_and_reindex_keep_the_collection_in_step(engine_album):
    album = engine_album
    uploads = [album.submit_upload("Trip", n, d) for n, d in (("o.jpg", OBAMA), ("two.jpg", TWO))]
    again = album.submit_upload("Trip", "copy.jpg", OBAMA)
    assert album.queue.run_pending() == 3
    done = {u.upload_id: u for u in album.uploads([u.upload_id for u in [*uploads, again]])}
    assert [done[u.upload_id].status for u in uploads] == ["added", "added"]
    assert done[again.upload_id].status == "duplicate"
    pictures = album.get_set("Trip")[1]
    listed = {f.face_id for p in pictures for f in p.faces}
    assert len(listed) == 3 and held(album) == listed  # the duplicate's faces were forgotten

    two = next(p for p in pictures if p.name == "two.jpg")
    result = album.search(next(p for p in pictures if p.name == "o.jpg").faces[0].face_id)
    assert [m.picture.name for m in result.matches] == ["o.jpg", "two.jpg"]

    report = reindex(album, everything=True, workers=1)
    assert report.done == 2 and report.faces == 3
    renewed = {f.face_id for p in album.get_set("Trip")[1] for f in p.faces}
    assert renewed.isdisjoint(listed) and held(album) == renewed  # old faces forgotten

    album.delete_picture(two.image_id)
    assert held(album) == {f.face_id for p in album.get_set("Trip")[1] for f in p.faces}
    album.delete_set("Trip")
    assert held(album) == set()


def test_cli_import_and_collection_commands_on_rekognition(tmp_path, request):
    """`facealbum import` and the maintenance commands, configured only by environment
    (FACEALBUM_FACE_ENGINE plus the standard AWS variables the endpoint fixture set)."""
    home = tmp_path / "home"
    settings, env = engine_settings("rekognition", home, request)
    collection = settings.rekognition_collection
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama/obama.jpg", "obama/obama2.jpg", "groups/two_people.jpg"):
        (folder / name.replace("/", "-")).write_bytes((PHOTOS / name).read_bytes())
    imported = cli("import", str(folder), "--set", "Trip", home=home, env_extra=env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    counted = cli("faces", "count", home=home, env_extra=env)
    assert counted.returncode == 0 and f"{collection}: 4 faces" in counted.stdout, counted.stdout
    listed = cli("faces", "list", "--limit", "10", home=home, env_extra=env)
    album = open_album(settings)
    for picture in album.get_set("Trip")[1]:
        for face in picture.faces:
            assert face.face_id in listed.stdout
    assert cli("check", home=home, env_extra=env).returncode == 0
