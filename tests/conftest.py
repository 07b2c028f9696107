"""Shared fixtures: real photos, the real model, a real SQLite file, a real server."""

from __future__ import annotations

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


def cli(*args: str, home: Path, **kwargs) -> subprocess.CompletedProcess:
    env = os.environ | {"FACEALBUM_HOME": str(home), "COLUMNS": "200"}
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
    env = os.environ | {"FACEALBUM_HOME": str(home)} | (extra_env or {})
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
