"""The ``facealbum`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from badfiles import BAD_FILES, PHOTOS
from conftest import cli, other_pixels

from facealbum.importer import reindex
from facealbum.settings import Settings
from facealbum.wiring import open_album


def test_help_documents_every_command(tmp_path):
    out = cli("--help", home=tmp_path).stdout
    for command in ("import", "reindex", "stats", "serve", "worker"):
        assert command in out
    assert "--set" in cli("import", "--help", home=tmp_path).stdout


def test_import_then_reimport_skips_everything(tmp_path):
    home = tmp_path / "home"
    folder = tmp_path / "johns"
    shutil.copytree(PHOTOS / "johns", folder)
    (folder / "notes.txt").write_text("not a photo")
    first = cli("import", str(folder), "--set", "Johns", home=home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "photos/s" in first.stdout
    row = next(line for line in first.stdout.splitlines() if line.count("│") >= 5)
    assert [c.strip() for c in row.split("│")[1:-1]] == ["6", "0", "0", "0", "6", "1"]
    # the import ends by regrouping people, with a progress step of its own
    assert "Grouping people" in first.stdout
    assert "People grouped again: 2 people from 6 faces" in first.stdout
    # again, with one photo's copy whose caption was edited: counted apart, and named
    from test_dedupe import with_exif

    salley = folder / "john_salley" / "000179_02159509.jpg"
    (folder / "c.jpg").write_bytes(with_exif(salley.read_bytes(), description="Salley"))
    again = cli("import", str(folder), "--set", "Johns", home=home)
    row = next(line for line in again.stdout.splitlines() if line.count("│") >= 5)
    # imported, already there, same photo with other metadata, failed, faces, ignored
    assert [c.strip() for c in row.split("│")[1:-1]] == ["0", "6", "1", "0", "0", "1"]
    said = " ".join(again.stdout.split())
    assert "c.jpg: same photo as john_salley/000179_02159509.jpg (pixels equal, metadata" in said
    assert "Grouping people" not in again.stdout  # nothing new: nothing to regroup
    stats = cli("stats", home=home).stdout
    assert "1 sets, 6 pictures, 6 faces" in stats
    featured = open_album(Settings(home=home)).get_set("Johns")[0].featured
    assert featured.name == "john_salley/000179_02159509.jpg"  # the folder's first photo


def test_bad_files_are_reported_and_the_rest_imported(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "mixed"
    shutil.copytree(PHOTOS / "obama", folder)
    for name, (data, _) in BAD_FILES.items():
        (folder / name).write_bytes(data)
    result = cli("import", str(folder), "--set", "Mixed", home=home)
    assert result.returncode == 1  # some files failed
    for name, (_, reason) in BAD_FILES.items():
        assert name in result.stdout and reason in result.stdout, (name, result.stdout)
    album = open_album(Settings(home=home))
    assert sorted(p.name for p in album.get_set("Mixed")[1]) == [
        "obama-480p.jpg",
        "obama.jpg",
        "obama2.jpg",
    ]


def test_unknown_folder_is_a_clear_error(tmp_path):
    result = cli("import", str(tmp_path / "nope"), "--set", "X", home=tmp_path / "home")
    assert result.returncode == 2
    assert "not a folder" in result.stderr


def make_many(folder: Path, copies: int) -> int:
    """Distinct photos from the LFW crops (conftest.other_pixels: a corner strip)."""
    folder.mkdir()
    sources = sorted((PHOTOS / "johns").rglob("*.jpg"))
    for i in range(copies):
        for j, src in enumerate(sources):
            (folder / f"{i:03d}-{j}.jpg").write_bytes(other_pixels(src.read_bytes(), i))
    return copies * len(sources)


def picture_count(home: Path) -> int:
    db = home / "catalog.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from pictures").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_halfway_then_rerun_completes_consistently(tmp_path):
    home, folder = tmp_path / "home", tmp_path / "many"
    total = make_many(folder, 12)
    env = os.environ | {"FACEALBUM_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facealbum",
            "import",
            str(folder),
            "--set",
            "Big",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while picture_count(home) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = picture_count(home)
    assert 10 <= done_before < total, "the kill must land halfway"

    rerun = cli("import", str(folder), "--set", "Big", home=home)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    row = next(line for line in rerun.stdout.splitlines() if line.count("│") >= 5)
    counts = [c.strip() for c in row.split("│")[1:-1]]
    assert counts[:3] == [str(total - done_before), str(done_before), "0"]  # imported, there

    album = open_album(Settings(home=home))
    summary, pictures = album.get_set("Big")
    assert summary.picture_count == len(pictures) == total
    assert len({p.sha256 for p in pictures}) == total
    assert len({p.name for p in pictures}) == total
    originals = set(album.blobs.keys("originals"))
    derived = set(album.blobs.keys("thumbnails"))
    assert originals == {p.original_key for p in pictures}  # no orphans, no duplicates
    assert derived == {p.thumb_key for p in pictures} | {p.preview_key for p in pictures}
    assert all(len(p.faces) == 1 for p in pictures)
    assert album.stats().faces == total


def test_reindex_after_a_setting_change_is_resumable(tmp_path):
    home = tmp_path / "home"
    cli("import", str(PHOTOS / "groups"), "--set", "G", home=home)
    album = open_album(Settings(home=home))
    before = {p.name: len(p.faces) for p in album.get_set("G")[1]}
    nothing = cli("reindex", home=home)
    assert "Reindexed 0 pictures" in nothing.stdout
    env_home = {"FACEALBUM_DETECT_SIZE": "400", "FACEALBUM_DETECT_MAX_UPSCALE": "1"}
    small = subprocess.run(
        [sys.executable, "-m", "facealbum", "reindex", "--set", "G"],
        env=os.environ | {"FACEALBUM_HOME": str(home)} | env_home,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Reindexed 2 pictures" in small.stdout, small.stdout + small.stderr
    after = {p.name: len(p.faces) for p in album.get_set("G")[1]}
    assert after["2007_007763.jpg"] < before["2007_007763.jpg"]  # small faces lost
    back = cli("reindex", home=home)
    assert "Reindexed 2 pictures" in back.stdout
    assert {p.name: len(p.faces) for p in album.get_set("G")[1]} == before
    forced = cli("reindex", "--all", home=home)
    assert "Reindexed 2 pictures" in forced.stdout


def test_reindex_interrupted_resumes_where_it_stopped(tmp_path):
    home = tmp_path / "home"
    cli("import", str(PHOTOS / "johns"), "--set", "J", home=home)
    album = open_album(Settings(home=home, detect_size=500))
    seen: list[str] = []

    def crash_after_two(outcome) -> None:
        seen.append(outcome.image_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reindex(album, workers=1, on_progress=crash_after_two)
    rest = reindex(album, workers=1)
    assert rest.done == 4
    assert len(album.catalog.pictures_needing(album.settings.engine_tag, None)) == 0


def test_stats_reports_storage(tmp_path):
    home = tmp_path / "home"
    cli("import", str(PHOTOS / "nofaces"), "--set", "Animals", home=home)
    out = cli("stats", home=home).stdout
    assert "Animals" not in out and "1 sets, 1 pictures, 0 faces" in out  # a summary
    assert "originals" in out and "KB" in out and "thumbnails" not in out
    out = cli("stats", "--sets", "5", "--storage", home=home).stdout  # sets on request
    assert "Animals" in out and "thumbnails and previews" in out and "--after" not in out


def test_stats_with_a_cursor_of_no_page_says_so_in_a_line(tmp_path):
    """``stats --sets N --after X`` with an X no page gave was BadInput's traceback."""
    done = cli("stats", "--sets", "2", "--after", "zzz", home=tmp_path)
    assert done.returncode == 2 and "invalid cursor" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_stats_loads_neither_the_face_engine_nor_the_index_nor_the_web_stack(tmp_path):
    """``facealbum stats`` reads the counters' row: it opens the catalog, not the whole
    album, whose imports (dlib and its models, faiss, numpy, Pillow, huey) took most of
    its ~2.5 s at a million faces. -X importtime lists every module the command loads."""
    cli("stats", home=tmp_path)  # the catalog made and migrated: not what is measured
    done = cli("stats", home=tmp_path, env_extra={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0 and "0 sets, 0 pictures, 0 faces" in done.stdout, done.stderr
    loaded = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert {"facealbum", "sqlalchemy"} <= loaded  # the probe sees the command's imports
    heavy = {"dlib", "face_recognition_models", "faiss", "numpy", "PIL", "huey", "fastapi"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_batch_keeps_a_bounded_number_of_photos_in_flight():
    """Results carry whole photos back: a huge folder must not queue them all at once."""
    from concurrent.futures import ThreadPoolExecutor

    from facealbum.importer import _Window

    pulled = 0

    def jobs():
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield i, pow, (i, 2)

    seen = []
    with ThreadPoolExecutor(4) as pool:
        for tag, future in _Window(pool, 5, jobs()):
            assert pulled - len(seen) <= 5 + 1  # the window and the one handed out
            seen.append((tag, future.result()))
    assert sorted(seen) == [(i, i * i) for i in range(50)]
