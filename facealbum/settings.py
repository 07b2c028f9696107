"""One typed settings object for the whole album.

Values come from ``FACEALBUM_*`` environment variables, then from an optional TOML
config file (``FACEALBUM_CONFIG``, default ``$FACEALBUM_HOME/facealbum.toml``), then
from the defaults below, which are chosen so that a bare ``facealbum serve`` just works.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# settings that may hold a password: an error names them, never shows their value
_NOT_ECHOED = {"database_url", "owner_secret", "rekognition_secret_access_key"}


class SettingsError(ValueError):
    """A setting's value (from the environment or the config file) that is not valid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACEALBUM_", extra="ignore")

    home: Path = Field(Path("facealbum-data"), description="Data directory")
    database_url: str | None = Field(
        None,
        description="The catalog: a SQLAlchemy URL (postgresql+psycopg://…) or "
        "dynamodb://TABLE_PREFIX (tables TABLE_PREFIXpics, TABLE_PREFIXpics_by_image_id, "
        "TABLE_PREFIXalbum, created if missing); default: SQLite file in home",
    )
    blob_dir: Path | None = Field(None, description="Local blob store; default: home/blobs")
    blob_store: str | None = Field(
        None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,40}$",
        description="s3://PREFIX: S3 buckets PREFIX-originals, PREFIX-thumbnails and "
        "PREFIX-incoming (created if missing; endpoint and credentials the standard AWS "
        "way); default: the local folder blob_dir",
    )

    detector: Literal["hog", "cnn"] = Field("hog", description="dlib face detector")
    detect_size: int = Field(
        1600,
        ge=200,
        le=8000,
        description="Long side (px) the photo is scaled to for detection; "
        "small photos are enlarged by at most detect_max_upscale",
    )
    detect_max_upscale: float = Field(
        2.0, ge=1.0, le=4.0, description="Largest enlargement of a small photo for detection"
    )
    detect_upsample: int = Field(0, ge=0, le=2, description="dlib pyramid upsampling steps")
    detect_fine: bool = Field(
        True,
        description="A second HOG pass at twice the scale around faces found near the "
        "detector's smallest size, in photos of at least detect_size/detect_max_upscale: "
        "a group's faces down to about 2.5 % of the long side",
    )
    min_face_confidence: float = Field(
        0.0, ge=0, le=100, description="Faces below this confidence (0-100) are dropped"
    )

    thumb_size: tuple[int, int] = Field((400, 400), description="Grid thumbnail bound (w, h)")
    preview_size: tuple[int, int] = Field((1600, 1600), description="Preview bound (w, h)")
    jpeg_quality: int = Field(85, ge=30, le=100)
    max_pixels: int = Field(
        120_000_000, description="Larger images are refused as decompression bombs"
    )
    max_file_bytes: int = Field(200 * 1024 * 1024, description="Larger files are refused")

    # issue 17 (bench/people_accuracy.py, leave one source out on our harder set): the
    # plain similarity's cut with precision 0.98 on every source is 92.9; the quality
    # rule lowered both precision and recall there, so it is off by default
    face_index_dir: Path | None = Field(
        None,
        description="Where the local engine saves each collection's face index, loaded at "
        "start instead of reading every face (default: home/face-index)",
    )
    face_follow_seconds: float = Field(
        2.0,
        gt=0,
        description="How often a server process catches its face index up with the "
        "catalog's change feed when no search does (each search catches up too): keeps "
        "every process of `serve --workers N` near the feed's head",
    )
    web_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes of `facealbum serve` (its --workers), sharing one "
        "catalog; 1 = one process",
    )
    match_threshold: float = Field(
        93.0,
        ge=0,
        le=100,
        description="Default similarity (0-100, Rekognition's scale; 80 = cosine 0.915) for a "
        "face match: the cut with precision 0.98 on every source of the harder set "
        "(bench/people_accuracy.py)",
    )
    sharp_face_floor: float = Field(
        50.0,
        ge=0,
        le=100,
        description="Faces less sharp than this (0-100, as the face model saw them) need "
        "closer matches: see blurry_face_penalty",
    )
    blurry_face_penalty: float = Field(
        0.0,
        ge=0,
        description="Similarity points a match needs more for each sharpness point the "
        "blurrier face of the pair lacks below sharp_face_floor (0: one threshold for all, "
        "the default since issue 17; 0.2 was chosen on synthetic blurred cards, "
        "bench/clickface.py)",
    )
    workers: int = Field(0, ge=0, description="Import and upload processes; 0 = one per core")
    big_image_pixels: int = Field(
        24_000_000,
        ge=1,
        description="Uploads that decode to more pixels are analysed in a process of "
        "their own, which exits afterwards, so no long-lived process keeps their memory",
    )
    upload_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness of the upload worker processes: analysis runs in the "
        "background and gives way to the web server's requests",
    )
    jobs_per_worker: int = Field(
        50, ge=1, description="Uploads a worker process analyses before it is replaced"
    )
    upload_lease_seconds: float = Field(
        60,
        gt=0,
        description="A runner renews its claim on an upload this often x3; an upload "
        "whose claim ran out (its runner died) is processed again",
    )
    s3_event_prefetch: int = Field(
        1,
        ge=0,
        le=8,
        description="On AWS, the upload function reads, analyses and indexes (IndexFaces) "
        "this many of a batch's next photos in threads while it stores and places the "
        "last, so Rekognition works beside the catalog's writes (0: one photo at a time)",
    )
    upload_requeue_after: float = Field(
        300, gt=0, description="Queued uploads nobody claimed for this long are queued again"
    )
    set_job_batch: int = Field(
        200,
        ge=1,
        le=500,
        description="Pictures per batch when a set is deleted as a job (set_jobs.py): one "
        "catalog transaction and one progress write each (at most 500: SQLite's bound "
        "variables); a set renamed with more pictures than this is renamed as a job too",
    )

    people_threshold: float = Field(
        83,
        ge=0,
        le=100,
        description="Average similarity (Rekognition's scale) to a person's faces at "
        "which a new face joins that person when it is placed (the quality rule raises "
        "it for blurred ones); regrouping cuts at people_linkage_cut / people_cohort_cut",
    )
    people_place_max_faces: int = Field(
        256,
        ge=1,
        le=4096,
        description="Most look-alikes a new face's placement reads (one SearchFaces, "
        "MaxFaces): beyond them a person's faces count as alike as the last one returned, "
        "so placing a face costs the same however large the album and its people grow",
    )
    people_follow_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="An import's placed faces' persons follow (their Rekognition users, "
        "their representatives: up to person_representatives_sample searches each) at "
        "most once per this many seconds and at its end, not every few photos: a person "
        "that gains a face in every photo has its representatives chosen once a while",
    )
    people_edge_floor: float = Field(
        50,
        ge=0,
        le=100,
        description="Regrouping reads, for each face, the faces at least this similar: "
        "average linkage weighs every pair of two groups, and pairs under this count as 0",
    )
    # measured by bench/people_accuracy.py (leave one source out; README, People):
    # AS-norm wins on an album of 858-1117 faces of at most 15 photos a person (pairwise
    # F1 0.983 against 0.948 with the similarity on its colour photos) and fails on one of
    # 71 (0.41 against 0.93), whose cohorts are mostly padding. But a person with more
    # faces than the cohort (50) has only themself as neighbours, so their own pairs
    # score about 0 and they fall apart (59 faces of one man: 7 persons), which is every
    # family album's main people: the similarity is the default, AS-norm an option
    people_score: Literal["auto", "similarity", "as-norm"] = Field(
        "similarity",
        description="What regrouping clusters on: each pair's similarity (with the "
        "quality rule), cut at people_linkage_cut; or its AS-norm score against both "
        "faces' top-50 neighbours in the album (facealbum/people/scoring.py), cut at "
        "people_cohort_cut; auto: as-norm from people_cohort_min_faces faces on",
    )
    # the plain similarity's cut chosen on every source of the harder set (88.2; the
    # folds chose 82.3-88.2), the quality rule off as for click-face
    people_linkage_cut: float = Field(
        88.0,
        ge=0,
        le=100,
        description="The mean similarity (Rekognition's scale, less the quality rule's "
        "raise) at which two groups of faces count as one person (bench/people_accuracy.py)",
    )
    people_cohort_cut: float = Field(
        0.36,
        description="The mean AS-norm score (cohort standard deviations) at which two "
        "groups of faces count as one person (bench/people_accuracy.py)",
    )
    people_cohort_min_faces: int = Field(
        500,
        ge=0,
        description="people_score auto uses AS-norm from this many judged faces on: "
        "a smaller album is too thin a cohort",
    )
    regroup_delay: float = Field(
        10,
        ge=0,
        description="Seconds of quiet after the last upload before people are regrouped "
        "(one regrouping per batch of uploads, not one per photo)",
    )
    person_aware_search: bool = Field(
        True,
        description="A click on a named person's face searches with several of that "
        "person's faces, so pictures from other angles are found too",
    )
    person_representatives: int = Field(
        8,
        ge=1,
        le=64,
        description="Representative faces kept per person (its cover, then medoids): what "
        "a click on a named person's face searches with, and the people pages show",
    )
    person_representatives_sample: int = Field(
        64,
        ge=1,
        le=1000,
        description="Most faces of one person compared (one SearchFaces each) when its "
        "representatives are chosen again: bounds the work of each update",
    )
    people_page_size: int = Field(
        60, ge=1, description="Persons (or a person's pictures) a page lists when no limit is asked"
    )
    people_page_max: int = Field(
        500, ge=1, description="Most persons (or a person's pictures) one page may list"
    )
    people_search_scan: int = Field(
        2000,
        ge=1,
        description="Most pictures of the least pictured person a search for pictures with "
        "all (or only) the chosen people looks at per request; the rest on the next page",
    )
    person_min_face_px: int = Field(
        30, ge=0, description="Faces smaller than this (shorter side, px) stay unassigned"
    )
    people_as_users: bool = Field(
        True,
        description="Mirror each person into the face collection as a Rekognition user "
        "(ListUsers, SearchUsers… then see the album's people)",
    )

    max_search_bytes: int = Field(
        10 * 1024 * 1024, ge=1, description="Largest photo anyone may search the album with"
    )
    search_max_pixels: int = Field(
        8_000_000,
        ge=1,
        description="Largest photo (pixels decoded; a JPEG decodes at a reduced scale) "
        "anyone may search the album with, checked from its header before decoding",
    )
    search_in_workers: bool = Field(
        True,
        description="Search by photo decodes and finds faces in worker processes, never "
        "in the server; the AWS API function sets false (Lambda starts no processes and "
        "runs one request per sandbox)",
    )
    search_max_faces: int = Field(
        10, ge=1, description="Faces searched per photo searched: the largest ones"
    )
    search_concurrency: int = Field(
        2,
        ge=1,
        description="Searches by photo at once (each in a worker process); more are "
        "answered 429 with Retry-After",
    )
    search_rate: int = Field(
        20, ge=1, description="Searches by photo per client address per minute (then 429)"
    )
    matches_rate: int = Field(
        240,
        ge=1,
        description="Face searches (a click on a face: GET /api/faces/{id}/matches) per "
        "visitor address per minute (then 429); each is a search of the whole collection, "
        "a billed SearchFaces on Rekognition. The owner is not counted",
    )
    search_body_seconds: float = Field(
        30,
        gt=0,
        description="A search photo's request body must arrive within this many seconds "
        "(else 408): a slow body holds a search slot while it trickles in",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="serve: addresses of reverse proxies trusted to name the client in "
        "X-Forwarded-For (comma-separated, uvicorn's forwarded_allow_ips). Empty: none; "
        "every limit per address counts the address a connection comes from",
    )
    access_log: bool = Field(
        True,
        description="serve: log each request in one line (uvicorn's access log: client, "
        "request line, status); processed uploads are logged either way",
    )
    search_max_people: int = Field(
        20, ge=1, description="Most people one search by people names (people=…)"
    )
    page_size: int = Field(
        100,
        ge=1,
        le=1000,
        description="Sets, or a set's pictures, per page when a "
        "request names no limit (GET /api/sets, /api/sets/{name})",
    )
    page_max: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="Most sets or pictures a request may ask for at "
        "once (limit=…; more is a 422): a page stays well under 300 KB of JSON",
    )
    max_json_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest JSON body of the owner's requests (a split of 10 000 faces "
        "is 0.4 MB); a visitor's body (sign-in) may carry 16 KiB",
    )
    max_upload_request_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="Largest upload request (its photos together), checked after the "
        "owner's credentials and before any byte is read",
    )

    web_uploads: bool = Field(
        True,
        description="Whether the site takes photos (processed by serve's own worker); the "
        "AWS API function has none: there photos go to the originals bucket instead",
    )

    orphan_face_grace: float = Field(
        30,
        ge=0,
        description="check leaves alone collection faces no picture lists until they are "
        "this old: a photo being imported has its faces indexed a moment before its row",
    )

    min_free_bytes: int = Field(
        100 * 1024 * 1024,
        ge=0,
        description="Uploads are refused while accepting one would leave less than this "
        "plus the waiting uploads' size free: room to process what was accepted",
    )

    owner_secret: str | None = Field(
        None,
        description="Owner's sign-in secret; if unset, one is generated on first start, "
        "stored in home/owner-secret and printed once",
    )
    session_days: int = Field(30, ge=1, description="How long an owner stays signed in")
    signin_attempts: int = Field(
        5,
        ge=1,
        description="Failed checks of the owner's secret (sign-ins, Bearer tokens) "
        "allowed per client address per minute",
    )

    face_engine: Literal["local", "rekognition"] = Field(
        "local",
        description="Who finds and matches faces: dlib on this machine, or AWS Rekognition "
        "(or any Rekognition endpoint) configured the standard AWS way",
    )
    rekognition_collection: str = Field("facealbum", description="The album's face collection")
    rekognition_access_key_id: str | None = Field(
        None,
        description="Key id SigV4 requests to the Rekognition endpoint must use; "
        "generated on first start if unset (home/rekognition-keys.json)",
    )
    rekognition_secret_access_key: str | None = Field(None, description="Its secret access key")

    rekognition_max_in_flight: int = Field(
        8,
        ge=0,
        description="Image operations the Rekognition endpoint runs at once; more are "
        "throttled (ProvisionedThroughputExceededException) and SDKs retry; 0 = no limit",
    )
    rekognition_queue_seconds: float = Field(
        10.0,
        ge=0,
        description="How long an image operation beyond rekognition_max_in_flight waits "
        "for a turn before it is throttled",
    )
    rekognition_regions: str = Field(
        "us-east-1",
        description="Comma-separated regions the Rekognition endpoint accepts in a "
        "signature's scope; AWS_REGION and AWS_DEFAULT_REGION are accepted too",
    )
    rekognition_any_image_format: bool = Field(
        False,
        description="The Rekognition endpoint takes every format the album reads (WebP, "
        "HEIC); by default JPEG and PNG only, as AWS",
    )

    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("database_url")
    @classmethod
    def _catalog_scheme(cls, url: str | None) -> str | None:
        """A catalog facealbum can open: SQLite, PostgreSQL through psycopg 3 (the
        ``postgresql://`` and ``postgres://`` that libpq and most hosts print are taken
        as ``postgresql+psycopg://``, since psycopg2 is not installed) or DynamoDB. Any
        other scheme is a settings error here, not a driver's traceback later."""
        if not url:
            return None
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError("not a URL: sqlite:///PATH, postgresql://USER@HOST/DB "
                             "or dynamodb://TABLE_PREFIX")  # fmt: skip
        if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            return f"postgresql+psycopg://{rest}"
        if scheme in ("sqlite", "sqlite+pysqlite", "dynamodb"):
            return url
        raise ValueError(f"{scheme}:// is not a catalog facealbum can use: sqlite:///PATH, "
                         "postgresql://USER@HOST/DB or dynamodb://TABLE_PREFIX")  # fmt: skip

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from the environment, then the config file, then defaults."""
        env_home = overrides.get("home") or os.environ.get("FACEALBUM_HOME") or "facealbum-data"
        config_path = Path(os.environ.get("FACEALBUM_CONFIG") or Path(env_home) / "facealbum.toml")
        file_values: dict[str, Any] = {}
        if config_path.is_file():
            with config_path.open("rb") as fh:
                try:
                    file_values = tomllib.load(fh)
                except tomllib.TOMLDecodeError as exc:
                    raise SettingsError(f"{config_path}: {exc}") from None
        env_set = {name for name in cls.model_fields if f"FACEALBUM_{name.upper()}" in os.environ}
        init = {k: v for k, v in file_values.items() if k not in env_set}
        init.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**init)
        except ValidationError as exc:  # one line a setting, named as it is set
            lines = []
            for e in exc.errors():
                name = str(e["loc"][0]) if e["loc"] else "?"
                shown = "…" if name in _NOT_ECHOED else repr(e.get("input"))
                got = f"{shown}: {e['msg']}"
                if name in env_set:
                    lines.append(f"FACEALBUM_{name.upper()}={got}")
                elif name in file_values and overrides.get(name) is None:
                    lines.append(f"{name} in {config_path} = {got}")
                else:
                    lines.append(f"{name}={got}")
            raise SettingsError("invalid setting: " + "; ".join(lines)) from None

    @property
    def catalog_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'catalog.db').resolve()}"

    @property
    def dynamodb_prefix(self) -> str | None:
        """TABLE_PREFIX of a ``dynamodb://TABLE_PREFIX`` catalog, else None."""
        url = self.database_url or ""
        return url.removeprefix("dynamodb://") if url.startswith("dynamodb://") else None

    @property
    def faces_db_url(self) -> str:
        """Where the local face engine keeps its collections: the SQL catalog, or a
        SQLite file in home when the catalog is DynamoDB."""
        if self.dynamodb_prefix is None:
            return self.catalog_url
        return f"sqlite:///{(self.home / 'faces.db').resolve()}"

    @property
    def rekognition_accepted_regions(self) -> set[str]:
        """The regions of rekognition_regions, with the standard AWS_REGION and
        AWS_DEFAULT_REGION of this process's environment."""
        given = self.rekognition_regions.split(",")
        given += [os.environ.get("AWS_REGION", ""), os.environ.get("AWS_DEFAULT_REGION", "")]
        return {r.strip() for r in given if r.strip()}

    @property
    def blob_root(self) -> Path:
        return self.blob_dir or self.home / "blobs"

    @property
    def decode_size(self) -> int:
        """Long side (px) a photo is decoded to: enough for the preview and the detector."""
        return max(self.detect_size, *self.preview_size)

    @property
    def process_count(self) -> int:
        """Worker processes for imports, reindex and uploads."""
        return self.workers or os.cpu_count() or 1

    @property
    def detect_fine_applies(self) -> bool:
        """The second pass changes what is found only with the HOG detector at no
        upsampling (upsampling already scans the whole image at that scale)."""
        return self.detect_fine and self.detector == "hog" and self.detect_upsample == 0

    @property
    def engine_tag(self) -> str:
        """Identifies the face settings a picture was analysed with, so reindex knows."""
        if self.face_engine == "rekognition":
            return f"rekognition-{self.rekognition_collection}-{self.detect_size}"
        tag = (
            f"dlib-{self.detector}-{self.detect_size}-"
            f"{self.detect_max_upscale:g}-{self.detect_upsample}"
        )
        if self.detect_fine_applies:  # pictures analysed before it: reindex finds more
            tag += "-fine"
        if self.rekognition_collection != "facealbum":  # the collection 0006 filled
            tag += f"-{self.rekognition_collection}"
        return tag
