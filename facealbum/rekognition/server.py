"""Rekognition's wire protocol over the faces port: ``POST /`` with
``X-Amz-Target: RekognitionService.<Operation>`` and an AWS JSON 1.1 body, answered in
the shapes boto3 reads, errors as ``{"__type": ..., "message": ...}`` so that
``client.exceptions.ResourceNotFoundException`` and friends catch them.

Each operation is a few lines from the request's fields to a port call and back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ..domain import AlbumError, BadInput
from ..faces import (
    ASSOCIATE_THRESHOLD,
    DEFAULT_THRESHOLD,
    MODEL_VERSION,
    FaceDetail,
    FaceRecord,
    Faces,
    ImageTooLarge,
    InvalidImage,
    InvalidParameter,
    Refusal,
    UserMatch,
    aws_error_name,
)
from ..ports import BlobStore
from ..settings import Settings
from .sigv4 import AwsError, check_headers, verify
from .validate import validate

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
# Request bodies, capped by what each operation can legally carry: an image of 5 MB in
# base64 (4/3, plus room for encoders that escape "/" as "\/"), twice for CompareFaces,
# and the JSON around it; the other operations carry ids (4096 face ids at most).
IMAGE_BODY = BYTES_LIMIT * 4 // 3 * 65 // 64
JSON_ROOM = 64 * 1024
SMALL_BODY = 256 * 1024
JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


def body_limit(op: str) -> int:
    """The largest body (bytes) operation ``op`` can legally arrive in."""
    if op == "CompareFaces":
        return 2 * IMAGE_BODY + JSON_ROOM
    if op in IMAGE_OPS:
        return IMAGE_BODY + JSON_ROOM
    return SMALL_BODY


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
    regions: Collection[str] = ("us-east-1",),
    queue_seconds: float = 10.0,
    any_image_format: bool = False,
    body_seconds: float = 30.0,
) -> APIRouter:
    """The endpoint's one route, at each of ``paths`` (the album mounts it at
    ``/rekognition``, which SDKs call with or without the trailing slash).

    A request is refused from its headers alone (signature scope, key, date, size)
    before any of its body is read; the body is then read up to its operation's
    :func:`body_limit` and its signature checked over it.

    With ``max_in_flight``, image operations beyond that many at once wait up to
    ``queue_seconds`` for a turn, then are refused with
    ProvisionedThroughputExceededException (400), which boto3 retries in its standard
    (default) and legacy modes: a burst completes, the server never queues more face
    work than it can do. An image operation also waits (as long) for one of
    ``2 * max_in_flight`` places *before its body is read*, and keeps it until it is
    answered: the bodies held at once, running or waiting, are bounded (each up to its
    :func:`body_limit`), where before 48 signed 4.9 MB calls at once took the server
    up by 740 MB. Its body must then arrive within ``body_seconds``.

    Images are JPEG or PNG, as on AWS, unless ``any_image_format`` (what the album's
    decoder reads: WebP, HEIC too)."""
    r = APIRouter()
    ops = operations(faces, blobs, any_image_format)
    slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
    bodies = asyncio.Semaphore(2 * max_in_flight) if max_in_flight else None

    async def rekognition(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        headers = {k.lower(): v for k, v in request.headers.items()}
        body: bytes | None = None  # until it is read whole
        held: asyncio.Semaphore | None = None  # a place for an image body, while held
        try:
            signed = check_headers(headers, key_id, regions)
            target = headers.get("x-amz-target", "")
            service, _, op = target.partition(".")
            if service != "RekognitionService" or op not in ops:
                raise AwsError("UnknownOperationException", f"unknown operation {target!r}")
            image = op in IMAGE_OPS
            if image and bodies is not None:
                await _take(
                    bodies, queue_seconds, f"more than {2 * max_in_flight} image requests at once"
                )
                held = bodies
            try:
                body = await asyncio.wait_for(
                    read_body(request, headers, body_limit(op), image), body_seconds
                )
            except TimeoutError:
                raise AwsError(
                    "RequestTimeout", f"the body did not arrive within {body_seconds:g} s"
                ) from None
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.url.query
            url = f"http://{headers.get('host', '')}{raw_path.decode()}" + (
                f"?{query}" if query else ""
            )
            verify(request.method, url, headers, body, signed, key_id, secret)
            try:
                params = json.loads(body or b"{}")
            except (ValueError, RecursionError):  # nested past the parser's depth too
                raise AwsError("SerializationException", "the body is not JSON") from None
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "the body is not a JSON object")
            validate(op, params)
            if slots is not None and op in IMAGE_OPS:
                result = await _in_turn(slots, queue_seconds, max_in_flight, ops[op], params)
            else:
                result = await run_in_threadpool(ops[op], params)
        except AwsError as exc:
            # refused unread: the connection goes, and with it the rest of the body
            unread = {"Connection": "close"} if body is None else {}
            return _error(exc.aws, str(exc), exc.status, request_id, unread)
        except AlbumError as exc:
            return _error(aws_error_name(exc), str(exc), 400, request_id)
        except Exception:  # the client sees AWS's shape, the log has the details
            log.exception("rekognition %s failed", headers.get("x-amz-target"))
            return _error(
                "InternalServerError",
                "internal error; the server log has the details",
                500,
                request_id,
            )
        finally:
            if held is not None:
                held.release()
        return Response(
            json.dumps(result),
            media_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )

    for path in paths:
        r.add_api_route(path, rekognition, methods=["POST"], include_in_schema=False)
    return r


async def _in_turn(
    slots: asyncio.Semaphore, wait: float, limit: int, op: Callable[[dict], dict], params: dict
) -> dict:
    """Run an image operation once one of the ``limit`` slots is free, waiting up to
    ``wait`` seconds for it."""
    await _take(slots, wait, f"more than {limit} image operations at once")
    try:
        return await run_in_threadpool(op, params)
    finally:
        slots.release()


async def _take(places: asyncio.Semaphore, wait: float, what: str) -> None:
    """One of ``places``, waiting up to ``wait`` seconds, else throttled with
    ProvisionedThroughputExceededException (400), which SDKs back off and retry."""
    try:
        await asyncio.wait_for(places.acquire(), wait)
    except TimeoutError:
        raise AwsError(
            "ProvisionedThroughputExceededException", f"{what} for {wait:g} s; retry later"
        ) from None


async def read_body(
    request: Request, headers: dict[str, str], limit: int, image: bool = False
) -> bytes:
    """The body, refused as soon as it is known to exceed ``limit`` bytes: from
    Content-Length before a byte is read, else (chunked) as the bytes arrive. An
    operation that carries images says ImageTooLargeException (400, what SDK code
    catches), the others RequestEntityTooLargeException (413)."""
    message = f"the request body is larger than this operation's limit of {limit} bytes"
    too_large = (
        AwsError("ImageTooLargeException", message)
        if image
        else AwsError("RequestEntityTooLargeException", message, 413)
    )
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise AwsError("SerializationException", "Content-Length is not a number")
        if int(declared) > limit:
            raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; not a server error either
        raise AwsError(
            "SerializationException", "the client left before its body was read"
        ) from None
    return b"".join(chunks)


def from_settings(
    settings: Settings, paths: list[str] | None = None
) -> tuple[APIRouter, tuple[str, str, bool]]:
    """The endpoint's route on this album's home, and its keys (id, secret, newly made)."""
    from ..wiring import make_blobs, make_faces
    from .keys import load_or_create_keys

    keys = load_or_create_keys(settings)
    faces = make_faces(settings, local=True, processes=settings.process_count)
    blobs = make_blobs(settings)
    endpoint = router(
        faces,
        blobs,
        keys[0],
        keys[1],
        paths or ["/"],
        settings.rekognition_max_in_flight,
        settings.rekognition_accepted_regions,
        settings.rekognition_queue_seconds,
        settings.rekognition_any_image_format,
    )
    return endpoint, keys


def _error(
    aws: str, message: str, status: int, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps({"__type": aws, "message": message}),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-ErrorType": aws, "x-amzn-RequestId": request_id} | (headers or {}),
    )


def operations(
    faces: Faces, blobs: BlobStore, any_image_format: bool = False
) -> dict[str, Callable[[dict], dict]]:
    """Each operation, from a validated request's fields to its answer's."""

    def image(p: dict, key: str = "Image") -> bytes:
        data = image_bytes(p, key)
        if not any_image_format and not data.startswith((JPEG, PNG)):
            raise InvalidImage(
                "Request has invalid image format: images must be JPEG or PNG, as on AWS"
            )
        return data

    def image_bytes(p: dict, key: str) -> bytes:
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
            if len(name.encode()) > 1024:  # S3's key limit, in UTF-8 bytes: no object
                raise InvalidS3Object(NO_OBJECT)
            if blobs.length(bucket, name) > S3_LIMIT:
                raise ImageTooLarge(f"s3://{bucket}/{name} is larger than 15 MB")
            return blobs.get(bucket, name)
        # ValueError, OSError: a name no file can have (a NUL, a lone surrogate, too long)
        except (KeyError, BadInput, ValueError, OSError):
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
        done = faces.delete_faces_detailed(req(p, "CollectionId"), wanted)
        return {
            "DeletedFaces": done.deleted,
            "UnsuccessfulFaceDeletions": [_refusal(r) for r in done.unsuccessful],
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
            req(p, "CollectionId"),
            image(p),
            _threshold(p),
            _int(p, "MaxFaces", 80, 1, 4096),
            p.get("QualityFilter", "NONE"),
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
        done = faces.compare_faces(
            image(p, "SourceImage"),
            image(p, "TargetImage"),
            threshold,
            p.get("QualityFilter", "NONE"),
        )
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
    lock = threading.Lock()  # held through a call with a token: a retry that arrives
    # while the first call runs waits for its answer (it met ConflictException before)

    def once(op: str, p: dict, call: Callable[[], None]) -> dict:
        token = p.get("ClientRequestToken")
        if not isinstance(token, str):
            call()
            return {}
        key = (op, token)
        params = json.dumps(
            {k: v for k, v in p.items() if k != "ClientRequestToken"}, sort_keys=True
        )
        with lock:
            if key in answered:
                if answered[key] != params:
                    raise IdempotentMismatch("ClientRequestToken was used with other values")
                return {}
            call()
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
    """Rekognition's DEFAULT attributes, as far as the engine computes them: box,
    confidence, landmarks, pose (Roll) and quality (none of the last three where the
    shape has no room, ``quality=False``)."""
    out: dict[str, Any] = {"BoundingBox": d.box.as_rekognition(), "Confidence": d.confidence}
    if not quality:
        return out
    if d.landmarks:
        out["Landmarks"] = [{"Type": k, "X": x, "Y": y} for k, (x, y) in d.landmarks.items()]
    if d.pose:
        out["Pose"] = dict(d.pose)
    measured = {"Brightness": d.brightness, "Sharpness": d.sharpness}
    if any(v is not None for v in measured.values()):
        out["Quality"] = {k: v for k, v in measured.items() if v is not None}
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
