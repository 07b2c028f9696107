"""The album on AWS's services. AWS itself cannot be reached from here: moto's server
mode (`moto_server`, a real HTTP process started by conftest.moto_endpoint) stands in
for S3, DynamoDB, SQS and CloudFormation, and `facealbum rekognition serve` for
Rekognition. boto3 finds both through the standard AWS_ENDPOINT_URL_<SERVICE>."""

from __future__ import annotations

import shutil
import uuid

import httpx
from conftest import PHOTOS, start_server

from facealbum.check import check_album
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album

SOME = ["obama/obama.jpg", "obama/obama2.jpg", "groups/two_people.jpg", "nofaces/dog.jpg"]


def some_photos(dest):
    for name in SOME:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PHOTOS / name, target)
    return dest


def test_album_on_s3_buckets(moto_endpoint, tmp_path):
    """Import, serve, check and delete with the blobs in three S3 buckets."""
    prefix = f"album-{uuid.uuid4().hex[:8]}"
    settings = Settings(home=tmp_path / "home", blob_store=f"s3://{prefix}")
    album = open_album(settings)
    report = import_folder(album, some_photos(tmp_path / "photos"), "Trip", workers=2)
    assert report.count("imported") == len(SOME), report.failures
    s3 = album.blobs.client
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {f"{prefix}-originals", f"{prefix}-thumbnails", f"{prefix}-incoming"} <= names
    originals = s3.list_objects_v2(Bucket=f"{prefix}-originals")["Contents"]
    thumbs = s3.list_objects_v2(Bucket=f"{prefix}-thumbnails")["Contents"]
    assert len(originals) == len(SOME) and len(thumbs) == 2 * len(SOME)
    assert check_album(album) == []

    obama = next(p for p in album.get_set("Trip")[1] if p.name == "obama/obama.jpg")
    result = album.search(obama.faces[0].face_id)
    names = [m.picture.name for m in result.matches]
    assert names[0] == "obama/obama.jpg"
    assert set(names) == {"obama/obama.jpg", "obama/obama2.jpg", "groups/two_people.jpg"}

    proc, base = start_server(settings.home, {"FACEALBUM_BLOB_STORE": f"s3://{prefix}"})
    try:
        picture = httpx.get(f"{base}/api/pictures/{obama.image_id}").json()
        thumb = httpx.get(f"{base}{picture['thumb_url']}")
        assert thumb.status_code == 200
        assert (
            thumb.content
            == s3.get_object(Bucket=f"{prefix}-thumbnails", Key=obama.thumb_key)["Body"].read()
        )
        upload = httpx.post(
            f"{base}/api/sets/Trip/pictures",
            files={"file": ("biden.jpg", (PHOTOS / "biden" / "biden.jpg").read_bytes())},
        )
        assert upload.status_code in (401, 403)  # visitors read only, on S3 as anywhere
    finally:
        proc.terminate()
        proc.wait(10)

    album.delete_set("Trip")
    assert s3.list_objects_v2(Bucket=f"{prefix}-originals").get("KeyCount") == 0
    assert s3.list_objects_v2(Bucket=f"{prefix}-thumbnails").get("KeyCount") == 0
