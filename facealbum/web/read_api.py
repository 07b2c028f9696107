"""The read-only JSON API, open to visitors: each route a few lines over the album.

Image bytes are served by :mod:`.media`. Every face goes out through a
:class:`~facealbum.visibility.FaceView` (``face_json`` takes one): a visitor's never
names a person the owner hid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from .. import paging
from ..album import Album
from ..copies import Copy
from ..domain import LOCATION_FIELDS, Box, Face, Picture, SetSummary, Upload, square_focus
from ..search import SearchResult
from ..visibility import FaceView, owner_view, visitor_view
from .auth import OwnerAuth
from .limits import rate_limit

# past any album's size, and within a 64-bit SQL integer (2**63 made SQLite answer 500)
MAX_OFFSET = 10**12
MAX_SET_OFFSET = 10_000  # offset paging walks the offset: page deeper by cursor (after=)


def face_view(
    album: Album,
    auth: OwnerAuth,
    request: Request,
    pictures: Iterable[Picture] = (),
    faces: Iterable[Face] = (),
) -> FaceView:
    """How this request may see the persons of these pictures' and faces' (those of the
    answer): the owner all, a visitor none the owner hid."""
    if auth.is_owner(request):
        return owner_view(album.catalog, pictures, faces)
    return visitor_view(album.catalog, pictures, faces)


def picture_json(p: Picture, view: FaceView) -> dict:
    """A picture as the API gives it: ``taken_at`` (ISO 8601, its offset when known)
    and ``taken_at_source`` to anyone; ``latitude``, ``longitude``, ``altitude`` and
    ``place`` to the owner, and to visitors where the set shares locations (the
    view's say: visibility.FaceView.shows_location); all null when unknown."""
    where = {k: getattr(p, k) for k in LOCATION_FIELDS} if view.shows_location(p) else {}
    return {
        "image_id": p.image_id,
        "set": p.set_name,
        "name": p.name,
        "width": p.width,
        "height": p.height,
        "thumb_url": f"/media/thumbnails/{p.thumb_key}",
        "preview_url": f"/media/thumbnails/{p.preview_key}",
        "original_url": f"/media/originals/{p.original_key}",
        "faces": [face_json(f, view) | {"confidence": f.confidence} for f in p.faces],
        "focus": focus_json(p),
        "taken_at": p.taken_at,
        "taken_at_source": p.taken_at_source,
        **where,
    }


def focus_json(p: Picture) -> dict:
    """Where a square crop of the picture centres (ratios; see domain.square_focus), from
    the faces already read with it."""
    x, y = square_focus(p.width, p.height, [f.box for f in p.faces])
    return {"x": x, "y": y}


def copies_json(copies: Iterable[Copy], twins: Mapping[str, dict[str, str]] | None = None) -> dict:
    """``also_in``: the other pictures of the same photo (stored in other sets), where a
    photo is listed once (a person's pictures, a face's matches, Pictures with…).
    ``twins``: image id of a copy -> {listed face id: that face in the copy}, given as
    ``faces`` where the owner corrects faces (a person's page)."""
    return {
        "also_in": [
            {"set": c.set_name, "image_id": c.image_id}
            | ({} if twins is None else {"faces": twins.get(c.image_id, {})})
            for c in copies
        ]
    }


def box_json(b: Box) -> dict:
    return {"left": b.left, "top": b.top, "width": b.width, "height": b.height}


def face_json(f: Face, view: FaceView) -> dict:
    return {
        "face_id": f.face_id,
        "box": box_json(f.box),
        "person_id": view.person_id(f),
        "person": view.person(f),  # {person_id, name}: exactly when person_id is shown
    }


def set_json(s: SetSummary) -> dict:
    featured = (
        {
            "image_id": s.featured.image_id,
            "thumb_url": f"/media/thumbnails/{s.featured.thumb_key}",
            "width": s.featured.width,
            "height": s.featured.height,
            "focus": focus_json(s.featured),
        }
        if s.featured
        else None
    )
    return {
        "name": s.name,
        "picture_count": s.picture_count,
        "featured": featured,
        "share_location": s.share_location,
    }


def upload_json(u: Upload) -> dict:
    return {
        "upload_id": u.upload_id,
        "set": u.set_name,
        "name": u.name,
        "status": u.status,
        # of a duplicate: "file" (the same bytes) or "pixels" (the same photo, other
        # metadata); image_id and name are then the picture the set already had
        "duplicate": u.duplicate,
        "error": u.error,
        "image_id": u.image_id,
        "faces": u.faces,
    }


def matches_json(r: SearchResult, threshold: float, view: FaceView) -> dict:
    return {
        "query": {
            "face_id": r.query.face_id,
            "image_id": r.query.image_id,
            "person": view.person(r.query),
        },
        "threshold": threshold,
        "total": r.total,
        "more": r.more,  # total counts photos up to the page and one more; there are more
        "matches": [
            {
                "similarity": m.similarity,
                "picture": picture_json(m.picture, view) | copies_json(m.also_in),
                "face": face_json(m.face, view),
            }
            for m in r.matches
        ],
    }


def router(album: Album, auth: OwnerAuth) -> APIRouter:
    r = APIRouter()
    clicks = rate_limit(album.settings, album.settings.matches_rate, "face searches", "clicks")

    size, most = album.settings.page_size, album.settings.page_max

    @r.get("/api/sets")
    def list_sets(
        sort: Annotated[Literal["newest", "name"], Query()] = "newest",
        limit: int = Query(size, ge=1, le=most),  # settings' limits: not in an annotation
        after: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> dict:
        """A page of sets, newest first or by name; ``next``: the cursor of the next
        page (pass it as ``after``), null after the last."""
        found, following = album.sets_page(sort, limit, after)
        return {"sets": [set_json(s) for s in found], "next": following}

    @r.get("/api/sets/{name}")
    def get_set(
        name: str,
        request: Request,
        limit: int = Query(size, ge=1, le=most),  # settings' limits: not in an annotation
        after: Annotated[str | None, Query(max_length=2000)] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_SET_OFFSET)] = 0,
    ) -> dict:
        """The set with a page of its pictures in name order. Page by ``after`` (the
        ``next`` of the page before: O(page) however deep); ``offset`` (O(offset)) is
        kept for old clients, up to 10,000."""
        if offset:
            summary, pictures = album.get_set(name, limit, offset)
            full = len(pictures) == limit
            following = paging.encode([pictures[-1].name]) if full else None
        else:
            summary, pictures, following = album.set_page(name, limit, after)
        view = face_view(album, auth, request, pictures)
        return set_json(summary) | {
            "pictures": [picture_json(p, view) for p in pictures],
            "next": following,
        }

    @r.get("/api/sets/{name}/ids")
    def set_picture_ids(
        name: str,
        limit: int = Query(size, ge=1, le=most),
        after: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> dict:
        """A page of the set's picture ids in display order, and the next page's cursor
        (the pictures' faces are not read)."""
        summary, pictures, following = album.set_page(name, limit, after, faces=False)
        return {
            "name": summary.name,
            "image_ids": [p.image_id for p in pictures],
            "next": following,
        }

    @r.get("/api/pictures/{image_id}")
    def get_picture(image_id: str, request: Request) -> dict:
        """The picture, with ``previous`` / ``next``: the ids ← / → step to in its set
        (name order), null at the set's ends."""
        picture = album.picture(image_id)
        previous, following = album.neighbours(image_id)
        body = picture_json(picture, face_view(album, auth, request, [picture]))
        return body | {"previous": previous, "next": following}

    @r.get("/api/faces/{face_id}/matches")
    def face_matches(
        face_id: str,
        request: Request,
        threshold: Annotated[float | None, Query(ge=0, le=100)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict:
        t = album.settings.match_threshold if threshold is None else threshold
        owner = auth.is_owner(request)  # a visitor's search never uses a hidden person
        if not owner:
            clicks.hit(request.client.host if request.client else "?")
        found = album.search(face_id, t, limit, offset, hidden=owner)
        seen = [m.picture for m in found.matches]
        view = (owner_view if owner else visitor_view)(album.catalog, seen, [found.query])
        return matches_json(found, t, view)

    return r
