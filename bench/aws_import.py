"""`facealbum aws import` next to the embedded `facealbum import` of the same folder.

    python bench/aws_import.py [--folder ../shared/faces] [--photos 617] [--functions 2]

The folder: ``--photos`` distinct photos made at run time, in a temporary folder that
is deleted after, from the folder's photos (shared/faces: licensed test photos, see
its SOURCES.md; nothing derived from them is kept): each photo as it is, then mirrored,
cropped to its centre 85 %, scaled to 75 %, and the pairs of those, until there are
enough (93 photos x 7 variants: up to 651), so each is new content with the faces still
in it, not a copy that both sides would skip as a duplicate.

Side by side in one run, on this machine:

1. embedded: ``import_folder`` into a fresh album (SQLite, a folder, dlib in worker
   processes, one per core), its regrouping of people at the end included;
2. AWS shape: a fresh album on S3 + DynamoDB (moto's server, tests/aws_stand_in.py,
   the same stand-ins the tests use) and the Rekognition endpoint (``facealbum
   rekognition serve``), the originals bucket notifying an SQS queue; ``--functions``
   processes play Lambda's SQS event source mapping around ``handlers.on_upload``, as
   many as the cores, like the embedded import's workers. The time is
   ``upload_folder`` (what `facealbum aws import` runs: 16 uploads at once, then waits
   for every photo's verdict), plus the regrouping the EventBridge schedule then runs
   once (``regroup.run``), so both sides end with the same work done.

The machine's load average is printed before and after each side (the cores are
shared; the ratio is the figure), and each side's CPU seconds, which the load changes
little: the embedded import's (its process and workers), and the AWS side's by process
(moto's server, the endpoint with its dlib workers, the functions, the client). Also
printed: the AWS calls per photo by operation (counted in the function processes with
botocore's before-call event), so a per-photo O(album) call shows as growth, and the
milliseconds per photo the functions waited on each operation. With ``BENCH_PROFILE=
PREFIX`` each function also writes its cProfile (wall clock) to ``PREFIX`` + callsN.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from aws_stand_in import event_source_mapping, free_port, notify_queue, start_moto  # noqa: E402
from common import SHARED, machine  # noqa: E402

KEY, SECRET = "AKIDALBUMBENCH000001", "album-bench-secret-00000000000000000000000"
VARIANTS = ["as is", "mirrored", "cropped", "scaled", "mirrored+cropped", "mirrored+scaled",
            "cropped+scaled"]  # fmt: skip


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_folder(source: Path, dest: Path, count: int) -> int:
    """``count`` photos (or as many as the variants make) into ``dest``: each photo of
    ``source`` in turn as VARIANTS say, variant after variant. Returns how many."""
    from PIL import Image, ImageOps

    from facealbum.importer import find_photos

    photos, _ = find_photos(source)
    made = 0
    for v, variant in enumerate(VARIANTS):
        for path in photos:
            if made >= count:
                return made
            rel = path.relative_to(source)
            target = dest / rel.parent / f"{rel.stem}-v{v}{rel.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if v == 0:
                shutil.copy(path, target)
                made += 1
                continue
            try:
                with Image.open(path) as im:
                    im = ImageOps.exif_transpose(im)
                    im.load()
            except OSError:
                continue  # not a photo: once, as it is, is enough
            if "mirrored" in variant:
                im = ImageOps.mirror(im)
            if "cropped" in variant:
                w, h = im.size
                dx, dy = round(w * 0.075), round(h * 0.075)
                im = im.crop((dx, dy, w - dx, h - dy))
            if "scaled" in variant:
                im = im.resize((max(1, round(im.width * 0.75)), max(1, round(im.height * 0.75))))
            if target.suffix.lower() in (".jpg", ".jpeg"):
                im.convert("RGB").save(target, quality=92)
            else:
                im.save(target)
            made += 1
    return made


def cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """User + system CPU seconds these processes and their children have used so far."""
    import psutil

    total = 0.0
    for p in procs:
        try:
            top = psutil.Process(p.pid)
            for q in [top, *top.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def own_cpu(children: bool = True) -> float:
    """This process's CPU seconds, and (``children``) those of its children it has
    waited for (the embedded import's workers)."""
    import resource

    used = [resource.getrusage(resource.RUSAGE_SELF)]
    if children:
        used.append(resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(u.ru_utime + u.ru_stime for u in used)


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
    moto, _, env = start_moto(60)
    rek_port = free_port()
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
    rek_url = f"http://127.0.0.1:{rek_port}"
    wait_up(rek_url, rek, "the Rekognition endpoint")
    env |= {"AWS_ENDPOINT_URL_REKOGNITION": rek_url, "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1"}  # fmt: skip
    return [moto, rek], env


def function(queue: str, stop: Path, counts: Path) -> None:
    """One function instance: Lambda's SQS event source mapping around on_upload."""
    import boto3

    from facealbum.aws import handlers

    calls: Counter = Counter()
    spent: Counter = Counter()  # seconds waited per operation, the round trip's

    def record(model, context, **_):
        calls[f"{model.service_model.signing_name}:{model.name}"] += 1
        context["bench_started"] = time.perf_counter()

    def timed(model, context, **_):
        if "bench_started" in context:
            op = f"{model.service_model.signing_name}:{model.name}"
            spent[op] += time.perf_counter() - context["bench_started"]

    album = handlers._album()
    for client in (album.catalog.client, album.blobs.client, album.collection.faces.client):
        client.meta.events.register("before-call", record)
        client.meta.events.register("after-call", timed)
    photos = 0

    def on_upload(event: dict) -> dict:
        nonlocal photos
        answer = handlers.on_upload(event)
        photos += len(answer["done"])
        return answer

    cpu0 = time.process_time()
    profile = os.environ.get("BENCH_PROFILE")  # a file: the function's cProfile (wall clock)
    if profile:
        import cProfile

        with cProfile.Profile() as prof:
            event_source_mapping(boto3.client("sqs"), queue, stop.exists, on_upload)
        prof.dump_stats(profile + counts.name)
    else:
        event_source_mapping(boto3.client("sqs"), queue, stop.exists, on_upload)
    cpu = time.process_time() - cpu0
    counts.write_text(
        json.dumps({"photos": photos, "calls": dict(calls), "spent": dict(spent), "cpu": cpu})
    )


def embedded(folder: Path, home: Path, workers: int) -> tuple[float, int, int, float]:
    """(seconds, photos imported, faces, CPU seconds of this process and its workers)."""
    from facealbum.importer import import_folder
    from facealbum.settings import Settings
    from facealbum.wiring import open_album

    album = open_album(Settings(home=home))
    t0, cpu0 = time.perf_counter(), own_cpu()
    report = import_folder(album, folder, "bench", workers=workers)
    cpu = own_cpu() - cpu0
    return time.perf_counter() - t0, report.count("imported"), report.faces, cpu


def on_aws(folder: Path, tmp: Path, env: dict[str, str], functions: int, services: list):
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
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName=f"q-{tag}", Attributes={"VisibilityTimeout": "900"})[
        "QueueUrl"
    ]  # as the template's queue
    notify_queue(boto3.client("s3"), sqs, album.blobs.names["originals"], queue)
    stop = tmp / "stop"
    procs = []
    for i in range(functions):
        fn_env = os.environ | {"FACEALBUM_HOME": str(tmp / f"fn{i}")}
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--function", queue, str(stop), str(tmp / f"calls{i}")],
            env=fn_env,
        ))  # fmt: skip
    time.sleep(8)  # the functions' start (imports, clients), as a warm Lambda has done
    cpu0 = [cpu_seconds(services[:1]), cpu_seconds(services[1:]), own_cpu(children=False)]
    t0 = time.perf_counter()
    results = upload_folder(album, folder, "bench", workers=16, timeout=3600, nudge_after=60)
    processed = time.perf_counter() - t0
    t1 = time.perf_counter()
    grouped = regroup.run(album)
    regrouping = time.perf_counter() - t1
    cpu = {"moto": cpu_seconds(services[:1]) - cpu0[0],
           "endpoint": cpu_seconds(services[1:]) - cpu0[1],
           "aws import + regrouping": own_cpu(children=False) - cpu0[2]}  # fmt: skip
    stop.touch()
    for p in procs:
        p.wait(120)
    calls: Counter = Counter()
    spent: Counter = Counter()
    photos = 0
    for i in range(functions):
        got = json.loads((tmp / f"calls{i}").read_text())
        calls.update(got["calls"])
        spent.update(got["spent"])
        photos += got["photos"]
        cpu["functions"] = cpu.get("functions", 0.0) + got["cpu"]
    statuses = Counter(r.status for r in results)
    faces = sum(len(p.faces) for p in album.get_set("bench", limit=10_000)[1])
    return processed, regrouping, statuses, faces, calls, spent, photos, grouped, cpu


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--folder", type=Path, default=SHARED)
    ap.add_argument("--photos", type=int, default=617, help="how many photos to make")
    ap.add_argument("--functions", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--aws-only", action="store_true", help="the AWS side alone")
    ap.add_argument("--embedded-only", action="store_true", help="the embedded side alone")
    ap.add_argument("--function", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.function:
        queue, stop, counts = args.function
        function(queue, Path(stop), Path(counts))
        return

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "photos"
        made = make_folder(args.folder, folder, args.photos)
        if not made:
            raise SystemExit(f"no photos in {args.folder} (see --folder)")
        print(f"photos: {made} made from {args.folder}")
        procs, env = start_services(tmp)
        try:
            wall = 0.0
            if not args.aws_only:
                print(f"embedded starts, {load()}", flush=True)
                wall, imported, faces, cpu = embedded(folder, tmp / "embedded", args.functions)
                print(f"embedded import: {imported} photos, {faces} faces in {wall:.1f} s "
                      f"({args.functions} workers, regrouping included), CPU {cpu:.1f} s; "
                      f"{load()}", flush=True)  # fmt: skip
            if args.embedded_only:
                return
            print(f"aws starts, {load()}", flush=True)
            processed, regrouping, statuses, aws_faces, calls, spent, done, grouped, cpu = on_aws(
                folder, tmp, env, args.functions, procs
            )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    total = processed + regrouping
    print(f"aws import: {dict(statuses)}, {aws_faces} faces; every verdict in {processed:.1f} s "
          f"({args.functions} functions), then the scheduled regrouping {regrouping:.1f} s "
          f"({grouped.people if grouped else '-'} people) = {total:.1f} s; {load()}")  # fmt: skip
    shares = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
    print(f"aws CPU seconds: {sum(cpu.values()):.1f} ({shares})")
    if wall:
        print(f"aws / embedded = {total / wall:.2f}x")
    per = {k: round(v / max(done, 1), 1) for k, v in sorted(calls.items())}
    print(f"calls per photo in the functions ({done} photos): {sum(per.values()):.1f}: {per}")
    ms = {k: round(1000 * v / max(done, 1)) for k, v in sorted(spent.items())}
    print(f"ms per photo waiting on those calls, per function: {sum(ms.values())}: {ms}")


if __name__ == "__main__":
    main()
