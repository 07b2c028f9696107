"""The owner's routes: sign-in, and every change to the album. Each refuses a request
without the owner's session (401) or, for a session, without its CSRF token (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from ..album import Album
from ..domain import BadInput, NotFound, OwnerSession, StorageFull
from ..visibility import owner_view
from .auth import COOKIE, OwnerAuth, public_id
from .read_api import picture_json, set_json, upload_json


class SignIn(BaseModel):
    secret: str = Field(min_length=1, max_length=1000)


class NewSet(BaseModel):
    name: str


class SetChange(BaseModel):
    name: str | None = None
    featured_image_id: str | None = None
    share_location: bool | None = Field(
        None, description="Visitors get this set's originals with GPS and serial numbers"
    )


class PictureChange(BaseModel):
    name: str


def session_json(s: OwnerSession, current: OwnerSession | None) -> dict:
    return {
        "id": public_id(s.session_id),
        "created_at": s.created_at,
        "last_seen": s.last_seen,
        "expires_at": s.expires_at,
        "client": s.client,
        "user_agent": s.user_agent,
        "current": current is not None and current.session_id == s.session_id,
    }


def job_json(job: dict) -> dict:
    """A set job's status: ``state`` queued | running | done | failed, ``done`` of
    ``total`` pictures, times in seconds since the epoch."""
    keys = ("kind", "set", "to", "state", "done", "total", "error", "created_at",
            "started_at", "finished_at")  # fmt: skip
    return {"id": job["id"], **{k: job.get(k) for k in keys},
            "status_url": f"/api/jobs/{job['id']}"}  # fmt: skip


def _accepted(response: Response, job: dict) -> dict:
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job['id']}"
    return {"job": job_json(job), "status_url": f"/api/jobs/{job['id']}"}


def router(album: Album, auth: OwnerAuth) -> APIRouter:
    r = APIRouter()
    owner = [Depends(auth.require_owner)]

    @r.get("/api/session")
    def session(request: Request) -> dict:
        found = auth.session(request.cookies.get(COOKIE))
        return {"owner": found is not None, "csrf": auth.csrf_token(found) if found else None}

    @r.post("/api/session")
    def sign_in(body: SignIn, request: Request, response: Response) -> dict:
        client = request.client.host if request.client else "?"
        cookie = auth.sign_in(body.secret, client, request.headers.get("user-agent", ""))
        response.set_cookie(
            COOKIE, cookie, max_age=auth.max_age, httponly=True, samesite="strict", path="/"
        )
        found = auth.session(cookie)
        assert found is not None
        return {"owner": True, "csrf": auth.csrf_token(found)}

    @r.delete("/api/session", dependencies=owner)
    def sign_out(request: Request, response: Response) -> dict:
        """Ends this session on the server: a copy of the cookie is worth nothing after."""
        found = getattr(request.state, "session", None)
        if found is not None:
            auth.sign_out(found)
        response.delete_cookie(COOKIE, path="/")
        return {"owner": False, "csrf": None}

    @r.get("/api/sessions", dependencies=owner)
    def sessions(request: Request) -> dict:
        """Every signed-in browser of the owner: when, from where, with what."""
        current = getattr(request.state, "session", None)
        return {"sessions": [session_json(s, current) for s in auth.catalog.list_sessions()]}

    @r.delete("/api/sessions", dependencies=owner)
    def end_all_sessions(response: Response) -> dict:
        response.delete_cookie(COOKIE, path="/")
        return {"ended": auth.end_all()}

    @r.delete("/api/sessions/{session_id}", dependencies=owner)
    def end_session(session_id: str) -> dict:
        if not auth.end(session_id):
            raise NotFound(f"no session {session_id}")
        return {"ended": 1}

    @r.post("/api/sets", dependencies=owner, status_code=201)
    def create_set(body: NewSet) -> dict:
        return set_json(album.get_set(album.create_set(body.name))[0])

    @r.patch("/api/sets/{name}", dependencies=owner)
    def change_set(name: str, body: SetChange, response: Response) -> dict:
        """A rename of a set of more than ``set_job_batch`` pictures is a job: 202 with
        its status, as a delete. A set a job changes (its old or new name): 422."""
        album.refuse_busy(name)
        if body.featured_image_id is not None:
            album.set_featured(name, body.featured_image_id)
        if body.share_location is not None:
            album.set_share_location(name, body.share_location)
        if body.name is not None and body.name != name:
            summary = album.get_set(name, limit=0)[0]
            if summary.picture_count > album.settings.set_job_batch:
                return _accepted(response, album.start_rename_set(name, body.name))
            name = album.rename_set(name, body.name)
        return set_json(album.get_set(name)[0])

    @r.delete("/api/sets/{name}", dependencies=owner, status_code=202)
    def delete_set(name: str, response: Response) -> dict:
        """Accepted at once: the set leaves every listing now and its pictures go in
        batches on the job queue; ``status_url`` tells how far it is."""
        return _accepted(response, album.start_delete_set(name))

    @r.get("/api/jobs", dependencies=owner)
    def jobs() -> dict:
        """The unfinished jobs (sets being deleted or renamed, a reindex) with their
        progress: the owner's status line."""
        return {"jobs": [job_json(j) for j in album.set_jobs()]}

    @r.get("/api/jobs/{job_id}", dependencies=owner)
    def job(job_id: str) -> dict:
        return job_json(album.set_job(job_id))

    @r.post("/api/sets/{name}/pictures", dependencies=owner, status_code=202)
    def upload(name: str, files: Annotated[list[UploadFile], File()]) -> dict:
        """Queue each file for the background worker; refuse unsafe ones at once. A plain
        ``def``: the copy to the incoming bucket (with its fsync) and the catalog rows
        run on a worker thread, never on the event loop; each file is streamed from the
        form's spool, its size checked before a byte is copied."""
        out = []
        for f in files:
            try:
                upload = album.submit_upload(name, f.filename or "", f.file, f.size)
                out.append(upload_json(upload))
            except (BadInput, StorageFull) as exc:
                out.append({"name": f.filename, "status": "failed", "error": str(exc)})
            finally:
                f.file.close()
        return {"uploads": out}

    @r.get("/api/uploads", dependencies=owner)
    def uploads(ids: Annotated[str, Query(max_length=20_000)]) -> dict:
        found = album.uploads([i for i in ids.split(",") if i][:500])
        return {"uploads": [upload_json(u) for u in found]}

    @r.patch("/api/pictures/{image_id}", dependencies=owner)
    def rename_picture(image_id: str, body: PictureChange) -> dict:
        picture = album.rename_picture(image_id, body.name)
        return picture_json(picture, owner_view(album.catalog, [picture]))

    @r.delete("/api/pictures/{image_id}", dependencies=owner, status_code=204)
    def delete_picture(image_id: str) -> Response:
        album.delete_picture(image_id)
        return Response(status_code=204)

    return r
