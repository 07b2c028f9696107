"""A throwaway PostgreSQL server for the catalog's contract tests.

PostgreSQL is the scaled catalog: the same SqlCatalog code on another URL. The tests
start their own cluster (trust auth, loopback only, a temporary folder) so they need
nothing set up beforehand; FACEALBUM_TEST_POSTGRES names an existing server instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from facealbum.adapters.catalog_backup import pg_tool


def _bin(name: str) -> str:
    found = pg_tool(name)
    if not (Path(found).is_file() or shutil.which(found)):
        raise RuntimeError(f"PostgreSQL's {name} is needed: apt-get install postgresql")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: hand the server to the postgres account."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Cluster:
    def __init__(self, port: int):
        self.dir = Path(tempfile.mkdtemp(prefix="facealbum-pg-"))
        self.port = port
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = str(self.dir / "data")
        subprocess.run(
            _as_postgres(
                [_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        subprocess.run(
            _as_postgres(
                [_bin("pg_ctl"), "-D", data, "-o", opts, "-l", str(self.dir / "log"), "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        self.data = data
        self._n = 0

    def new_database(self) -> str:
        import psycopg

        self._n += 1
        name = f"facealbum_{self._n}"
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_ready(url: str, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
