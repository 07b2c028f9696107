"""Composition root: picks the adapter for each port from the settings. Imports are
local so a worker process that needs one adapter does not load them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from .adapters.engine_dlib import DlibFaceEngine
    from .album import Album
    from .collection import AlbumCollection
    from .ports import BlobStore, Catalog


def make_engine(settings: Settings) -> DlibFaceEngine:
    from .adapters.engine_dlib import DlibFaceEngine

    return DlibFaceEngine.from_settings(settings)


def make_blobs(settings: Settings) -> BlobStore:
    if settings.blob_store:
        from .adapters.blob_s3 import S3BlobStore

        return S3BlobStore(settings.blob_store.removeprefix("s3://"))
    from .adapters.blob_local import LocalBlobStore

    return LocalBlobStore(settings.blob_root)


def make_faces(settings: Settings, db=None, local: bool = False, processes: int = 0):
    """The faces port the settings choose: Rekognition through boto3 (endpoint and
    credentials from the standard AWS configuration), or dlib on the album's catalog
    database (``local`` forces this one: it is what the Rekognition endpoint serves),
    with face work in ``processes`` worker processes if given."""
    from .adapters.catalog_sql import SqlCatalog
    from .adapters.faces_local import LocalFaces

    if settings.face_engine == "rekognition" and not local:
        from .adapters.faces_rekognition import RekognitionFaces

        return RekognitionFaces()
    if db is None:
        db = SqlCatalog(settings.faces_db_url).engine
    from .adapters.engine_lazy import LazyFaceEngine

    # dlib loads on the first upload or search by photo, not at open (searches by face
    # id need only the index and the catalog)
    return LocalFaces(db, LazyFaceEngine(lambda: make_engine(settings)), settings, processes)


def make_collection(settings: Settings, db=None) -> AlbumCollection:
    """The album's collection on the faces port the settings choose. Worker processes
    pass no ``db``: they get a plain engine, since the process that started them has
    brought the schema up to date already."""
    from .collection import AlbumCollection

    if db is None and settings.face_engine == "local":
        from .adapters.catalog_sql import make_engine as make_sql_engine

        db = make_sql_engine(settings.faces_db_url)
    return AlbumCollection(make_faces(settings, db), settings.rekognition_collection)


def make_catalog(settings: Settings) -> Catalog:
    if settings.dynamodb_prefix is not None:
        from .adapters.catalog_dynamo import DynamoCatalog

        return DynamoCatalog(settings.dynamodb_prefix)
    from .adapters.catalog_sql import SqlCatalog

    return SqlCatalog(settings.catalog_url)


def open_album(settings: Settings | None = None) -> Album:
    from .adapters.queue_huey import HueyJobQueue
    from .album import Album

    settings = settings or Settings.load()
    settings.home.mkdir(parents=True, exist_ok=True)
    catalog = make_catalog(settings)
    db = getattr(catalog, "engine", None)  # local faces share a SQL catalog's database
    if db is None and settings.face_engine == "local":
        from .adapters.catalog_sql import SqlCatalog

        db = SqlCatalog(settings.faces_db_url).engine  # brought up to date here
    collection = make_collection(settings, db)
    collection.ensure()
    return Album(
        settings=settings,
        blobs=make_blobs(settings),
        catalog=catalog,
        collection=collection,
        queue=HueyJobQueue(settings.home / "jobs.db"),
    )
