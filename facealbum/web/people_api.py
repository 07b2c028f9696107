"""People in the JSON API: visitors read them (hidden ones are the owner's to see);
only the owner names, merges, splits, hides, picks covers and says "not this person".
Each route is a few lines over facealbum.people.edits."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..album import Album
from ..copies import once_per_photo, twin_faces
from ..domain import BadInput, NotFound, Person
from ..people import edits as persons
from ..people import regroup
from ..visibility import FaceView, owner_view, visitor_view
from .auth import OwnerAuth
from .form_memory import read_file_field
from .limits import OnePerClient, Slots, SlowBody, rate_limit
from .read_api import box_json, copies_json, face_json, face_view, picture_json


class PersonChange(BaseModel):
    name: str | None = Field(None, max_length=200, description="Empty: no name")
    hidden: bool | None = None
    cover_face_id: str | None = None


class Merge(BaseModel):
    into: str = Field(description="The person that keeps every face")


class Split(BaseModel):
    face_ids: list[str] = Field(min_length=1, max_length=10_000)
    into: str | None = Field(None, description="An existing person; none: a new one")


class NotThisPerson(BaseModel):
    person_id: str


class FaceName(BaseModel):
    name: str = Field(min_length=1, max_length=200)


def person_json(p: Person) -> dict:
    return {
        "person_id": p.person_id,
        "name": p.name,
        "hidden": p.hidden,
        "face_count": p.face_count,
        "picture_count": p.picture_count,
    }


def found_json(f: persons.FaceFound, view: FaceView) -> dict:
    person = f.person and {"person_id": f.person.person_id, "name": f.person.name}
    return {
        "box": box_json(f.box),
        "person": person,
        "matches": [
            {"similarity": s, "picture": picture_json(p, view), "face": face_json(face, view)}
            for s, p, face in f.matches
        ],
    }


def router(album: Album, auth: OwnerAuth) -> APIRouter:
    r = APIRouter()
    owner = [Depends(auth.require_owner)]
    rate = rate_limit(album.settings, album.settings.search_rate, "searches by photo", "photo")
    searches = Slots(album.settings.search_concurrency, "searches by photo")
    one_each = OnePerClient("searches by photo")

    def visible(person_id: str, request: Request) -> Person:
        found = album.catalog.get_person(person_id)
        if found is None or (found.hidden and not auth.is_owner(request)):
            raise NotFound(f"no person {person_id}")
        return found

    @r.get("/api/people/status", dependencies=owner)
    def regroup_status() -> dict:
        """Whether people are being regrouped after a batch (people/regroup.py):
        {state: idle|scheduled|running, done, total, started_at, finished_at, due_at}."""
        return regroup.status(album)

    @r.get("/api/people")
    def list_people(
        request: Request,
        after: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int | None, Query()] = None,
    ) -> dict:
        """A page of the people, most pictured first (FACEALBUM_PEOPLE_PAGE_SIZE unless
        ``limit``, at most FACEALBUM_PEOPLE_PAGE_MAX): {people, next}; ``next``: the
        cursor of the next page (pass it as ``after``, as for /api/sets), null after
        the last. Hidden persons are the owner's to see."""
        page = persons.people_page(album, auth.is_owner(request), after, limit)
        views = page.items
        view = face_view(album, auth, request, faces=[v.cover[0] for v in views if v.cover])
        listed = [
            person_json(v.person)
            | {
                "cover": v.cover
                and face_json(v.cover[0], view)
                | {"thumb_url": f"/media/thumbnails/{v.cover[1]}"}
            }
            for v in views
        ]
        return {"people": listed, "next": page.next}

    @r.get("/api/people/names")
    def people_names(request: Request) -> dict:
        """The names "Who is this?" offers (a hidden person's to the owner only)."""
        return {"names": persons.names(album, hidden=auth.is_owner(request))}

    @r.get("/api/people/{person_id}")
    def get_person(
        person_id: str,
        request: Request,
        after: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int | None, Query()] = None,
    ) -> dict:
        """The person and a page of its pictures (in id order); ``next``: the cursor of
        the next page (pass it as ``after``), null after the last. A photo stored in
        several sets is listed once, on the page of its first picture."""
        seen = visible(person_id, request)  # the page reads it once (it read it twice)
        person, page = persons.person_pictures(album, person_id, after, limit, seen)
        pictures = page.items
        view = face_view(album, auth, request, pictures)
        by_id = {p.image_id: p for p in pictures}
        listed = [
            picture_json(p, view)
            | copies_json(c, {x.image_id: twin_faces(p, by_id[x.image_id]) for x in c})
            for p, c in once_per_photo(pictures)
        ]
        return person_json(person) | {"pictures": listed, "next": page.next}

    @r.get("/api/search")
    def search(
        request: Request,
        people: Annotated[str, Query(min_length=1, max_length=2000)],
        mode: Annotated[Literal["all", "any", "only"], Query()] = "all",
        after: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int | None, Query()] = None,
    ) -> dict:
        """A page of the pictures with these people (in id order); ``next``: the cursor
        of the next page (pass it as ``after``), null after the last. A page of ALL or
        ONLY may be short, even empty, with a ``next`` (people/edits.py: search_people)."""
        ids = list(dict.fromkeys(i for i in people.split(",") if i))  # each once
        if len(ids) > album.settings.search_max_people:
            raise BadInput(
                f"too many people in one search: {len(ids)} "
                f"(limit {album.settings.search_max_people})"
            )
        # a visitor's search never uses a hidden person: one is unknown (404)
        page = persons.search_people(album, ids, mode, auth.is_owner(request), after, limit)
        found = page.items
        view = face_view(album, auth, request, found)
        listed = [picture_json(p, view) | copies_json(c) for p, c in once_per_photo(found)]
        return {"people": ids, "mode": mode, "pictures": listed, "next": page.next}

    @r.post(
        "/api/search/by-image",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
        },
    )
    async def search_by_image(request: Request) -> dict:
        """Every face of an uploaded photo (its largest FACEALBUM_SEARCH_MAX_FACES),
        with who it likely is and the album's pictures of it. Open to visitors, within
        limits: FACEALBUM_SEARCH_RATE a minute per address and
        FACEALBUM_SEARCH_CONCURRENCY at once (else 429 with Retry-After), the photo at
        most FACEALBUM_MAX_SEARCH_BYTES and FACEALBUM_SEARCH_MAX_PIXELS (else 413). It
        is held in memory only, never stored, and decoded in a worker process."""
        client = request.client.host if request.client else "?"
        rate.hit(client)
        by_owner = await run_in_threadpool(auth.is_owner, request)  # before reading the body
        # taken before the body is read (bodies held <= slots), so the body has a time
        # limit and one address one slot: else a few slow bodies hold every slot for good
        with searches, one_each(client):
            try:
                async with asyncio.timeout(album.settings.search_body_seconds):
                    data = await read_file_field(request, "file", album.settings.max_search_bytes)
            except TimeoutError:
                raise SlowBody(
                    f"the photo did not arrive within {album.settings.search_body_seconds:g} s"
                ) from None
            found = await run_in_threadpool(
                persons.search_by_image, album, data, None, by_owner
            )
        pictures = [p for f in found.faces for _, p, _ in f.matches]
        seen = owner_view if by_owner else visitor_view
        view = await run_in_threadpool(seen, album.catalog, pictures)
        return {
            "faces": [found_json(f, view) for f in found.faces],
            "unsearched": found.unsearched,
        }

    @r.patch("/api/people/{person_id}", dependencies=owner)
    def change_person(person_id: str, body: PersonChange) -> dict:
        fields = body.model_fields_set
        if "name" in fields:
            persons.rename(album, person_id, body.name)
        if body.hidden is not None:
            persons.hide(album, person_id, body.hidden)
        if body.cover_face_id is not None:
            persons.choose_cover(album, person_id, body.cover_face_id)
        return person_json(persons.get(album, person_id))

    @r.post("/api/people/{person_id}/merge", dependencies=owner)
    def merge(person_id: str, body: Merge) -> dict:
        return person_json(persons.merge(album, person_id, body.into))

    @r.post("/api/people/split", dependencies=owner)
    def split(body: Split) -> dict:
        return person_json(persons.split(album, body.face_ids, body.into))

    @r.post("/api/faces/{face_id}/name", dependencies=owner)
    def name_face(face_id: str, body: FaceName) -> dict:
        return person_json(persons.name_face(album, face_id, body.name))

    @r.post("/api/faces/{face_id}/not-person", dependencies=owner)
    def not_person(face_id: str, body: NotThisPerson) -> dict:
        went = persons.not_this_person(album, face_id, body.person_id)
        return {"face_id": face_id, "person_id": went}

    return r
