"""The web application: JSON API, the owner's edits, the site, and error handling."""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..album import Album
from ..domain import BadInput, NotFound, StorageFull
from ..photo_search import TooLarge
from . import media, owner_api, pages, people_api, read_api
from .auth import Forbidden, NotOwner, OwnerAuth, TooManyAttempts, load_or_create_secret
from .limits import (
    MULTIPART_ENVELOPE,
    VISITOR_JSON_BYTES,
    BodyLimit,
    SlowBody,
    TooManyRequests,
)

log = logging.getLogger(__name__)


def create_app(album: Album, run_jobs: bool = True, auth: OwnerAuth | None = None) -> FastAPI:
    if auth is None:
        secret, _ = load_or_create_secret(album.settings)
        auth = OwnerAuth(
            secret, album.catalog, album.settings.session_days, album.settings.signin_attempts
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # load the face index in the background so the first search is fast, then
        # keep it in step with what other processes write
        stop = threading.Event()
        threading.Thread(target=album.follow_faces, args=(stop,), daemon=True).start()
        if run_jobs:
            threading.Thread(target=album.run_jobs, args=(stop,), daemon=True).start()
        # what the server holds from now on (modules, the app, its routes: ~10^5 objects)
        # is never garbage: moved out of the collector's generations, a full collection
        # that a request's allocations set off no longer walks it (~40 ms a deep page)
        gc.collect()
        gc.freeze()
        yield
        stop.set()
        album.close()

    # FastAPIOffline serves the /docs page's Swagger UI from the package, not a CDN
    app = FastAPIOffline(title="facealbum", version=__version__, lifespan=lifespan)
    app.state.album = album
    app.state.auth = auth
    _error_handlers(app)
    routers = [
        read_api.router(album, auth),
        media.router(album, auth),
        owner_api.router(album, auth),
        people_api.router(album, auth),
    ]
    for each in routers:
        app.include_router(each)
    # the site's own routes, as declared (FastAPI's app.routes nests included routers)
    app.state.api_routes = [r for each in routers for r in each.routes if isinstance(r, APIRoute)]
    pages.mount(app, getattr(album.blobs, "origins", list)())
    s = album.settings
    caps = {
        "/api/session": VISITOR_JSON_BYTES,
        "/api/search/by-image": s.max_search_bytes + MULTIPART_ENVELOPE,
        "/api/sets/{name}/pictures": s.max_upload_request_bytes,
    }
    app.add_middleware(
        BodyLimit, routes=app.state.api_routes, auth=auth, caps=caps, default=s.max_json_bytes
    )
    return app


def _error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    statuses: dict[type[Exception], int] = {
        NotFound: 404,
        BadInput: 422,
        StorageFull: 507,
        TooLarge: 413,
        NotOwner: 401,
        Forbidden: 403,
        SlowBody: 408,
    }

    async def album_error(_req: Request, exc: Exception) -> JSONResponse:
        return error(statuses[type(exc)], str(exc))

    for exc_type in statuses:
        app.add_exception_handler(exc_type, album_error)

    @app.exception_handler(TooManyAttempts)
    @app.exception_handler(TooManyRequests)
    async def too_many(_req: Request, exc: TooManyAttempts | TooManyRequests) -> JSONResponse:
        return error(429, str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in exc.errors()
        )
        return error(422, problems)

    @app.exception_handler(DataError)
    async def nul(_req: Request, exc: DataError) -> JSONResponse:
        """PostgreSQL's text cannot hold NUL: an id, name or cursor with one names
        nothing in the album (SQLite simply finds nothing)."""
        if "NUL (0x00)" in str(exc.orig):
            return error(422, "no id, name or cursor holds a NUL character (%00)")
        return await crash(_req, exc)

    @app.exception_handler(Exception)
    async def crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error(500, "internal error; the server log has the details")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))
