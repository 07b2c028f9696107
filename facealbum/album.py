"""The album: the core's one facade over the ports.

It owns no storage of its own; it keeps the in-memory face index in step with the
catalog, which any process (an import, the job worker, the web server) may write.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import numpy as np

from .domain import (
    BadInput,
    NotFound,
    Picture,
    SetSummary,
    Stats,
    Upload,
    check_picture_name,
    check_set_name,
)
from .ingest import Stored, analyze, store
from .ports import BlobStore, Catalog, FaceEngine, FaceIndex, JobQueue
from .search import SearchResult, search_face
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Album:
    settings: Settings
    blobs: BlobStore
    catalog: Catalog
    engine: FaceEngine
    index: FaceIndex
    queue: JobQueue

    def __post_init__(self) -> None:
        self._index_lock = threading.Lock()
        self._epoch = -1
        self._high = 0
        self.queue.register("ingest_upload", self.process_upload)

    def submit_upload(self, set_name: str, name: str, data: bytes) -> Upload:
        """Keep the upload in the originals bucket and process it in the background,
        as the original design's bucket trigger did. Unsafe names are refused at once."""
        set_name, name = check_set_name(set_name), check_picture_name(name)
        if len(data) > self.settings.max_file_bytes:
            raise BadInput(f"file too large: {len(data)} bytes")
        upload = Upload(str(uuid.uuid4()), set_name, name, "queued")
        key = f"incoming/{upload.upload_id}"
        self.blobs.put("originals", key, data, "application/octet-stream")
        self.catalog.create_set(set_name)
        self.catalog.add_upload(upload)
        self.queue.enqueue(
            "ingest_upload", upload_id=upload.upload_id, set_name=set_name, name=name, key=key
        )
        return upload

    def process_upload(self, upload_id: str, set_name: str, name: str, key: str) -> Upload:
        """A refused file is dropped with its reason recorded. On any other failure
        (a bug, a full disk) the upload is kept in the bucket, nothing is lost, and the
        owner is told instead of waiting forever."""
        found = self.catalog.get_uploads([upload_id])
        if not found:  # its set was deleted while it waited
            self.blobs.delete("originals", key)
            return Upload(upload_id, set_name, name, "failed", "its set was deleted")
        set_name = found[0].set_name  # follows a rename while it waited
        upload = Upload(upload_id, set_name, name, "failed")
        try:
            stored = self.ingest(set_name, name, self.blobs.get("originals", key))
        except BadInput as exc:
            upload.error = str(exc)
        except Exception as exc:
            upload.error = f"could not be processed ({type(exc).__name__}); the file is kept"
            self.catalog.finish_upload(upload)
            raise
        else:
            upload.status = stored.status
            upload.image_id = stored.picture.image_id
            upload.faces = len(stored.picture.faces)
            upload.name = stored.picture.name
        self.catalog.finish_upload(upload)
        self.blobs.delete("originals", key)
        return upload

    def uploads(self, upload_ids: list[str]) -> list[Upload]:
        return self.catalog.get_uploads(upload_ids)

    # -- the owner's edits ----------------------------------------------------------

    def create_set(self, name: str) -> None:
        if not self.catalog.create_set(check_set_name(name)):
            raise BadInput(f"a set named {name!r} exists already")

    def rename_set(self, old: str, new: str) -> None:
        self.catalog.rename_set(old, check_set_name(new))

    def delete_set(self, name: str) -> int:
        doomed = self.catalog.delete_set(name)
        for picture in doomed:
            self._drop_blobs(picture)
        return len(doomed)

    def set_featured(self, set_name: str, image_id: str) -> None:
        if self.picture(image_id).set_name != set_name:
            raise BadInput(f"picture {image_id} is not in set {set_name!r}")
        self.catalog.set_featured(set_name, image_id)

    def rename_picture(self, image_id: str, name: str) -> Picture:
        self.catalog.rename_picture(image_id, check_picture_name(name))
        return self.picture(image_id)

    def delete_picture(self, image_id: str) -> None:
        picture = self.catalog.delete_picture(image_id)
        if picture is None:
            raise NotFound(f"no picture {image_id}")
        self._drop_blobs(picture)

    def _drop_blobs(self, picture: Picture) -> None:
        """Blobs are shared by content across sets: remove them with their last picture."""
        if not self.catalog.sha_in_use(picture.sha256):
            self.blobs.delete("originals", picture.original_key)
            self.blobs.delete("thumbnails", picture.thumb_key)
            self.blobs.delete("thumbnails", picture.preview_key)

    def run_jobs(self, stop: threading.Event, idle: float = 0.3) -> None:
        """Drain the job queue until stop is set: the background worker of serve."""
        while not stop.is_set():
            try:
                ran = self.queue.run_pending()
            except Exception:  # a failing job is logged by huey; keep serving others
                log.exception("job failed")
                ran = 1
            if not ran:
                stop.wait(idle)

    def ingest(self, set_name: str, name: str, data: bytes) -> Stored:
        """Add one photo (the web upload path; bulk imports use the importer's pool)."""
        analysis = analyze(data, self.settings, self.engine)
        return store(
            self.blobs, self.catalog, set_name, name, data, analysis, self.settings.engine_tag
        )

    def sync_index(self, chunk: int = 50_000) -> None:
        """Load faces added since the last call; reload all if any were removed.
        Rows come in chunks so a million faces never sit in memory twice."""
        with self._index_lock:
            epoch, high, rows = self.catalog.face_changes(self._high, chunk)
            if epoch != self._epoch:
                self.index.clear()
                self._epoch, self._high = epoch, 0
                epoch, high, rows = self.catalog.face_changes(0, chunk)
            while rows:
                vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4")
                self.index.add(
                    [r[0] for r in rows], [r[1] for r in rows], vectors.reshape(len(rows), -1)
                )
                self._high = high
                if len(rows) < chunk:
                    break
                _, high, rows = self.catalog.face_changes(high, chunk)

    def search(
        self, face_id: str, threshold: float | None = None, limit: int = 50, offset: int = 0
    ) -> SearchResult:
        self.sync_index()
        if threshold is None:
            threshold = self.settings.match_threshold
        return search_face(self.catalog, self.index, face_id, threshold, limit, offset)

    def sets(self) -> list[SetSummary]:
        return self.catalog.list_sets()

    def picture_ids(self, set_name: str) -> list[str]:
        if self.catalog.get_set(set_name) is None:
            raise NotFound(f"no set {set_name!r}")
        return self.catalog.picture_ids(set_name)

    def get_set(
        self, name: str, limit: int = 10_000, offset: int = 0
    ) -> tuple[SetSummary, list[Picture]]:
        summary = self.catalog.get_set(name)
        if summary is None:
            raise NotFound(f"no set {name!r}")
        return summary, self.catalog.list_pictures(name, limit, offset)

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
