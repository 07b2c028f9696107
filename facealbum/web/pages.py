"""The site: one HTML shell for every page URL, and its static files. The pages are
drawn in the browser from the JSON API, so a page URL and the API always agree."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from .. import __version__

STATIC = Path(__file__).resolve().parent / "static"
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # only our own scripts, styles and images: an injected name can never run as code,
    # and a page that tried to load from a CDN would fail in the tests (blob: is the
    # photo a visitor searches with, shown from the browser's own memory)
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def mount(app: FastAPI, image_origins: list[str] | None = None) -> None:
    """``image_origins``: where else images come from (S3's presigned URLs)."""
    shell = (STATIC / "index.html").read_text().replace("{{version}}", __version__)
    headers = dict(PAGE_HEADERS)
    if image_origins:
        headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
            "img-src 'self' data: blob:", f"img-src 'self' data: blob: {' '.join(image_origins)}"
        )

    def page() -> HTMLResponse:
        return HTMLResponse(shell, headers=headers)

    for path in (
        "/",
        "/sets/{name}",
        "/pictures/{image_id}",
        "/faces/{face_id}",
        "/people",
        "/people/{person_id}",
        "/search",
        "/search/photo",
    ):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    app.mount("/static", Revalidated(directory=STATIC), name="static")


class Revalidated(StaticFiles):
    """Static files a browser must revalidate (an ETag's 304 costs a round trip, no
    body). The page modules import each other by plain URLs, without the shell's
    ``?v=`` version, so a cached old module must never meet a new one after an upgrade."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response
