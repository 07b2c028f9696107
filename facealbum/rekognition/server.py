"""Rekognition's wire protocol over the faces port: ``POST /`` with
``X-Amz-Target: RekognitionService.<Operation>`` and an AWS JSON 1.1 body, answered in
the shapes boto3 reads, errors as ``{"__type": ..., "message": ...}`` so that
``client.exceptions.ResourceNotFoundException`` and friends catch them.

Each operation is a few lines from the request's fields to a port call and back.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..domain import AlbumError, BadInput
from ..faces import (
    ASSOCIATE_THRESHOLD,
    DEFAULT_THRESHOLD,
    MODEL_VERSION,
    FaceDetail,
    FaceRecord,
    Faces,
    ImageTooLarge,
    InvalidParameter,
    Refusal,
    UserMatch,
    aws_error_name,
)
from ..ports import BlobStore
from .sigv4 import AwsError, verify

log = logging.getLogger(__name__)
BYTES_LIMIT = 5 * 1024 * 1024  # Image.Bytes, as on AWS
S3_LIMIT = 15 * 1024 * 1024  # Image.S3Object
CONTENT_TYPE = "application/x-amz-json-1.1"
IMAGE_OPS = {
    "IndexFaces",
    "SearchFacesByImage",
    "SearchUsersByImage",
    "DetectFaces",
    "CompareFaces",
}
REGION_ACCOUNT = "local:000000000000"


NO_OBJECT = "Unable to get object metadata from S3. Check object key, region and/or access."


class InvalidS3Object(BadInput):
    aws = "InvalidS3ObjectException"


class IdempotentMismatch(BadInput):
    aws = "IdempotentParameterMismatchException"


def router(
    faces: Faces,
    blobs: BlobStore,
    key_id: str,
    secret: str,
    paths: list[str],
    max_in_flight: int = 0,
) -> APIRouter:
    """The endpoint's one route, at each of ``paths`` (the album mounts it at
    ``/rekognition``, which SDKs call with or without the trailing slash).

    With ``max_in_flight``, image operations beyond that many at once are refused with
    ProvisionedThroughputExceededException, as AWS throttles: SDKs back off and retry
    by themselves, and the server never queues more face work than it can do."""
    r = APIRouter()
    ops = operations(faces, blobs)
    busy = [0]  # image operations running; the event loop is the only writer

    async def rekognition(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.url.query
            url = f"http://{headers.get('host', '')}{raw_path.decode()}" + (
                f"?{query}" if query else ""
            )
            verify(request.method, url, headers, body, key_id, secret)
            target = headers.get("x-amz-target", "")
            service, _, op = target.partition(".")
            if service != "RekognitionService" or op not in ops:
                raise AwsError("UnknownOperationException", f"unknown operation {target!r}")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise AwsError("SerializationException", "the body is not JSON") from None
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "the body is not a JSON object")
            heavy = op in IMAGE_OPS
            if heavy and max_in_flight and busy[0] >= max_in_flight:
                raise AwsError(
                    "ProvisionedThroughputExceededException",
                    f"more than {max_in_flight} image operations at once; retry later",
                )
            busy[0] += heavy
            try:
                result = await run_in_threadpool(ops[op], params)
            finally:
                busy[0] -= heavy
        except AwsError as exc:
            return _error(exc.aws, str(exc), exc.status)
        except AlbumError as exc:
            return _error(aws_error_name(exc), str(exc), 400)
        except Exception:  # the client sees AWS's shape, the log has the details
            log.exception("rekognition %s failed", headers.get("x-amz-target"))
            return _error(
                "InternalServerError", "internal error; the server log has the details", 500
            )
        return Response(json.dumps(result), media_type=CONTENT_TYPE)

    for path in paths:
        r.add_api_route(path, rekognition, methods=["POST"], include_in_schema=False)
    return r


def from_settings(
    settings, paths: list[str] | None = None
) -> tuple[APIRouter, tuple[str, str, bool]]:
    """The endpoint's route on this album's home, and its keys (id, secret, newly made)."""
    from ..wiring import make_blobs, make_faces
    from .keys import load_or_create_keys

    keys = load_or_create_keys(settings)
    faces = make_faces(settings, local=True, processes=settings.process_count)
    blobs = make_blobs(settings)
    limit = settings.rekognition_max_in_flight
    return router(faces, blobs, keys[0], keys[1], paths or ["/"], limit), keys


def _error(aws: str, message: str, status: int) -> Response:
    return Response(
        json.dumps({"__type": aws, "message": message}),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-ErrorType": aws},
    )


def operations(faces: Faces, blobs: BlobStore) -> dict[str, Callable[[dict], dict]]:
    def image(p: dict, key: str = "Image") -> bytes:
        given = p.get(key)
        if not isinstance(given, dict):
            raise InvalidParameter(f"{key} is required")
        if "Bytes" in given:
            try:
                data = base64.b64decode(given["Bytes"], validate=True)
            except (binascii.Error, TypeError):
                raise InvalidParameter(f"{key}.Bytes is not base64") from None
            if len(data) > BYTES_LIMIT:
                raise ImageTooLarge(f"{key}.Bytes is {len(data)} bytes; the limit is 5 MB")
            return data
        s3 = given.get("S3Object") or {}
        bucket, name = s3.get("Bucket"), s3.get("Name")
        if bucket not in ("originals", "thumbnails") or not isinstance(name, str):
            raise InvalidS3Object(NO_OBJECT)
        try:
            if blobs.length(bucket, name) > S3_LIMIT:
                raise ImageTooLarge(f"s3://{bucket}/{name} is larger than 15 MB")
            return blobs.get(bucket, name)
        except (KeyError, BadInput):
            raise InvalidS3Object(NO_OBJECT) from None

    def req(p: dict, key: str) -> Any:
        if key not in p:
            raise InvalidParameter(f"{key} is required")
        return p[key]

    def create_collection(p: dict) -> dict:
        info = faces.create_collection(req(p, "CollectionId"))
        return {
            "StatusCode": 200,
            "CollectionArn": _arn(info.collection_id),
            "FaceModelVersion": MODEL_VERSION,
        }

    def list_collections(p: dict) -> dict:
        ids, token = faces.list_collections(
            _int(p, "MaxResults", 1000, 0, 4096), p.get("NextToken")
        )
        return {"CollectionIds": ids, "FaceModelVersions": [MODEL_VERSION] * len(ids)} | _next(
            token
        )

    def describe_collection(p: dict) -> dict:
        info = faces.describe_collection(req(p, "CollectionId"))
        return {
            "FaceCount": info.face_count,
            "FaceModelVersion": info.model_version,
            "CollectionARN": _arn(info.collection_id),
            "CreationTimestamp": info.created_at,
            "UserCount": info.user_count,
        }

    def delete_collection(p: dict) -> dict:
        faces.delete_collection(req(p, "CollectionId"))
        return {"StatusCode": 200}

    def index_faces(p: dict) -> dict:
        done = faces.index_faces(
            req(p, "CollectionId"),
            image(p),
            p.get("ExternalImageId"),
            _int(p, "MaxFaces", None, 1, None),
            p.get("QualityFilter", "AUTO"),
        )
        return {
            "FaceRecords": [{"Face": _face(r), "FaceDetail": _detail(d)} for r, d in done.records],
            "FaceModelVersion": MODEL_VERSION,
            "UnindexedFaces": [
                {"Reasons": u.reasons, "FaceDetail": _detail(u.face)} for u in done.unindexed
            ],
        }

    def list_faces(p: dict) -> dict:
        if "FaceIds" in p:
            raise InvalidParameter("ListFaces by FaceIds is not supported here; use UserId")
        found, token = faces.list_faces(
            req(p, "CollectionId"),
            _int(p, "MaxResults", 1000, 0, 4096),
            p.get("NextToken"),
            p.get("UserId"),
        )
        return {"Faces": [_face(r) for r in found], "FaceModelVersion": MODEL_VERSION} | _next(
            token
        )

    def delete_faces(p: dict) -> dict:
        wanted = req(p, "FaceIds")
        if not isinstance(wanted, list) or not 1 <= len(wanted) <= 4096:
            raise InvalidParameter("FaceIds must list 1 to 4096 face ids")
        gone = faces.delete_faces(req(p, "CollectionId"), wanted)
        missing = [f for f in wanted if f not in set(gone)]
        return {
            "DeletedFaces": gone,
            "UnsuccessfulFaceDeletions": [
                {"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]} for f in missing
            ],
        }

    def search_faces(p: dict) -> dict:
        face_id = req(p, "FaceId")
        found = faces.search_faces(
            req(p, "CollectionId"), face_id, _threshold(p), _int(p, "MaxFaces", 80, 1, 4096)
        )
        return {
            "SearchedFaceId": face_id,
            "FaceModelVersion": MODEL_VERSION,
            "FaceMatches": [{"Similarity": m.similarity, "Face": _face(m.face)} for m in found],
        }

    def search_faces_by_image(p: dict) -> dict:
        found = faces.search_faces_by_image(
            req(p, "CollectionId"), image(p), _threshold(p), _int(p, "MaxFaces", 80, 1, 4096)
        )
        return {
            "SearchedFaceBoundingBox": found.searched.box.as_rekognition(),
            "SearchedFaceConfidence": found.searched.confidence,
            "FaceMatches": [
                {"Similarity": m.similarity, "Face": _face(m.face)} for m in found.matches
            ],
            "FaceModelVersion": MODEL_VERSION,
        }

    def detect_faces(p: dict) -> dict:
        return {"FaceDetails": [_detail(d) for d in faces.detect_faces(image(p))]}

    def compare_faces(p: dict) -> dict:
        threshold = float(p.get("SimilarityThreshold", DEFAULT_THRESHOLD))
        done = faces.compare_faces(image(p, "SourceImage"), image(p, "TargetImage"), threshold)
        return {
            "SourceImageFace": _detail(done.source, quality=False),  # its shape has none
            "FaceMatches": [{"Similarity": s, "Face": _detail(d)} for s, d in done.matches],
            "UnmatchedFaces": [_detail(d) for d in done.unmatched],
        }

    ops = {
        "CreateCollection": create_collection,
        "ListCollections": list_collections,
        "DescribeCollection": describe_collection,
        "DeleteCollection": delete_collection,
        "IndexFaces": index_faces,
        "ListFaces": list_faces,
        "DeleteFaces": delete_faces,
        "SearchFaces": search_faces,
        "SearchFacesByImage": search_faces_by_image,
        "DetectFaces": detect_faces,
        "CompareFaces": compare_faces,
    }
    return ops | user_operations(faces, image, req)


def user_operations(
    faces: Faces, image: Callable[[dict], bytes], req: Callable[[dict, str], Any]
) -> dict[str, Callable[[dict], dict]]:
    """Rekognition's users: the album mirrors its persons as users (see users.py)."""
    # retries of CreateUser / DeleteUser carry the first call's ClientRequestToken
    # (botocore fills it in): a retry of a call that succeeded succeeds again
    answered: OrderedDict[tuple[str, str], str] = OrderedDict()
    lock = threading.Lock()

    def once(op: str, p: dict, call: Callable[[], None]) -> dict:
        token = p.get("ClientRequestToken")
        key = (op, token) if isinstance(token, str) else None
        params = json.dumps(
            {k: v for k, v in p.items() if k != "ClientRequestToken"}, sort_keys=True
        )
        with lock:
            if key is not None and key in answered:
                if answered[key] != params:
                    raise IdempotentMismatch("ClientRequestToken was used with other values")
                return {}
        call()
        if key is not None:
            with lock:
                answered[key] = params
                while len(answered) > 10_000:
                    answered.popitem(last=False)
        return {}

    def create_user(p: dict) -> dict:
        return once(
            "CreateUser", p, lambda: faces.create_user(req(p, "CollectionId"), req(p, "UserId"))
        )

    def delete_user(p: dict) -> dict:
        return once(
            "DeleteUser", p, lambda: faces.delete_user(req(p, "CollectionId"), req(p, "UserId"))
        )

    def list_users(p: dict) -> dict:
        users, token = faces.list_users(
            req(p, "CollectionId"), _int(p, "MaxResults", 500, 1, 500), p.get("NextToken")
        )
        return {"Users": [{"UserId": u.user_id, "UserStatus": u.status} for u in users]} | _next(
            token
        )

    def associate_faces(p: dict) -> dict:
        done = faces.associate_faces(
            req(p, "CollectionId"),
            req(p, "UserId"),
            req(p, "FaceIds"),
            _threshold(p, "UserMatchThreshold", ASSOCIATE_THRESHOLD),
        )
        return {
            "AssociatedFaces": [{"FaceId": f} for f in done.done],
            "UnsuccessfulFaceAssociations": [_refusal(r) for r in done.failed],
            "UserStatus": done.status,
        }

    def disassociate_faces(p: dict) -> dict:
        done = faces.disassociate_faces(req(p, "CollectionId"), req(p, "UserId"), req(p, "FaceIds"))
        return {
            "DisassociatedFaces": [{"FaceId": f} for f in done.done],
            "UnsuccessfulFaceDisassociations": [_refusal(r) for r in done.failed],
            "UserStatus": done.status,
        }

    def search_users(p: dict) -> dict:
        found = faces.search_users(
            req(p, "CollectionId"),
            _threshold(p, "UserMatchThreshold"),
            _int(p, "MaxUsers", 500, 1, 500),
            user_id=p.get("UserId"),
            face_id=p.get("FaceId"),
        )
        out: dict[str, Any] = {
            "UserMatches": _user_matches(found),
            "FaceModelVersion": MODEL_VERSION,
        }
        if "FaceId" in p:
            out["SearchedFace"] = {"FaceId": p["FaceId"]}
        if "UserId" in p:
            out["SearchedUser"] = {"UserId": p["UserId"]}
        return out

    def search_users_by_image(p: dict) -> dict:
        found = faces.search_users_by_image(
            req(p, "CollectionId"),
            image(p),
            _threshold(p, "UserMatchThreshold"),
            _int(p, "MaxUsers", 500, 1, 500),
            p.get("QualityFilter", "NONE"),
        )
        out: dict[str, Any] = {
            "UserMatches": _user_matches(found.matches),
            "FaceModelVersion": MODEL_VERSION,
            "UnsearchedFaces": [
                {"FaceDetails": _detail(u.face), "Reasons": u.reasons} for u in found.unsearched
            ],
        }
        if found.searched is not None:
            out["SearchedFace"] = {"FaceDetail": _detail(found.searched)}
        return out

    return {
        "CreateUser": create_user,
        "DeleteUser": delete_user,
        "ListUsers": list_users,
        "AssociateFaces": associate_faces,
        "DisassociateFaces": disassociate_faces,
        "SearchUsers": search_users,
        "SearchUsersByImage": search_users_by_image,
    }


def _refusal(r: Refusal) -> dict:
    out: dict[str, Any] = {"FaceId": r.face_id, "Reasons": r.reasons}
    if r.user_id is not None:
        out["UserId"] = r.user_id
    if r.confidence is not None:
        out["Confidence"] = r.confidence
    return out


def _user_matches(found: list[UserMatch]) -> list[dict]:
    return [
        {
            "Similarity": m.similarity,
            "User": {"UserId": m.user.user_id, "UserStatus": m.user.status},
        }
        for m in found
    ]


def _face(r: FaceRecord) -> dict:
    out: dict[str, Any] = {
        "FaceId": r.face_id,
        "BoundingBox": r.box.as_rekognition(),
        "ImageId": r.image_id,
        "Confidence": r.confidence,
        "IndexFacesModelVersion": MODEL_VERSION,
    }
    if r.external_image_id is not None:
        out["ExternalImageId"] = r.external_image_id
    if r.user_id is not None:
        out["UserId"] = r.user_id
    return out


def _detail(d: FaceDetail, quality: bool = True) -> dict:
    out: dict[str, Any] = {"BoundingBox": d.box.as_rekognition(), "Confidence": d.confidence}
    if quality and d.sharpness is not None:
        out["Quality"] = {"Sharpness": d.sharpness}
    return out


def _arn(collection_id: str) -> str:
    return f"aws:rekognition:{REGION_ACCOUNT}:collection/{collection_id}"


def _next(token: str | None) -> dict:
    return {"NextToken": token} if token else {}


def _int(p: dict, key: str, default: int | None, low: int, high: int | None) -> Any:
    value = p.get(key, default)
    if value is None:
        return None
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        raise InvalidParameter(f"{key} must be an integer from {low} to {high or 'any'}")
    return value


def _threshold(
    p: dict, key: str = "FaceMatchThreshold", default: float = DEFAULT_THRESHOLD
) -> float:
    value = p.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 100:
        raise InvalidParameter(f"{key} must be between 0 and 100")
    return float(value)
