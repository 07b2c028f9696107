"""The faces port's contract, run on each implementation: in-process (dlib + SQLite)
and boto3 against `facealbum rekognition serve` (a real server process). The same
calls must give the same answers."""

from __future__ import annotations

import uuid

import boto3
import pytest
from conftest import PHOTOS
from test_rekognition import KEY, OBAMA, OBAMA2, SECRET, TWO, endpoint  # noqa: F401

from facealbum.adapters.catalog_sql import SqlCatalog
from facealbum.adapters.faces_rekognition import RekognitionFaces
from facealbum.faces import (
    CollectionExists,
    CollectionNotFound,
    InvalidImage,
    InvalidParameter,
    InvalidToken,
)
from facealbum.settings import Settings
from facealbum.wiring import make_faces

BIDEN = (PHOTOS / "biden" / "biden2.jpg").read_bytes()
DOG = (PHOTOS / "nofaces" / "dog.jpg").read_bytes()


@pytest.fixture(params=["local", "local-postgresql", "rekognition-over-http"])
def faces(request, tmp_path):
    if request.param.startswith("local"):
        settings = Settings(home=tmp_path / "home")
        url = settings.catalog_url
        if request.param == "local-postgresql":
            url = request.getfixturevalue("pg_cluster").new_database()
        return make_faces(settings, SqlCatalog(url).engine)
    url, _ = request.getfixturevalue("endpoint")
    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    return RekognitionFaces(client)


@pytest.fixture
def collection(faces):
    name = f"c-{uuid.uuid4().hex[:8]}"
    faces.create_collection(name)
    return name


def test_index_search_and_delete(faces, collection):
    [(obama, _)] = faces.index_faces(collection, OBAMA, "obama").records
    faces.index_faces(collection, OBAMA2, "obama2")
    faces.index_faces(collection, BIDEN, "biden")
    two = faces.index_faces(collection, TWO, "two")
    assert len(two.records) == 2 and not two.unindexed
    assert faces.describe_collection(collection).face_count == 5

    found = faces.search_faces(collection, obama.face_id, 80, 10)
    assert {m.face.external_image_id for m in found} == {"obama2", "two"}
    assert [m.similarity for m in found] == sorted((m.similarity for m in found), reverse=True)
    by_image = faces.search_faces_by_image(collection, OBAMA2, 80, 1)
    assert [m.face.external_image_id for m in by_image.matches] == ["obama2"]
    assert 0 < by_image.searched.box.width < 1

    page, token = faces.list_faces(collection, 3, None)
    rest, end = faces.list_faces(collection, 3, token)
    assert len(page) == 3 and len(rest) == 2 and end is None
    assert faces.delete_faces(collection, [obama.face_id]) == [obama.face_id]
    assert faces.describe_collection(collection).face_count == 4
    assert obama.face_id not in {
        m.face.face_id for m in faces.search_faces_by_image(collection, OBAMA, 80, 10).matches
    }
    ids, _ = faces.list_collections(1000, None)
    assert collection in ids
    faces.delete_collection(collection)
    with pytest.raises(CollectionNotFound):
        faces.describe_collection(collection)


def test_detect_and_compare(faces):
    assert len(faces.detect_faces(TWO)) == 2
    assert faces.detect_faces(DOG) == []
    compared = faces.compare_faces(OBAMA, TWO, 80)
    assert len(compared.matches) == 1 and len(compared.unmatched) == 1
    assert compared.matches[0][0] >= 80


def test_errors(faces, collection):
    with pytest.raises(CollectionExists):
        faces.create_collection(collection)
    with pytest.raises(CollectionNotFound):
        faces.index_faces("no-such-collection", OBAMA)
    with pytest.raises(InvalidImage):
        faces.index_faces(collection, b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(InvalidParameter):
        faces.search_faces(collection, str(uuid.uuid4()), 80, 10)
    with pytest.raises(InvalidParameter):
        faces.search_faces_by_image(collection, DOG, 80, 10)
    with pytest.raises(InvalidToken):
        faces.list_faces(collection, 10, "bm90LWEtbnVtYmVy")
    assert faces.describe_collection(collection).face_count == 0


@pytest.mark.parametrize("backend", ["local", "rekognition"])
def test_maintenance_commands_on_either_backend(backend, tmp_path, request):
    import os
    import subprocess
    import sys

    env = os.environ | {"FACEALBUM_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    if backend == "rekognition":
        url, _ = request.getfixturevalue("endpoint")
        env |= {
            "FACEALBUM_FACE_ENGINE": "rekognition",
            "AWS_ENDPOINT_URL_REKOGNITION": url,  # the standard AWS configuration
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": "eu-west-1",
        }
    name = f"cli-{uuid.uuid4().hex[:6]}"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "facealbum", "faces", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert run("create", name).returncode == 0
    assert run("create", name).returncode == 2
    assert run("count", name).stdout.strip() == f"{name}: 0 faces"
    listed = run("collections")
    assert name in listed.stdout
    assert run("list", name).returncode == 0
    missing = run("count", "no-such-collection")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert run("delete", name, "--yes").returncode == 0
    assert name not in run("collections").stdout


def test_indexing_searching_and_deleting_at_once(faces, collection):
    """Four threads index while others search and delete: no error, and the count the
    collection reports is the faces it holds."""
    import threading

    errors: list[BaseException] = []
    indexed: list[str] = []

    def index(k: int) -> None:
        try:
            for i in range(3):
                done = faces.index_faces(collection, [OBAMA, OBAMA2, TWO][(k + i) % 3], f"t{k}-{i}")
                indexed.extend(r.face_id for r, _ in done.records)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def search_and_delete() -> None:
        try:
            for _ in range(6):
                if indexed:
                    found = faces.search_faces(collection, indexed[0], 80, 50)
                    assert all(m.similarity >= 80 for m in found)
                    if len(indexed) > 2:
                        faces.delete_faces(collection, [indexed[-1]])
                faces.search_faces_by_image(collection, OBAMA, 80, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=index, args=(k,)) for k in range(4)]
    threads += [threading.Thread(target=search_and_delete) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    held, token = [], None
    while True:
        page, token = faces.list_faces(collection, 1000, token)
        held += page
        if not token:
            break
    assert faces.describe_collection(collection).face_count == len(held) > 0
    # nothing appears that was not indexed, nothing deleted comes back
    assert {f.face_id for f in held} <= set(indexed)


def test_users_on_every_backend(faces, collection):
    """Persons as Rekognition users, the same on each backend: a face belongs to one
    user even when two threads claim it at once, and a user's faces search as one."""
    import threading

    [(o1, _)] = faces.index_faces(collection, OBAMA, "o1").records
    [(o2, _)] = faces.index_faces(collection, OBAMA2, "o2").records
    [(b, _)] = faces.index_faces(collection, BIDEN, "b").records
    for user in ("a", "b"):
        faces.create_user(collection, user)
    results: dict[str, list[str]] = {}

    def claim(user: str) -> None:
        results[user] = faces.associate_faces(collection, user, [o1.face_id], 0).done

    threads = [threading.Thread(target=claim, args=(u,)) for u in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(v) for v in results.values()) == [0, 1]  # one winner
    winner = "a" if results["a"] else "b"
    owned, _ = faces.list_faces(collection, 100, None, user_id=winner)
    assert [f.face_id for f in owned] == [o1.face_id] and owned[0].user_id == winner

    added = faces.associate_faces(collection, winner, [o2.face_id, b.face_id], 75)
    assert added.done == [o2.face_id] and added.status == "ACTIVE"
    assert added.failed[0].reasons == ["LOW_MATCH_CONFIDENCE"]
    [match] = faces.search_users(collection, 80, 10, face_id=o2.face_id)
    assert match.user.user_id == winner
    assert faces.search_users(collection, 80, 10, face_id=b.face_id) == []
    found = faces.search_users_by_image(collection, OBAMA, 80, 10)
    assert [m.user.user_id for m in found.matches] == [winner]
    assert faces.describe_collection(collection).user_count == 2
    users, token = faces.list_users(collection, 1, None)
    more, end = faces.list_users(collection, 1, token)
    assert [u.user_id for u in users + more] == ["a", "b"] and end is None
    # as on AWS, a face associated with a user is not deleted until it is disassociated
    kept = faces.delete_faces_detailed(collection, [o2.face_id, b.face_id])
    assert kept.deleted == [b.face_id]
    [refused] = kept.unsuccessful
    assert refused.face_id == o2.face_id and refused.user_id == winner
    assert refused.reasons == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    assert faces.delete_faces(collection, [o2.face_id]) == []
    owned, _ = faces.list_faces(collection, 100, None, user_id=winner)
    assert [f.face_id for f in owned] == [o1.face_id, o2.face_id]
    faces.disassociate_faces(collection, winner, [o2.face_id])
    assert faces.delete_faces(collection, [o2.face_id]) == [o2.face_id]
    owned, _ = faces.list_faces(collection, 100, None, user_id=winner)
    assert [f.face_id for f in owned] == [o1.face_id]
    faces.delete_collection(collection)
    faces.create_collection(collection)  # users went with it
    assert faces.list_users(collection, 10, None) == ([], None)


def test_deleting_a_picture_of_a_person_forgets_its_face(library_home, tmp_path):
    """The album's own use of DeleteFaces: a picture's face is its person's user's
    (people are mirrored as users), which DeleteFaces now refuses, as AWS does; the
    album disassociates it first, so deleting the picture still forgets the face."""
    import shutil

    from facealbum.people.grouping import recluster
    from facealbum.wiring import open_album

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    recluster(album)
    picture = next(p for p in album.get_set("fixtures")[1] if p.name == "obama/obama2.jpg")
    face = picture.faces[0]
    faces, collection = album.collection.faces, album.collection.collection_id
    mine, _ = faces.list_faces(collection, 4096, None, user_id=face.person_id)
    assert face.face_id in {f.face_id for f in mine}
    album.delete_picture(picture.image_id)
    assert face.face_id not in {r.face_id for r in album.collection.records()}
    mine, _ = faces.list_faces(collection, 4096, None, user_id=face.person_id)
    assert mine and face.face_id not in {f.face_id for f in mine}  # the person's others stay
