"""`facealbum aws import` next to the embedded `facealbum import` of the same folder.

    python bench/aws_import.py [--folder ../shared/faces] [--photos 93] [--functions 2]

Side by side in one run, on this machine:

1. embedded: ``import_folder`` into a fresh album (SQLite, a folder, dlib in worker
   processes, one per core), its regrouping of people at the end included;
2. AWS shape: a fresh album on S3 + DynamoDB (moto's server, tests/moto_stand_in.py)
   and the Rekognition endpoint (``facealbum rekognition serve``), the originals
   bucket notifying an SQS queue; ``--functions`` processes play Lambda's SQS event
   source mapping (receive up to 10 messages, call ``handlers.on_upload``, delete what
   succeeded), as many as the cores, like the embedded import's workers. The time is
   ``upload_folder`` (what `facealbum aws import` runs: 16 uploads at once, then waits
   for every photo's verdict), plus the regrouping the EventBridge schedule then runs
   once (``regroup.run``), so both sides end with the same work done.

Also printed: the AWS calls per photo by operation (counted in the function processes
with botocore's before-call event), so a per-photo O(album) call shows as growth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "AKIDALBUMBENCH000001", "album-bench-secret-00000000000000000000000"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


def start_services(tmp: Path) -> tuple[list[subprocess.Popen], dict[str, str]]:
    """moto's server and the Rekognition endpoint; the environment that reaches them."""
    moto_port, rek_port = free_port(), free_port()
    moto = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "moto_stand_in.py"), str(moto_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    rek_env = os.environ | {
        "FACEALBUM_HOME": str(tmp / "endpoint"),
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": SECRET,
        "FACEALBUM_REKOGNITION_REGIONS": "eu-west-1",
    }
    rek = subprocess.Popen(
        [sys.executable, "-m", "facealbum", "rekognition", "serve", "--port", str(rek_port)],
        env=rek_env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    moto_url, rek_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{rek_port}"
    wait_up(f"{moto_url}/moto-api/", moto, "moto_server")
    wait_up(rek_url, rek, "the Rekognition endpoint")
    env = {f"AWS_ENDPOINT_URL_{s}": moto_url for s in ("S3", "DYNAMODB", "SQS")}
    env |= {"AWS_ENDPOINT_URL_REKOGNITION": rek_url, "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1"}  # fmt: skip
    return [moto, rek], env


def function(queue: str, stop: Path, counts: Path) -> None:
    """One function instance: Lambda's SQS event source mapping around on_upload."""
    import boto3

    from facealbum.aws import handlers

    calls: Counter = Counter()

    def record(model, **_):
        calls[f"{model.service_model.signing_name}:{model.name}"] += 1

    album = handlers._album()
    for client in (album.catalog.client, album.blobs.client, album.collection.faces.client):
        client.meta.events.register("before-call", record)
    sqs = boto3.client("sqs")
    photos = 0
    while not stop.exists():
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            continue
        event = {"Records": [{"eventSource": "aws:sqs", "messageId": m["MessageId"],
                              "body": m["Body"]} for m in messages]}  # fmt: skip
        answer = handlers.on_upload(event)
        photos += len(answer["done"])
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    calls.pop("sqs:ReceiveMessage", None)
    calls.pop("sqs:DeleteMessage", None)
    counts.write_text(json.dumps({"photos": photos, "calls": dict(calls)}))


def embedded(folder: Path, home: Path, workers: int) -> tuple[float, int, int]:
    from facealbum.importer import import_folder
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    album = open_album(Settings(home=home))
    t0 = time.perf_counter()
    report = import_folder(album, folder, "bench", workers=workers)
    return time.perf_counter() - t0, report.count("imported"), report.faces


def on_aws(folder: Path, tmp: Path, env: dict[str, str], functions: int):
    import boto3

    from facealbum.aws.deploy import upload_folder
    from facealbum.people import regroup
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    tag = uuid.uuid4().hex[:8]
    env = env | {"FACEALBUM_BLOB_STORE": f"s3://b-{tag}",
                 "FACEALBUM_DATABASE_URL": f"dynamodb://b-{tag}-",
                 "FACEALBUM_FACE_ENGINE": "rekognition",
                 "FACEALBUM_REKOGNITION_COLLECTION": f"b-{tag}",
                 "FACEALBUM_SEARCH_IN_WORKERS": "false"}  # as the template sets them  # fmt: skip
    os.environ.update(env)
    album = open_album(Settings(home=tmp / "aws-cli"))
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName=f"q-{tag}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket=album.blobs.names["originals"],
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    stop = tmp / "stop"
    procs = []
    for i in range(functions):
        fn_env = os.environ | {"FACEALBUM_HOME": str(tmp / f"fn{i}")}
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--function", queue, str(stop), str(tmp / f"calls{i}")],
            env=fn_env,
        ))  # fmt: skip
    time.sleep(8)  # the functions' start (imports, clients), as a warm Lambda has done
    t0 = time.perf_counter()
    results = upload_folder(album, folder, "bench", workers=16, timeout=3600, nudge_after=60)
    processed = time.perf_counter() - t0
    t1 = time.perf_counter()
    grouped = regroup.run(album)
    regrouping = time.perf_counter() - t1
    stop.touch()
    for p in procs:
        p.wait(120)
    calls: Counter = Counter()
    photos = 0
    for i in range(functions):
        got = json.loads((tmp / f"calls{i}").read_text())
        calls.update(got["calls"])
        photos += got["photos"]
    statuses = Counter(r.status for r in results)
    faces = sum(len(p.faces) for p in album.get_set("bench", limit=10_000)[1])
    return processed, regrouping, statuses, faces, calls, photos, grouped


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--folder", type=Path, default=SHARED)
    ap.add_argument("--photos", type=int, default=0, help="the first N photos (0: all)")
    ap.add_argument("--functions", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--function", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.function:
        queue, stop, counts = args.function
        function(queue, Path(stop), Path(counts))
        return
    from facealbum.importer import find_photos

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        photos, _ = find_photos(args.folder)
        photos = photos[: args.photos or None]
        if not photos:
            raise SystemExit(f"no photos in {args.folder} (see --folder)")
        folder = tmp / "photos"
        for p in photos:
            target = folder / p.relative_to(args.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
        print(f"photos: {len(photos)} from {args.folder}")
        procs, env = start_services(tmp)
        try:
            wall, imported, faces = embedded(folder, tmp / "embedded", args.functions)
            print(f"embedded import: {imported} photos, {faces} faces in {wall:.1f} s "
                  f"({args.functions} workers, regrouping included)")  # fmt: skip
            processed, regrouping, statuses, aws_faces, calls, done, grouped = on_aws(
                folder, tmp, env, args.functions
            )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    total = processed + regrouping
    print(f"aws import: {dict(statuses)}, {aws_faces} faces; every verdict in {processed:.1f} s "
          f"({args.functions} functions), then the scheduled regrouping {regrouping:.1f} s "
          f"({grouped.people if grouped else '-'} people) = {total:.1f} s")  # fmt: skip
    print(f"aws / embedded = {total / wall:.2f}x")
    per = {k: round(v / max(done, 1), 1) for k, v in sorted(calls.items())}
    print(f"calls per photo in the functions ({done} photos): {sum(per.values()):.1f}: {per}")


if __name__ == "__main__":
    main()
