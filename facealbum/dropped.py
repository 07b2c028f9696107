"""Photos dropped into the originals bucket as ``SET/FILE``, as the original design took
them: its upload script put each file there and the bucket's event ran the function.

Each object becomes an upload record whose id derives from the key and the object's
version (ETag), written once (a conditional write) and claimed by one runner, so of two
deliveries of one event one processes it and the other does nothing. The photo is
analysed in this process (a function has no worker pool; a batch fetches, analyses and
indexes the next photo in a thread while it stores the last: handlers.on_upload), its
faces indexed, and it is stored like any other: under its content address, so the album
keeps one layout. Once the picture's row is written the dropped object is deleted, since
the album holds the same bytes: that version of it only (S3's version id, or a delete
conditional on the ETag read), so a photo written under the same key meanwhile stays for
its own event; a file that cannot be added is kept where it was dropped and its upload
record says why.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from .album import Album
from .domain import AlbumError, BadInput, Upload, check_picture_name, check_set_name
from .ingest import Analysis, analyze, index_faces, new_image_id, store

if TYPE_CHECKING:
    from .people.grouping import Placements

log = logging.getLogger(__name__)
NAMESPACE = uuid.UUID("0b6c0c53-54bb-4c43-9c71-6f1f1d7b3a52")
# the album's own originals (sha256 address): stored, not dropped; never an upload
STORED = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]+$")


def upload_id_for(key: str, etag: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{key}\n{etag.strip(chr(34))}"))


def split_key(key: str) -> tuple[str, str]:
    """``SET/FILE`` (the first segment names the set; the rest may have folders)."""
    set_name, sep, name = key.partition("/")
    if not sep or not name:
        raise BadInput(f"{key!r} is not SET/FILE: drop photos into a folder named after the set")
    return check_set_name(set_name), check_picture_name(name)


def ingest_dropped(
    album: Album, key: str, etag: str = "", placements: Placements | None = None
) -> Upload | None:
    """Process one dropped object; None if it is the album's own or another delivery
    of the same event has it. Raises only for failures worth a retry (the store or
    the face engine unreachable); a bad file is recorded as a failed upload. With
    ``placements`` (a batch's), the persons its faces joined follow when the caller
    flushes it, else at once. The three steps below, one after another."""
    upload = claim_dropped(album, key, etag)
    if upload is None or upload.status != "queued":
        return upload
    return finish_dropped(album, upload, key, lambda: fetch_dropped(album, key), placements)


def claim_dropped(album: Album, key: str, etag: str = "") -> Upload | None:
    """Record the object's upload (once: a conditional write) and claim it: the
    claimed upload (status "queued"), a "failed" one (not recorded) for a key that is
    not ``SET/FILE``, or None (the album's own object, or another delivery has it).
    Two catalog writes and a read."""
    if STORED.match(key):
        return None
    upload_id = upload_id_for(key, etag)
    try:
        set_name, name = split_key(key)
    except BadInput as exc:
        log.warning("ignored %s: %s", key, exc)
        return Upload(upload_id, "", key, "failed", error=str(exc))
    album.catalog.add_upload(Upload(upload_id, set_name, name, "queued"))  # a second: no-op
    return album.catalog.claim_upload(upload_id, album.settings.upload_lease_seconds)


@dataclass
class Fetched:
    """A claimed object read, analysed and its faces indexed (:func:`fetch_dropped`),
    or why it cannot be added (``error``: a failed upload, not worth a retry)."""

    analysis: Analysis | None = None
    spool: BinaryIO | None = None  # the object's bytes, rewound, for the store
    version: str | None = None  # what delete_version removes (BlobStore.open_version)
    error: str | None = None

    def discard(self, album: Album) -> None:
        """Never to be stored (the batch gave up first): its faces leave the collection."""
        if self.analysis is not None:
            album.collection.forget([f.face_id for f in self.analysis.faces])
        if self.spool is not None:
            self.spool.close()


def fetch_dropped(album: Album, key: str) -> Fetched:
    """The object read (one GetObject), analysed and its faces indexed (one
    IndexFaces): no catalog call, so a batch runs it for the next photo in another
    thread while this one stores the last (handlers.on_upload). Raises only for
    failures worth a retry."""
    try:
        fh, version = album.blobs.open_version("originals", key)
    except KeyError:  # deleted after the event was sent: nothing to add
        return Fetched(error="the object is gone from the bucket")
    try:
        analysis = analyze(fh, album.settings, name=key)
        analysis = index_faces(album.collection, analysis, new_image_id())
        fh.seek(0)
    except AlbumError as exc:
        fh.close()
        return Fetched(error=str(exc))
    except BaseException:
        fh.close()
        raise
    return Fetched(analysis, fh, version)


def finish_dropped(
    album: Album,
    upload: Upload,
    key: str,
    fetch: Callable[[], Fetched],
    placements: Placements | None = None,
) -> Upload:
    """Store the claimed ``upload`` of object ``key`` from what ``fetch()`` gives
    (:func:`fetch_dropped`, or its future's result), place its faces, record the
    verdict and delete the dropped object. If ``fetch`` or the store raises, the
    claim is let go (so the retry claims it at once) and the exception goes on."""
    fetched = Fetched()
    try:
        fetched = fetch()
        if fetched.error is not None:
            upload.status, upload.error = "failed", fetched.error
        else:
            assert fetched.analysis is not None and fetched.spool is not None
            with fetched.spool as fh:
                stored = store(
                    album.blobs,
                    album.catalog,
                    album.collection,
                    upload.set_name,
                    upload.name,
                    fh,
                    fetched.analysis,
                    album.settings.engine_tag,
                )
    except AlbumError as exc:
        upload.status, upload.error = "failed", str(exc)
    except Exception:
        album.catalog.renew_upload(upload.upload_id, -1)  # let the retry claim it at once
        raise
    else:
        if fetched.error is None:
            if stored.status == "added":
                placed = album.place_people(stored.picture, follow=placements is None)
                if placements is not None:
                    placements.add(placed)
            upload.status, upload.error = stored.status, None
            upload.duplicate = stored.same or None  # "file" or "pixels"
            upload.image_id, upload.faces = stored.picture.image_id, len(stored.picture.faces)
            upload.name = stored.picture.name
    album.catalog.finish_upload(upload)
    # the album holds these bytes under their address; a newer object written under
    # the key meanwhile is not these bytes, and its own event will process it
    if (
        upload.status in ("added", "duplicate")
        and fetched.version is not None
        and not album.blobs.delete_version("originals", key, fetched.version)
    ):
        log.info("%s: replaced while it was processed; the new object stays", key)
    return upload
