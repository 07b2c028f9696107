"""`facealbum check [--repair]` on an album damaged on purpose, through the real CLI."""

from __future__ import annotations

import shutil

from conftest import PHOTOS, cli

from facealbum.settings import Settings
from facealbum.wiring import open_album


def test_check_finds_each_kind_of_damage_and_repairs_what_it_can(library_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    assert cli("check", home=home).returncode == 0  # a healthy album
    album = open_album(Settings(home=home))
    pictures = {p.name: p for p in album.get_set("fixtures")[1]}
    blobs = home / "blobs"
    (blobs / "thumbnails" / pictures["obama/obama.jpg"].thumb_key).unlink()
    damaged = pictures["biden/biden.jpg"]
    path = blobs / "originals" / damaged.original_key
    path.write_bytes(path.read_bytes()[:-100] + b"\0" * 100)
    stray = blobs / "originals" / "ab" / ("ab" + "0" * 62 + ".jpg")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes((PHOTOS / "nofaces" / "dog.jpg").read_bytes())
    (blobs / "incoming" / "no-such-upload").write_bytes(b"left behind")

    report = cli("check", home=home)
    assert report.returncode == 1
    for expected in ("missing-rendition", "damaged-original", "orphan-blob", "biden/biden.jpg"):
        assert expected in report.stdout, report.stdout
    assert stray.exists()  # a check alone changes nothing

    repaired = cli("check", "--repair", home=home)
    assert repaired.returncode == 1  # the damaged original cannot be repaired here
    assert (blobs / "thumbnails" / pictures["obama/obama.jpg"].thumb_key).exists()
    assert not stray.exists()
    assert (home / "lost+found" / "originals" / stray.relative_to(blobs / "originals")).exists()
    assert (home / "lost+found" / "incoming" / "no-such-upload").read_bytes() == b"left behind"

    again = cli("check", home=home)
    assert "damaged-original" in again.stdout
    assert "missing-rendition" not in again.stdout and "orphan-blob" not in again.stdout
