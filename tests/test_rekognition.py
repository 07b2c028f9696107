"""facealbum as Rekognition: a stock boto3 client against `facealbum rekognition serve`
(a real server process, real photos, the real model). Every raw response is checked
against botocore's own service model for Rekognition, so a field boto3 would drop or a
wrong type fails here."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
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
        if "pattern" in shape.metadata:
            assert re.fullmatch(shape.metadata["pattern"], value), f"{where}: {value}"
    elif t in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif t in ("float", "double") or t == "timestamp":
        assert isinstance(value, int | float), where
    elif t == "boolean":
        assert isinstance(value, bool), where
    else:  # pragma: no cover - no other type appears in these operations
        raise AssertionError(f"{where}: unexpected type {t}")


SERVERS: dict[str, int] = {}  # url -> the server's process id


def start_endpoint(home, **env: str) -> tuple[subprocess.Popen, str]:
    """`facealbum rekognition serve` in a process of its own, on a free port."""
    keys = {
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": SECRET,
        "FACEALBUM_REKOGNITION_REGIONS": "us-east-1,eu-west-1",
    }
    return start_server(home, keys | env, ("rekognition", "serve"), ready="")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    home = tmp_path_factory.mktemp("rekognition")
    proc, url = start_endpoint(home)
    SERVERS[url] = proc.pid
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
                "ValidationException",  # AWS's common errors, for any operation
                "SerializationException",
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
        (c.exceptions.ImageTooLargeException, {"Bytes": b"\xff" * (12 * 1024 * 1024)}),  # unread
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
    with pytest.raises(ClientError) as malformed:  # the model's pattern, as AWS checks it
        c.search_faces(CollectionId="errors", FaceId="not-a-face-id")
    assert malformed.value.response["Error"]["Code"] == "ValidationException"
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
        # for outside clients here too: AWS's formats only, no body read unsigned
        with pytest.raises(c.exceptions.InvalidImageFormatException):
            c.detect_faces(Image={"Bytes": smaller(OBAMA, 0.5, "WEBP")})
        server, port = psutil.Process(proc.pid), int(base.rsplit(":", 1)[1])
        before = server.memory_info().rss
        headers = {"X-Amz-Target": "RekognitionService.DetectFaces"}
        answer, _, peak = _send("127.0.0.1", port, server, headers, 2**28, False, "/rekognition")
        assert answer.startswith("HTTP/1.1 403") and peak - before < 50 * 2**20
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_burst_of_image_calls_from_default_clients_completes(tmp_path):
    """Item 21: 32 DetectFaces at once from a boto3 client with its default retries
    (standard mode in botocore 1.44: 3 attempts, about 1.5 s of backoff in all) against
    an endpoint that runs 2 at a time: calls wait for a turn, beyond the wait they are
    throttled with an error boto3 retries, and none is lost (with 8 at a time, 32
    lost 22 before)."""
    from concurrent.futures import ThreadPoolExecutor

    proc, url = start_endpoint(tmp_path, FACEALBUM_REKOGNITION_MAX_IN_FLIGHT="2")
    small = smaller(OBAMA, 0.25)  # 227x284
    c = boto3.client("rekognition", endpoint_url=url, region_name="us-east-1",
                     aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                     config=Config(max_pool_connections=32))  # fmt: skip
    try:
        c.detect_faces(Image={"Bytes": small})  # the worker processes are up
        with ThreadPoolExecutor(32) as pool:
            found = list(pool.map(lambda _: len(c.detect_faces(Image={"Bytes": small})
                                                ["FaceDetails"]), range(32)))  # fmt: skip
        assert found == [1] * 32
        assert c.list_collections()["CollectionIds"] == []  # cheap calls pass
        # face work ran in worker processes, not under the server's one dlib lock
        assert psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.terminate()
        proc.wait(10)


def test_image_bodies_held_at_once_are_bounded(tmp_path):
    """Each image request is capped, but 48 signed 4.9 MB calls at once were all read
    and held while they waited for a turn (+740 MB). An image request now takes one of
    2 x max_in_flight places before its body is read: with 1 in flight, 24 calls of a
    5 MB PNG at once all complete (boto3 retries the throttled) and the server grows
    by a few bodies' worth, not 24."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from PIL import Image

    proc, url = start_endpoint(tmp_path, FACEALBUM_REKOGNITION_MAX_IN_FLIGHT="1")
    noise = np.random.default_rng(7).integers(0, 256, (1250, 1300, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG", compress_level=0)
    big = out.getvalue()
    assert 4.5 * 2**20 < len(big) < 5 * 2**20
    retries = Config(max_pool_connections=24, retries={"mode": "standard", "max_attempts": 8})
    c = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=retries,
    )
    server = psutil.Process(proc.pid)
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], server.memory_info().rss)

    try:
        c.detect_faces(Image={"Bytes": big})  # the worker processes are up
        before = server.memory_info().rss
        watcher = threading.Thread(target=watch)
        watcher.start()
        with ThreadPoolExecutor(24) as pool:
            found = list(pool.map(lambda _: c.detect_faces(Image={"Bytes": big}), range(24)))
        done.set()
        watcher.join()
        assert len(found) == 24
        assert peak[0] - before < 150 * 2**20, (peak[0] - before) / 2**20
    finally:
        done.set()
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
    with pytest.raises(ClientError) as spaces:
        c.create_user(CollectionId="users", UserId="no spaces")
    assert spaces.value.response["Error"]["Code"] == "ValidationException"
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


# -- what a request must be before its body is read, and what its signature must cover --


def signed_request(
    url: str,
    target: str,
    body: bytes,
    *,
    service: str = "rekognition",
    region: str = "us-east-1",
    headers: dict[str, str] | None = None,
    unsigned: dict[str, str] | None = None,
    at=None,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a request signed by botocore's signer with the test keys:
    ``headers`` are signed with the rest, ``unsigned`` added after signing; ``at``
    (a datetime) is the signing time. With an empty ``target``, neither X-Amz-Target
    nor Content-Type is signed."""
    from unittest import mock

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    given = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    given = (given if target else {}) | (headers or {})
    request = AWSRequest("POST", url, data=body, headers=given)
    signer = SigV4Auth(Credentials(KEY, SECRET), service, region)
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(request)
    return body, dict(request.headers.items()) | (unsigned or {})


def post(url: str, request: tuple[bytes, dict[str, str]]) -> httpx.Response:
    body, headers = request
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_a_large_unsigned_body_is_refused_before_it_is_read(endpoint):
    """Item 1: no Authorization, or a body larger than its operation can carry: the
    answer comes from the headers (or, chunked, from the first bytes past the cap),
    and the server's memory does not grow with the body (it grew by all of it)."""
    from urllib.parse import urlsplit

    url, _ = endpoint
    where = urlsplit(url)
    server = psutil.Process(SERVERS[url])
    huge = 256 * 1024 * 1024
    detect = json.dumps({"Image": {"Bytes": ""}}).encode()
    _, signed = signed_request(url, "RekognitionService.DetectFaces", detect)
    signed = {k: v for k, v in signed.items() if k.lower() != "content-length"}
    _, listing = signed_request(url, "RekognitionService.ListCollections", b"{}")
    listing = {k: v for k, v in listing.items() if k.lower() != "content-length"}
    cases = [  # (headers, chunked, status, error)
        ({"X-Amz-Target": "RekognitionService.DetectFaces"}, False, 403, "MissingAuth"),
        ({"X-Amz-Target": "RekognitionService.DetectFaces"}, True, 403, "MissingAuth"),
        ({"Authorization": "AWS4-HMAC-SHA256 nonsense"}, False, 400, "IncompleteSignature"),
        (signed, False, 400, "ImageTooLargeException"),  # Content-Length says it all
        (signed, True, 400, "ImageTooLargeException"),  # counted as it arrives
        (listing, False, 413, "RequestEntityTooLargeException"),  # no image: 256 KB
    ]
    for headers, chunked, status, error in cases:
        before = server.memory_info().rss
        answer, sent, peak = _send(where.hostname, where.port, server, headers, huge, chunked)
        assert answer.startswith(f"HTTP/1.1 {status}"), answer
        assert error in answer
        assert peak - before < 50 * 1024 * 1024, (headers, chunked, peak - before)
        assert sent < huge  # the server stopped taking it
    assert "CollectionIds" in post(url, signed_request(url, "RekognitionService.ListCollections",
                                                       b"{}")).json()  # fmt: skip


def _send(
    host: str, port: int, server, headers: dict, total: int, chunked: bool, path: str = "/"
) -> tuple[str, int, int]:
    """POST ``total`` body bytes (declared, or chunked) from a thread while the
    answer is awaited; (answer, bytes the server took before closing, the server's
    peak RSS meanwhile)."""
    import socket
    import threading

    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent, peak, done = [0], [server.memory_info().rss], threading.Event()

    def pump() -> None:
        block = b"\0" * (1 << 20)
        frame = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        try:
            while sent[0] < total:
                s.sendall(frame)
                sent[0] += len(block)
        except OSError:  # the server answered and closed: the rest is never read
            pass
        done.set()

    def watch() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], server.memory_info().rss)

    threads = [threading.Thread(target=pump), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    try:
        answer = s.recv(65536).decode("latin-1")
    except OSError:
        answer = ""
    done.wait(60)
    s.close()
    done.set()
    for t in threads:
        t.join(60)
    peak[0] = max(peak[0], server.memory_info().rss)
    return answer, sent[0], peak[0]


def test_a_signature_covers_the_body_the_operation_and_the_scope(endpoint):
    """Item 3, each bypass reproduced by hand: a signed X-Amz-Content-SHA256 with
    another body, UNSIGNED-PAYLOAD, a signature over `host` alone replayed as another
    operation, a scope of another service or region, a stale date."""
    from datetime import UTC, datetime, timedelta

    url, _ = endpoint
    create = "RekognitionService.CreateCollection"

    def body(name: str) -> bytes:
        return json.dumps({"CollectionId": name}).encode()

    def refused(request, error: str = "InvalidSignatureException") -> None:
        answer = post(url, request)
        assert answer.status_code in (400, 403), answer.text
        assert answer.json()["__type"] == error, answer.text
        assert answer.headers["x-amzn-RequestId"]

    # (a) the body's hash is the client's word: signed for one name, sent with another
    sha = hashlib.sha256(body("signed-name")).hexdigest()
    _, headers = signed_request(url, create, body("signed-name"),
                                headers={"X-Amz-Content-SHA256": sha})  # fmt: skip
    refused((body("other-name"), headers))
    refused(signed_request(url, create, body("unsigned-payload"),
                           headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}))  # fmt: skip
    # (b) a signature over host (and date) alone, sent as any operation
    _, headers = signed_request(url, "", b"{}")
    for target in ("RekognitionService.ListCollections", create):
        extra = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        refused((body("replayed"), headers | extra))
    no_type = signed_request(url, "", body("no-type"), headers={"X-Amz-Target": create})[1] | {
        "Content-Type": "application/x-amz-json-1.1"
    }
    refused((body("no-type"), no_type))
    # (c) another service's or another region's scope
    refused(signed_request(url, create, body("s3-scope"), service="s3", region="xx-nowhere-9"))
    refused(signed_request(url, create, body("s3-scope"), service="s3"))
    refused(signed_request(url, create, body("far-away"), region="ap-southeast-2"))
    # (d) a request signed 20 minutes ago, replayed
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    refused(signed_request(url, create, body("stale"), at=old))

    listed = post(url, signed_request(url, "RekognitionService.ListCollections", b"{}")).json()
    made = {"signed-name", "other-name", "unsigned-payload", "replayed", "no-type", "s3-scope",
            "far-away", "stale"}  # fmt: skip
    assert not made & set(listed["CollectionIds"])
    # the same requests, signed whole, pass (in an accepted region)
    assert post(url, signed_request(url, create, body("signed-name"))).status_code == 200
    eu = signed_request(url, create, body("in-eu"), region="eu-west-1")
    assert post(url, eu).json()["CollectionArn"].endswith("collection/in-eu")


def smaller(data: bytes, scale: float, fmt: str = "JPEG") -> bytes:
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    img.resize((int(img.width * scale), int(img.height * scale))).save(out, fmt)
    return out.getvalue()


def test_quality_filter_and_attributes_are_honoured_or_refused(client):
    """Item 17. A quarter-size group photo has faces of 36 and 43 px: NONE and AUTO
    compare both, MEDIUM (40 px) one, HIGH (60 px) none; QualityFilter BEST and
    Attributes FOO are refused as AWS refuses them; every valid Attributes answers the
    DEFAULT set as far as the engine computes it (landmarks, pose, quality)."""
    c = client
    small = smaller(TWO, 0.25)
    faces = {}
    for quality in ("NONE", "AUTO", "LOW", "MEDIUM", "HIGH"):
        done = c.compare_faces(SourceImage={"Bytes": OBAMA}, TargetImage={"Bytes": small},
                               QualityFilter=quality)  # fmt: skip
        faces[quality] = len(done["FaceMatches"]) + len(done["UnmatchedFaces"])
    assert faces == {"NONE": 2, "AUTO": 2, "LOW": 2, "MEDIUM": 1, "HIGH": 0}
    c.create_collection(CollectionId="quality")
    c.index_faces(CollectionId="quality", Image={"Bytes": OBAMA})
    wide = c.search_faces_by_image(CollectionId="quality", Image={"Bytes": small})
    medium = c.search_faces_by_image(CollectionId="quality", Image={"Bytes": small},
                                     QualityFilter="MEDIUM")  # fmt: skip
    assert medium["SearchedFaceBoundingBox"] == wide["SearchedFaceBoundingBox"]  # the larger
    with pytest.raises(c.exceptions.InvalidParameterException):  # no face passes
        c.search_faces_by_image(CollectionId="quality", Image={"Bytes": small},
                                QualityFilter="HIGH")  # fmt: skip
    with pytest.raises(c.exceptions.InvalidParameterException):
        c.compare_faces(SourceImage={"Bytes": small}, TargetImage={"Bytes": OBAMA},
                        QualityFilter="HIGH")  # fmt: skip

    half = smaller(OBAMA, 0.5)
    for attributes in (["DEFAULT"], ["ALL"], ["DEFAULT", "SMILE"], []):
        [detail] = c.detect_faces(Image={"Bytes": half}, Attributes=attributes)["FaceDetails"]
        assert detail["Quality"]["Sharpness"] > 50 and 20 < detail["Quality"]["Brightness"] < 90
        marks = {m["Type"]: (m["X"], m["Y"]) for m in detail["Landmarks"]}
        box = detail["BoundingBox"]
        for x, y in marks.values():  # each inside the face
            assert box["Left"] < x < box["Left"] + box["Width"]
            assert box["Top"] < y < box["Top"] + box["Height"]
        assert marks["eyeLeft"][0] < marks["nose"][0] < marks["eyeRight"][0]
        assert marks["eyeLeft"][1] < marks["nose"][1]
        assert abs(detail["Pose"]["Roll"]) < 5  # a portrait, upright
        indexed = c.index_faces(CollectionId="quality", Image={"Bytes": half},
                                DetectionAttributes=attributes)  # fmt: skip
        assert indexed["FaceRecords"][0]["FaceDetail"]["Quality"]["Sharpness"] > 50
    bad = [
        lambda: c.compare_faces(
            SourceImage={"Bytes": OBAMA}, TargetImage={"Bytes": small}, QualityFilter="BEST"
        ),
        lambda: c.search_faces_by_image(
            CollectionId="quality", Image={"Bytes": OBAMA}, QualityFilter="BEST"
        ),
        lambda: c.index_faces(CollectionId="quality", Image={"Bytes": OBAMA}, QualityFilter="BEST"),
        lambda: c.detect_faces(Image={"Bytes": OBAMA}, Attributes=["FOO"]),
        lambda: c.index_faces(
            CollectionId="quality", Image={"Bytes": OBAMA}, DetectionAttributes=["ALL", "FOO"]
        ),
    ]
    for call in bad:
        with pytest.raises(ClientError) as refused:
            call()
        error = refused.value.response["Error"]
        assert error["Code"] == "ValidationException", error
        assert "Member must satisfy enum value set" in error["Message"]


def test_requests_are_checked_against_the_service_model(endpoint):
    """Item 18: a member of the wrong JSON type is a SerializationException (it was a
    500), a pattern, length, range or enum violation a ValidationException worded as
    AWS's; semantic errors stay InvalidParameterException."""
    url, _ = endpoint

    def call(op: str, params: dict) -> httpx.Response:
        return post(url, signed_request(url, f"RekognitionService.{op}",
                                        json.dumps(params).encode()))  # fmt: skip

    wrong_types = [
        ("ListCollections", {"MaxResults": "ten"}),
        ("CreateCollection", {"CollectionId": 5}),
        ("DetectFaces", {"Image": "not a structure"}),
        ("DeleteFaces", {"CollectionId": "x", "FaceIds": "not-a-list"}),
        ("SearchFaces", {"CollectionId": "x", "FaceId": "0" * 8, "FaceMatchThreshold": True}),
        ("CompareFaces", {"SourceImage": {"Bytes": 3}, "TargetImage": {}}),
    ]
    for op, params in wrong_types:
        answer = call(op, params)
        assert answer.status_code == 400, (op, answer.text)
        assert answer.json()["__type"] == "SerializationException", (op, answer.text)
    answer = call("CreateUser", {"CollectionId": "no such!", "UserId": "x" * 129})
    assert answer.status_code == 400 and answer.json() == {
        "__type": "ValidationException",
        "message": "2 validation errors detected: Value 'no such!' at 'collectionId' failed "
        "to satisfy constraint: Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9_.\\-]+; Value '" + "x" * 100 + "...' at 'userId' failed to satisfy "
        "constraint: Member must have length less than or equal to 128",
    }
    violations = [
        ("ListCollections", {"MaxResults": 4097}, "value less than or equal to 4096"),
        (
            "SearchFaces",
            {"CollectionId": "x", "FaceId": "f", "FaceMatchThreshold": 101},
            "regular expression pattern",
        ),
        (
            "SearchFacesByImage",
            {"CollectionId": "x", "Image": {}, "FaceMatchThreshold": -1},
            "value greater than or equal to 0",
        ),
        ("DeleteFaces", {"CollectionId": "x", "FaceIds": []}, "length greater than or equal"),
        ("IndexFaces", {"CollectionId": "", "Image": {}}, "length greater than or equal to 1"),
        ("DescribeCollection", {}, "Member must not be null"),
        ("IndexFaces", {"CollectionId": "x", "Image": {}, "QualityFilter": "BEST"}, "enum"),
    ]
    for op, params, constraint in violations:
        answer = call(op, params)
        assert answer.status_code == 400, (op, answer.text)
        assert answer.json()["__type"] == "ValidationException", (op, answer.text)
        assert constraint in answer.json()["message"], (op, answer.text)
        assert re.match(r"\d validation errors? detected: Value '", answer.json()["message"])
    semantic = call("SearchFaces", {"CollectionId": "nowhere", "FaceId": "1" * 8 + "-1111-"
                                    "1111-1111-" + "1" * 12})  # fmt: skip
    assert semantic.json()["__type"] == "ResourceNotFoundException"


def test_images_are_jpeg_or_png_as_on_aws(client):
    """Item 19: WebP and HEIC are what the album reads, not what Rekognition takes."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    for fmt in ("WEBP", "HEIF"):
        with pytest.raises(client.exceptions.InvalidImageFormatException):
            client.detect_faces(Image={"Bytes": smaller(OBAMA, 0.5, fmt)})
    assert len(client.detect_faces(Image={"Bytes": smaller(OBAMA, 0.5, "PNG")})["FaceDetails"])


def test_every_answer_has_a_request_id_and_model_versions_fit_the_model(client):
    """Item 20: x-amzn-RequestId on answers and errors (boto3 shows it as RequestId);
    IndexFacesModelVersion and the other versions fit the model's [0-9\\.]+ (the
    client fixture checks every string's pattern)."""
    c = client
    c.create_collection(CollectionId="versions")
    first = c.index_faces(CollectionId="versions", Image={"Bytes": OBAMA})
    ids = {first["ResponseMetadata"]["RequestId"]}
    assert re.fullmatch(r"[0-9.]+", first["FaceRecords"][0]["Face"]["IndexFacesModelVersion"])
    assert re.fullmatch(r"[0-9.]+", first["FaceModelVersion"])
    ids.add(c.list_faces(CollectionId="versions")["ResponseMetadata"]["RequestId"])
    with pytest.raises(c.exceptions.ResourceNotFoundException) as missing:
        c.describe_collection(CollectionId="nowhere")
    ids.add(missing.value.response["ResponseMetadata"]["RequestId"])
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)


def test_hostile_bodies_and_object_names_are_client_errors(endpoint):
    """Found in review: a signed body nested deeper than the JSON parser's recursion
    limit, a ListFaces NextToken past a 64-bit integer (and one with a NUL, which
    PostgreSQL refuses), and an S3Object Name the file system cannot take (longer than
    a file name may be, a NUL, a lone surrogate) answered 500 InternalServerError;
    they are the client's errors: SerializationException,
    InvalidPaginationTokenException and InvalidS3ObjectException."""
    url, _ = endpoint

    def call(op: str, body: bytes) -> httpx.Response:
        return post(url, signed_request(url, f"RekognitionService.{op}", body))

    for nested in (b"[" * 100_000, b'{"a":' * 20_000 + b"1" + b"}" * 20_000):
        answer = call("ListCollections", nested)
        assert answer.status_code == 400, answer.text
        assert answer.json()["__type"] == "SerializationException", answer.text
    # a million bad list members (4 MB, under the cap) were a 252 MB message (and the
    # server's +1 GB): every violation is counted, the first ten told
    many = {"Image": {"Bytes": "QUFB"}, "Attributes": ["x"] * 1_000_000}
    answer = call("DetectFaces", json.dumps(many, separators=(",", ":")).encode())
    assert answer.status_code == 400 and len(answer.content) < 10_000, len(answer.content)
    message = answer.json()["message"]
    assert message.startswith("1000000 validation errors detected: Value 'x' at 'attributes.1.")
    assert message.count("failed to satisfy constraint") == 10 and message.endswith("; ...")
    # a NextToken naming a position past what the catalog's integers hold
    past = base64.urlsafe_b64encode(b"9" * 19).decode()
    call("CreateCollection", b'{"CollectionId": "tokens"}')
    nul = base64.urlsafe_b64encode(b"\0").decode()  # PostgreSQL refuses a NUL in a string
    for op, params in (
        ("ListFaces", {"CollectionId": "tokens", "NextToken": past}),
        ("ListCollections", {"NextToken": nul}),
        ("ListUsers", {"CollectionId": "tokens", "NextToken": nul}),
    ):
        answer = call(op, json.dumps(params).encode())
        assert answer.status_code == 400, (op, answer.text)
        assert answer.json()["__type"] == "InvalidPaginationTokenException", (op, answer.text)
    for name in ("a" * 1000, "é" * 600, "a\0b", "\ud800"):
        for op, image in (("DetectFaces", "Image"), ("CompareFaces", "SourceImage")):
            params = {image: {"S3Object": {"Bucket": "originals", "Name": name}}}
            if op == "CompareFaces":
                params["TargetImage"] = {"Bytes": base64.b64encode(OBAMA).decode()}
            answer = call(op, json.dumps(params).encode())
            assert answer.status_code == 400, (op, repr(name[:5]), answer.text)
            assert answer.json()["__type"] == "InvalidS3ObjectException", answer.text


def test_a_retry_arriving_while_its_call_runs_gets_the_same_answer(tmp_path, monkeypatch):
    """Found in review: CreateUser retried with the same ClientRequestToken while the
    first call still ran (a client's read timeout) answered ConflictException, 1 time in
    10 with four at once against the server; now the retry waits for the first call's
    answer. Real LocalFaces on SQLite; create_user slowed to hold the window open."""
    import threading
    import time

    from facealbum.rekognition.server import operations
    from facealbum.settings import Settings
    from facealbum.wiring import make_blobs, make_faces

    settings = Settings(home=tmp_path)
    faces = make_faces(settings, local=True)
    faces.create_collection("retries")
    create = faces.create_user

    def slow(*args):
        time.sleep(0.2)
        return create(*args)

    monkeypatch.setattr(faces, "create_user", slow)
    op = operations(faces, make_blobs(settings))["CreateUser"]
    params = {"CollectionId": "retries", "UserId": "u", "ClientRequestToken": "same"}
    errors: list[Exception] = []

    def call() -> None:
        try:
            op(dict(params))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [u.user_id for u in faces.list_users("retries", 10, None)[0]] == ["u"]
