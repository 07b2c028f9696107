"""A full disk, for real: the album lives on a small tmpfs mounted for the test. An
upload that does not fit gets a clear error, nothing is half-written, the album stays
readable, and the same upload works once space is freed."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PHOTOS, cli
from test_trust_web import Server, owner_client, upload, wait_done

from facealbum.domain import StorageFull
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode:  # a container without CAP_SYS_ADMIN: the one thing we cannot do
        pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave: int) -> Path:
    """Fill the filesystem until only about ``leave`` bytes are free."""
    filler = path / "filler"
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    with filler.open("wb") as fh:
        remaining = max(0, free - leave)
        while remaining > 0:
            n = min(remaining, 1 << 20)
            try:
                fh.write(b"\0" * n)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
            remaining -= n
    return filler


def test_a_full_disk_gives_a_clear_error_and_loses_nothing(tmp_path):
    with small_disk(tmp_path / "disk", "24m") as disk:
        home = disk / "home"
        album = open_album(Settings(home=home))
        assert import_folder(album, PHOTOS / "obama", "Obama", workers=1).count("failed") == 0
        server = Server(home, FACEALBUM_MIN_FREE_BYTES="200000")
        try:
            big = (PHOTOS / "groups" / "two_people.jpg").read_bytes()
            filler = fill(disk, leave=len(big) // 2)
            with owner_client(server.base) as c:
                r = c.post("/api/sets/Obama/pictures", files=[("files", ("two.jpg", big))])
                assert r.status_code == 202, r.text
                [refused] = r.json()["uploads"]
                assert refused["status"] == "failed"
                assert "storage is full" in refused["error"]
                # the album is still there for visitors and the owner
                sets = httpx.get(f"{server.base}/api/sets").json()["sets"]
                assert sets[0]["name"] == "Obama" and sets[0]["picture_count"] == 3
                pic = httpx.get(f"{server.base}/api/sets/Obama").json()["pictures"][0]
                assert httpx.get(server.base + pic["thumb_url"]).status_code == 200
                face = pic["faces"][0]["face_id"]
                assert httpx.get(f"{server.base}/api/faces/{face}/matches").status_code == 200
                # nothing half-written: no partial blob, no row without its file
                assert list((home / "blobs" / ".tmp").iterdir()) == []
                assert list((home / "blobs" / "incoming").iterdir()) == []

                fd = os.open(filler, os.O_WRONLY | os.O_APPEND)  # not even a page fits now
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * 4096)
                os.close(fd)
                r = c.patch("/api/sets/Obama", json={"name": "Barack"})
                assert r.status_code == 507, r.text
                assert "no space left" in r.json()["error"]
                assert httpx.get(f"{server.base}/api/sets").json()["sets"][0]["name"] == "Obama"
                with pytest.raises(StorageFull, match="nothing was stored"):
                    album.blobs.put("originals", "ab/cd.jpg", big, "image/jpeg")
                assert list((home / "blobs" / ".tmp").iterdir()) == []

                filler.unlink()  # space again: the same photo goes in
                done = wait_done(c, upload(c, "Obama", "two.jpg", big))
                assert done["status"] == "added" and done["faces"] == 2
        finally:
            server.stop()
        check = cli("check", home=home)
        assert check.returncode == 0, check.stdout + check.stderr
        shutil.rmtree(home)
