"""facealbum as Rekognition: a stock boto3 client against `facealbum rekognition serve`
(a real server process, real photos, the real model). Every raw response is checked
against botocore's own service model for Rekognition, so a field boto3 would drop or a
wrong type fails here."""

from __future__ import annotations

import json
import subprocess

import boto3
import httpx
import psutil
import pytest
from badfiles import png_bomb
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape
from conftest import PHOTOS, start_server

KEY, SECRET = "FATESTKEY0000000", "test-secret-access-key"
OBAMA = (PHOTOS / "obama" / "obama.jpg").read_bytes()
OBAMA2 = (PHOTOS / "obama" / "obama2.jpg").read_bytes()
BIDEN = (PHOTOS / "biden" / "biden.jpg").read_bytes()
TWO = (PHOTOS / "groups" / "two_people.jpg").read_bytes()


def check_shape(value, shape: Shape, where: str = "") -> None:
    """Does a raw JSON value fit botocore's output shape? Unknown members, missing
    required ones and wrong types all fail."""
    t = shape.type_name
    if t == "structure":
        assert isinstance(value, dict), where
        members = shape.members
        assert set(value) <= set(members), f"{where}: unknown {set(value) - set(members)}"
        for name in shape.required_members:
            assert name in value, f"{where}: {name} is required"
        for name, v in value.items():
            check_shape(v, members[name], f"{where}.{name}")
    elif t == "list":
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            check_shape(v, shape.member, f"{where}[{i}]")
    elif t == "string":
        assert isinstance(value, str), where
        if shape.enum:
            assert value in shape.enum, f"{where}: {value} not in {shape.enum}"
    elif t in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif t in ("float", "double") or t == "timestamp":
        assert isinstance(value, int | float), where
    elif t == "boolean":
        assert isinstance(value, bool), where
    else:  # pragma: no cover - no other type appears in these operations
        raise AssertionError(f"{where}: unexpected type {t}")


def start_endpoint(home, **env: str) -> tuple[subprocess.Popen, str]:
    """`facealbum rekognition serve` in a process of its own, on a free port."""
    keys = {
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": SECRET,
    }
    return start_server(home, keys | env, ("rekognition", "serve"), ready="")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    home = tmp_path_factory.mktemp("rekognition")
    proc, url = start_endpoint(home)
    yield url, home
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def client(endpoint):
    c = boto3.client(
        "rekognition",
        endpoint_url=endpoint[0],
        region_name="eu-west-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}),
    )
    checked: list[str] = []

    def validate(http_response, model, **_):
        body = json.loads(http_response.content or b"{}")
        if http_response.status_code == 200:
            check_shape(body, model.output_shape, model.name)
        else:
            assert set(body) == {"__type", "message"}, body
            declared = {e.name for e in model.error_shapes}  # the operation's own errors
            assert body["__type"] in declared or body["__type"] in {
                "UnrecognizedClientException",
                "InvalidSignatureException",
                "IncompleteSignatureException",
                "MissingAuthenticationTokenException",
            }
        checked.append(model.name)

    c.meta.events.register("after-call.rekognition", validate)
    c.checked = checked  # type: ignore[attr-defined]
    return c


def test_collections_faces_and_searches_through_boto3(client):
    c = client
    made = c.create_collection(CollectionId="family")
    assert made["StatusCode"] == 200 and made["CollectionArn"].endswith("collection/family")
    with pytest.raises(c.exceptions.ResourceAlreadyExistsException):
        c.create_collection(CollectionId="family")
    c.create_collection(CollectionId="other")
    first = c.list_collections(MaxResults=1)
    assert first["CollectionIds"] == ["family"] and "NextToken" in first
    rest = c.list_collections(MaxResults=1, NextToken=first["NextToken"])
    assert rest["CollectionIds"] == ["other"] and "NextToken" not in rest
    c.delete_collection(CollectionId="other")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.describe_collection(CollectionId="other")

    obama = c.index_faces(
        CollectionId="family", Image={"Bytes": OBAMA}, ExternalImageId="obama.jpg"
    )
    [record] = obama["FaceRecords"]
    assert record["Face"]["ExternalImageId"] == "obama.jpg"
    assert 0 < record["Face"]["BoundingBox"]["Width"] < 1
    assert 50 < record["FaceDetail"]["Quality"]["Sharpness"] <= 100  # a sharp press photo
    c.index_faces(CollectionId="family", Image={"Bytes": OBAMA2}, ExternalImageId="obama2.jpg")
    c.index_faces(CollectionId="family", Image={"Bytes": BIDEN}, ExternalImageId="biden.jpg")
    two = c.index_faces(CollectionId="family", Image={"Bytes": TWO}, ExternalImageId="two.jpg")
    assert len(two["FaceRecords"]) == 2
    capped = c.index_faces(CollectionId="family", Image={"Bytes": TWO}, MaxFaces=1)
    assert len(capped["FaceRecords"]) == 1
    assert capped["UnindexedFaces"][0]["Reasons"] == ["EXCEEDS_MAX_FACES"]
    assert c.describe_collection(CollectionId="family")["FaceCount"] == 6

    found = c.search_faces(CollectionId="family", FaceId=record["Face"]["FaceId"])
    names = [m["Face"].get("ExternalImageId") for m in found["FaceMatches"]]
    assert "obama2.jpg" in names and "two.jpg" in names and "biden.jpg" not in names
    assert record["Face"]["FaceId"] not in [m["Face"]["FaceId"] for m in found["FaceMatches"]]
    assert all(m["Similarity"] >= 80 for m in found["FaceMatches"])
    sims = [m["Similarity"] for m in found["FaceMatches"]]
    assert sims == sorted(sims, reverse=True)

    by_image = c.search_faces_by_image(CollectionId="family", Image={"Bytes": OBAMA}, MaxFaces=2)
    assert len(by_image["FaceMatches"]) == 2
    assert by_image["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama.jpg"
    assert by_image["FaceMatches"][0]["Similarity"] > 99

    assert len(c.detect_faces(Image={"Bytes": TWO})["FaceDetails"]) == 2
    compared = c.compare_faces(SourceImage={"Bytes": OBAMA}, TargetImage={"Bytes": TWO})
    assert len(compared["FaceMatches"]) == 1 and len(compared["UnmatchedFaces"]) == 1

    pages, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = c.list_faces(CollectionId="family", MaxResults=4, **kw)
        pages.append(page["Faces"])
        token = page.get("NextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [4, 2]
    doomed = [f["FaceId"] for f in pages[1]]
    deleted = c.delete_faces(CollectionId="family", FaceIds=doomed)
    assert sorted(deleted["DeletedFaces"]) == sorted(doomed)
    assert c.describe_collection(CollectionId="family")["FaceCount"] == 4
    again = c.search_faces(CollectionId="family", FaceId=record["Face"]["FaceId"])
    assert not {m["Face"]["FaceId"] for m in again["FaceMatches"]} & set(doomed)
    assert {
        "IndexFaces",
        "SearchFaces",
        "SearchFacesByImage",
        "CompareFaces",
        "DetectFaces",
        "ListFaces",
        "DeleteFaces",
        "ListCollections",
        "DescribeCollection",
        "CreateCollection",
        "DeleteCollection",
    } <= set(c.checked)


def test_images_from_the_blob_store_as_s3_objects(client, endpoint):
    stored = endpoint[1] / "blobs" / "originals" / "ab" / "obama.jpg"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(OBAMA)
    client.create_collection(CollectionId="s3")
    s3 = {"S3Object": {"Bucket": "originals", "Name": "ab/obama.jpg"}}
    assert len(client.index_faces(CollectionId="s3", Image=s3)["FaceRecords"]) == 1
    with pytest.raises(client.exceptions.InvalidS3ObjectException):
        client.detect_faces(Image={"S3Object": {"Bucket": "originals", "Name": "../catalog.db"}})


def test_bad_input_gets_aws_errors_and_changes_nothing(client):
    c = client
    c.create_collection(CollectionId="errors")
    cases = [
        (c.exceptions.InvalidImageFormatException, {"Bytes": b"not an image at all"}),
        (c.exceptions.InvalidImageFormatException, {"Bytes": OBAMA[: len(OBAMA) // 3]}),
        (c.exceptions.ImageTooLargeException, {"Bytes": b"\xff" * (5 * 1024 * 1024 + 1)}),
        (c.exceptions.InvalidS3ObjectException, {"S3Object": {"Bucket": "elsewhere", "Name": "y"}}),
        (c.exceptions.ImageTooLargeException, {"Bytes": png_bomb()}),  # 3.6 GP in a few kB
    ]
    for error, image in cases:
        with pytest.raises(error):
            c.index_faces(CollectionId="errors", Image=image)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.index_faces(CollectionId="nope", Image={"Bytes": OBAMA})
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.search_faces(CollectionId="errors", FaceId="11111111-1111-1111-1111-111111111111")
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.search_faces(CollectionId="errors", FaceId="not-a-face-id")
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.search_faces_by_image(
            CollectionId="errors", Image={"Bytes": (PHOTOS / "nofaces" / "dog.jpg").read_bytes()}
        )
    with pytest.raises(c.exceptions.InvalidPaginationTokenException):
        c.list_faces(CollectionId="errors", NextToken="bm90LWEtbnVtYmVy")
    assert c.describe_collection(CollectionId="errors")["FaceCount"] == 0


def test_only_requests_signed_with_the_servers_keys_are_accepted(endpoint):
    url, _ = endpoint

    def client(key: str, secret: str):
        return boto3.client(
            "rekognition",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    with pytest.raises(ClientError) as wrong_secret:
        client(KEY, "not the secret").list_collections()
    assert wrong_secret.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as wrong_key:
        client("SOMEONEELSE", SECRET).list_collections()
    assert wrong_key.value.response["Error"]["Code"] == "UnrecognizedClientException"
    unsigned = httpx.post(
        url,
        headers={
            "X-Amz-Target": "RekognitionService.ListCollections",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{}",
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"
    assert "CollectionIds" in client(KEY, SECRET).list_collections()


def test_the_album_server_mounts_the_endpoint(tmp_path):
    env = {
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": SECRET,
    }
    proc, base = start_server(tmp_path / "home", env)
    try:
        c = boto3.client(
            "rekognition",
            endpoint_url=f"{base}/rekognition",
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )
        c.create_collection(CollectionId="mounted")
        assert len(c.detect_faces(Image={"Bytes": TWO})["FaceDetails"]) == 2
        # the album's own collection is served too: its faces are a boto3 call away
        assert c.list_collections()["CollectionIds"] == ["facealbum", "mounted"]
        assert httpx.get(f"{base}/api/sets").status_code == 200  # the album is still there
    finally:
        proc.terminate()
        proc.wait(10)


def test_too_many_image_calls_at_once_are_throttled_and_sdks_retry(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    proc, url = start_endpoint(tmp_path, FACEALBUM_REKOGNITION_MAX_IN_FLIGHT="1")

    def client(attempts: int):
        return boto3.client(
            "rekognition",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=Config(retries={"mode": "standard", "max_attempts": attempts}),
        )

    def detect(c) -> str:
        try:
            return str(len(c.detect_faces(Image={"Bytes": TWO})["FaceDetails"]))
        except c.exceptions.ProvisionedThroughputExceededException:
            return "throttled"

    try:
        impatient = client(1)
        with ThreadPoolExecutor(6) as pool:
            first = list(pool.map(detect, [impatient] * 6))
        assert "throttled" in first and "2" in first
        patient = client(20)  # botocore backs off and retries throttling by itself
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(detect, [patient] * 6)) == ["2"] * 6
        assert patient.list_collections()["CollectionIds"] == []  # cheap calls pass
        # face work ran in worker processes, not under the server's one dlib lock
        assert psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.terminate()
        proc.wait(10)


def test_users_through_boto3(client):
    """Rekognition's users (the album's persons): create, associate faces (with the
    match check), search by face, by user and by image, disassociate, delete."""
    c = client
    c.create_collection(CollectionId="users")

    def index(data: bytes, name: str) -> list[str]:
        out = c.index_faces(CollectionId="users", Image={"Bytes": data}, ExternalImageId=name)
        return [r["Face"]["FaceId"] for r in out["FaceRecords"]]

    [o1], [o2], [b1] = index(OBAMA, "o1"), index(OBAMA2, "o2"), index(BIDEN, "b1")
    [b2] = index((PHOTOS / "biden" / "biden2.jpg").read_bytes(), "b2")
    c.create_user(CollectionId="users", UserId="person:obama")
    c.create_user(CollectionId="users", UserId="person:biden")
    with pytest.raises(c.exceptions.ConflictException):
        c.create_user(CollectionId="users", UserId="person:obama")
    token = "retry-of-one-call"
    c.create_user(CollectionId="users", UserId="person:x", ClientRequestToken=token)
    c.create_user(CollectionId="users", UserId="person:x", ClientRequestToken=token)  # a retry
    with pytest.raises(c.exceptions.IdempotentParameterMismatchException):
        c.create_user(CollectionId="users", UserId="person:y", ClientRequestToken=token)
    c.delete_user(CollectionId="users", UserId="person:x")
    listed = c.list_users(CollectionId="users")["Users"]
    assert listed == [
        {"UserId": "person:biden", "UserStatus": "CREATED"},
        {"UserId": "person:obama", "UserStatus": "CREATED"},
    ]

    # Biden's face is no match for a user that is Obama: refused, with its confidence
    made = c.associate_faces(CollectionId="users", UserId="person:obama", FaceIds=[o1, o2, b1])
    assert [f["FaceId"] for f in made["AssociatedFaces"]] == [o1, o2]
    [refused] = made["UnsuccessfulFaceAssociations"]
    assert refused["FaceId"] == b1 and refused["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert refused["Confidence"] < 75 and made["UserStatus"] == "ACTIVE"
    c.associate_faces(CollectionId="users", UserId="person:biden", FaceIds=[b1, b2])
    taken = c.associate_faces(CollectionId="users", UserId="person:biden", FaceIds=[o1])
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    assert taken["UnsuccessfulFaceAssociations"][0]["UserId"] == "person:obama"
    missing = "11111111-1111-1111-1111-111111111111"
    gone = c.associate_faces(CollectionId="users", UserId="person:biden", FaceIds=[missing])
    assert gone["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.associate_faces(CollectionId="users", UserId="person:nobody", FaceIds=[o1])
    assert c.describe_collection(CollectionId="users")["UserCount"] == 2
    mine = c.list_faces(CollectionId="users", UserId="person:obama")["Faces"]
    assert {f["FaceId"] for f in mine} == {o1, o2}
    assert {f["UserId"] for f in mine} == {"person:obama"}

    [hit] = c.search_users(CollectionId="users", FaceId=o1)["UserMatches"]
    assert hit["User"] == {"UserId": "person:obama", "UserStatus": "ACTIVE"}
    assert hit["Similarity"] > 80
    assert c.search_users(CollectionId="users", UserId="person:obama")["UserMatches"] == []
    loose = c.search_users(CollectionId="users", UserId="person:obama", UserMatchThreshold=0)
    assert [m["User"]["UserId"] for m in loose["UserMatches"]] == ["person:biden"]
    by_image = c.search_users_by_image(CollectionId="users", Image={"Bytes": TWO})
    assert len(by_image["UnsearchedFaces"]) == 1
    assert by_image["UnsearchedFaces"][0]["Reasons"] == ["FACE_NOT_LARGEST"]
    assert "SearchedFace" in by_image
    [who] = c.search_users_by_image(CollectionId="users", Image={"Bytes": BIDEN})["UserMatches"]
    assert who["User"]["UserId"] == "person:biden"

    out = c.disassociate_faces(CollectionId="users", UserId="person:obama", FaceIds=[o2, b1])
    assert [f["FaceId"] for f in out["DisassociatedFaces"]] == [o2]
    assert out["UnsuccessfulFaceDisassociations"][0]["UserId"] == "person:biden"
    c.delete_user(CollectionId="users", UserId="person:biden")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.delete_user(CollectionId="users", UserId="person:biden")
    faces = {f["FaceId"]: f for f in c.list_faces(CollectionId="users")["Faces"]}
    assert len(faces) == 4 and "UserId" not in faces[b1]  # the faces stay, unassociated
    assert faces[o1]["UserId"] == "person:obama" and "UserId" not in faces[o2]
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.create_user(CollectionId="users", UserId="no spaces")
    assert {
        "CreateUser",
        "DeleteUser",
        "ListUsers",
        "AssociateFaces",
        "DisassociateFaces",
        "SearchUsers",
        "SearchUsersByImage",
    } <= set(c.checked)


def test_a_killed_servers_face_workers_exit_with_it(tmp_path):
    """The endpoint analyses images in worker processes. If the server is killed (or
    runs out of memory), they must not stay behind, each holding the face model."""
    import os
    import signal
    import time

    proc, url = start_endpoint(tmp_path / "home")
    try:
        c = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                         aws_access_key_id=KEY, aws_secret_access_key=SECRET)  # fmt: skip
        assert len(c.detect_faces(Image={"Bytes": TWO})["FaceDetails"]) == 2
        server = psutil.Process(proc.pid)
        workers = [
            p for p in server.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())
        ]
        assert workers, "the image was analysed in a worker process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [w for w in alive if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
