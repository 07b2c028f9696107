"""Composition root: picks the adapter for each port from the settings."""

from __future__ import annotations

from .adapters.blob_local import LocalBlobStore
from .adapters.catalog_sql import SqlCatalog
from .adapters.engine_dlib import DlibFaceEngine
from .adapters.index_numpy import NumpyFaceIndex
from .adapters.queue_huey import HueyJobQueue
from .album import Album
from .settings import Settings


def make_engine(settings: Settings) -> DlibFaceEngine:
    return DlibFaceEngine.from_settings(settings)


def open_album(settings: Settings | None = None) -> Album:
    settings = settings or Settings.load()
    settings.home.mkdir(parents=True, exist_ok=True)
    return Album(
        settings=settings,
        blobs=LocalBlobStore(settings.blob_root),
        catalog=SqlCatalog(settings.catalog_url),
        engine=make_engine(settings),
        index=NumpyFaceIndex(),
        queue=HueyJobQueue(settings.home / "jobs.db"),
    )
