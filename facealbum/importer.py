"""Batch work over many photos on every core: the original's bulk-upload script
(:func:`import_folder`) and its maintenance pass (:func:`reindex`).

Worker processes do the CPU work (hash, decode, thumbnail) and the face work (index
the faces into the album's collection: dlib in the worker, or a Rekognition call) and
hand the results back; this process alone writes blobs and picture rows. Files whose
content is already in the set are recognised by hash in the
worker and skipped before any decoding, which is what makes a re-run after a crash
cheap: it finishes only what is missing.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .domain import AlbumError, Picture, check_picture_name, check_set_name
from .imaging import SUFFIXES
from .ingest import Analysis, analyze, hash_stream, index_faces, new_image_id, store
from .settings import Settings
from .workers import exit_with_parent, return_memory_promptly, trim_memory

if TYPE_CHECKING:  # workers import this module: keep their start light
    from .album import Album
    from .people.grouping import GroupingReport, Placements

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Outcome:
    name: str
    status: str  # imported | skipped | failed
    reason: str = ""
    faces: int = 0
    image_id: str = ""
    # of a skipped file, what it shares with the set's picture: "file" (the same bytes)
    # or "pixels" (the same photo, its metadata edited: ingest.pixel_sha256)
    duplicate: str = ""


@dataclass
class ImportReport:
    set_name: str
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: int = 0
    seconds: float = 0.0
    people: GroupingReport | None = None  # the regrouping at the end, if it ran here

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def duplicates(self, kind: str) -> list[Outcome]:
        """The files skipped as ``kind`` ("file" or "pixels") duplicates of the set's."""
        return [o for o in self.outcomes if o.status == "skipped" and o.duplicate == kind]

    @property
    def faces(self) -> int:
        return sum(o.faces for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def find_photos(folder: Path) -> tuple[list[Path], int]:
    """Photos under folder, sorted, and how many other files were passed over."""
    photos, ignored = [], 0
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_file() and not path.is_symlink():
            if path.suffix.lower() in SUFFIXES:
                photos.append(path)
            else:
                ignored += 1
    return photos, ignored


# -- worker side ------------------------------------------------------------------

_worker: dict = {}


def _init_worker(settings_json: str, known: frozenset[str]) -> None:
    # the collection and the blobs alone: no Alembic or huey
    from .wiring import make_blobs, make_collection

    # Ctrl-C reaches the terminal's whole process group: the parent stops the import
    # and settles what is in flight (_settle); a worker killed mid-photo would leave
    # faces indexed that nobody knows of
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return_memory_promptly()
    exit_with_parent()
    settings = Settings.model_validate_json(settings_json)
    _worker.update(
        settings=settings,
        collection=make_collection(settings),
        blobs=make_blobs(settings),
        known=known,
    )


def _work(path: str, name: str) -> tuple[Analysis | None, str]:
    """(analysis, error); no analysis and no error: the set has this photo.

    The parent writes the blobs, streaming the original from its file: it is mostly
    idle, so their fsyncs cost nothing there, while in a worker they would stall a core
    (measured: 0.86 vs 0.92 of the limit)."""
    try:
        check_picture_name(name)
        with open(path, "rb") as fh:
            sha, _ = hash_stream(fh)
            if sha in _worker["known"]:
                return None, ""
            mtime = os.fstat(fh.fileno()).st_mtime
            analysis = analyze(fh, _worker["settings"], sha256=sha, name=name, mtime=mtime)
        return index_faces(_worker["collection"], analysis, new_image_id()), ""
    except AlbumError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    except Exception as exc:  # a bug or a library surprise must not stop the import
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        trim_memory()


def _reanalyze(key: str, image_id: str) -> Analysis:
    """The picture's faces, indexed afresh under its id (the parent swaps them in and
    forgets the old ones)."""
    try:
        with _worker["blobs"].open("originals", key) as fh:
            analysis = analyze(fh, _worker["settings"], renditions=False, capture=False)
        return index_faces(_worker["collection"], analysis, image_id)
    finally:
        trim_memory()


# -- main side --------------------------------------------------------------------


def import_folder(
    album: Album,
    folder: Path,
    set_name: str,
    *,
    workers: int | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[Outcome], None] = lambda outcome: None,
    regroup: bool = True,
    on_grouping_start: Callable[[int], None] = lambda total: None,
    on_grouping_progress: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Import a folder's photos into a set; each new face is placed with its person as
    it is stored, and, if the import added faces (and ``regroup``), the album's people
    are regrouped at the end (people/regroup.py: one runner per album; if another is at
    it, it runs once more after), with its own progress: ``on_grouping_start(faces)``,
    then ``on_grouping_progress()`` per face compared."""
    set_name = check_set_name(set_name)
    folder = Path(folder)
    if not folder.is_dir():
        raise AlbumError(f"not a folder: {folder}")
    photos, ignored = find_photos(folder)
    if not photos:  # a wrong folder: say so, rather than "0 imported" and success
        raise AlbumError(f"no photos in {folder} ({ignored} other files)")
    report = ImportReport(set_name, ignored=ignored)
    on_start(len(photos))
    started = time.perf_counter()
    known = frozenset(album.catalog.hashes_in_set(set_name))
    before = album.catalog.get_set(set_name)
    from .people.grouping import Placements

    # the persons' users follow in batches, by time; their representatives once, at
    # the end (a person that gains a face in every photo is chosen once, not each time)
    placements = Placements(
        album, seconds=album.settings.people_follow_seconds, representatives_at_end=True
    )
    with _pool(album, workers, len(photos), known) as pool:
        names = {p: p.relative_to(folder).as_posix() for p in photos}
        jobs = ((p, _work, (str(p), names[p])) for p in photos)
        windowed = _Window(pool, _window(album, workers), jobs)
        try:
            for path, future in windowed:
                with _whole_before_ctrl_c():
                    outcome = _finish(album, set_name, path, names[path], future, placements)
                report.outcomes.append(outcome)
                on_progress(outcome)
        except BaseException:  # Ctrl-C, or a catalog gone: no faces left unlisted
            _settle(album, windowed.stop())
            raise
        finally:
            placements.flush()
    if before is None or before.featured is None:
        cover = featured_choice(report.outcomes)
        if cover:
            album.catalog.set_featured(set_name, cover)
    if regroup and any(o.faces for o in report.outcomes if o.status == "imported"):
        from .people import regroup as regrouping

        try:
            report.people = regrouping.run_now(album, on_grouping_start, on_grouping_progress)
        except Exception:  # the photos are in, their faces placed: never fail the import
            log.warning("could not regroup people; `people recluster` will", exc_info=True)
    placements.refresh_representatives()  # after the regrouping: once per person
    report.seconds = time.perf_counter() - started
    return report


def featured_choice(outcomes: list[Outcome]) -> str | None:
    """The image id a new set is shown by: its first photo by name that has faces (an
    album of people is best introduced by one), else its first photo; None if nothing
    was imported. By name, not by arrival: workers finish in any order."""
    imported = sorted((o for o in outcomes if o.status == "imported"), key=lambda o: o.name)
    with_faces = [o for o in imported if o.faces]
    return (with_faces or imported)[0].image_id if imported else None


def _worker_count(album: Album, workers: int | None) -> int:
    return workers or album.settings.process_count


class _QuietProcess(multiprocessing.context.SpawnProcess):
    """A worker that starts with SIGINT ignored (inherited through exec): its imports
    take a second or two before :func:`_init_worker` runs, and a Ctrl-C then printed a
    KeyboardInterrupt traceback per worker and broke the pool (InvalidStateError)."""

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return super().start()  # signal.signal is the main thread's alone
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().start()
        finally:
            signal.signal(signal.SIGINT, before)


class _QuietSpawn(multiprocessing.context.SpawnContext):
    Process = _QuietProcess


def _pool(
    album: Album, workers: int | None, jobs: int, known: frozenset[str]
) -> ProcessPoolExecutor:
    """Spawned, not forked: the parent may hold database connections and threads."""
    return ProcessPoolExecutor(
        max_workers=max(1, min(_worker_count(album, workers), jobs or 1)),
        mp_context=_QuietSpawn(),
        initializer=_init_worker,
        initargs=(album.settings.model_dump_json(), known),
    )


def _window(album: Album, workers: int | None) -> int:
    """Jobs in flight: enough to keep every worker busy, few enough that the photos
    they carry back (originals, previews) never pile up in memory."""
    return 2 * _worker_count(album, workers) + 2


class _Window(Iterator[tuple[T, Future]]):
    """Submit (tag, fn, args) jobs lazily, at most ``window`` at a time; iterate
    (tag, future) as each completes. :meth:`stop` cancels the jobs not started and
    returns the futures whose results nobody took yet: the one last handed out and
    those still running or done."""

    def __init__(
        self, pool: Executor, window: int, jobs: Iterable[tuple[T, Callable[..., object], tuple]]
    ):
        self.pool, self.window, self.queue = pool, window, iter(jobs)
        self.pending: dict[Future, T] = {}
        self.last: Future | None = None
        self._refill()

    def _refill(self) -> None:
        for tag, fn, args in self.queue:
            self.pending[self.pool.submit(fn, *args)] = tag
            if len(self.pending) >= self.window:
                return

    def __next__(self) -> tuple[T, Future]:
        self.last = None
        if not self.pending:
            raise StopIteration
        done = next(as_completed(self.pending))
        tag = self.pending.pop(done)
        self.last = done
        self._refill()
        return tag, done

    def stop(self) -> list[Future]:
        self.queue = iter(())
        left = [f for f in self.pending if not f.cancel()]
        self.pending.clear()
        return [self.last, *left] if self.last is not None else left


@contextlib.contextmanager
def _whole_before_ctrl_c() -> Iterator[None]:
    """Ctrl-C (SIGINT) waits for the step inside to end, then interrupts: a photo is
    stored and placed whole. A KeyboardInterrupt between a placement's commit and its
    persons' recount (catalog_sql_people.assign_faces: two transactions) left their
    counts stale for `check`. Only the main thread can take SIGINT's handler; anywhere
    else (an import a web job runs) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if caught and callable(before):
        before(signal.SIGINT, None)  # Python's default handler: KeyboardInterrupt


def _settle(album: Album, futures: list[Future]) -> None:
    """After an import or reindex stopped early: wait for the photos the workers are
    on (they ignore SIGINT: a photo takes a second or two) and forget every face they,
    or the photo being stored, indexed that no picture lists. Never raises: what it
    cannot do, ``check --repair`` does."""
    try:
        ids: list[str] = []
        for future in futures:
            try:
                result = future.result()
            except Exception:  # a worker that crashed, or a job cancelled: nothing
                continue
            analysis = result[0] if isinstance(result, tuple) else result
            if isinstance(analysis, Analysis):
                ids += [f.face_id for f in analysis.faces]
        if ids:
            listed = album.catalog.faces_of(ids)
            album.collection.forget([f for f in ids if f not in listed])
    except Exception:
        log.warning("could not forget the faces of the photos in flight", exc_info=True)


def _finish(
    album: Album, set_name: str, path: Path, name: str, future: Future, placements: Placements
) -> Outcome:
    try:
        analysis, error = future.result()
    except Exception as exc:  # a worker died (out of memory, a native crash)
        return Outcome(name, "failed", f"worker crashed: {exc}")
    if error:
        return Outcome(name, "failed", error)
    if analysis is None:
        return Outcome(name, "skipped", "already in the set", duplicate="file")
    try:
        with path.open("rb") as fh:
            stored = store(
                album.blobs,
                album.catalog,
                album.collection,
                set_name,
                name,
                fh,
                analysis,
                album.settings.engine_tag,
            )
    except AlbumError as exc:
        return Outcome(name, "failed", str(exc))
    except Exception as exc:  # one file must never end an import: report it, go on
        log.exception("storing %s failed", name)
        return Outcome(name, "failed", f"could not be stored: {type(exc).__name__}: {exc}")
    if stored.status == "duplicate":
        return duplicate_outcome(name, stored.picture.name, stored.same, stored.picture.image_id)
    placements.add(album.place_people(stored.picture, follow=False))
    return Outcome(name, "imported", faces=len(analysis.faces), image_id=stored.picture.image_id)


def duplicate_outcome(name: str, existing: str, same: str, image_id: str) -> Outcome:
    """A file skipped because the set has its photo: the same file, or the same pixels
    under other metadata (a caption edited), said so."""
    if same == "pixels":
        reason = f"same photo as {existing} (pixels equal, metadata differs)"
    else:
        reason = f"same file as {existing}"
    return Outcome(name, "skipped", reason, image_id=image_id, duplicate=same or "file")


@dataclass
class ReindexReport:
    done: int = 0
    faces: int = 0
    failed: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0


def reindex(
    album: Album,
    set_name: str | None = None,
    *,
    everything: bool = False,
    workers: int | None = None,
    on_start: Callable[[int], None] = lambda total: None,
    on_progress: Callable[[Outcome], None] = lambda outcome: None,
) -> ReindexReport:
    """Index again every picture analysed with other face settings (or another face
    engine or collection) than the current ones, or all with ``everything``. Each
    picture's new faces are indexed first, then swapped into the catalog in one
    transaction that marks it with the current settings and keeps the owner's work
    (people.swap_faces: the same face keeps its person, owner flag, rejections and
    cover), then the old ones are forgotten; a killed run picks up where it stopped
    (a Ctrl-C forgets what it indexed for the pictures in flight; a kill leaves that
    for ``check --repair``), and
    every run ends by mirroring the people as users, so a re-run converges. NotFound
    for a ``set_name`` the album has no set of (a typo would otherwise reindex nothing
    and succeed)."""
    from .people.users_mirror import mirror_quietly

    if set_name is not None:
        set_name = album.get_set(set_name, limit=0)[0].name
    tag = album.settings.engine_tag
    if everything:
        album.catalog.mark_stale(set_name)
    ids = album.catalog.pictures_needing(tag, set_name)
    report = ReindexReport()
    on_start(len(ids))
    started = time.perf_counter()

    def jobs() -> Iterator[tuple[Picture, Callable[..., object], tuple]]:
        for image_id in ids:
            picture = album.catalog.get_picture(image_id)
            if picture is None:  # deleted meanwhile: nothing to do
                on_progress(Outcome(image_id, "skipped", "deleted meanwhile"))
                continue
            yield picture, _reanalyze, (picture.original_key, picture.image_id)

    with _pool(album, workers, len(ids), frozenset()) as pool:
        window = _Window(pool, _window(album, workers), jobs())
        try:
            for picture, future in window:
                with _whole_before_ctrl_c():
                    _reindexed(album, picture, future, report, on_progress)
        except BaseException:  # Ctrl-C: the new faces no swap took are forgotten
            _settle(album, window.stop())
            raise
    mirror_quietly(album, None)  # what a killed run left behind is mirrored too
    report.seconds = time.perf_counter() - started
    return report


def _reindexed(
    album: Album,
    picture: Picture,
    future: Future,
    report: ReindexReport,
    on_progress: Callable[[Outcome], None],
) -> None:
    """One re-analysed picture's new faces swapped in, or why not, reported."""
    from .people.grouping import swap_faces

    def fail(reason: str) -> None:
        outcome = Outcome(picture.name, "failed", reason, image_id=picture.image_id)
        report.failed.append(outcome)
        on_progress(outcome)

    try:
        analysis = future.result()
        faces = analysis.faces
        if swap_faces(album, picture, faces) is None:
            on_progress(Outcome(picture.name, "skipped", "deleted meanwhile"))
            return
        if analysis.pixel_sha256 and analysis.pixel_sha256 != picture.pixel_sha256:
            # a picture from before pixel hashes (or decoded at another size) gets its
            # own; not if an old copy of the photo in its set has it: both stay as were
            album.catalog.set_pixel_sha256(picture.image_id, analysis.pixel_sha256)
    except KeyError:
        if album.catalog.get_picture(picture.image_id) is None:  # deleted meanwhile
            on_progress(Outcome(picture.name, "skipped", "deleted meanwhile"))
        else:
            fail("its original is missing from the blob store (see check)")
        return
    except Exception as exc:  # report this picture, go on with the rest
        fail(f"{type(exc).__name__}: {exc}")
        return
    report.done += 1
    report.faces += len(faces)
    on_progress(Outcome(picture.name, "imported", faces=len(faces), image_id=picture.image_id))
