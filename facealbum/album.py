"""The album: the core's one facade over the ports.

It owns no storage of its own: pictures live in the catalog and the blob store, faces
in the album's collection on the faces port (dlib here, or Rekognition), which any
process (an import, the job worker, the web server) may write.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from . import set_jobs
from .collection import AlbumCollection
from .domain import (
    AlbumError,
    BadInput,
    Face,
    NotFound,
    Person,
    Picture,
    SetGone,
    SetSummary,
    Stats,
    StorageFull,
    Upload,
    as_stored,
    check_picture_name,
    check_set_name,
)
from .ingest import (
    Stored,
    analyze,
    content_lock,
    drop_unused_blobs,
    index_faces,
    new_image_id,
    store,
    stream_size,
)
from .ports import BlobStore, Catalog, JobQueue
from .quality import QualityRule
from .search import SearchResult, search_face
from .settings import Settings
from .workers import AnalysisPool

log = logging.getLogger(__name__)


@dataclass
class Album:
    settings: Settings
    blobs: BlobStore
    catalog: Catalog
    collection: AlbumCollection
    queue: JobQueue

    def __post_init__(self) -> None:
        self.analyzer = AnalysisPool(self.settings, self.blobs)
        self.queue.register("ingest_upload", self.process_upload)
        self.queue.register("regroup_people", self.regroup_people)
        self.queue.register(set_jobs.TASK, self.run_set_job)

    def close(self) -> None:
        """Stop the worker processes (the web server calls this on shutdown)."""
        self.analyzer.close()

    # -- uploads: accepted at once, processed in worker processes, never lost ----------

    def submit_upload(
        self, set_name: str, name: str, data: bytes | BinaryIO, size: int | None = None
    ) -> Upload:
        """Keep the upload in the ``incoming`` bucket and process it in the background,
        as the original design's bucket trigger did. Unsafe names are refused at once.
        ``data`` may be an open file: it is streamed, never read whole."""
        if not self.settings.web_uploads:
            raise BadInput(
                "this album takes new photos in its originals bucket, not through the site: "
                "facealbum aws import FOLDER --set NAME (or any upload to SET/FILE there)"
            )
        set_name, name = check_set_name(set_name), check_picture_name(name)
        self._refuse_busy(set_name)
        if size is None:
            size = len(data) if isinstance(data, bytes | bytearray) else stream_size(data)
        if size > self.settings.max_file_bytes:
            raise BadInput(f"file too large: {size} bytes (limit {self.settings.max_file_bytes})")
        self._check_room(name, size)
        upload = Upload(str(uuid.uuid4()), set_name, name, "queued")
        self.blobs.put("incoming", upload.upload_id, data, "application/octet-stream")
        try:
            self.catalog.create_set(set_name)
            self.catalog.add_upload(upload)  # from here on it is recovered if anything dies
        except BaseException:  # not accepted: its file must not stay behind
            self.blobs.delete("incoming", upload.upload_id)
            raise
        try:
            self.queue.enqueue("ingest_upload", upload_id=upload.upload_id)
        except Exception:  # e.g. a full disk under the queue: recover_uploads queues it
            log.warning("could not queue upload %s; it is queued again later", upload.upload_id)
        return upload

    def place_people(self, picture: Picture, follow: bool = True) -> dict[str, str]:
        """Put a new picture's faces with their people (face id -> person; without
        ``follow`` the persons' users and representatives are left to the caller, see
        people.grouping.Placements). Never fails the picture: if it cannot be done now,
        the next ``people recluster`` does it."""
        from .people.grouping import place_faces

        try:
            return place_faces(self, picture, follow=follow)
        except Exception:
            log.warning("could not place the faces of %s in people", picture.name, exc_info=True)
            return {}

    def _request_regroup(self) -> None:
        """An upload's faces were placed: regroup people once its batch has ended
        (people/regroup.py). Never fails the upload."""
        from .people import regroup

        try:
            regroup.request(self)
        except Exception:
            log.warning("could not request a regrouping of people", exc_info=True)

    def regroup_people(self, **_: object) -> None:
        """The job queue's task: the people regrouping that became due (queued by
        :meth:`run_jobs`), unless another runner has it."""
        from .people import regroup

        regroup.run(self, due_only=True)

    def _check_room(self, name: str, size: int) -> None:
        """Accept an upload only if what is accepted can still be processed: each queued
        file is copied into the originals before its incoming copy goes, and the catalog
        grows too, so the waiting files' size plus a margin must stay free."""
        free = self.blobs.free_bytes()
        if free is None:
            return
        waiting = self.blobs.size("incoming")
        need = size + waiting + self.settings.min_free_bytes
        if free < need:
            raise StorageFull(
                f"the album's storage is full: {name!r} needs {_mb(need)} free "
                f"({_mb(waiting)} of uploads waiting to be processed, "
                f"{_mb(self.settings.min_free_bytes)} kept free), {_mb(free)} is; "
                "free some space or wait for the queued uploads"
            )

    def process_upload(self, upload_id: str, **_legacy: object) -> Upload | None:
        """Run one queued upload, if no other runner holds it and it is not done.

        The claim is a lease renewed while the work runs; if this process dies, the
        lease runs out and :meth:`recover_uploads` queues the upload again. A refused
        file is dropped with its reason recorded; on any other failure (a bug, a full
        disk) the file is kept and the owner is told instead of waiting forever."""
        upload = self.catalog.claim_upload(upload_id, self.settings.upload_lease_seconds)
        if upload is None:
            if not self.catalog.get_uploads([upload_id]):  # its set was deleted
                self.blobs.delete("incoming", upload_id)
            return None
        started = time.monotonic()
        with self._lease(upload_id):
            upload, drop = self._run_upload(upload)
        self.catalog.finish_upload(upload)
        log.info(  # one line per processed upload, beside the server's access log
            "upload %s into %r: %s%s (%d faces, %.1f s)",
            upload.name, upload.set_name, upload.status,
            f": {upload.error}" if upload.error else "",
            upload.faces or 0, time.monotonic() - started,
        )  # fmt: skip
        if drop:
            self.blobs.delete("incoming", upload_id)
        return upload

    def _run_upload(self, upload: Upload) -> tuple[Upload, bool]:
        """(the upload's outcome, whether its file can go)."""
        key = upload.upload_id
        try:
            analysis = self.analyzer.analyze("incoming", key, new_image_id(), upload.name)
            for _ in range(5):  # its set may be renamed while this runs; follow it
                try:
                    with self.blobs.open("incoming", key) as fh:
                        stored = store(
                            self.blobs,
                            self.catalog,
                            self.collection,
                            upload.set_name,
                            upload.name,
                            fh,
                            analysis,
                            self.settings.engine_tag,
                            create_set=False,
                        )
                    break
                except SetGone:
                    now = self.catalog.get_uploads([key])
                    if not now or now[0].set_name == upload.set_name:
                        self.collection.forget([f.face_id for f in analysis.faces])
                        return _failed(upload, "its set was deleted"), True
                    upload.set_name = now[0].set_name
            else:
                self.collection.forget([f.face_id for f in analysis.faces])
                return _failed(upload, "its set kept changing; try again"), False
        except BadInput as exc:
            return _failed(upload, str(exc)), True
        except KeyError:
            return _failed(upload, "its file is missing from the incoming bucket"), True
        except Exception as exc:
            log.exception("upload %s failed", key)
            return _failed(upload, f"could not be processed ({exc}); the file is kept"), False
        if stored.status == "added":
            self.place_people(stored.picture)
            if stored.picture.faces:
                self._request_regroup()
        upload.status, upload.duplicate = stored.status, stored.same or None
        upload.image_id = stored.picture.image_id
        upload.faces = len(stored.picture.faces)
        upload.name = stored.picture.name
        upload.error = None
        return upload, True

    @contextmanager
    def _lease(self, upload_id: str) -> Iterator[None]:
        """Renew the claim on an upload every third of its lease while it is worked on."""
        done = threading.Event()
        every = self.settings.upload_lease_seconds / 3

        def renew() -> None:
            while not done.wait(every):
                try:
                    self.catalog.renew_upload(upload_id, self.settings.upload_lease_seconds)
                except Exception:  # a busy database: the next renewal will do
                    log.warning("could not renew the lease on upload %s", upload_id)

        thread = threading.Thread(target=renew, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def recover_uploads(self) -> int:
        """Queue again every upload whose runner died or whose job was lost: what makes
        an accepted upload survive a ``kill -9`` of the server. Run at start and often."""
        found = self.catalog.requeue_stuck_uploads(self.settings.upload_requeue_after)
        for upload in found:
            log.warning(
                "upload %s (%s) was interrupted; queued again", upload.upload_id, upload.name
            )
            self.queue.enqueue("ingest_upload", upload_id=upload.upload_id)
        return len(found)

    def uploads(self, upload_ids: list[str]) -> list[Upload]:
        return self.catalog.get_uploads(upload_ids)

    # -- the owner's edits ----------------------------------------------------------

    def create_set(self, name: str) -> str:
        """Returns the name as stored (normalised)."""
        name = check_set_name(name)
        self._refuse_busy(name)
        if not self.catalog.create_set(name):
            raise BadInput(f"a set named {name!r} exists already")
        return name

    # every set name given to find a set goes through as_stored (NFC, trimmed), as the
    # stored ones did through check_set_name

    def rename_set(self, old: str, new: str) -> str:
        """Rename here and now (the CLI, small sets): see :meth:`start_rename_set`."""
        new = check_set_name(new)
        if as_stored(old) != new:  # (the same name in another form is no rename)
            self._refuse_busy(as_stored(old))
            self._refuse_busy(new)
            self.catalog.rename_set(as_stored(old), new)
        return new

    def start_rename_set(self, old: str, new: str, queue: bool = True) -> dict:
        """Rename as a job (set_jobs.py): returns its status at once; ``queue``: on the
        job queue, else for the caller to run (:meth:`wait_set_job`)."""
        return set_jobs.start(self, "rename", old, new, queue=queue)

    def start_delete_set(self, name: str) -> dict:
        """Delete the set as a job (set_jobs.py): it leaves every listing at once, its
        pictures go in batches on the job queue, resumably; returns the job's status."""
        return set_jobs.start(self, "delete", name)

    def start_delete_set_here(self, name: str) -> dict:
        """:meth:`start_delete_set` for the caller to run (:meth:`wait_set_job`); if the
        caller dies, the job loop of a server or worker finishes it."""
        return set_jobs.start(self, "delete", name, queue=False)

    def delete_set(self, name: str, on_progress: set_jobs.Progress = lambda d, t: None) -> int:
        """Delete the set here, waiting for it: the job of :meth:`start_delete_set`, run
        in this process (or followed, if another runner has it). Pictures deleted."""
        job = self.start_delete_set_here(name)
        return int(self.wait_set_job(job["id"], on_progress)["done"])

    def run_set_job(self, job_id: str, **_: object) -> dict | None:
        """The job queue's task: run a set job unless another runner has it."""
        return set_jobs.run(self, job_id)

    def wait_set_job(
        self, job_id: str, on_progress: set_jobs.Progress = lambda d, t: None, poll: float = 0.5
    ) -> dict:
        """Run the job here, or follow the runner that has it, until it is done;
        its final status. AlbumError if it failed for good."""
        while True:
            done = set_jobs.run(self, job_id, on_progress)
            status = done or set_jobs.status(self, job_id)
            if status["state"] == "done":
                return status
            if status["state"] == "failed":
                raise AlbumError(f"the job on set {status['set']!r} failed: {status['error']}")
            on_progress(status["done"], status["total"])
            time.sleep(poll)

    def set_job(self, job_id: str) -> dict:
        return set_jobs.status(self, job_id)

    def set_jobs(self) -> list[dict]:
        """The unfinished set jobs with their progress (what the owner's status line
        shows), oldest first."""
        found = []
        for job_id in set_jobs.active(self):
            with contextlib.suppress(NotFound):  # its record gone (a partial restore)
                found.append(set_jobs.status(self, job_id))
        return sorted(found, key=lambda j: j["created_at"])

    def refuse_busy(self, name: str) -> None:
        """BadInput (422) if a set job changes this set, under its old or its new name
        (hidden from reads meanwhile, which answer NotFound): an edit now would clash
        with the job or be lost (PATCH /api/sets/{name})."""
        self._refuse_busy(as_stored(name))

    def _refuse_busy(self, name: str) -> None:
        if set_jobs.job_for(self, name):
            raise BadInput(f"set {name!r} is being changed; try again when that is done")

    def set_featured(self, set_name: str, image_id: str) -> None:
        set_name = as_stored(set_name)
        if self.picture(image_id).set_name != set_name:
            raise BadInput(f"picture {image_id} is not in set {set_name!r}")
        self.catalog.set_featured(set_name, image_id)

    def set_share_location(self, set_name: str, share: bool) -> None:
        """Visitors get the set's originals with GPS and serial numbers, or not."""
        self.catalog.set_share_location(as_stored(set_name), share)

    def rename_picture(self, image_id: str, name: str) -> Picture:
        self.catalog.rename_picture(image_id, check_picture_name(name))
        return self.picture(image_id)

    def delete_picture(self, image_id: str) -> None:
        picture = self.catalog.delete_picture(image_id)
        if picture is None:
            raise NotFound(f"no picture {image_id}")
        self.collection.forget([f.face_id for f in picture.faces])
        self._refresh_people({f.person_id for f in picture.faces})
        self._drop_blobs(picture)

    def _refresh_people(self, person_ids: set[str | None]) -> None:
        """Representatives of the persons that lost faces are chosen again where one of
        them went (a read leaves a gone face out meanwhile)."""
        from .people.representatives import refresh_quietly

        refresh_quietly(self, person_ids)

    def _drop_blobs(self, picture: Picture) -> None:
        """Blobs are shared by content across sets: remove them with their last picture.
        Under the content's lock, so a picture of the same content being stored right
        now either counts as a use or finds its blobs deleted before it writes them."""
        with content_lock(self.catalog, picture.sha256):
            drop_unused_blobs(self.blobs, self.catalog, picture)

    def run_jobs(self, stop: threading.Event, idle: float = 0.3) -> None:
        """Drain the job queue until stop is set, one runner thread per worker process,
        queue again any upload interrupted by a crash, and queue the people regrouping
        when an upload batch has ended: the background worker of serve (and of
        ``facealbum worker``)."""
        runners = [
            threading.Thread(target=self._drain, args=(stop, idle), daemon=True)
            for _ in range(self.analyzer.workers)
        ]
        for t in runners:
            t.start()
        from .people import regroup

        every = max(1.0, self.settings.upload_lease_seconds / 2)
        recovered = 0.0
        while True:
            if time.monotonic() - recovered >= every:
                recovered = time.monotonic()
                try:
                    self.recover_uploads()
                except Exception:
                    log.exception("recovering uploads failed")
                try:
                    set_jobs.recover(self)
                except Exception:
                    log.exception("recovering set jobs failed")
            try:  # each second: queue the people regrouping once a batch has ended
                regroup.enqueue_if_due(self)
            except Exception:
                log.exception("checking the people regrouping failed")
            if stop.wait(1.0):
                break
        for t in runners:
            t.join()

    def _drain(self, stop: threading.Event, idle: float) -> None:
        while not stop.is_set():
            try:
                ran = self.queue.run_pending(limit=1)
            except Exception:  # a failing job is logged by huey; keep serving others
                log.exception("job failed")
                ran = 1
            if not ran:
                stop.wait(idle)

    def ingest(self, set_name: str, name: str, data: bytes) -> Stored:
        """Add one photo in this process (uploads use worker processes, bulk imports
        the importer's pool)."""
        set_name, name = check_set_name(set_name), check_picture_name(name)
        analysis = analyze(data, self.settings, name=name)
        analysis = index_faces(self.collection, analysis, new_image_id())
        stored = store(
            self.blobs,
            self.catalog,
            self.collection,
            set_name,
            name,
            data,
            analysis,
            self.settings.engine_tag,
        )
        if stored.status == "added":
            self.place_people(stored.picture)
        return stored

    def search(
        self,
        face_id: str,
        threshold: float | None = None,
        limit: int = 50,
        offset: int = 0,
        hidden: bool = False,
    ) -> SearchResult:
        """``hidden``: a person the owner hid is searched as a person too (the owner's
        search); a visitor's searches only the face itself."""
        if threshold is None:
            threshold = self.settings.match_threshold
        query = self.catalog.get_face(face_id)
        person = self._clicked_person(query, hidden) if query else None
        also = self._representatives(query, person) if query and person else ()
        return search_face(
            self.catalog,
            self.collection,
            face_id,
            threshold,
            limit,
            offset,
            also,
            self.quality,
            query,
            len(also),
            person,
        )

    @property
    def quality(self) -> QualityRule:
        s = self.settings
        return QualityRule(s.sharp_face_floor, s.blurry_face_penalty)

    def _clicked_person(self, face: Face, hidden: bool) -> Person | None:
        """The face's person if the owner named it (a name is the owner vouching for
        the group) and did not hide it (unless ``hidden``), and person-aware search is
        on: a click then lists every picture of it (search_person.py). One read."""
        if not self.settings.person_aware_search or not face.person_id:
            return None
        person = self.catalog.get_person(face.person_id)
        if not person or not person.name or (person.hidden and not hidden):
            return None
        return person

    def _representatives(self, face: Face, person: Person) -> tuple[str, ...]:
        """The person's representatives but the face (people/representatives.py: the
        cover, the medoid and faces spread over its looks), which search with the
        face: one read of the person's row's few faces, whatever its size. The row came
        with the person (``get_person``: its representatives as last stored), so only
        their faces are read, to drop those that left it (what ``Catalog.representatives``
        does, whose second read of the row this spares: a click's 10th statement). A
        person with faces but none stored has them chosen now (``representatives.of``)."""
        from .people.representatives import of

        stored = list(dict.fromkeys(person.representatives))
        if stored:
            live = self.catalog.face_people(stored)
            mine = [f for f in stored if f in live and live[f][2] == person.person_id]
        if not stored or (not mine and person.face_count):
            mine = of(self, [person]).get(person.person_id, [])
        return tuple(f for f in mine if f != face.face_id)

    def warm(self) -> None:
        """Load what the first search would (the local engine's index), so that it
        need not wait: a server calls this at start."""
        warm = getattr(self.collection.faces, "warm", None)
        if warm is not None:
            warm(self.collection.collection_id)

    def follow_faces(self, stop: threading.Event) -> None:
        """:meth:`warm`, then catch the index up with the catalog's change feed every
        ``face_follow_seconds`` until ``stop``: O(changes) each time, so a server process
        nobody searches stays near the feed's head (other processes write to it) and
        never falls behind what the pruned deletion feed still holds."""
        while True:
            try:
                self.warm()
            except Exception:  # a busy or restarting database: the next round will do
                log.exception("catching the face index up failed")
            if stop.wait(self.settings.face_follow_seconds):
                return

    def sets(self) -> list[SetSummary]:
        """Every set but those a job is deleting (or filling under a new name)."""
        hidden = set_jobs.hidden_sets(self)
        return [s for s in self.catalog.list_sets() if s.name not in hidden]

    def picture_ids(self, set_name: str) -> list[str]:
        self.get_set(set_name, limit=0)
        return self.catalog.picture_ids(as_stored(set_name))

    def get_set(
        self, name: str, limit: int = 10_000, offset: int = 0
    ) -> tuple[SetSummary, list[Picture]]:
        """NotFound also for a set being deleted: visitors never see it half-deleted."""
        summary = self.catalog.get_set(as_stored(name))
        if summary is None or summary.name in set_jobs.hidden_sets(self):
            raise NotFound(f"no set {name!r}")
        return summary, self.catalog.list_pictures(summary.name, limit, offset)

    def sets_page(
        self, sort: str = "newest", limit: int = 100, after: str | None = None
    ) -> tuple[list[SetSummary], str | None]:
        """A page of sets with their counts and covers, and the next page's cursor. Sets
        a job is deleting (or filling under a new name) are left out, so a page may be
        a few short. The covers come with their faces (one batched read, O(page)), so
        a cover's square keeps its faces in view (domain.square_focus)."""
        found, after = self.catalog.sets_page(sort, limit, after)
        hidden = set_jobs.hidden_sets(self)
        kept = [s for s in found if s.name not in hidden]
        ids = [s.featured.image_id for s in kept if s.featured]
        covers = self.catalog.get_pictures(ids) if ids else {}
        for s in kept:
            if s.featured and s.featured.image_id in covers:
                s.featured = covers[s.featured.image_id]
        return kept, after

    def set_page(
        self, name: str, limit: int = 100, after: str | None = None, faces: bool = True
    ) -> tuple[SetSummary, list[Picture], str | None]:
        """A set with a page of its pictures (name order) after the cursor ``after``,
        and the next page's cursor (None after the last). NotFound if no such set.
        ``faces=False``: the pictures' faces may be left out (a page of ids)."""
        summary = self.catalog.get_set(as_stored(name))
        if summary is None or summary.name in set_jobs.hidden_sets(self):
            raise NotFound(f"no set {name!r}")
        found, after = self.catalog.pictures_page(summary.name, limit, after, faces)
        return summary, found, after

    def neighbours(self, image_id: str) -> tuple[str | None, str | None]:
        """(previous, next) picture id of the picture's set, None at its ends."""
        return self.catalog.neighbours(image_id)

    def all_pictures(self, page: int = 500) -> Iterator[Picture]:
        """Every picture of every set, with its faces, a page at a time: for passes
        over the whole album (check, restore) that must not hold it in memory."""
        for summary in self.sets():
            found, after = self.catalog.pictures_page(summary.name, page)
            yield from found
            while after:  # by cursor: each page O(page), not O(offset)
                found, after = self.catalog.pictures_page(summary.name, page, after)
                yield from found

    def picture(self, image_id: str) -> Picture:
        picture = self.catalog.get_picture(image_id)
        if picture is None:
            raise NotFound(f"no picture {image_id}")
        return picture

    def stats(self, storage: bool = False) -> Stats:
        """The album's counts from the catalog's counters: O(1). ``original_bytes`` are
        the originals the pictures use (each content once). ``storage``: measure both
        buckets in the blob store instead (O(blobs): a walk or a listing)."""
        s = self.catalog.stats()
        if storage:
            s.original_bytes = self.blobs.size("originals")
            s.derived_bytes = self.blobs.size("thumbnails")
        return s


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _failed(upload: Upload, reason: str) -> Upload:
    upload.status, upload.error = "failed", reason
    return upload
