"""Consistent copies of a live catalog, and putting one back, with each engine's own
tools: SQLite's online backup API, PostgreSQL's ``pg_dump`` / ``pg_restore``.

A snapshot also lists what it refers to (pictures and uploads), read from the very
same state the copy holds, so the backup copies exactly the files that state needs.
On PostgreSQL that is one exported snapshot shared by our query and ``pg_dump``.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, select, text

from ..domain import AlbumError, BadInput
from ..ports import CatalogSnapshot
from .catalog_schema import pictures, uploads

FILES = {"sqlite": "catalog.sqlite", "pg_dump": "catalog.pgdump"}


def snapshot(engine: Engine, dest_dir: Path) -> CatalogSnapshot:
    """Write the catalog to ``dest_dir/<file>.partial``; the caller renames it into
    place once the files it refers to are safe, so a killed backup keeps the last one."""
    if engine.dialect.name == "sqlite":
        fmt = "sqlite"
        partial = dest_dir / (FILES[fmt] + ".partial")
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            with engine.connect() as conn:
                source = conn.connection.driver_connection
                assert isinstance(source, sqlite3.Connection)
                source.backup(target)  # one step: a read transaction, writers go on (WAL)
        finally:
            target.close()
        copy = create_engine(f"sqlite:///{partial}")
        try:
            with copy.connect() as conn:
                return _listing(conn, fmt, partial)
        finally:
            copy.dispose()
    if engine.dialect.name == "postgresql":
        fmt = "pg_dump"
        partial = dest_dir / (FILES[fmt] + ".partial")
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snap = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                listing = _listing(conn, fmt, partial)
                _pg(
                    engine,
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-acl",
                    f"--snapshot={snap}",
                    f"--file={partial}",
                )
        return listing
    raise BadInput(f"backup does not know the {engine.dialect.name} catalog")


def restore(engine: Engine, fmt: str, path: Path) -> None:
    """Replace the (empty) catalog behind ``engine`` with the snapshot at ``path``."""
    dialect = engine.dialect.name
    if fmt == "sqlite" and dialect == "sqlite":
        source = sqlite3.connect(path)
        try:
            with engine.connect() as conn:
                target = conn.connection.driver_connection
                assert isinstance(target, sqlite3.Connection)
                source.backup(target)
        finally:
            source.close()
        engine.dispose()
        return
    if fmt == "pg_dump" and dialect == "postgresql":
        _pg(
            engine,
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            str(path),
        )
        engine.dispose()
        return
    raise BadInput(
        f"this backup holds a {fmt} catalog and the album's catalog is {dialect}: "
        "restore into a catalog of the same kind"
    )


def _listing(conn: Connection, fmt: str, partial: Path) -> CatalogSnapshot:
    rows = conn.execute(select(pictures.c.image_id, pictures.c.sha256, pictures.c.original_key))
    return CatalogSnapshot(
        format=fmt,
        file=partial,
        pictures=[(r[0], r[1], r[2]) for r in rows],
        upload_ids=list(conn.execute(select(uploads.c.upload_id)).scalars()),
    )


def _pg(engine: Engine, tool: str, *args: str) -> None:
    url = engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:  # not on the command line, where ps shows it
        env["PGPASSWORD"] = str(url.password)
    dbname = url.set(password=None).render_as_string(hide_password=False)
    try:
        done = subprocess.run(
            [pg_tool(tool), *args, f"--dbname={dbname}"], env=env, capture_output=True, text=True
        )
    except FileNotFoundError as exc:
        raise AlbumError(f"{tool} is needed: apt-get install postgresql-client") from exc
    if done.returncode:
        raise AlbumError(f"{tool} failed: {done.stderr.strip()[-2000:]}")


def pg_tool(name: str) -> str:
    """A PostgreSQL program, from the newest installed version (pg_dump refuses
    servers newer than itself); Debian keeps them in /usr/lib/postgresql/N/bin."""
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return versions[-1] if versions else shutil.which(name) or name
