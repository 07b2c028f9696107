"""The faces port on AWS Rekognition through boto3, as the original design used it; also
what talks to facealbum's own Rekognition endpoint. Endpoint, region and credentials come
from the standard AWS configuration (``AWS_ENDPOINT_URL_REKOGNITION``, ``AWS_PROFILE``,
``AWS_REGION``…); throttling is retried by botocore's adaptive retry mode."""

from __future__ import annotations

from typing import Any

from ..domain import AlbumError, Box
from ..faces import (
    Association,
    CollectionExists,
    CollectionInfo,
    CollectionNotFound,
    Comparison,
    Conflict,
    Deletion,
    FaceDetail,
    FaceRecord,
    ImageSearch,
    ImageTooLarge,
    Indexed,
    InvalidImage,
    InvalidParameter,
    InvalidToken,
    Match,
    QuotaExceeded,
    Refusal,
    Unindexed,
    User,
    UserImageSearch,
    UserMatch,
)

ERRORS: dict[str, type[AlbumError]] = {
    "ResourceNotFoundException": CollectionNotFound,
    "ResourceAlreadyExistsException": CollectionExists,
    "InvalidParameterException": InvalidParameter,
    "InvalidImageFormatException": InvalidImage,
    "ImageTooLargeException": ImageTooLarge,
    "InvalidPaginationTokenException": InvalidToken,
    "InvalidS3ObjectException": InvalidParameter,
    "ConflictException": Conflict,
    "ServiceQuotaExceededException": QuotaExceeded,
}


def client_from_environment() -> Any:
    """boto3 reads AWS_DEFAULT_REGION and profiles; AWS_REGION (what Lambda and most
    tools set) is honoured too."""
    import os

    import boto3
    from botocore.config import Config

    return boto3.client(
        "rekognition",
        region_name=os.environ.get("AWS_REGION") or None,
        config=Config(retries={"mode": "adaptive"}),
    )


class RekognitionFaces:
    def __init__(self, client: Any = None):
        self.client = client or client_from_environment()

    def _call(self, op: str, **params: Any) -> dict:
        from botocore.exceptions import ClientError

        try:
            return getattr(self.client, op)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code in ERRORS:
                raise ERRORS[code](message) from None
            raise

    def create_collection(self, collection_id: str) -> CollectionInfo:
        self._call("create_collection", CollectionId=collection_id)
        return self.describe_collection(collection_id)

    def delete_collection(self, collection_id: str) -> None:
        self._call("delete_collection", CollectionId=collection_id)

    def list_collections(self, limit: int, token: str | None) -> tuple[list[str], str | None]:
        out = self._call("list_collections", MaxResults=limit, **_token(token))
        return out.get("CollectionIds", []), out.get("NextToken")

    def describe_collection(self, collection_id: str) -> CollectionInfo:
        out = self._call("describe_collection", CollectionId=collection_id)
        created = out.get("CreationTimestamp")
        return CollectionInfo(
            collection_id,
            out.get("FaceCount", 0),
            created.timestamp() if created else 0.0,
            out.get("FaceModelVersion", ""),
            out.get("UserCount", 0),
        )

    def index_faces(
        self,
        collection_id: str,
        image: bytes,
        external_image_id: str | None = None,
        max_faces: int | None = None,
        quality_filter: str = "AUTO",
    ) -> Indexed:
        params: dict[str, Any] = {"QualityFilter": quality_filter}
        if external_image_id is not None:
            params["ExternalImageId"] = external_image_id
        if max_faces is not None:
            params["MaxFaces"] = max_faces
        out = self._call(
            "index_faces", CollectionId=collection_id, Image={"Bytes": image}, **params
        )
        return Indexed(
            [(_record(r["Face"]), _detail(r["FaceDetail"])) for r in out.get("FaceRecords", [])],
            [
                Unindexed(_detail(u["FaceDetail"]), u.get("Reasons", []))
                for u in out.get("UnindexedFaces", [])
            ],
        )

    def list_faces(
        self, collection_id: str, limit: int, token: str | None, user_id: str | None = None
    ) -> tuple[list[FaceRecord], str | None]:
        mine = {"UserId": user_id} if user_id is not None else {}
        out = self._call(
            "list_faces", CollectionId=collection_id, MaxResults=limit, **_token(token), **mine
        )
        return [_record(f) for f in out.get("Faces", [])], out.get("NextToken")

    def delete_faces(self, collection_id: str, face_ids: list[str]) -> list[str]:
        return self.delete_faces_detailed(collection_id, face_ids).deleted

    def delete_faces_detailed(self, collection_id: str, face_ids: list[str]) -> Deletion:
        out = self._call("delete_faces", CollectionId=collection_id, FaceIds=face_ids)
        return Deletion(
            out.get("DeletedFaces", []),
            [_refusal(r) for r in out.get("UnsuccessfulFaceDeletions", [])],
        )

    def search_faces(
        self, collection_id: str, face_id: str, threshold: float, max_faces: int
    ) -> list[Match]:
        out = self._call(
            "search_faces",
            CollectionId=collection_id,
            FaceId=face_id,
            FaceMatchThreshold=threshold,
            MaxFaces=max_faces,
        )
        return [Match(m["Similarity"], _record(m["Face"])) for m in out.get("FaceMatches", [])]

    def search_faces_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_faces: int,
        quality_filter: str = "NONE",
    ) -> ImageSearch:
        out = self._call(
            "search_faces_by_image",
            CollectionId=collection_id,
            Image={"Bytes": image},
            FaceMatchThreshold=threshold,
            MaxFaces=max_faces,
            QualityFilter=quality_filter,
        )
        searched = FaceDetail(
            _box(out["SearchedFaceBoundingBox"]), out.get("SearchedFaceConfidence", 0.0)
        )
        return ImageSearch(
            searched,
            [Match(m["Similarity"], _record(m["Face"])) for m in out.get("FaceMatches", [])],
        )

    def detect_faces(self, image: bytes) -> list[FaceDetail]:
        out = self._call("detect_faces", Image={"Bytes": image})
        return [_detail(d) for d in out.get("FaceDetails", [])]

    def compare_faces(
        self, source: bytes, target: bytes, threshold: float, quality_filter: str = "NONE"
    ) -> Comparison:
        out = self._call(
            "compare_faces",
            SourceImage={"Bytes": source},
            TargetImage={"Bytes": target},
            SimilarityThreshold=threshold,
            QualityFilter=quality_filter,
        )
        return Comparison(
            _detail(out["SourceImageFace"]),
            [(m["Similarity"], _detail(m["Face"])) for m in out.get("FaceMatches", [])],
            [_detail(d) for d in out.get("UnmatchedFaces", [])],
        )

    # -- users ------------------------------------------------------------------------

    def create_user(self, collection_id: str, user_id: str) -> None:
        self._call("create_user", CollectionId=collection_id, UserId=user_id)

    def delete_user(self, collection_id: str, user_id: str) -> None:
        self._call("delete_user", CollectionId=collection_id, UserId=user_id)

    def list_users(
        self, collection_id: str, limit: int, token: str | None
    ) -> tuple[list[User], str | None]:
        out = self._call(
            "list_users", CollectionId=collection_id, MaxResults=limit, **_token(token)
        )
        return [_user(u) for u in out.get("Users", [])], out.get("NextToken")

    def associate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str], threshold: float
    ) -> Association:
        out = self._call(
            "associate_faces",
            CollectionId=collection_id,
            UserId=user_id,
            FaceIds=face_ids,
            UserMatchThreshold=threshold,
        )
        return Association(
            [f["FaceId"] for f in out.get("AssociatedFaces", [])],
            [_refusal(r) for r in out.get("UnsuccessfulFaceAssociations", [])],
            out.get("UserStatus", ""),
        )

    def disassociate_faces(
        self, collection_id: str, user_id: str, face_ids: list[str]
    ) -> Association:
        out = self._call(
            "disassociate_faces", CollectionId=collection_id, UserId=user_id, FaceIds=face_ids
        )
        return Association(
            [f["FaceId"] for f in out.get("DisassociatedFaces", [])],
            [_refusal(r) for r in out.get("UnsuccessfulFaceDisassociations", [])],
            out.get("UserStatus", ""),
        )

    def search_users(
        self,
        collection_id: str,
        threshold: float,
        max_users: int,
        user_id: str | None = None,
        face_id: str | None = None,
    ) -> list[UserMatch]:
        by = {"UserId": user_id} if user_id is not None else {}
        if face_id is not None:
            by["FaceId"] = face_id
        out = self._call(
            "search_users",
            CollectionId=collection_id,
            UserMatchThreshold=threshold,
            MaxUsers=max_users,
            **by,
        )
        return [UserMatch(m["Similarity"], _user(m["User"])) for m in out.get("UserMatches", [])]

    def search_users_by_image(
        self,
        collection_id: str,
        image: bytes,
        threshold: float,
        max_users: int,
        quality_filter: str = "NONE",
    ) -> UserImageSearch:
        out = self._call(
            "search_users_by_image",
            CollectionId=collection_id,
            Image={"Bytes": image},
            UserMatchThreshold=threshold,
            MaxUsers=max_users,
            QualityFilter=quality_filter,
        )
        searched = out.get("SearchedFace", {}).get("FaceDetail")
        return UserImageSearch(
            _detail(searched) if searched else None,
            [UserMatch(m["Similarity"], _user(m["User"])) for m in out.get("UserMatches", [])],
            [
                Unindexed(_detail(u["FaceDetails"]), u.get("Reasons", []))
                for u in out.get("UnsearchedFaces", [])
            ],
        )


def _user(u: dict) -> User:
    return User(u["UserId"], u.get("UserStatus", ""))


def _refusal(r: dict) -> Refusal:
    return Refusal(r["FaceId"], r.get("Reasons", []), r.get("UserId"), r.get("Confidence"))


def _token(token: str | None) -> dict[str, str]:
    return {"NextToken": token} if token else {}


def _box(b: dict) -> Box:
    return Box(b["Left"], b["Top"], b["Width"], b["Height"])


def _detail(d: dict) -> FaceDetail:
    quality = d.get("Quality", {})
    return FaceDetail(
        _box(d["BoundingBox"]),
        d.get("Confidence", 0.0),
        landmarks={m["Type"]: (m["X"], m["Y"]) for m in d.get("Landmarks", [])},
        sharpness=quality.get("Sharpness"),
        brightness=quality.get("Brightness"),
        pose=dict(d.get("Pose", {})),
    )


def _record(f: dict) -> FaceRecord:
    return FaceRecord(
        f["FaceId"],
        f.get("ImageId", ""),
        f.get("ExternalImageId"),
        _box(f["BoundingBox"]),
        f.get("Confidence", 0.0),
        f.get("UserId"),
    )
