"""Image bytes: streamed from the blob store, never read whole, with byte ranges.

Keys are content addressed (the file name is the content's sha256), so the ETag is
the address itself: no hashing per request, and a URL's content never changes. Only
the two public buckets can be named, and only keys of the content-address shape, so
no path trick reaches the store. Visitors get originals without location
and serial numbers (see :mod:`facealbum.privacy`) unless the set shares them; the
owner always gets the true original. On S3, what may go out unchanged (thumbnails,
previews, the owner's or a sharing set's originals) is a redirect to a presigned URL,
so the bytes never pass through the album's process (nor a function's 6 MB limit).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from ..album import Album
from ..domain import NotFound
from ..privacy import NotPublishable, Piece, piece_length, plan, plan_length
from .auth import Forbidden, OwnerAuth

CACHE_FOREVER = "public, max-age=31536000, immutable"
# ASCII digits, at most 18 (any file's size): int() of 5000 digits raised (a 500)
_RANGE = re.compile(r"^bytes=([0-9]{0,18})-([0-9]{0,18})$")
# the only keys there are: content addresses; anything else (an upload, a trick) is 404
_KEYS = {
    "originals": re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})\.(jpg|png|webp|heic|tif|gif|bmp)$"),
    "thumbnails": re.compile(r"^(?:thumb|preview)/([0-9a-f]{2})/(\1[0-9a-f]{62})\.(jpg)$"),
}
TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heif"}
TYPES |= {"tif": "image/tiff", "gif": "image/gif", "bmp": "image/bmp"}


def router(album: Album, auth: OwnerAuth) -> APIRouter:
    r = APIRouter()

    @functools.lru_cache(maxsize=1024)
    def public_plan(key: str, content_type: str) -> list[Piece]:
        """The header walk reads a few KB, the end scan the image data: each original
        is planned once per process (a plan is a few hundred bytes)."""
        with album.blobs.open("originals", key) as fh:
            return plan(fh, content_type)

    @r.api_route("/media/{bucket}/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def media(bucket: str, key: str, request: Request) -> Response:
        found = _KEYS[bucket].match(key) if bucket in _KEYS else None
        if found is None:
            raise NotFound(f"no image {key}")
        sha, content_type = found.group(2), TYPES[found.group(3)]
        presign = getattr(album.blobs, "url", None)
        if presign is not None and (
            bucket == "thumbnails" or auth.is_owner(request) or album.catalog.shares_location(sha)
        ):  # on S3 the browser fetches the bytes from S3 itself, not through the album
            headers = {"Cache-Control": "private, max-age=300", "Vary": "Cookie, Authorization"}
            return RedirectResponse(presign(bucket, key), status_code=307, headers=headers)
        try:
            size = album.blobs.length(bucket, key)  # type: ignore[arg-type]
        except KeyError:
            raise NotFound(f"no image {key}") from None
        headers = {"Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff"}
        pieces: list[Piece] = [(0, size)]
        etag = f'"{sha}"'
        if bucket == "thumbnails":
            headers["Cache-Control"] = CACHE_FOREVER
        elif auth.is_owner(request) or album.catalog.shares_location(sha):
            headers |= {"Cache-Control": "private, max-age=3600", "Vary": "Cookie, Authorization"}
        else:
            try:
                pieces = public_plan(key, content_type)
            except NotPublishable as exc:
                raise Forbidden(f"this original is for the album's owner only: {exc}") from None
            etag = f'"{sha}-public"'
            headers |= {"Cache-Control": "public, max-age=86400", "Vary": "Cookie, Authorization"}
        headers["ETag"] = etag
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        total = plan_length(pieces)
        start, end, status = 0, total, 200
        wanted = request.headers.get("range")
        if wanted and _matches(request.headers.get("if-range", etag), etag):
            span = _byte_range(wanted, total)
            if span is None:
                return Response(
                    status_code=416, headers=headers | {"Content-Range": f"bytes */{total}"}
                )
            if span != (0, total):
                (start, end), status = span, 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
        headers["Content-Length"] = str(end - start)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=content_type)
        fh = album.blobs.open(bucket, key)  # type: ignore[arg-type]
        return StreamingResponse(
            _stream(fh, pieces, start, end), status, headers=headers, media_type=content_type
        )

    return r


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _byte_range(header: str, total: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single range; the whole file for forms we do not
    serve (several ranges); None if unsatisfiable."""
    m = _RANGE.match(header.strip())
    if not m:
        return (0, total)
    first, last = m.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (max(0, total - n), total) if n > 0 and total else None
    start = int(first)
    end = min(int(last) + 1, total) if last else total
    return (start, end) if start < total and start < end else None


def _stream(fh: BinaryIO, pieces: list[Piece], start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the concatenated pieces, 64 KiB at a time."""
    try:
        pos = 0
        for piece in pieces:
            n = piece_length(piece)
            lo, hi = max(start, pos), min(end, pos + n)
            if lo < hi:
                if isinstance(piece, bytes):
                    yield piece[lo - pos : hi - pos]
                else:
                    fh.seek(piece[0] + lo - pos)
                    left = hi - lo
                    while left > 0 and (chunk := fh.read(min(1 << 16, left))):
                        left -= len(chunk)
                        yield chunk
            pos += n
    finally:
        fh.close()
