"""Blob store on S3 (or anything that speaks its API), one bucket per album bucket:
``PREFIX-originals``, ``PREFIX-thumbnails`` and ``PREFIX-incoming``, created if missing.
As in the original design, a thumbnail written to its own bucket never looks like a new
upload to whatever the originals bucket notifies.

Endpoint, credentials and region come from the standard AWS configuration
(``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ``AWS_REGION``…); retries are botocore's
adaptive mode. Large blobs stream both ways: ``put`` uploads a file in parts, ``open``
spools a download to a temporary file that spills to disk past 8 MB.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from ..domain import BadInput
from ..ports import Bucket

BUCKETS: tuple[Bucket, ...] = ("originals", "thumbnails", "incoming")
SPOOL = 8 * 1024 * 1024


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name=os.environ.get("AWS_REGION") or None,
        config=Config(retries={"mode": "adaptive"}),
    )


class S3BlobStore:
    def __init__(self, prefix: str, client: Any = None, create: bool = True):
        self.prefix = prefix
        self.client = client or s3_client()
        self.names = {b: f"{prefix}-{b}" for b in BUCKETS}
        if create:
            for name in self.names.values():
                ensure_bucket(self.client, name)

    def bucket_name(self, bucket: Bucket) -> str:
        if bucket not in self.names:
            raise BadInput(f"unknown bucket {bucket!r}")
        return self.names[bucket]

    def _where(self, bucket: Bucket, key: str) -> dict[str, str]:
        """The same keys the local store accepts: relative, no ``..``, no empty part."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise BadInput(f"invalid blob key {key!r}")
        return {"Bucket": self.bucket_name(bucket), "Key": key}

    def put(
        self,
        bucket: Bucket,
        key: str,
        data: bytes | BinaryIO,
        content_type: str = "",
        expect_sha256: str | None = None,
    ) -> None:
        """One PutObject for bytes, a multipart upload for a file: a failed upload
        leaves no object behind (S3 writes are atomic per object)."""
        where = self._where(bucket, key)
        extra = {"ContentType": content_type} if content_type else {}
        if expect_sha256:
            data = _checked(data, bucket, key, expect_sha256)
        if isinstance(data, bytes | bytearray):
            self.client.put_object(**where, Body=bytes(data), **extra)
        else:
            self.client.upload_fileobj(data, where["Bucket"], key, ExtraArgs=extra or None)

    def open(self, bucket: Bucket, key: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned open
        try:
            self.client.download_fileobj(self._where(bucket, key)["Bucket"], key, spool)
        except Exception as exc:
            spool.close()
            if _missing(exc):
                raise KeyError(f"{bucket}/{key}") from None
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def open_version(self, bucket: Bucket, key: str) -> tuple[BinaryIO, str]:
        """One GetObject (never ranged parts, which could mix two objects written under
        the key), spooled; the token is ``version:ID`` in a versioned bucket, else
        ``etag:ETAG``: what :meth:`delete_version` removes and nothing newer."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 - returned open
        try:
            answer = self.client.get_object(**self._where(bucket, key))
            for chunk in answer["Body"].iter_chunks(1 << 20):
                spool.write(chunk)
        except Exception as exc:
            spool.close()
            if _missing(exc):
                raise KeyError(f"{bucket}/{key}") from None
            raise
        spool.seek(0)
        version = answer.get("VersionId")
        token = f"version:{version}" if version and version != "null" else f"etag:{answer['ETag']}"
        return spool, token  # type: ignore[return-value]

    def delete_version(self, bucket: Bucket, key: str, version: str) -> bool:
        """A versioned bucket loses that version only; otherwise S3's conditional
        DeleteObject (``If-Match``: the ETag read) refuses if a newer object is there."""
        from botocore.exceptions import ClientError

        kind, _, value = version.partition(":")
        condition = {"VersionId": value} if kind == "version" else {"IfMatch": value}
        try:
            self.client.delete_object(**self._where(bucket, key), **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412") or _missing(exc):
                return False
            raise
        return True

    def get(self, bucket: Bucket, key: str) -> bytes:
        try:
            return self.client.get_object(**self._where(bucket, key))["Body"].read()
        except Exception as exc:
            if _missing(exc):
                raise KeyError(f"{bucket}/{key}") from None
            raise

    def length(self, bucket: Bucket, key: str) -> int:
        try:
            return int(self.client.head_object(**self._where(bucket, key))["ContentLength"])
        except Exception as exc:
            if _missing(exc):
                raise KeyError(f"{bucket}/{key}") from None
            raise

    def exists(self, bucket: Bucket, key: str) -> bool:
        try:
            self.length(bucket, key)
        except KeyError:
            return False
        return True

    def delete(self, bucket: Bucket, key: str) -> None:
        self.client.delete_object(**self._where(bucket, key))

    def _objects(self, bucket: Bucket) -> Iterator[dict]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket_name(bucket)):
            yield from page.get("Contents", [])

    def keys(self, bucket: Bucket) -> Iterator[str]:
        return (o["Key"] for o in self._objects(bucket))

    def size(self, bucket: Bucket) -> int:
        return sum(o["Size"] for o in self._objects(bucket))

    def free_bytes(self) -> int | None:
        return None  # S3 has no such limit

    def url(self, bucket: Bucket, key: str, seconds: int = 3600) -> str:
        """A presigned GET URL: browsers fetch the image from S3, not through the album."""
        return self.client.generate_presigned_url(
            "get_object", Params=self._where(bucket, key), ExpiresIn=seconds
        )

    def origins(self) -> list[str]:
        """Where presigned URLs point (scheme://host), for the site's CSP img-src."""
        found = []
        for bucket in ("originals", "thumbnails"):
            parts = urlsplit(self.url(bucket, "probe"))  # type: ignore[arg-type]
            found.append(f"{parts.scheme}://{parts.netloc}")
        return sorted(set(found))


def ensure_bucket(client: Any, name: str) -> None:
    """Create a bucket in the client's region unless it is there."""
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=name)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
    region = client.meta.region_name
    extra = {}
    if region and region != "us-east-1":
        extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(Bucket=name, **extra)
    except ClientError as exc:  # another process created it a moment ago
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def _checked(data: bytes | BinaryIO, bucket: str, key: str, sha256: str) -> bytes | BinaryIO:
    """Refuse content that does not hash to ``sha256`` before anything is uploaded (a
    backup never takes in a damaged original). A file is hashed, then rewound."""
    digest = hashlib.sha256()
    if isinstance(data, bytes | bytearray):
        digest.update(data)
    else:
        start = data.tell()
        while chunk := data.read(1 << 20):
            digest.update(chunk)
        data.seek(start)
    if digest.hexdigest() != sha256:
        raise BadInput(f"{bucket}/{key}: content does not match sha256 {sha256}")
    return data if not isinstance(data, bytearray) else io.BytesIO(data)
