"""AWS Lambda entry points, configured by environment like everything else
(FACEALBUM_BLOB_STORE=s3://…, FACEALBUM_DATABASE_URL=dynamodb://…,
FACEALBUM_FACE_ENGINE=rekognition; FACEALBUM_HOME defaults to /tmp/facealbum here).

- ``on_upload``: S3 ObjectCreated events, delivered directly or through SQS. Every
  record is processed (the original took ``Records[0]`` only), keys are URL-decoded as
  S3 sends them, objects outside the originals bucket and the album's own stored
  originals are ignored (so thumbnails never re-trigger anything), a bad file is
  recorded without failing the others, and through SQS only the messages that should
  be retried are reported back (a partial batch response). While a photo is stored
  and placed, the next ``s3_event_prefetch`` are read, analysed and indexed in threads
  (the catalog's calls stay on one thread, in order), so IndexFaces runs beside the
  catalog's writes rather than after them. A batch that added faces
  asks for a regrouping of people ``regroup_delay`` seconds later (people/regroup.py's
  ``request``, one conditional write): S3 sends a photo or a few per batch, so
  regrouping at the end of each would search the whole album once per photo (and
  outlast the function's time limit on a large album); each batch pushes it back.
- ``on_schedule``: run every minute by an EventBridge rule (the template's
  ``RegroupSchedule``): the regrouping, if one is due (one read otherwise), by one
  runner per album through a lease in the catalog, with up to 15 minutes to work;
  before it, the set jobs (a set being deleted or renamed, set_jobs.py), each where the
  last left off, stopping a minute before the time limit.
- ``api``: the album's own FastAPI app through Mangum, for API Gateway or a function
  URL: the same routes as ``facealbum serve``, not a second copy of them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from ..domain import Upload

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)


@functools.cache
def _album():
    """One album per warm function instance, opened on first use."""
    from ..settings import Settings
    from ..wiring import open_album

    os.environ.setdefault("FACEALBUM_HOME", "/tmp/facealbum")  # Lambda's writable disk
    return open_album(Settings.load())


def s3_records(event: dict) -> list[tuple[str | None, dict]]:
    """(SQS message id or None, S3 record) for every S3 record in the event."""
    out: list[tuple[str | None, dict]] = []
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            body = json.loads(record.get("body") or "{}")
            for inner in body.get("Records", []):  # an s3:TestEvent has none
                out.append((record["messageId"], inner))
        elif record.get("eventSource") == "aws:s3":
            out.append((None, record))
    return out


def on_upload(event: dict, context: Any = None) -> dict:
    from ..people import regroup
    from ..people.grouping import Placements

    album = _album()
    placements = Placements(album)  # the persons the batch's faces joined follow once
    originals = _bucket_name(album, "originals")
    work = []
    for message_id, record in s3_records(event):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        if record["s3"]["bucket"]["name"] != originals:
            continue  # a thumbnail, or another bucket: never processed
        key = unquote_plus(record["s3"]["object"]["key"])
        work.append((message_id, key, record["s3"]["object"].get("eTag", "")))
    retry: set[str] = set()
    done: list[dict] = []
    faces = False
    with _Ahead(album, work, album.settings.s3_event_prefetch) as ahead:
        for message_id, key, upload in ahead.results(placements):
            if isinstance(upload, BaseException):
                log.error("%s: failed; it will be retried", key, exc_info=upload)
                if message_id is not None:
                    retry.add(message_id)
                    continue
                placements.flush()  # what the records before it placed
                raise upload  # a direct S3 invocation: Lambda's own retry
            if upload is not None:
                done.append({"key": key, "status": upload.status, "error": upload.error,
                             "duplicate": upload.duplicate, "image_id": upload.image_id})
                level = logging.WARNING if upload.status == "failed" else logging.INFO
                log.log(level, "%s: %s %s", key, upload.status, upload.error or "")
                faces = faces or (upload.status == "added" and bool(upload.faces))
    placements.flush()  # never raises: a failure leaves the users to the next mirror
    if faces:  # the batch has ended: people as a full regrouping makes them, soon
        try:
            regroup.request(album)
        except Exception:  # the faces are placed already; the next batch asks again
            log.exception("could not ask for a regrouping of people")
    return {
        "batchItemFailures": [{"itemIdentifier": m} for m in sorted(retry)],
        "done": done,
        "regroup_requested": faces,
    }


class _Ahead:
    """A batch's photos in order, the next ``ahead`` of them read, analysed and indexed
    (dropped.fetch_dropped: S3 and Rekognition only) in threads while this one stores
    and places the last (the catalog's calls stay on this thread, one photo at a time,
    in the batch's order): Rekognition's IndexFaces then runs beside the catalog's
    writes instead of after them, as the embedded import's workers analyse beside its
    writes. A photo is claimed just before its fetch starts, so a claim is held for
    about ``ahead`` + 1 photos' time, far within its lease. ``ahead`` 0: one at a time."""

    def __init__(self, album, todo: list[tuple[str | None, str, str]], ahead: int):
        from concurrent.futures import ThreadPoolExecutor

        self.album, self.todo, self.ahead = album, list(todo), ahead  # (message id, key, etag)
        self.pool = ThreadPoolExecutor(ahead) if ahead else None
        self.started: list = []  # (message id, key, claimed upload | None | exception, future)

    def __enter__(self) -> _Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, _, upload, future in self.started:  # left when the batch gave up
            if future is not None:
                with contextlib.suppress(Exception):  # raised: it indexed nothing
                    future.result().discard(self.album)
            if isinstance(upload, Upload) and upload.status == "queued":
                with contextlib.suppress(Exception):  # the retry claims it at once
                    self.album.catalog.renew_upload(upload.upload_id, -1)
        self.started = []
        if self.pool is not None:
            self.pool.shutdown()

    def _start(self) -> None:
        """Claim the next photo and start its fetch in a thread."""
        from .. import dropped

        message_id, key, etag = self.todo.pop(0)
        try:
            upload = dropped.claim_dropped(self.album, key, etag)
        except Exception as exc:  # noqa: BLE001 - the catalog unreachable: a retry
            self.started.append((message_id, key, exc, None))
            return
        future = None
        if upload is not None and upload.status == "queued" and self.pool is not None:
            future = self.pool.submit(dropped.fetch_dropped, self.album, key)
        self.started.append((message_id, key, upload, future))

    def results(self, placements) -> Iterator[tuple[str | None, str, Upload | Exception | None]]:
        """(message id, key, the upload's verdict, None, or the exception to retry for)
        for each photo, in order."""
        from .. import dropped

        while self.todo or self.started:
            while self.todo and len(self.started) <= self.ahead:
                self._start()
            message_id, key, upload, future = self.started.pop(0)
            if upload is None or isinstance(upload, BaseException) or upload.status != "queued":
                yield message_id, key, upload
                continue
            fetch = (
                future.result
                if future is not None
                else (lambda key=key: dropped.fetch_dropped(self.album, key))
            )
            try:
                verdict = dropped.finish_dropped(self.album, upload, key, fetch, placements)
            except Exception as exc:  # noqa: BLE001 - the caller decides: retry or raise
                yield message_id, key, exc
                continue
            yield message_id, key, verdict


def on_schedule(event: dict | None = None, context: Any = None) -> dict:
    """The regrouping of people, if a batch asked for one and its quiet period is over:
    ``{"regrouped": {"people", "changed"} | None}`` (None: nothing due, or another
    function is at it and runs any request left after its own)."""
    import time

    from .. import set_jobs
    from ..people import regroup

    album = _album()
    left = context.get_remaining_time_in_millis() / 1000 if context else 840.0
    set_jobs.run_active(album, until=time.time() + left - 60)  # sets being deleted first
    report = regroup.run(album, due_only=True)
    return {"regrouped": {"people": report.people, "changed": report.changed} if report else None}


def _bucket_name(album, bucket: str) -> str | None:
    names = getattr(album.blobs, "names", None)
    return names.get(bucket) if names else None


@functools.cache
def _api():
    from mangum import Mangum

    from ..web.app import create_app

    return Mangum(create_app(_album(), run_jobs=False), lifespan="off")


def api(event: dict, context: Any = None) -> dict:
    return _api()(event, context)
