"""The web server's processes: ``facealbum serve`` in one, or ``--workers N`` in N that
uvicorn's own supervisor starts (spawned, sharing one listening socket; a process that
dies is started again), each building the site through :func:`create`.

Before any worker starts, the parent has opened the album once: the catalog's
migrations ran, the face collection exists, the owner's secret and the Rekognition
keys were made and printed. A worker then only opens what is there. What is shared
and what each process keeps for itself is in the README ("Several server processes").
"""

from __future__ import annotations

import copy
import errno
import os
import socket

from fastapi import FastAPI

from ..album import Album
from ..settings import Settings

SETTINGS_ENV = "_FACEALBUM_SERVE_SETTINGS"  # the parent's settings, as JSON, to workers


def site(album: Album) -> FastAPI:
    """The album's web site and JSON API with the Rekognition endpoint under
    ``/rekognition``."""
    from ..rekognition.server import from_settings
    from .app import create_app

    app = create_app(album)
    endpoint, _keys = from_settings(album.settings, ["/rekognition", "/rekognition/"])
    app.include_router(endpoint)
    return app


def create() -> FastAPI:
    """uvicorn's app factory in each worker process (``facealbum.web.serve:create``):
    the site on the parent's settings, exactly as the parent resolved them. A worker
    exits when the supervisor is gone (killed): it would otherwise go on serving the
    shared socket, and a new ``serve`` could not listen on its port."""
    from ..wiring import open_album
    from ..workers import exit_with_parent

    exit_with_parent()
    return site(open_album(Settings.model_validate_json(os.environ[SETTINGS_ENV])))


def port_in_use(host: str, port: int) -> bool:
    """Whether another process listens on ``host:port`` (checked as uvicorn binds, with
    SO_REUSEADDR), so ``serve`` can say so in one line instead of uvicorn's
    "[Errno 98] error while attempting to bind" after the album was opened."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:  # any other (no such address): uvicorn says it
            return exc.errno == errno.EADDRINUSE
    return False


def log_config(access_log: bool) -> dict:
    """uvicorn's logging, concise: one line per request (its access log: client,
    request line, status) and one per processed upload (facealbum's INFO lines, see
    Album.process_upload); uvicorn's own start-up lines stay at warnings."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    config["loggers"]["facealbum"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def run(settings: Settings, album: Album, workers: int) -> None:
    """Serve until stopped: ``album`` itself in this process if ``workers`` is 1, else
    ``workers`` processes of uvicorn's supervisor (``album`` is closed first: the
    workers open their own)."""
    import uvicorn

    from .limits import forget_rates

    # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: behind a
    # local tunnel every visitor could then name any address and pass the per-address
    # limits (sign-in guesses, searches by photo)
    trusted = settings.forwarded_allow_ips.strip()
    options: dict = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(settings.access_log),
        "access_log": settings.access_log,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # httptools' C parser, not h11's pure Python: the HTTP stack's own cost per
        # request (a 404) 6.0 -> 2.2 ms at full size under load (README, Scale)
        "http": "httptools",
    }
    if workers == 1:
        uvicorn.run(site(album), **options)
        return
    album.close()
    forget_rates(settings)
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run(f"{__name__}:create", factory=True, workers=workers, **options)
