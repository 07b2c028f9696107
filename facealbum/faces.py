"""The faces port, shaped like the part of AWS Rekognition the album needs.

Rekognition keeps the vectors: IndexFaces returns face ids and boxes, never
descriptors, and searches go by face id or by image. Whatever the album does with faces
(click-face search, later grouping people) goes through these calls, so the same album
runs on the local engine (dlib + an in-memory index over catalog rows), on Rekognition
itself, or on facealbum's own Rekognition-compatible server.

The errors carry Rekognition's names, so the wire server maps them one to one and a
boto3 user can catch ``client.exceptions.ResourceNotFoundException`` and the like.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .domain import AlbumError, BadInput, Box, NotFound

# the face model's version, in Rekognition's form ([0-9.]+, like its "7.0"): dlib's ResNet
# descriptor with the album's similarity curve, version 1
MODEL_VERSION = "1.0"
DEFAULT_THRESHOLD = 80.0  # Rekognition's default FaceMatchThreshold
ASSOCIATE_THRESHOLD = 75.0  # and its default UserMatchThreshold for AssociateFaces


# Similarity as Rekognition means it: at its default threshold of 80, a match should be
# the same person. dlib's descriptors are compared by cosine; the album measured 0.915 as
# its precise cut (bench/threshold.py), so a logistic curve, stretched to run from 0 at
# cosine -1 to 100 at cosine 1 (the same face), puts 0.915 at 80 (0.95 -> 95.4,
# 0.85 -> 17.8). Monotonic, so thresholds map one to one.
_MID, _SLOPE = 0.884496, 44.5


def _logistic(cosine: float) -> float:
    return 1.0 / (1.0 + math.exp(-_SLOPE * (cosine - _MID)))


_LOW, _HIGH = _logistic(-1.0), _logistic(1.0)


def similarity(cosine: float) -> float:
    """Rekognition-style similarity (0-100) of two unit descriptors' cosine."""
    cosine = min(max(cosine, -1.0), 1.0)
    return round(100.0 * (_logistic(cosine) - _LOW) / (_HIGH - _LOW), 4)


def similarities(cosines: Sequence[float] | np.ndarray) -> list[float]:
    """:func:`similarity` of each cosine (numpy for the curve, Python's ``round`` as
    there): a search scores hundreds of candidates at once."""
    c = np.clip(np.asarray(cosines, dtype=np.float64), -1.0, 1.0)
    curve = 1.0 / (1.0 + np.exp(-_SLOPE * (c - _MID)))
    return [round(x, 4) for x in (100.0 * (curve - _LOW) / (_HIGH - _LOW)).tolist()]


def cosine_for(similarity_threshold: float) -> float:
    """The cosine at which :func:`similarity` reaches a threshold (its inverse)."""
    if similarity_threshold <= 0:
        return -1.0  # "at least 0": every face
    if similarity_threshold >= 100:
        return 1.0
    y = _LOW + similarity_threshold / 100.0 * (_HIGH - _LOW)
    return _MID + math.log(y / (1.0 - y)) / _SLOPE


class CollectionNotFound(NotFound):
    aws = "ResourceNotFoundException"


class CollectionExists(BadInput):
    aws = "ResourceAlreadyExistsException"


class InvalidParameter(BadInput):
    aws = "InvalidParameterException"


class InvalidImage(BadInput):
    aws = "InvalidImageFormatException"


class ImageTooLarge(BadInput):
    aws = "ImageTooLargeException"


class InvalidToken(BadInput):
    aws = "InvalidPaginationTokenException"


class FaceNotFound(InvalidParameter):
    """Rekognition answers an unknown FaceId with InvalidParameterException."""


class UserNotFound(NotFound):
    aws = "ResourceNotFoundException"


class Conflict(BadInput):
    """A user id already taken (CreateUser), as on AWS."""

    aws = "ConflictException"


class QuotaExceeded(BadInput):
    """More than :data:`MAX_USER_FACES` faces for one user."""

    aws = "ServiceQuotaExceededException"


MAX_USER_FACES = 100  # Rekognition's limit of faces associated with one user
USER_ID = re.compile(r"[a-zA-Z0-9_.\-:]{1,128}")


@dataclass
class FaceRecord:
    """A face stored in a collection."""

    face_id: str
    image_id: str  # the id Rekognition gives each indexed image
    external_image_id: str | None
    box: Box
    confidence: float
    user_id: str | None = None  # the user (person) the face is associated with


@dataclass
class FaceDetail:
    """A face found in an image, not stored anywhere (Rekognition's FaceDetail; the
    engine's pixel-space face is ports.DetectedFace)."""

    box: Box
    confidence: float
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)  # ratios (X, Y)
    sharpness: float | None = None  # Rekognition's Quality.Sharpness (0-100)
    brightness: float | None = None  # Quality.Brightness: the box's mean luminance, 0-100
    pose: dict[str, float] = field(default_factory=dict)  # degrees: Roll (the eye line)


@dataclass
class Unindexed:
    face: FaceDetail
    reasons: list[str]  # EXCEEDS_MAX_FACES, SMALL_BOUNDING_BOX, LOW_CONFIDENCE, ...


@dataclass
class Indexed:
    records: list[tuple[FaceRecord, FaceDetail]]
    unindexed: list[Unindexed]


@dataclass
class Match:
    similarity: float
    face: FaceRecord


@dataclass
class ImageSearch:
    """SearchFacesByImage: the largest face of the image and its matches."""

    searched: FaceDetail
    matches: list[Match]


@dataclass
class Comparison:
    source: FaceDetail
    matches: list[tuple[float, FaceDetail]]
    unmatched: list[FaceDetail]


@dataclass
class CollectionInfo:
    collection_id: str
    face_count: int
    created_at: float
    model_version: str = MODEL_VERSION
    user_count: int = 0


@dataclass
class User:
    """A Rekognition user: one person, the faces associated with it searched as one.
    CREATED until it has faces, then ACTIVE."""

    user_id: str
    status: str


@dataclass
class UserMatch:
    similarity: float
    user: User


@dataclass
class Association:
    """AssociateFaces / DisassociateFaces: the faces done, the others with their
    reasons (FACE_NOT_FOUND, ASSOCIATED_TO_A_DIFFERENT_USER, LOW_MATCH_CONFIDENCE), and
    the user's status afterwards."""

    done: list[str]
    failed: list[Refusal]
    status: str


@dataclass
class Refusal:
    face_id: str
    reasons: list[str]
    user_id: str | None = None  # the user the face belongs to, when it is another
    confidence: float | None = None  # its match with the user, when too low


@dataclass
class Deletion:
    """DeleteFaces: the faces deleted, and the others with their reasons:
    FACE_NOT_FOUND, or ASSOCIATED_TO_AN_EXISTING_USER (with ``user_id``): as on AWS, a
    face associated with a user must be disassociated before it can be deleted."""

    deleted: list[str]
    unsuccessful: list[Refusal]


@dataclass
class UserImageSearch:
    """SearchUsersByImage: the largest face, the users it matches, the faces not
    searched (with reasons such as FACE_NOT_LARGEST)."""

    searched: FaceDetail | None
    matches: list[UserMatch]
    unsearched: list[Unindexed]


class Faces(Protocol):
    """Collections of faces; images are encoded bytes (JPEG, PNG…), as on the wire."""

    def create_collection(self, collection_id: str) -> CollectionInfo: ...
    def delete_collection(self, collection_id: str) -> None: ...
    def list_collections(self, limit: int, token: str | None) -> tuple[list[str], str | None]: ...
    def describe_collection(self, collection_id: str) -> CollectionInfo: ...

    def index_faces(
        self,
        collection_id: str,
        image: bytes,
        external_image_id: str | None = None,
        max_faces: int | None = None,
        quality_filter: str = "AUTO",
    ) -> Indexed: ...

    def list_faces(
        self, collection_id: str, limit: int, token: str | None, user_id: str | None = None
    ) -> tuple[list[FaceRecord], str | None]: ...

    def delete_faces(self, collection_id: str, face_ids: list[str]) -> list[str]:
        """The ids deleted (see :meth:`delete_faces_detailed` for why others were not)."""
        ...

    def delete_faces_detailed(self, collection_id: str, face_ids: list[str]) -> Deletion: ...

    def search_faces(
        self, collection_id: str, face_id: str, threshold: float, max_faces: int
    ) -> list[Match]: ...

    def search_faces_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_faces: int,
        quality_filter: str = "NONE",
    ) -> ImageSearch:
        """The largest face that passes ``quality_filter`` is searched for."""
        ...

    def detect_faces(self, image: bytes) -> list[FaceDetail]: ...

    def compare_faces(
        self, source: bytes, target: bytes, threshold: float, quality_filter: str = "NONE"
    ) -> Comparison:
        """Faces that fail ``quality_filter`` are not compared (nor listed unmatched)."""
        ...

    # users: Rekognition's persons, which the album's people are mirrored as

    def create_user(self, collection_id: str, user_id: str) -> None: ...
    def delete_user(self, collection_id: str, user_id: str) -> None: ...
    def list_users(
        self, collection_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]: ...

    def associate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str], threshold: float
    ) -> Association: ...

    def disassociate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str]
    ) -> Association: ...

    def search_users(
        self,
        collection_id: str,
        threshold: float,
        max_users: int,
        user_id: str | None = None,
        face_id: str | None = None,
    ) -> list[UserMatch]: ...

    def search_users_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_users: int,
        quality_filter: str = "NONE",
    ) -> UserImageSearch: ...


def aws_error_name(exc: AlbumError) -> str:
    """Rekognition's name for an album error (InvalidParameterException by default)."""
    return getattr(
        exc,
        "aws",
        "ResourceNotFoundException" if isinstance(exc, NotFound) else "InvalidParameterException",
    )
