"""Worker processes for the CPU work of uploads, so that no photo can bloat the server.

Decoding an 88 MP PNG needs its full pixel buffer, a quarter of a gigabyte, and a
process that once grew that far rarely gives the memory back. So the server never
decodes: each upload is analysed in a pooled worker process (replaced after a bounded
number of jobs), and a photo too large for that (``Settings.big_image_pixels``) in a
process of its own that exits when done. Workers map large buffers straight from the
kernel and trim the heap after each job, so what a job took is returned at once.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from PIL import Image

from .domain import AlbumError
from .imaging import draft
from .ingest import Analysis, analyze, index_faces
from .photo_search import PhotoSearch, search_photo
from .ports import BlobStore, Bucket
from .settings import Settings

log = logging.getLogger(__name__)
_worker: dict = {}


class WorkerCrashed(AlbumError):
    """The process analysing a photo died (a native crash, or killed for memory)."""


def return_memory_promptly() -> None:
    """glibc only: serve every allocation over 1 MiB with its own mapping, so freeing a
    decoded photo returns it to the system instead of leaving it in the heap."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD, fixed: no dynamic growth
        _worker["libc"] = libc
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def exit_with_parent(every: float = 1.0) -> None:
    """In a pool worker: exit when the process that made the pool is gone. A worker
    waits on its queue and would never notice: a server killed (or out of memory)
    would leave its workers, each holding the face model, behind for good."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def trim_memory() -> None:
    libc = _worker.get("libc")
    if libc is not None:
        libc.malloc_trim(0)


def _init(settings_json: str) -> None:
    from .wiring import make_blobs, make_collection

    # Ctrl-C reaches the terminal's whole process group: the server stops, and its
    # workers with it (exit_with_parent, the pool's shutdown), without a traceback each
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return_memory_promptly()
    exit_with_parent()
    settings = Settings.model_validate_json(settings_json)
    if settings.upload_nice:  # background work: the web server's requests come first
        os.nice(settings.upload_nice)
    _worker.update(
        settings=settings, collection=make_collection(settings), blobs=make_blobs(settings)
    )


def _analyze_blob(bucket: Bucket, key: str, image_id: str, name: str = "") -> Analysis:
    """Analyse a stored photo and index its faces under ``image_id``: the face work
    (dlib here, or the Rekognition call) runs in the worker, on every core."""
    try:
        with _worker["blobs"].open(bucket, key) as fh:
            analysis = analyze(fh, _worker["settings"], name=name)
        return index_faces(_worker["collection"], analysis, image_id)
    finally:
        trim_memory()


def _search_photo(data: bytes, threshold: float) -> PhotoSearch:
    """A visitor's photo searched in the worker: its decode and face work never
    happen in the web server."""
    try:
        return search_photo(_worker["collection"], _worker["settings"], data, threshold)
    finally:
        trim_memory()


def decoded_pixels(blobs: BlobStore, bucket: Bucket, key: str, need: int) -> int:
    """How many pixels decoding will hold, from the header alone (a JPEG decodes at
    reduced scale, as :func:`draft` sets it up). 0 if unreadable, which leaves the
    refusal to the worker's full check."""
    try:
        with blobs.open(bucket, key) as fh, Image.open(fh) as img:
            draft(img, need)
            return img.size[0] * img.size[1]
    except Exception:
        return 0


class AnalysisPool:
    """Analyses stored blobs in worker processes; thread-safe, started on first use."""

    def __init__(self, settings: Settings, blobs: BlobStore, workers: int | None = None):
        self.settings, self.blobs = settings, blobs
        self.workers = workers or settings.process_count
        self._pool: ProcessPoolExecutor | None = None
        self._searcher: ProcessPoolExecutor | None = None  # search by photo's own
        self._lock = threading.Lock()

    def _executor(self, workers: int, jobs_per_worker: int | None) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(self.settings.model_dump_json(),),
            max_tasks_per_child=jobs_per_worker,
        )

    def analyze(self, bucket: Bucket, key: str, image_id: str, name: str = "") -> Analysis:
        """The photo's analysis, its faces indexed under ``image_id``; ``name``, the
        file's name as uploaded, is a capture time's fallback (capture.py)."""
        pixels = decoded_pixels(self.blobs, bucket, key, self.settings.decode_size)
        args = (bucket, key, image_id, name)
        if pixels > self.settings.big_image_pixels:
            with self._executor(1, 1) as alone:  # a process of its own, gone afterwards
                return self._result(alone.submit(_analyze_blob, *args), None)
        with self._lock:
            if self._pool is None:
                self._pool = self._executor(self.workers, self.settings.jobs_per_worker)
            pool = self._pool
        return self._result(pool.submit(_analyze_blob, *args), pool)

    def search(self, data: bytes, threshold: float) -> PhotoSearch:
        """A visitor's photo searched in a worker process of a pool of its own
        (``Settings.search_concurrency`` processes, which the web layer's slots keep
        busy at most): uploads never wait behind searches, nor searches behind them."""
        with self._lock:
            if self._searcher is None:
                self._searcher = self._executor(
                    self.settings.search_concurrency, self.settings.jobs_per_worker
                )
            pool = self._searcher
        return self._result(pool.submit(_search_photo, data, threshold), pool)

    def _result(self, future, pool: ProcessPoolExecutor | None):
        try:
            return future.result()
        except BrokenProcessPool:
            if pool is not None:
                with self._lock:  # the next job gets a new pool
                    if self._pool is pool:
                        self._pool = None
                    if self._searcher is pool:
                        self._searcher = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise WorkerCrashed("the process analysing it crashed") from None

    def close(self) -> None:
        with self._lock:
            pools = [self._pool, self._searcher]
            self._pool = self._searcher = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
