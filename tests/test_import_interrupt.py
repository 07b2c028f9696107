"""An import stopped with Ctrl-C leaves nothing behind that `facealbum check` finds.

Each photo's faces are indexed in a worker before the parent writes its picture row,
so a Ctrl-C (SIGINT to the terminal's whole process group: the CLI and its workers)
used to leave the faces of the photos in flight in the collection with no picture
listing them (2-3 "orphan-faces", for `check --repair` to clear)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

from badfiles import PHOTOS
from conftest import other_pixels
from PIL import Image

from facealbum.settings import Settings
from facealbum.wiring import open_album


def _photos(folder, count: int) -> None:
    """``count`` distinct small photos of two faces each (none skipped as a copy)."""
    with Image.open(PHOTOS / "groups" / "two_people.jpg") as img:
        img.thumbnail((640, 640))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=90)
    folder.mkdir()
    for i in range(count):
        (folder / f"{i:03d}.jpg").write_bytes(other_pixels(buf.getvalue(), i))


def test_ctrl_c_during_an_import_leaves_no_orphan_faces(tmp_path):
    folder, home = tmp_path / "photos", tmp_path / "home"
    _photos(folder, 40)
    env = os.environ | {"FACEALBUM_HOME": str(home), "FACEALBUM_ORPHAN_FACE_GRACE": "0"}
    command = [sys.executable, "-m", "facealbum"]
    album = open_album(Settings(home=home))  # made (migrated) here: then only read
    # a session of its own, as a terminal's job: SIGINT goes to every process in it
    proc = subprocess.Popen(
        [*command, "import", str(folder), "--set", "trip", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        stored = 0
        while stored < 3:  # both workers busy, results in flight: Ctrl-C now
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the import stored nothing in 120 s"
            time.sleep(0.05)
            found = album.catalog.get_set("trip")
            stored = found.picture_count if found else 0
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130 and b"Interrupted" in stderr, stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = album.catalog.get_set("trip")
    assert left is not None and 3 <= left.picture_count < 40  # stopped midway
    check = subprocess.run(
        [*command, "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert "orphan-faces" not in check.stdout, check.stdout
    assert check.returncode == 0, check.stdout + check.stderr


def _report_sigint(out) -> None:
    out.put(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)


def test_import_workers_ignore_ctrl_c_from_their_start(tmp_path):
    """A spawned worker imports facealbum (PIL, dlib...) for a second or two before its
    initializer ignores SIGINT: a Ctrl-C then printed a KeyboardInterrupt traceback
    per worker and the pool's InvalidStateError. They start with SIGINT ignored (a
    process of the pool's context, without the initializer, says so)."""
    from facealbum.importer import _pool

    album = open_album(Settings(home=tmp_path / "home"))
    pool = _pool(album, 1, 1, frozenset())
    context = pool._mp_context  # noqa: SLF001 - what the pool starts its workers with
    out = context.Queue()
    worker = context.Process(target=_report_sigint, args=(out,))
    worker.start()
    assert out.get(timeout=120) is True
    worker.join(30)
    pool.shutdown()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the parent's own


def _sigint_ignored() -> bool:
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_the_servers_worker_processes_leave_ctrl_c_to_the_server(tmp_path):
    """Ctrl-C on ``facealbum serve`` after a search by photo printed its worker's
    KeyboardInterrupt traceback (the worker waiting for work got the terminal's
    SIGINT too); uvicorn stops the server, and its workers with it."""
    from facealbum.wiring import make_blobs
    from facealbum.workers import AnalysisPool

    settings = Settings(home=tmp_path / "home")
    pool = AnalysisPool(settings, make_blobs(settings), workers=1)
    executor = pool._executor(1, None)  # noqa: SLF001 - what it starts its workers with
    try:
        assert executor.submit(_sigint_ignored).result(timeout=120)
    finally:
        executor.shutdown()


def test_ctrl_c_just_after_a_picture_is_committed_keeps_its_faces(tmp_path, monkeypatch):
    """A Ctrl-C landing in ``store`` after the picture's row was committed (its counts,
    the content lock's release) made it forget the picture's faces from the collection
    while the picture stayed: ``check`` found "missing-faces" (test above, ~1 run in 3
    under load). It forgets only faces no picture lists."""
    import pytest

    from facealbum.importer import import_folder

    folder, home = tmp_path / "photos", tmp_path / "home"
    _photos(folder, 1)
    album = open_album(Settings(home=home))
    add = album.catalog.add_picture

    def add_then_interrupted(*args, **kwargs):
        add(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(album.catalog, "add_picture", add_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_folder(album, folder, "trip", workers=1)
    env = os.environ | {"FACEALBUM_HOME": str(home), "FACEALBUM_ORPHAN_FACE_GRACE": "0"}
    check = subprocess.run(
        [sys.executable, "-m", "facealbum", "check"], env=env, capture_output=True, text=True
    )
    assert album.catalog.get_set("trip").picture_count == 1
    assert check.returncode == 0, check.stdout + check.stderr


def test_ctrl_c_while_a_photo_is_stored_waits_for_the_photo():
    """A Ctrl-C that came while a photo was stored and placed used to interrupt it
    between a placement's commit and its persons' recount (CI: `check` found two
    persons' counts stale). It now takes effect when the photo is done, as Python's
    own KeyboardInterrupt."""
    import pytest

    from facealbum.importer import _whole_before_ctrl_c

    done = []
    with pytest.raises(KeyboardInterrupt), _whole_before_ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run by now: nothing was raised here
        done.append("the photo")
    assert done == ["the photo"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
