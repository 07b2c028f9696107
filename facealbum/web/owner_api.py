"""The owner's routes: sign-in, and every change to the album. Each refuses a request
without the owner's session (401) or, for a session, without its CSRF token (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from ..album import Album
from ..domain import BadInput
from .auth import COOKIE, OwnerAuth
from .read_api import picture_json, set_json, upload_json


class SignIn(BaseModel):
    secret: str = Field(min_length=1, max_length=1000)


class NewSet(BaseModel):
    name: str


class SetChange(BaseModel):
    name: str | None = None
    featured_image_id: str | None = None


class PictureChange(BaseModel):
    name: str


def router(album: Album, auth: OwnerAuth) -> APIRouter:
    r = APIRouter()
    owner = [Depends(auth.require_owner)]

    @r.get("/api/session")
    def session(request: Request) -> dict:
        nonce = auth.session(request.cookies.get(COOKIE))
        return {"owner": nonce is not None, "csrf": auth.csrf_token(nonce) if nonce else None}

    @r.post("/api/session")
    def sign_in(body: SignIn, request: Request, response: Response) -> dict:
        client = request.client.host if request.client else "?"
        cookie = auth.sign_in(body.secret, client)
        response.set_cookie(
            COOKIE, cookie, max_age=auth.max_age, httponly=True, samesite="strict", path="/"
        )
        nonce = auth.session(cookie)
        assert nonce is not None
        return {"owner": True, "csrf": auth.csrf_token(nonce)}

    @r.delete("/api/session", dependencies=owner)
    def sign_out(response: Response) -> dict:
        response.delete_cookie(COOKIE, path="/")
        return {"owner": False, "csrf": None}

    @r.post("/api/sets", dependencies=owner, status_code=201)
    def create_set(body: NewSet) -> dict:
        album.create_set(body.name)
        return set_json(album.get_set(body.name.strip())[0])

    @r.patch("/api/sets/{name}", dependencies=owner)
    def change_set(name: str, body: SetChange) -> dict:
        if body.featured_image_id is not None:
            album.set_featured(name, body.featured_image_id)
        if body.name is not None and body.name != name:
            album.rename_set(name, body.name)
            name = body.name.strip()
        return set_json(album.get_set(name)[0])

    @r.delete("/api/sets/{name}", dependencies=owner)
    def delete_set(name: str) -> dict:
        return {"deleted_pictures": album.delete_set(name)}

    @r.post("/api/sets/{name}/pictures", dependencies=owner, status_code=202)
    async def upload(name: str, files: Annotated[list[UploadFile], File()]) -> dict:
        """Queue each file for the background worker; refuse unsafe ones at once."""
        out = []
        for f in files:
            data = await f.read()
            try:
                out.append(upload_json(album.submit_upload(name, f.filename or "", data)))
            except BadInput as exc:
                out.append({"name": f.filename, "status": "failed", "error": str(exc)})
        return {"uploads": out}

    @r.get("/api/uploads", dependencies=owner)
    def uploads(ids: Annotated[str, Query(max_length=20_000)]) -> dict:
        found = album.uploads([i for i in ids.split(",") if i][:500])
        return {"uploads": [upload_json(u) for u in found]}

    @r.patch("/api/pictures/{image_id}", dependencies=owner)
    def rename_picture(image_id: str, body: PictureChange) -> dict:
        return picture_json(album.rename_picture(image_id, body.name))

    @r.delete("/api/pictures/{image_id}", dependencies=owner, status_code=204)
    def delete_picture(image_id: str) -> Response:
        album.delete_picture(image_id)
        return Response(status_code=204)

    return r
