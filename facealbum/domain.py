"""The album's nouns, in the shape the original design stored them.

Face boxes follow AWS Rekognition: ratios of the (EXIF-oriented) picture, so they stay
true at any display size and existing Rekognition clients understand them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


class AlbumError(Exception):
    """An error the user can act on; its message is shown as is."""


class NotFound(AlbumError):
    pass


class BadInput(AlbumError):
    pass


class StorageFull(AlbumError):
    """The disk (or quota) under the blob store or the catalog is full: nothing was
    half-written, the album stays readable, and the write can be tried again later."""


class SetGone(NotFound):
    """The set a queued upload was meant for no longer exists under that name."""


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    width: float
    height: float

    def as_rekognition(self) -> dict[str, float]:
        return {"Width": self.width, "Height": self.height, "Left": self.left, "Top": self.top}


@dataclass
class Face:
    face_id: str
    image_id: str
    box: Box
    confidence: float
    person_id: str | None = None  # who the face is, once grouped (see people/grouping.py)
    sharpness: float | None = None  # 0-100, None if unknown (see quality.py)

    def as_rekognition(self) -> dict[str, object]:
        return {
            "FaceId": self.face_id,
            "ImageId": self.image_id,
            "BoundingBox": self.box.as_rekognition(),
            "Confidence": self.confidence,
        }


@dataclass
class Person:
    """Faces grouped as one person. Counts (kept by the catalog with each change of the
    person's faces) are filled in when people are read. ``representatives``: a few of
    its face ids that stand for it in searches and on the people pages (the owner's
    cover first, then medoids: people/representatives.py), as last stored; a catalog
    read through ``Catalog.representatives`` drops those that left the person."""

    person_id: str
    name: str | None = None
    hidden: bool = False
    cover_face_id: str | None = None
    created_at: float = 0.0
    face_count: int = 0
    picture_count: int = 0
    representatives: list[str] = field(default_factory=list)


@dataclass
class Picture:
    image_id: str
    set_name: str
    name: str
    sha256: str
    width: int
    height: int
    original_key: str
    content_type: str
    byte_size: int
    engine_tag: str = ""
    faces: list[Face] = field(default_factory=list)
    # sha256 of the decoded, oriented pixels (ingest.pixel_sha256): the same photo with
    # only its metadata edited is the same picture; None for pictures stored before it
    pixel_sha256: str | None = None
    # when and where it was taken (issue 20; None when unknown): ``taken_at`` ISO 8601
    # (capture.py: with its offset when known), ``taken_at_source`` the field it was
    # read from; the GPS position in WGS 84 degrees and metres (place.Position), the
    # owner's only unless the set shares locations; ``place`` the nearest named place,
    # "city, region, country" (place.place_name)
    taken_at: str | None = None
    taken_at_source: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    place: str | None = None

    def face(self, face_id: str) -> Face | None:
        return next((f for f in self.faces if f.face_id == face_id), None)

    @property
    def thumb_key(self) -> str:
        return rendition_key("thumb", self.sha256)

    @property
    def preview_key(self) -> str:
        return rendition_key("preview", self.sha256)


# a picture's capture fields, as reindex --metadata writes them (Catalog.set_capture)
CAPTURE_FIELDS = ("taken_at", "taken_at_source", "latitude", "longitude", "altitude", "place")
# those only the owner, or a visitor of a set that shares locations, is given
LOCATION_FIELDS = ("latitude", "longitude", "altitude", "place")


def rendition_key(kind: str, sha256: str) -> str:
    """Where a rendition of some content lives in the thumbnails bucket."""
    return f"{kind}/{sha256[:2]}/{sha256}.jpg"


@dataclass
class SetSummary:
    name: str
    picture_count: int
    featured: Picture | None
    created_at: float
    share_location: bool = False  # visitors get originals with GPS and serial numbers


@dataclass
class Upload:
    """A file sent through the web, and what became of it once the queue ran it."""

    upload_id: str
    set_name: str
    name: str
    status: str  # queued | added | duplicate | failed
    error: str | None = None
    image_id: str | None = None
    faces: int | None = None
    attempts: int = 0  # runs started; more than one means a runner died mid-way
    created_at: float | None = None
    # of a duplicate, what it shares with the picture already in the set: "file" (the
    # same bytes) or "pixels" (the same photo, its metadata edited); None otherwise
    duplicate: str | None = None


@dataclass
class OwnerSession:
    """One signed-in browser or script of the owner; deleting its row signs it out."""

    session_id: str
    secret_tag: str
    created_at: float
    last_seen: float
    expires_at: float
    client: str
    user_agent: str


@dataclass
class Stats:
    sets: int
    pictures: int
    faces: int
    original_bytes: int
    derived_bytes: int


# invisible characters that reorder or hide text: U+202E makes "\u202egpj.exe" read "exe.jpg"
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(name: str, what: str, limit: int) -> str:
    """The one normal form of every name the owner or a file gives: Unicode NFC, trimmed.
    Names are shown to visitors and used as keys, so characters that hide or reorder text
    (controls, bidirectional overrides) are refused rather than silently dropped."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise BadInput(f"invalid {what} {name!r}: empty or only spaces")
    for c in name:
        if c in _BIDI or unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029":
            raise BadInput(
                f"invalid {what} {name!r}: control or text-direction character "
                f"U+{ord(c):04X} is not allowed"
            )
    if len(name) > limit:
        raise BadInput(f"invalid {what} {name!r}: longer than {limit} characters")
    return name


def as_stored(name: str) -> str:
    """A name given to find something (a URL's, a command's argument) in the form
    :func:`clean_name` stores names in, so "Fête" typed on macOS (NFD) finds the set
    stored as NFC. Nothing is refused: a name that was never stored is simply not found."""
    return unicodedata.normalize("NFC", name).strip()


def check_set_name(name: str) -> str:
    """Set names become URL path segments and DynamoDB partition keys: keep them plain."""
    name = clean_name(name, "set name", 100)
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise BadInput(f"invalid set name {name!r}: no '/', '\\', '.' or '..'")
    return name


def check_picture_name(name: str) -> str:
    """Refuse names that could escape a folder when the picture is exported or served."""
    name = clean_name(name, "file name", 255)
    if "\\" in name:
        raise BadInput(f"unsafe file name {name!r}: no backslashes")
    parts = name.split("/")
    if name.startswith("/") or any(p.strip() in {"", ".", ".."} for p in parts):
        raise BadInput(f"unsafe file name {name!r}: no absolute paths or '..' components")
    return name


def largest_first(face: Face) -> tuple[float, str, float, float]:
    """Sort key: the largest face first; faces of one size (crops of one size are
    common) by picture, then box, which a reindex keeps, unlike face ids and the
    catalog's order, so what is chosen by size stays chosen after one."""
    return (-face.box.width * face.box.height, face.image_id, face.box.top, face.box.left)


# -- the same face, found again ------------------------------------------------------

SAME_FACE_IOU = 0.5  # PASCAL VOC's overlap for "the same object": boxes from two runs


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (ratios of one picture), 0-1."""
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    inter = max(0.0, w) * max(0.0, h)
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def same_faces(old: list[Face], new: list[Face], least: float = SAME_FACE_IOU) -> dict[str, str]:
    """Which new face of a picture analysed again is which old one: new face id -> old
    face id, one to one, for boxes overlapping by an IoU of at least ``least`` (0.5,
    the detection benchmarks' "same object"), the largest overlaps paired first. A
    reindex with the same engine finds the same boxes (IoU 1); another detector size or
    engine moves them a little; a face found only now, or no longer, has no pair."""
    pairs = sorted(
        ((box_iou(n.box, o.box), n.face_id, o.face_id) for n in new for o in old),
        reverse=True,
    )
    out: dict[str, str] = {}
    taken: set[str] = set()
    for overlap, n_id, o_id in pairs:
        if overlap < least:
            break
        if n_id not in out and o_id not in taken:
            out[n_id] = o_id
            taken.add(o_id)
    return out


def square_focus(width: int, height: int, boxes: list[Box]) -> tuple[float, float]:
    """(x, y), ratios of the (oriented) picture: the point a square crop of it centres on
    so its faces stay in view, without re-cutting any rendition (the web grid turns it
    into CSS ``object-position``). The centre of the union of the face boxes; without
    faces the centre, or the upper third of a portrait (where heads usually are).
    Clamped so the largest square centred there lies inside the picture."""
    if boxes:
        left = max(0.0, min(b.left for b in boxes))
        top = max(0.0, min(b.top for b in boxes))
        right = min(1.0, max(b.left + b.width for b in boxes))
        bottom = min(1.0, max(b.top + b.height for b in boxes))
        x, y = (left + right) / 2, (top + bottom) / 2
    else:
        x, y = 0.5, (1 / 3 if height > width else 0.5)
    if width <= 0 or height <= 0:
        return 0.5, 0.5
    half_x = min(0.5, height / (2 * width))  # the square's half side, in picture widths
    half_y = min(0.5, width / (2 * height))
    return (
        round(min(max(x, half_x), 1 - half_x), 4),
        round(min(max(y, half_y), 1 - half_y), 4),
    )
