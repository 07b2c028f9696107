"""Shared fixtures: real photos, the real model, a real SQLite file, a real server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album

PHOTOS = Path(__file__).parent / "fixtures" / "photos"


def other_pixels(data: bytes, i: int) -> bytes:
    """Another photo to the album, copy number ``i`` (0-4095) of the JPEG ``data``: a
    strip of 12 black or white 16 px squares (i's bits) in its top left corner, its
    faces where they were. Bytes appended after the JPEG's end no longer make another
    photo: the same pixels are one picture (issue 19, ``ingest.pixel_sha256``)."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    for bit in range(12):
        shade = 255 if i >> bit & 1 else 0
        img.paste((shade, shade, shade), (16 * bit, 0, 16 * bit + 16, 16))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def cli(
    *args: str, home: Path, env_extra: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    env = os.environ | {"FACEALBUM_HOME": str(home), "COLUMNS": "200"} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "facealbum", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def album(settings: Settings):
    return open_album(settings)


@pytest.fixture(scope="session")
def library_home(tmp_path_factory) -> Path:
    """An album with every fixture photo imported once, shared by read-only tests."""
    home = tmp_path_factory.mktemp("library")
    album = open_album(Settings(home=home))
    report = import_folder(album, PHOTOS, "fixtures", workers=2)
    assert report.count("failed") == 0, report.failures
    return home


@pytest.fixture(scope="session")
def library(library_home: Path):
    return open_album(Settings(home=library_home))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    home: Path,
    extra_env: dict[str, str] | None = None,
    command: tuple[str, ...] = ("serve",),
    ready: str = "/api/sets",
):
    """`facealbum <command> --port P` in a process of its own, once GET ``ready``
    answers (any answer when ``ready`` is empty: an endpoint with no GET route)."""
    port = free_port()
    # no access log: nobody reads the pipe until the server stops, and a full pipe
    # would stall it (tests that read the log turn it on)
    env = os.environ | {"FACEALBUM_HOME": str(home), "FACEALBUM_ACCESS_LOG": "false"}
    env |= extra_env or {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "facealbum", *command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            answer = httpx.get(f"{base}{ready}", timeout=1)
            if answer.status_code == 200 or not ready:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


# -- the album on each backend ----------------------------------------------------------
# "local": SQLite, a folder, dlib in the album's processes. "rekognition": the same, but
# the faces port is boto3 (RekognitionFaces), configured only the standard AWS way,
# talking to a real `facealbum rekognition serve` process. "aws": the original's
# shape, S3 + DynamoDB (moto_server standing in for AWS) + Rekognition (the endpoint).
# The same behavioural tests run on each.

ENGINES = ["local", "rekognition", "aws"]
ENDPOINT_KEY, ENDPOINT_SECRET = "AKIDALBUMTESTS000001", "album-tests-secret-0000000000000000000000"


@contextlib.contextmanager
def session_environment(env: dict[str, str]):
    """Set variables for as long as a session fixture lives (monkeypatch is per test)."""
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def rekognition_endpoint(tmp_path_factory):
    """One endpoint for the session. The AWS variables stay set for the whole session:
    they only matter to an album whose settings choose the rekognition engine."""
    keys = {
        "FACEALBUM_REKOGNITION_ACCESS_KEY_ID": ENDPOINT_KEY,
        "FACEALBUM_REKOGNITION_SECRET_ACCESS_KEY": ENDPOINT_SECRET,
        "FACEALBUM_REKOGNITION_REGIONS": "eu-west-1",  # the clients' region, below
    }
    home = tmp_path_factory.mktemp("endpoint")
    proc, url = start_server(home, keys, ("rekognition", "serve"), ready="")
    aws = {
        "AWS_ENDPOINT_URL_REKOGNITION": url,
        "AWS_ACCESS_KEY_ID": ENDPOINT_KEY,
        "AWS_SECRET_ACCESS_KEY": ENDPOINT_SECRET,
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",  # what a plain boto3.client() reads
    }
    with session_environment(aws):
        yield url
    proc.terminate()
    proc.wait(10)


def engine_settings(engine: str, home: Path, request) -> tuple[Settings, dict[str, str]]:
    """(settings, environment for a server process) of an album on ``engine``; each
    album gets a collection of its own on the shared endpoint."""
    if engine == "local":
        return Settings(home=home), {}
    request.getfixturevalue("rekognition_endpoint")
    tag = os.urandom(4).hex()
    env = {
        "FACEALBUM_FACE_ENGINE": "rekognition",
        "FACEALBUM_REKOGNITION_COLLECTION": f"album-{tag}",
    }
    if engine == "aws":
        request.getfixturevalue("moto_endpoint")
        env |= {"FACEALBUM_BLOB_STORE": f"s3://album-{tag}", "FACEALBUM_DATABASE_URL":
                f"dynamodb://album-{tag}-"}  # fmt: skip
    fields = {k.removeprefix("FACEALBUM_").lower(): v for k, v in env.items()}
    return Settings(home=home, **fields), env


@pytest.fixture(params=ENGINES)
def engine_album(request, tmp_path):
    """An empty album on each engine."""
    settings, _ = engine_settings(request.param, tmp_path / "home", request)
    return open_album(settings)


@pytest.fixture(scope="session", params=ENGINES)
def engine_library_home(request, tmp_path_factory) -> tuple[Path, Settings, dict[str, str]]:
    """The fixture photos imported once on each engine (home, settings, server env)."""
    home = tmp_path_factory.mktemp(f"library-{request.param}")
    settings, env = engine_settings(request.param, home, request)
    report = import_folder(open_album(settings), PHOTOS, "fixtures", workers=2)
    assert report.count("failed") == 0, report.failures
    return home, settings, env


@pytest.fixture(scope="session")
def engine_library(engine_library_home):
    return open_album(engine_library_home[1])


@pytest.fixture(scope="session")
def engine_server(engine_library_home):
    home, _, env = engine_library_home
    proc, base = start_server(home, env)
    yield base
    proc.terminate()
    proc.wait(10)


# -- AWS stand-in ----------------------------------------------------------------------
# AWS itself cannot be reached from here: moto's server mode (`moto_server`, a real HTTP
# process) stands in for S3, DynamoDB, SQS and CloudFormation.


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server (see moto_stand_in.py) on a free port; boto3 reaches it through the standard
    AWS_ENDPOINT_URL_<SERVICE> variables, set for the session (they matter only to
    code whose settings choose S3 or DynamoDB). moto takes any credentials: it gets the
    Rekognition endpoint's, since boto3's default session keeps the first it reads."""
    from aws_stand_in import start_moto

    proc, url, env = start_moto()
    env |= {"AWS_ACCESS_KEY_ID": ENDPOINT_KEY, "AWS_SECRET_ACCESS_KEY": ENDPOINT_SECRET}
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = os.environ.get("AWS_REGION", "eu-west-1")
    with session_environment(env):
        yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server of the tests' own, for the scaled catalog."""
    from pg import Cluster, wait_ready

    cluster = Cluster(free_port())
    wait_ready(cluster.admin_url())
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def server(library_home: Path):
    proc, base = start_server(library_home)
    yield base
    proc.terminate()
    proc.wait(10)


def serve_copy(library_home: Path, dest: Path, env: dict[str, str]):
    """A server on a copy of the shared library, for tests that change things."""
    home = dest / "home"
    shutil.copytree(library_home, home)
    return start_server(home, env)
