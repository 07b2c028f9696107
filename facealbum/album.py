"""The album: the core's one facade over the ports.

It owns no storage of its own: pictures live in the catalog and the blob store, faces
in the album's collection on the faces port (dlib here, or Rekognition), which any
process (an import, the job worker, the web server) may write.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from .collection import AlbumCollection
from .domain import (
    BadInput,
    Face,
    NotFound,
    Picture,
    SetGone,
    SetSummary,
    Stats,
    StorageFull,
    Upload,
    as_stored,
    check_picture_name,
    check_set_name,
    largest_first,
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
        with self._lease(upload_id):
            upload, drop = self._run_upload(upload)
        self.catalog.finish_upload(upload)
        if drop:
            self.blobs.delete("incoming", upload_id)
        return upload

    def _run_upload(self, upload: Upload) -> tuple[Upload, bool]:
        """(the upload's outcome, whether its file can go)."""
        key = upload.upload_id
        try:
            analysis = self.analyzer.analyze("incoming", key, new_image_id())
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
        upload.status = stored.status
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
        if not self.catalog.create_set(name):
            raise BadInput(f"a set named {name!r} exists already")
        return name

    # every set name given to find a set goes through as_stored (NFC, trimmed), as the
    # stored ones did through check_set_name

    def rename_set(self, old: str, new: str) -> str:
        new = check_set_name(new)
        if as_stored(old) != new:  # (the same name in another form is no rename)
            self.catalog.rename_set(as_stored(old), new)
        return new

    def delete_set(self, name: str) -> int:
        doomed = self.catalog.delete_set(as_stored(name))
        self.collection.forget([f.face_id for p in doomed for f in p.faces])
        self._refresh_people({f.person_id for p in doomed for f in p.faces})
        for picture in doomed:
            self._drop_blobs(picture)
        return len(doomed)

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
        analysis = index_faces(self.collection, analyze(data, self.settings), new_image_id())
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
        also, searched = self._person_faces_of(query, hidden) if query else ((), 0)
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
            searched,
        )

    @property
    def quality(self) -> QualityRule:
        s = self.settings
        return QualityRule(s.sharp_face_floor, s.blurry_face_penalty)

    def _person_faces_of(self, face: Face, hidden: bool) -> tuple[tuple[str, ...], int]:
        """Other faces of the face's person, if the owner named that person (a name is
        the owner vouching for the group) and did not hide it (unless ``hidden``): its
        representatives, which the search searches with (people/representatives.py:
        a few SearchFaces, whatever the person's size), then every other one, largest
        first, whose pictures are in the result as the person's; with how many of them
        search. The person's faces are one indexed read of its own rows."""
        from .people.representatives import of

        if not self.settings.person_aware_search:
            return (), 0
        person = face.person_id and self.catalog.get_person(face.person_id)
        if not person or not person.name or (person.hidden and not hidden):
            return (), 0
        reps = [f for f in of(self, [person]).get(person.person_id, []) if f != face.face_id]
        faces = self.catalog.person_faces(person.person_id)
        faces.sort(key=largest_first)
        rest = [f.face_id for f in faces if f.face_id != face.face_id and f.face_id not in reps]
        return (*reps, *rest), len(reps)

    def warm(self) -> None:
        """Load what the first search would (the local engine's index), so that it
        need not wait: a server calls this at start."""
        warm = getattr(self.collection.faces, "warm", None)
        if warm is not None:
            warm(self.collection.collection_id)

    def sets(self) -> list[SetSummary]:
        return self.catalog.list_sets()

    def picture_ids(self, set_name: str) -> list[str]:
        set_name = as_stored(set_name)
        if self.catalog.get_set(set_name) is None:
            raise NotFound(f"no set {set_name!r}")
        return self.catalog.picture_ids(set_name)

    def get_set(
        self, name: str, limit: int = 10_000, offset: int = 0
    ) -> tuple[SetSummary, list[Picture]]:
        summary = self.catalog.get_set(as_stored(name))
        if summary is None:
            raise NotFound(f"no set {name!r}")
        return summary, self.catalog.list_pictures(summary.name, limit, offset)

    def all_pictures(self, page: int = 500) -> Iterator[Picture]:
        """Every picture of every set, with its faces, a page at a time: for passes
        over the whole album (check, restore) that must not hold it in memory."""
        for summary in self.sets():
            offset = 0
            while found := self.catalog.list_pictures(summary.name, page, offset):
                yield from found
                offset += len(found)

    def picture(self, image_id: str) -> Picture:
        picture = self.catalog.get_picture(image_id)
        if picture is None:
            raise NotFound(f"no picture {image_id}")
        return picture

    def stats(self) -> Stats:
        s = self.catalog.stats()
        s.original_bytes = self.blobs.size("originals")
        s.derived_bytes = self.blobs.size("thumbnails")
        return s


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _failed(upload: Upload, reason: str) -> Upload:
    upload.status, upload.error = "failed", reason
    return upload
