"""Ingest of one picture: the original design's upload function, done right.

In three steps, so the expensive ones run in worker processes: :func:`analyze` is
pure CPU (validate, decode, orient, thumbnail, and the image the face engine gets);
:func:`index_faces` hands that image to the faces port, which finds the faces and
keeps them in the album's collection; :func:`store` writes the blobs, then the catalog
row in one transaction. Blob keys are content addressed, so redoing a step after a
crash rewrites the same files; faces indexed for a picture that was never stored are
deleted again (or, after a crash, by ``check --repair``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from PIL import Image

from .capture import CaptureTime
from .domain import (
    CAPTURE_FIELDS,
    BadInput,
    Face,
    NotFound,
    Picture,
    SetGone,
    check_picture_name,
    check_set_name,
    rendition_key,
)
from .imaging import EXTENSIONS, bounded, decode, detection_jpeg, jpeg_bytes
from .place import Place, Position, place_name
from .ports import BlobStore, Catalog
from .settings import Settings

if TYPE_CHECKING:
    from .collection import AlbumCollection

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    sha256: str
    format: str
    content_type: str
    width: int
    height: int
    byte_size: int
    thumb: bytes = b""
    preview: bytes = b""
    detection: bytes = b""  # the JPEG the faces port analyses (<= detect_size, < 5 MB)
    image_id: str = ""  # set by index_faces: the picture's id, its faces' ExternalImageId
    faces: list[Face] = field(default_factory=list)
    pixel_sha256: str = ""  # see pixel_sha256(): equal for the same photo re-captioned
    # when and where it was taken (issue 20: see domain.Picture's fields of these names)
    taken_at: str | None = None
    taken_at_source: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    place: str | None = None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixel_sha256(img: Image.Image) -> str:
    """sha256 of a decoded photo's pixels: its mode, its size and its raw 8-bit samples,
    as :func:`imaging.decode` gives them (oriented, RGB).

    Two files of the same photo whose metadata alone differs (a caption, a keyword or a
    rating written into its EXIF, XMP or IPTC; a PNG's text chunk) decode to the same
    pixels, so this names the photo where the file's sha256 names the bytes. The EXIF
    orientation is applied first: it is part of what the viewer sees, so a photo turned
    by its tag is another picture. Any re-encoding (another JPEG quality, an edit of the
    pixels) changes samples, so it is another picture too: the hash is exact, not
    perceptual. It hashes what ``decode`` returns, which for a JPEG is decoded at a
    reduced scale (``draft``, about ``Settings.decode_size`` px, then a bicubic
    shrink): deterministic for one file and one decode size, which import, upload,
    reindex and the AWS handler all use (``ingest.analyze``); a change of
    ``preview_size`` or ``detect_size`` changes the decode size, so photos stored
    before it are matched again only after a ``reindex`` gives them new hashes."""
    digest = hashlib.sha256(f"{img.mode} {img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def hash_stream(fh: BinaryIO) -> tuple[str, int]:
    """(sha256, size) of a file read in chunks, left rewound: a 200 MB original is never
    held in memory whole."""
    digest, size = hashlib.sha256(), 0
    fh.seek(0)
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    fh.seek(0)
    return digest.hexdigest(), size


def stream_size(fh: BinaryIO) -> int:
    """Size of an open file, its position kept."""
    here = fh.tell()
    size = fh.seek(0, 2)
    fh.seek(here)
    return size


def new_image_id() -> str:
    """Random, not derived from (set, content): a renamed set keeps its pictures' ids,
    and the same photo may later arrive in a new set of the old name. Re-running an
    import stays idempotent through the (set, sha256) uniqueness, not through the id."""
    return str(uuid.uuid4())


def analyze(
    data: bytes | BinaryIO,
    settings: Settings,
    *,
    renditions: bool = True,
    sha256: str | None = None,
    capture: bool = True,
    name: str = "",
    mtime: float | None = None,
) -> Analysis:
    """Everything about a photo that can be computed from its bytes alone; ``data`` may
    be an open file, so a large original is read by the decoder, not loaded whole;
    ``sha256`` spares hashing the bytes again when the caller has hashed them already.
    With ``capture`` (:func:`capture_fields`), when and where it was taken, from its
    metadata, else from ``name`` (the file's name) and ``mtime`` (its modification
    time, POSIX seconds; None when unknown: uploads, S3)."""
    if isinstance(data, bytes | bytearray):
        size = len(data)
        digest = sha256 or sha256_of(data)
    elif sha256:
        size, digest = stream_size(data), sha256
    else:
        digest, size = hash_stream(data)
    if size > settings.max_file_bytes:
        raise BadInput(f"file too large: {size} bytes (limit {settings.max_file_bytes})")
    if size == 0:
        raise BadInput("empty file")
    # the same decode and the same detector image whether or not renditions are made,
    # so that a reindex finds exactly the faces the import found
    dec = decode(data, settings.decode_size, settings.max_pixels, capture=capture, name=name,
                 mtime=mtime)
    result = Analysis(
        sha256=digest,
        format=dec.format,
        content_type=dec.content_type,
        width=dec.width,
        height=dec.height,
        byte_size=size,
        pixel_sha256=pixel_sha256(dec.image),  # before any resize: what decode gave
    )
    capture_fields(result, dec.taken, dec.position)
    preview = bounded(dec.image, settings.preview_size)
    if renditions:
        result.thumb, result.preview = rendition_bytes(preview, settings)
    # the preview is usually the detector's size already: no second resize. Shrunk,
    # never enlarged: the engine decides about upscaling small photos itself
    source = preview if max(preview.size) >= settings.detect_size else dec.image
    detect = (settings.detect_size, settings.detect_size)
    result.detection = detection_jpeg(bounded(source, detect))
    return result


_Captured = TypeVar("_Captured", Analysis, Picture)


def capture_fields(
    analysis: _Captured, taken: CaptureTime | None, position: Position | None
) -> _Captured:
    """The capture time and position into the fields of an analysis or a picture (the
    same names: domain.CAPTURE_FIELDS), the place named offline (place.place_name: its
    data is loaded once per process, the first time a position is met, so only in the
    processes that analyse photos with one). What was not read is left as it was; a
    failure to name the place leaves it empty, logged: never an import's failure."""
    if taken is not None:
        analysis.taken_at, analysis.taken_at_source = taken.taken_at, taken.source
    if position is not None:
        analysis.latitude, analysis.longitude = position.latitude, position.longitude
        analysis.altitude = position.altitude
        try:
            found = place_name(position.latitude, position.longitude)
        except Exception as exc:
            log.warning("no place name for %s, %s (%s: %s)", position.latitude,
                        position.longitude, type(exc).__name__, exc)
            found = None
        analysis.place = place_label(found) if found is not None else None
    return analysis


def place_label(place: Place) -> str:
    """"city, region, country" (the region left out where GeoNames has none, or where
    it is the city's own name, as for Berlin)."""
    parts = [place.city, place.region, place.country]
    return ", ".join(dict.fromkeys(p for p in parts if p))


def index_faces(collection: AlbumCollection, analysis: Analysis, image_id: str) -> Analysis:
    """Index the analysed photo's faces under the picture's id-to-be. The detection
    image is dropped afterwards: it is not stored, and workers need not send it back."""
    analysis.faces = collection.index(analysis.detection, image_id)
    analysis.image_id, analysis.detection = image_id, b""
    return analysis


def rendition_bytes(preview: Image.Image, settings: Settings) -> tuple[bytes, bytes]:
    """(thumbnail, preview) JPEGs from the preview-sized image."""
    q = settings.jpeg_quality
    return jpeg_bytes(bounded(preview, settings.thumb_size), q), jpeg_bytes(preview, q)


@dataclass
class Stored:
    status: str  # "added" or "duplicate"
    picture: Picture  # the picture added, or the one already in the set
    # of a duplicate: "file" (the same bytes are in the set) or "pixels" (a file of the
    # same photo, only its metadata different, is: see pixel_sha256)
    same: str = ""


def original_key(analysis: Analysis) -> str:
    sha = analysis.sha256
    return f"{sha[:2]}/{sha}.{EXTENSIONS[analysis.format]}"


@contextmanager
def content_lock(catalog: Catalog, sha256: str, hold: float = 60.0, wait: float = 90.0):
    """Hold the catalog's lock on one content: storing a picture (blobs, then its row)
    and dropping a content's blobs after its last picture went must not interleave, or
    a new row could end up pointing at deleted files. A dead holder's lock expires."""
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not catalog.lock_content(sha256, holder, hold):
        if time.monotonic() > deadline:
            raise TimeoutError(f"content {sha256[:12]} stayed locked for {wait:.0f} s")
        time.sleep(0.02)
    try:
        yield
    finally:
        catalog.unlock_content(sha256, holder)


def drop_unused_blobs(blobs: BlobStore, catalog: Catalog, picture: Picture) -> None:
    """Delete a content's blobs unless a picture still uses them; the caller holds the
    content's lock."""
    if not catalog.sha_in_use(picture.sha256):
        blobs.delete("originals", picture.original_key)
        blobs.delete("thumbnails", picture.thumb_key)
        blobs.delete("thumbnails", picture.preview_key)


def put_blobs(blobs: BlobStore, data: bytes | BinaryIO, analysis: Analysis) -> None:
    """The original and its renditions, under keys derived from the content: writing
    them twice (a re-run after a crash) writes the same files."""
    sha = analysis.sha256
    key = original_key(analysis)
    try:  # the same photo in another set: its original is there already
        present = blobs.length("originals", key) == analysis.byte_size
    except KeyError:
        present = False
    if not present:
        blobs.put("originals", key, data, analysis.content_type)
    put_renditions(blobs, sha, analysis.thumb, analysis.preview)


def put_renditions(blobs: BlobStore, sha256: str, thumb: bytes, preview: bytes) -> None:
    blobs.put("thumbnails", rendition_key("thumb", sha256), thumb, "image/jpeg")
    blobs.put("thumbnails", rendition_key("preview", sha256), preview, "image/jpeg")


def store(
    blobs: BlobStore,
    catalog: Catalog,
    collection: AlbumCollection,
    set_name: str,
    name: str,
    data: bytes | BinaryIO,
    analysis: Analysis,
    engine_tag: str,
    *,
    create_set: bool = True,
) -> Stored:
    """Blobs first, catalog last: a picture row always has its blobs, and its faces
    are in the collection already (see :func:`index_faces`). If the picture is not
    added after all, its faces leave the collection again. Without ``create_set`` a
    missing set raises :class:`SetGone` instead of coming back, the faces kept for the
    caller to store elsewhere or forget."""
    if not analysis.image_id:
        raise ValueError("index the analysis's faces (index_faces) before storing it")
    try:
        stored = _store(blobs, catalog, set_name, name, data, analysis, engine_tag, create_set)
    except SetGone:
        raise
    except BaseException:  # a Ctrl-C may land after the picture's commit: keep its faces
        ids = [f.face_id for f in analysis.faces]
        try:
            listed = catalog.faces_of(ids) if ids else {}
        except Exception:  # the catalog unreachable: check --repair settles what is left
            listed = {}
        collection.forget([f for f in ids if f not in listed])
        raise
    if stored.status != "added":
        collection.forget([f.face_id for f in analysis.faces])
    return stored


def _store(
    blobs: BlobStore,
    catalog: Catalog,
    set_name: str,
    name: str,
    data: bytes | BinaryIO,
    analysis: Analysis,
    engine_tag: str,
    create_set: bool,
) -> Stored:
    set_name, name = check_set_name(set_name), check_picture_name(name)
    pixels = analysis.pixel_sha256 or None
    # the same bytes are found before any blob is written; the same pixels only by the
    # add (the catalog's unique (set, pixel hash)): no read more for every new photo,
    # and a re-captioned copy, which is rare, has its blobs written and dropped again
    if (known := already_there(catalog, set_name, analysis.sha256, None)) is not None:
        return known
    sha = analysis.sha256
    picture = Picture(
        image_id=analysis.image_id,
        set_name=set_name,
        name=name,
        sha256=sha,
        width=analysis.width,
        height=analysis.height,
        original_key=original_key(analysis),
        content_type=analysis.content_type,
        byte_size=analysis.byte_size,
        engine_tag=engine_tag,
        faces=list(analysis.faces),
        pixel_sha256=pixels,
        **{k: getattr(analysis, k) for k in CAPTURE_FIELDS},
    )
    found: Stored | None = None
    with content_lock(catalog, sha):
        put_blobs(blobs, data, analysis)
        for attempt in range(6):
            status = catalog.add_picture(picture, create_set=create_set)
            if status == "no_set":  # the blobs just written must not stay behind
                drop_unused_blobs(blobs, catalog, picture)
                raise SetGone(f"set {set_name!r} no longer exists")
            if status == "duplicate":
                # two files of one photo stored at once, and the other won: this file's
                # blobs go unless a picture elsewhere has these bytes
                found = already_there(catalog, set_name, sha, pixels)
                if found is not None:
                    drop_unused_blobs(blobs, catalog, picture)
                    break
                continue  # the other was deleted meanwhile: add this one after all
            if status != "name_taken":
                break
            picture.name = free_name(catalog, set_name, name, attempt)
        else:  # pragma: no cover - a unique suffix taken too
            raise BadInput(f"could not find a free name for {name!r} in set {set_name!r}")
    return found or Stored("added", picture)


def already_there(
    catalog: Catalog, set_name: str, sha256: str, pixel_sha256: str | None
) -> Stored | None:
    """The picture of the set that a new file would duplicate, as a "duplicate": one
    with the same bytes ("file"), else one with the same pixels ("pixels"; only the
    metadata differs, see :func:`pixel_sha256`); None if there is neither."""
    existing = catalog.find_by_hash(set_name, sha256)
    if existing is not None:
        return Stored("duplicate", existing, "file")
    if pixel_sha256:
        existing = catalog.find_by_pixels(set_name, pixel_sha256)
        if existing is not None:
            return Stored("duplicate", existing, "pixels")
    return None


def free_name(catalog: Catalog, set_name: str, name: str, attempt: int) -> str:
    """Another name for a picture whose ``name`` is taken in the set: "IMG (n).JPG" with
    n from the catalog's counter for (set, name), one write however many clashes came
    before (no probing, no cap). A numbered name can still be taken (a file uploaded
    under it, or a counter a DynamoDB rename left behind): after three of those, a
    unique suffix ends it."""
    if attempt < 3:
        try:
            return _numbered(name, catalog.next_name_number(set_name, name))
        except NotFound:  # the set went: the next add says so
            pass
    return _numbered(name, uuid.uuid4().hex[:8])


def _numbered(name: str, n: int | str) -> str:
    """photo.jpg -> photo (2).jpg: another file that happens to share a name."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
