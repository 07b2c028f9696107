"""The album's nouns, in the shape the original design stored them.

Face boxes follow AWS Rekognition: ratios of the (EXIF-oriented) picture, so they stay
true at any display size and existing Rekognition clients understand them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np


class AlbumError(Exception):
    """An error the user can act on; its message is shown as is."""


class NotFound(AlbumError):
    pass


class BadInput(AlbumError):
    pass


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
    embedding: np.ndarray | None = field(default=None, repr=False)

    def as_rekognition(self) -> dict[str, object]:
        return {
            "FaceId": self.face_id,
            "ImageId": self.image_id,
            "BoundingBox": self.box.as_rekognition(),
            "Confidence": self.confidence,
        }


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

    @property
    def thumb_key(self) -> str:
        return rendition_key("thumb", self.sha256)

    @property
    def preview_key(self) -> str:
        return rendition_key("preview", self.sha256)


def rendition_key(kind: str, sha256: str) -> str:
    """Where a rendition of some content lives in the thumbnails bucket."""
    return f"{kind}/{sha256[:2]}/{sha256}.jpg"


@dataclass
class SetSummary:
    name: str
    picture_count: int
    featured: Picture | None
    created_at: float


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


@dataclass
class Stats:
    sets: int
    pictures: int
    faces: int
    original_bytes: int
    derived_bytes: int


_SET_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,100}$")


def check_set_name(name: str) -> str:
    """Set names become URL path segments and DynamoDB partition keys: keep them plain."""
    name = name.strip()
    if not _SET_NAME.match(name) or name in {".", ".."}:
        raise BadInput(
            f"invalid set name {name!r}: 1-100 characters, no '/', '\\' or control characters"
        )
    return name


def check_picture_name(name: str) -> str:
    """Refuse names that could escape a folder when the picture is exported or served."""
    if not name or len(name) > 255 or "\\" in name or "\x00" in name:
        raise BadInput(f"unsafe file name {name!r}")
    parts = name.split("/")
    if name.startswith("/") or any(p in {"", ".", ".."} for p in parts):
        raise BadInput(f"unsafe file name {name!r}: no absolute paths or '..' components")
    if any(ord(c) < 32 for c in name):
        raise BadInput(f"unsafe file name {name!r}: control characters")
    return name
