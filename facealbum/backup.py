"""`facealbum backup DEST` / `facealbum restore SRC`: a copy of the album that can be
taken while the server runs, and an identical album made back from it.

A backup folder holds the catalog as the engine copies it (SQLite's backup API,
``pg_dump``), the blobs in ``blobs/<bucket>/<key>``, and ``manifest.json``, written
last. Blob keys name their content, so a second backup copies only new files, and an
original whose bytes no longer match its key is reported instead of overwriting a good
copy. The order makes a killed backup harmless: blobs are only ever added, the new
catalog copy replaces the old one only once every file it refers to is in place, and
the manifest comes last.

The catalog copy is consistent by itself; its files are copied after it. A picture
deleted in between takes its files with it: such pictures are listed in the manifest
and restore deletes them too, so the restored album is the snapshot minus deletions
that really happened. Queued uploads' files are copied before the snapshot as well as
after, since processing one deletes its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .adapters.blob_local import LocalBlobStore
from .album import Album
from .atomic import write_atomically
from .domain import BadInput, Upload, rendition_key
from .ports import Bucket

MANIFEST = "manifest.json"
FORMAT = 1
SECRET_FILE = "owner-secret"

Start = Callable[[int], None]
Step = Callable[[str], None]


@dataclass
class BackupReport:
    dest: Path
    pictures: int = 0
    copied: int = 0  # files new in this backup
    copied_bytes: int = 0
    kept: int = 0  # files the backup had already
    deleted_meanwhile: list[str] = field(default_factory=list)  # image ids
    damaged: list[str] = field(default_factory=list)  # "set/name: what is wrong"
    pruned: int = 0
    seconds: float = 0.0


@dataclass
class RestoreReport:
    pictures: int = 0
    copied: int = 0
    problems: list[str] = field(default_factory=list)
    forgotten_faces: int = 0  # indexed for a photo the snapshot caught before its row
    seconds: float = 0.0


def backup(
    album: Album,
    dest: Path,
    *,
    prune: bool = False,
    on_start: Start = lambda _: None,
    on_progress: Step = lambda _: None,
) -> BackupReport:
    began = time.monotonic()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    report = BackupReport(dest)
    copies = LocalBlobStore(dest / "blobs")
    queued = {u.upload_id for u in album.catalog.queued_uploads()}
    for key in queued:  # before the snapshot: processing an upload deletes its file
        _copy(album, copies, "incoming", key, None, report)
    snap = album.catalog.snapshot(dest)
    report.pictures = len(snap.pictures)
    users: dict[tuple[Bucket, str], list[str]] = {}
    sha_of: dict[str, str] = {}
    for image_id, sha, original in snap.pictures:
        sha_of[original] = sha
        for where in (
            ("originals", original),
            ("thumbnails", rendition_key("thumb", sha)),
            ("thumbnails", rendition_key("preview", sha)),
        ):
            users.setdefault(where, []).append(image_id)  # type: ignore[arg-type]
    on_start(len(users) + len(snap.upload_ids))
    missing: set[str] = set()
    for (bucket, key), image_ids in users.items():
        on_progress(key)
        if not _copy(album, copies, bucket, key, sha_of.get(key), report):
            missing.update(image_ids)
    for key in snap.upload_ids:  # a finished upload's file is gone: nothing to keep
        on_progress(key)
        if key not in queued:
            _copy(album, copies, "incoming", key, None, report)
    still_there = album.catalog.get_pictures(sorted(missing))
    report.deleted_meanwhile = sorted(missing - still_there.keys())
    report.damaged += [
        f"{p.set_name}/{p.name}: its files are missing in the album (run facealbum check)"
        for p in still_there.values()
    ]
    final = dest / snap.file.name.removesuffix(".partial")
    os.replace(snap.file, final)
    secret = album.settings.home / SECRET_FILE
    if secret.is_file():
        write_atomically(dest / SECRET_FILE, secret.read_bytes())
    manifest = {
        "format": FORMAT,
        "facealbum": __version__,
        "created_at": time.time(),
        "catalog": {"format": snap.format, "file": final.name},
        "pictures": report.pictures,
        "deleted_meanwhile": report.deleted_meanwhile,
    }
    write_atomically(dest / MANIFEST, json.dumps(manifest, indent=2).encode())
    if prune:
        wanted = set(users) | {("incoming", k) for k in [*snap.upload_ids, *queued]}
        for bucket in ("originals", "thumbnails", "incoming"):
            for key in list(copies.keys(bucket)):  # type: ignore[arg-type]
                if (bucket, key) not in wanted:
                    copies.delete(bucket, key)  # type: ignore[arg-type]
                    report.pruned += 1
    report.seconds = time.monotonic() - began
    return report


def _copy(
    album: Album, copies: LocalBlobStore, bucket: Bucket, key: str, sha: str | None, r: BackupReport
) -> bool:
    """Copy one blob unless the backup has it; False if the album does not have it."""
    try:
        size = album.blobs.length(bucket, key)
    except KeyError:
        return False
    try:
        if copies.length(bucket, key) == size:
            r.kept += 1
            return True
    except KeyError:
        pass
    try:
        with album.blobs.open(bucket, key) as fh:
            copies.put(bucket, key, fh, expect_sha256=sha)
    except KeyError:
        return False
    except BadInput:
        r.damaged.append(f"{bucket}/{key}: content does not match its sha256; not copied")
        return True
    r.copied += 1
    r.copied_bytes += size
    return True


# -- restore --------------------------------------------------------------------------


def read_manifest(src: Path) -> dict:
    try:
        manifest = json.loads((Path(src) / MANIFEST).read_text())
    except FileNotFoundError:
        raise BadInput(f"{src} is not a facealbum backup (no {MANIFEST})") from None
    if manifest.get("format") != FORMAT:
        raise BadInput(f"{src}: backup format {manifest.get('format')} is not known here")
    return manifest


def restore(
    album: Album,
    src: Path,
    *,
    on_start: Start = lambda _: None,
    on_progress: Step = lambda _: None,
) -> RestoreReport:
    """Make the (empty) album the backup's album. Interrupted, it can be run again: a
    marker in the home says a restore is under way, which lifts the emptiness rule."""
    began = time.monotonic()
    src = Path(src)
    manifest = read_manifest(src)
    marker = album.settings.home / ".restoring"
    if not marker.exists():
        _require_empty(album)
        marker.write_text(str(src.resolve()))
    catalog_file = src / manifest["catalog"]["file"]
    album.catalog.restore_snapshot(manifest["catalog"]["format"], catalog_file)
    from .people import regroup

    regroup.let_go(album)  # a regrouping the snapshot caught mid-way runs here no more
    for image_id in manifest["deleted_meanwhile"]:
        gone = album.catalog.delete_picture(image_id)
        if gone is not None:
            album.collection.forget([f.face_id for f in gone.faces])
    report = RestoreReport()
    wanted: dict[tuple[Bucket, str], str | None] = {}
    listed: set[str] = set()
    for p in album.all_pictures():
        listed |= {f.face_id for f in p.faces}
        wanted[("originals", p.original_key)] = p.sha256
        wanted[("thumbnails", p.thumb_key)] = None
        wanted[("thumbnails", p.preview_key)] = None
        report.pictures += 1
    queued = album.catalog.queued_uploads()
    wanted.update({("incoming", u.upload_id): None for u in queued})
    on_start(len(wanted))
    for (bucket, key), sha in wanted.items():
        on_progress(key)
        problem = _restore_blob(album, src, bucket, key, sha)
        if problem == "copied":
            report.copied += 1
        elif problem:
            report.problems.append(problem)
    for u in queued:
        _requeue(album, u)
    if album.settings.face_engine == "local":
        # the snapshot may catch a photo between the indexing of its faces and the row
        # that lists them; nothing else runs in a restored album, so they are leftovers
        strays = [r.face_id for r in album.collection.records() if r.face_id not in listed]
        album.collection.forget(strays)
        report.forgotten_faces = len(strays)
    secret = src / SECRET_FILE
    if secret.is_file() and not (album.settings.home / SECRET_FILE).exists():
        write_atomically(album.settings.home / SECRET_FILE, secret.read_bytes())
    marker.unlink()
    report.seconds = time.monotonic() - began
    return report


def _require_empty(album: Album) -> None:
    s = album.catalog.stats()
    if (
        s.sets
        or s.pictures
        or album.catalog.upload_ids()
        or next(iter(album.blobs.keys("originals")), None)
    ):
        raise BadInput(
            f"restore needs an empty album, and {album.settings.home} holds {s.sets} sets "
            f"and {s.pictures} pictures: choose a new FACEALBUM_HOME (or --home)"
        )


def _restore_blob(album: Album, src: Path, bucket: Bucket, key: str, sha: str | None) -> str:
    """ "copied", "" (already there) or what is wrong."""
    base = (src / "blobs" / bucket).resolve()
    path = (base / key).resolve()
    if not path.is_relative_to(base):
        return f"{bucket}/{key}: unsafe key in the backup, skipped"
    if not path.is_file():
        if bucket == "incoming":
            return ""  # reported with its upload
        return f"{bucket}/{key}: missing from the backup"
    try:
        if album.blobs.length(bucket, key) == path.stat().st_size:
            return ""
    except KeyError:
        pass
    with path.open("rb") as fh:
        if sha is not None and hashlib.file_digest(fh, "sha256").hexdigest() != sha:
            return f"{bucket}/{key}: damaged in the backup (sha256 differs), not restored"
        fh.seek(0)
        album.blobs.put(bucket, key, fh, "")
    return "copied"


def _requeue(album: Album, upload: Upload) -> None:
    """A queued upload comes back queued, with its file; one whose file was processed
    (and so deleted) while the backup ran is reported as failed, not left waiting."""
    if album.blobs.exists("incoming", upload.upload_id):
        album.queue.enqueue("ingest_upload", upload_id=upload.upload_id)
        return
    upload.status = "failed"
    upload.error = "its file was processed while the backup ran; upload it again"
    album.catalog.finish_upload(upload)
