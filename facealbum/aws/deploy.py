"""Package, deploy, and fill the serverless album (``facealbum aws …``).

- :func:`package` builds the functions' zip from the registry: facealbum and its
  requirements as Linux x86-64 wheels for Python 3.11, without dlib and its model (the
  functions use Rekognition for faces). Nothing is compiled.
- :func:`deploy` uploads the zip to ``PREFIX-code``, creates or updates the stack from
  ``template.yaml``, and uploads the site to its bucket.
- :func:`upload_folder` puts a folder's photos into the originals bucket as ``SET/FILE``
  (the original's upload script went one file at a time; this runs 16 at once), then
  waits until the upload function has processed each one, or recorded why not.

Endpoints and credentials come from the standard AWS configuration throughout.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import requires
from pathlib import Path
from typing import Any

from ..domain import AlbumError

TEMPLATE = Path(__file__).with_name("template.yaml")
# Rekognition does the faces: no dlib, its model or the local engine's face index
# (faiss alone would take the unzipped package past Lambda's 250 MB); nor the offline
# place names (place.py), whose SciPy (113 MB unzipped) would too: 287 MB measured
NOT_PACKAGED = {"dlib-bin", "face-recognition-models", "faiss-cpu", "reverse-geocode"}
PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp",
            "--python-version", "3.11", "--only-binary=:all:"]  # fmt: skip


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip().lower()


def function_requirements() -> list[str]:
    """facealbum's own requirements plus its ``aws`` extra, less what only the local
    face engine uses (dlib, its model, faiss)."""
    found = []
    for r in requires("facealbum") or []:
        if "extra ==" in r and 'extra == "aws"' not in r:
            continue
        spec = r.split(";", 1)[0].strip()
        if _name(spec) not in NOT_PACKAGED:
            found.append(spec)
    return found


def package(dest: Path, on_step: Callable[[str], None] = lambda _: None) -> Path:
    """The functions' zip in ``dest``, named after its content's hash."""
    source = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(tmp) / "build"
        on_step("installing the requirements (Linux x86-64 wheels, no dlib)")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(build), *PLATFORM, *function_requirements()],
            check=True,
        )  # fmt: skip
        on_step("adding facealbum")
        shutil.copytree(source, build / "facealbum", ignore=shutil.ignore_patterns("__pycache__"))
        packaged = {p.name.lower() for p in build.iterdir()}
        if any(n.startswith(("dlib", "face_recognition_models")) for n in packaged):
            raise AlbumError("dlib found its way into the package: a requirement pulls it in")
        zipped = Path(tmp) / "function.zip"
        with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for path in sorted(build.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    info = zipfile.ZipInfo(
                        path.relative_to(build).as_posix(), (1980, 1, 1, 0, 0, 0)
                    )
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, path.read_bytes())
        digest = hashlib.sha256(zipped.read_bytes()).hexdigest()[:12]
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"facealbum-lambda-{digest}.zip"
        shutil.move(zipped, target)
    return target


@dataclass
class Deployed:
    stack: str
    outputs: dict[str, str]
    api_url: str | None
    site_url: str | None


def _clients() -> tuple[Any, Any, Any]:
    import boto3

    region = os.environ.get("AWS_REGION") or None
    return (
        boto3.client("cloudformation", region_name=region),
        boto3.client("s3", region_name=region),
        boto3.client("lambda", region_name=region),
    )


def deploy(
    stack: str,
    prefix: str,
    owner_secret: str,
    zip_path: Path,
    collection: str = "facealbum",
    on_step: Callable[[str], None] = lambda _: None,
) -> Deployed:
    from ..adapters.blob_s3 import ensure_bucket

    cf, s3, lam = _clients()
    code_bucket = f"{prefix}-code"
    on_step(f"uploading {zip_path.name} to {code_bucket}")
    ensure_bucket(s3, code_bucket)
    s3.upload_file(str(zip_path), code_bucket, zip_path.name)
    params = {"Prefix": prefix, "CodeBucket": code_bucket, "CodeKey": zip_path.name,
              "OwnerSecret": owner_secret, "Collection": collection}  # fmt: skip
    args = dict(
        StackName=stack,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    if _stack_exists(cf, stack):
        on_step(f"updating stack {stack}")
        try:
            cf.update_stack(**args)
            cf.get_waiter("stack_update_complete").wait(StackName=stack)
        except cf.exceptions.ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
    else:
        on_step(f"creating stack {stack}")
        cf.create_stack(**args)
        cf.get_waiter("stack_create_complete").wait(StackName=stack)
    described = cf.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    try:
        api_url = lam.get_function_url_config(FunctionName=outputs["ApiFunction"])["FunctionUrl"]
    except lam.exceptions.ResourceNotFoundException:
        api_url = None  # a stand-in without function URLs
    on_step(f"uploading the site to {outputs['SiteBucket']}")
    upload_site(s3, outputs["SiteBucket"], api_url or "")
    return Deployed(stack, outputs, api_url, outputs.get("SiteUrl"))


def _stack_exists(cf: Any, stack: str) -> bool:
    try:
        status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except cf.exceptions.ClientError:
        return False
    return status != "DELETE_COMPLETE"


def upload_site(s3: Any, bucket: str, api_url: str) -> list[str]:
    """The site's shell and static files; the shell names the API it reads from."""
    from .. import __version__
    from ..web.pages import STATIC

    shell = (STATIC / "index.html").read_text().replace("{{version}}", __version__)
    shell = shell.replace('content="" data-api', f'content="{api_url.rstrip("/")}" data-api')
    s3.put_object(Bucket=bucket, Key="index.html", Body=shell.encode(), ContentType="text/html")
    keys = ["index.html"]
    for path in sorted(STATIC.rglob("*")):  # js/: the pages' ES modules
        if path.name == "index.html" or not path.is_file():
            continue
        key = f"static/{path.relative_to(STATIC).as_posix()}"
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # no-cache: the modules import each other by plain URLs (no ?v=), so a browser
        # must revalidate them, or an upgrade would mix old and new modules
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=kind,
                      CacheControl="no-cache")  # fmt: skip
        keys.append(key)
    return keys


# -- a folder into the originals bucket -----------------------------------------------


@dataclass
class Dropped:
    key: str
    etag: str
    status: str = "waiting"  # waiting | added | duplicate | failed
    error: str | None = None


def upload_folder(
    album: Any,
    folder: Path,
    set_name: str,
    *,
    workers: int = 16,
    timeout: float = 1800,
    nudge_after: float = 60,
    on_start: Callable[[int], None] = lambda total: None,
    on_uploaded: Callable[[Dropped], None] = lambda d: None,
    on_done: Callable[[Dropped], None] = lambda d: None,
) -> list[Dropped]:
    """Drop the folder's photos as ``SET/relative/path`` in parallel, then wait for the
    upload function's verdict on each (its upload record, keyed by key and ETag).

    An object that gets no verdict for ``nudge_after`` seconds is copied onto itself,
    which makes S3 send its ObjectCreated event again: a notification that never came
    (S3 promises at least once, and the stand-in tests run on can drop one under load)
    does not leave a photo unprocessed."""
    from ..domain import check_set_name
    from ..dropped import upload_id_for
    from ..importer import find_photos

    set_name = check_set_name(set_name)
    names = getattr(album.blobs, "names", None)
    if not names:
        raise AlbumError("aws import needs the S3 blob store (FACEALBUM_BLOB_STORE=s3://…)")
    photos, ignored = find_photos(Path(folder))
    if not photos:
        raise AlbumError(f"no photos in {folder} ({ignored} other files)")
    on_start(len(photos))
    client = album.blobs.client

    def put(path: Path) -> Dropped:
        key = f"{set_name}/{path.relative_to(folder).as_posix()}"
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        client.upload_file(str(path), names["originals"], key, ExtraArgs={"ContentType": kind})
        etag = client.head_object(Bucket=names["originals"], Key=key)["ETag"]
        dropped = Dropped(key, etag)
        on_uploaded(dropped)
        return dropped

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(put, photos))
    waiting = {upload_id_for(d.key, d.etag): d for d in results}
    deadline = time.monotonic() + timeout
    progress = time.monotonic()
    while waiting and time.monotonic() < deadline:
        for upload in album.catalog.get_uploads(list(waiting)):
            if upload.status != "queued":
                d = waiting.pop(upload.upload_id)
                d.status, d.error = upload.status, upload.error
                on_done(d)
                progress = time.monotonic()
        if waiting and time.monotonic() - progress > nudge_after:
            waiting = {_nudge(client, names["originals"], d): d for d in waiting.values()}
            progress = time.monotonic()
        if waiting:
            time.sleep(1.0)
    return results


def _nudge(client: Any, bucket: str, d: Dropped) -> str:
    """Copy the object onto itself (a new ObjectCreated event); its upload id again,
    since a copy may change the ETag of an object uploaded in parts."""
    try:
        client.copy_object(
            Bucket=bucket, Key=d.key, CopySource={"Bucket": bucket, "Key": d.key},
            MetadataDirective="REPLACE", Metadata={"facealbum-nudged": str(int(time.time()))},
            ContentType=mimetypes.guess_type(d.key)[0] or "application/octet-stream",
        )  # fmt: skip
        d.etag = client.head_object(Bucket=bucket, Key=d.key)["ETag"]
    except client.exceptions.ClientError:
        pass  # processed and moved meanwhile: its verdict is on the way
    from ..dropped import upload_id_for

    return upload_id_for(d.key, d.etag)
