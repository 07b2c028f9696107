"""The ``facealbum`` command: a thin skin over the library, one function per command."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .domain import AlbumError, Stats
from .settings import Settings, SettingsError


class _App(typer.Typer):
    """The command: a setting that is not valid (FACEALBUM_* or the config file) is an
    error line and exit status 2, not a traceback, whichever command loaded it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SettingsError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(2)
        except Exception as exc:
            if not _unreachable_catalog(exc):
                raise
            sys.exit(1)


def _unreachable_catalog(exc: Exception) -> bool:
    """A catalog database that can't be reached (server down, wrong host, port or
    password, a file that can't be opened) is one line naming it (password hidden) and
    the driver's first line, exit 1 — not SQLAlchemy's traceback. Other errors: False."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    from sqlalchemy import make_url

    try:
        url = make_url(Settings.load().catalog_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - the error line names the catalog as it can
        url = "the catalog"
    first = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc) else ""
    err.print(f"[red]error:[/] can't use the catalog {escape(url)}: {escape(first)}",
              highlight=False, soft_wrap=True)  # fmt: skip
    return True


app = _App(
    help="facealbum: a photo album that knows who is in the pictures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
R = TypeVar("R")
err = Console(stderr=True)

Home = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (env FACEALBUM_HOME; default ./facealbum-data)"),
]


def _album(home: Path | None):
    from .wiring import open_album

    return open_album(Settings.load(home=home))


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} photos/s  {task.fields[faces]} faces"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _run_batch(
    description: str, run: Callable[..., R], grouping: bool = False
) -> R:
    """Drive a library batch function with a progress bar showing photos/s and faces;
    ``grouping``: and a second bar, "Grouping people", for the regrouping at its end
    (``run`` then takes two more callbacks: its start and each face's step)."""
    with _progress() as progress:
        task = progress.add_task(description, total=None, rate="-", faces=0)
        faces = 0

        def start(total: int) -> None:
            progress.update(task, total=total)

        def step(outcome) -> None:
            nonlocal faces
            faces += outcome.faces
            t = progress.tasks[task]
            rate = f"{t.completed / t.elapsed:.1f}" if t.elapsed else "-"
            progress.update(task, advance=1, faces=faces, rate=rate)
            if outcome.status == "failed":
                progress.console.print(f"[red]failed[/] {outcome.name}: {outcome.reason}")

        if not grouping:
            return run(start, step)
        people: list = []

        def people_start(total: int) -> None:
            if not people:
                people.append(progress.add_task("Grouping people", total=total, rate="-",
                                                faces=total))  # fmt: skip
            else:  # once more: someone asked again while it ran
                progress.reset(people[0], total=total)

        return run(start, step, people_start, lambda: progress.advance(people[0]))


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="Folder of photos, read recursively")],
    set_name: Annotated[str, typer.Option("--set", help="Picture set to import into")],
    workers: Annotated[int, typer.Option(help="Processes; 0 = one per core")] = 0,
    home: Home = None,
) -> None:
    """Import a folder of photos as a picture set; re-running finishes what is missing."""
    from .importer import import_folder

    try:
        album = _album(home)
        report = _run_batch(
            f"Importing into {set_name}",
            lambda start, step, people_start, people_step: import_folder(
                album, folder, set_name, workers=workers or None, on_start=start,
                on_progress=step, on_grouping_start=people_start,
                on_grouping_progress=people_step,
            ),  # fmt: skip
            grouping=True,
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # the photos in flight were settled: nothing half-done
        err.print("Interrupted: the photos stored so far are in; running it again finishes")
        raise typer.Exit(130) from None
    table = Table(title=f"Import into {report.set_name} ({report.seconds:.1f} s)")
    columns = ("imported", "already there", "same photo, other metadata", "failed",
               "faces found", "other files ignored")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(
        str(report.count("imported")),
        str(len(report.duplicates("file"))),
        str(len(report.duplicates("pixels"))),
        str(report.count("failed")),
        str(report.faces),
        str(report.ignored),
    )
    console.print(table)
    for o in report.duplicates("pixels"):  # the owner may wonder where they went
        console.print(f"{o.name}: {o.reason}")
    if report.people is not None:
        p = report.people
        console.print(f"People grouped again: {p.people} people from {p.faces} faces, "
                      f"{p.changed} moved ({p.seconds:.1f} s)")  # fmt: skip
    if report.failures:
        failed = Table(title="Failed files")
        failed.add_column("file")
        failed.add_column("reason")
        for o in report.failures:
            failed.add_row(o.name, o.reason)
        console.print(failed)
        raise typer.Exit(1)


@app.command()
def reindex(
    set_name: Annotated[str | None, typer.Option("--set", help="Only this set")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Also pictures already analysed with these settings")
    ] = False,
    workers: Annotated[int, typer.Option(help="Processes; 0 = one per core")] = 0,
    metadata: Annotated[
        bool,
        typer.Option(
            "--metadata",
            help="Only read when and where each picture was taken from its original "
            "(no face work): for pictures stored before the album kept them",
        ),
    ] = False,
    home: Home = None,
) -> None:
    """Index every picture's faces again after a model, setting or face engine change
    (resumable: a job whose progress the owner's site shows, finished by a running
    server if this is stopped); also ``facealbum faces reindex``. With ``--metadata``,
    read the pictures' capture times and places again instead (reread.py)."""
    import time

    from . import set_jobs

    album = _album(home)
    started = time.perf_counter()
    if metadata:
        _reindex_metadata(album, set_name, started)
        return
    try:
        job = set_jobs.start_reindex(album, set_name, everything, workers or None, queue=False)
        final = _run_batch(
            "Reindexing",
            lambda start, step: set_jobs.run(
                album, job["id"], lambda done, total: start(total), on_outcome=step
            ),
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if final is None:
        now = set_jobs.status(album, job["id"])
        console.print(
            f"A reindex is running already ({now['done']} of {now['total']} pictures); "
            "`facealbum sets jobs` shows how far it is"
        )
        return
    console.print(
        f"Reindexed {final['reindexed']} pictures, {final['faces']} faces, "
        f"{len(final['failed'])} failed, in {time.perf_counter() - started:.1f} s"
    )
    if final["failed"]:
        raise typer.Exit(1)


def _reindex_metadata(album: Any, set_name: str | None, started: float) -> None:
    """``reindex --metadata``: capture times and places read again, with a progress
    bar; exit 1 if an original could not be read, 2 for an unknown set."""
    import time

    from .reread import reindex_metadata

    try:
        report = _files_progress(
            "Reading metadata",
            lambda start, step: reindex_metadata(
                album, set_name, on_start=start, on_picture=lambda picture, _changed: step(picture)
            ),
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"Read {report.read} pictures' metadata, {report.updated} updated, "
        f"{len(report.failed)} failed, in {time.perf_counter() - started:.1f} s"
    )
    for name, reason in report.failed:
        err.print(f"[red]{escape(name)}[/]: {escape(reason)}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def check(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what can be fixed without losing data")
    ] = False,
    home: Home = None,
) -> None:
    """Verify every picture has its files (with the right content) and every file a
    picture; report stuck uploads. --repair re-renders, re-queues, moves orphans aside."""
    from .check import check_album

    album = _album(home)
    with console.status("Checking…") as status:
        problems = check_album(album, repair, lambda name: status.update(f"Checking {name}"))
    if not problems:
        console.print("[green]No problems found.[/]")
        return
    table = Table(title=f"{len(problems)} problems")
    for col in ("problem", "where", "detail", "repaired"):
        table.add_column(col)
    for p in problems:
        table.add_row(p.kind, p.where, p.detail, "yes" if p.repaired else "no")
    console.print(table)
    if any(not p.repaired for p in problems):
        raise typer.Exit(1)


def _files_progress(description: str, run: Callable[[Callable, Callable], R]) -> R:
    """Drive a library function that reports (total) then one step per file."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(description, total=None)
        return run(
            lambda total: progress.update(task, total=total),
            lambda _name: progress.advance(task),
        )


@app.command()
def backup(
    dest: Annotated[
        Path, typer.Argument(help="Backup folder; a second backup adds only new files")
    ],
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove files the album no longer uses from DEST")
    ] = False,
    home: Home = None,
) -> None:
    """Back up the album while it runs: a consistent catalog copy plus new files."""
    from .backup import backup as run_backup

    album = _album(home)
    try:
        r = _files_progress(
            "Backing up",
            lambda start, step: run_backup(
                album, dest, prune=prune, on_start=start, on_progress=step
            ),
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"Backed up {r.pictures} pictures to {r.dest}: {r.copied} new files "
        f"({_human(r.copied_bytes)}), {r.kept} already there, {r.pruned} pruned, "
        f"in {r.seconds:.1f} s"
    )
    if r.deleted_meanwhile:
        console.print(f"{len(r.deleted_meanwhile)} pictures were deleted while it ran (left out)")
    for problem in r.damaged:
        err.print(f"[red]damaged:[/] {problem}")
    if r.damaged:
        raise typer.Exit(1)


@app.command()
def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by facealbum backup")],
    home: Home = None,
) -> None:
    """Restore a backup into an empty album (a new --home); re-run it if interrupted."""
    from .backup import restore as run_restore
    from .check import check_album

    album = _album(home)
    try:
        r = _files_progress(
            "Restoring",
            lambda start, step: run_restore(album, src, on_start=start, on_progress=step),
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(f"Restored {r.pictures} pictures ({r.copied} files) in {r.seconds:.1f} s")
    problems = r.problems + [f"{p.kind} {p.where}: {p.detail}" for p in check_album(album)]
    for problem in problems:
        err.print(f"[red]problem:[/] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print("[green]facealbum check: no problems found.[/]")


@app.command()
def export(
    set_name: Annotated[str, typer.Argument(help="The set to export")],
    dest: Annotated[Path, typer.Argument(help="A new folder (or an earlier export to finish)")],
    home: Home = None,
) -> None:
    """Write a set's originals with faces.json and faces.csv (names, faces, boxes)."""
    from .export import export_set

    album = _album(home)
    try:
        r = _files_progress(
            f"Exporting {set_name}",
            lambda start, step: export_set(album, set_name, dest, on_start=start, on_progress=step),
        )
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"Exported {r.pictures} pictures ({r.written} written, {r.skipped} already there) "
        f"and {r.faces} faces to {r.dest} in {r.seconds:.1f} s"
    )


@app.command()
def stats(
    home: Home = None,
    sets: Annotated[
        int, typer.Option("--sets", min=0, max=1000, help="Also list this many sets, newest first")
    ] = 0,
    after: Annotated[
        str | None, typer.Option("--after", help="List the sets after this cursor (--sets)")
    ] = None,
    storage: Annotated[
        bool,
        typer.Option("--storage", help="Measure both buckets in the blob store (reads every blob)"),
    ] = False,
) -> None:
    """Show the album's sets, pictures, faces and originals' size: a summary from counters
    kept as the album changes, whatever its size. --sets N lists sets a page at a time."""
    if not (sets or storage):
        # the counters alone: the catalog, not the album (whose face engine, index and
        # image libraries took ~2 s to import for a one-row read)
        from .wiring import make_catalog

        _summary(make_catalog(Settings.load(home=home)).stats(), storage)
        return
    album = _album(home)
    s = album.stats(storage=storage)
    if sets:
        try:
            found, following = album.sets_page("newest", sets, after)
        except AlbumError as exc:  # --after that no page gave
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
        table = Table(title=f"facealbum at {album.settings.home.resolve()}")
        table.add_column("set")
        table.add_column("pictures", justify="right")
        table.add_column("featured")
        for summary in found:
            table.add_row(
                summary.name,
                str(summary.picture_count),
                summary.featured.name if summary.featured else "-",
            )
        console.print(table)
        if following:
            console.print(f"more: --sets {sets} --after {following}", soft_wrap=True)
    _summary(s, storage)


def _summary(s: Stats, storage: bool) -> None:
    line = f"{s.sets} sets, {s.pictures} pictures, {s.faces} faces"
    line += f"; originals {_human(s.original_bytes)}"
    if storage:
        line += f", thumbnails and previews {_human(s.derived_bytes)}"
    console.print(line)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the catalog, each with its own face index kept "
            "in step through the catalog's change feed (default 1)",
        ),
    ] = None,
    home: Home = None,
) -> None:
    """Serve the album's web site and JSON API (OpenAPI at /docs)."""
    from .rekognition.keys import load_or_create_keys
    from .web.auth import load_or_create_secret
    from .web.serve import run
    from .wiring import open_album

    settings = Settings.load(home=home, host=host, port=port, web_workers=workers)
    _refuse_busy_port(settings)
    if settings.web_workers > 1 and not settings.workers:  # the cores shared among them
        share = max(1, (os.cpu_count() or 1) // settings.web_workers)
        settings = settings.model_copy(update={"workers": share})
    album = open_album(settings)  # migrations run here, once, before any worker starts
    secret, new = load_or_create_secret(settings)
    if new:
        console.print(
            f"[bold]Owner sign-in secret:[/] {secret}\n"
            f"(shown once; kept in {settings.home / 'owner-secret'}; "
            "set FACEALBUM_OWNER_SECRET to choose your own)"
        )
    load_or_create_keys(settings)  # made before any worker; shown by `rekognition keys`
    processes = settings.web_workers
    console.print(
        f"facealbum at {_http_url(settings)}  (data: {settings.home}"
        + (f", {processes} processes)" if processes > 1 else ")")
    )
    run(settings, album, processes)


def _http_url(settings: Settings) -> str:
    """The address to open, as RFC 3986 writes it: an IPv6 host in brackets."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def _refuse_busy_port(settings: Settings) -> None:
    from .web.serve import port_in_use

    if port_in_use(settings.host, settings.port):
        err.print(
            f"[red]error:[/] port {settings.port} on {settings.host} is in use (another "
            "facealbum?): choose another with --port or FACEALBUM_PORT",
            soft_wrap=True,
        )
        raise typer.Exit(2)


def _print_keys(settings: Settings, keys: tuple[str, str, bool]) -> None:
    if keys[2]:
        console.print(
            f"[bold]Rekognition keys:[/] AWS_ACCESS_KEY_ID={keys[0]} "
            f"AWS_SECRET_ACCESS_KEY={keys[1]}\n(shown once; kept in "
            f"{settings.home / 'rekognition-keys.json'})"
        )


rekognition = typer.Typer(help="facealbum as an AWS Rekognition endpoint (face collections).")
app.add_typer(rekognition, name="rekognition")


@rekognition.command("serve")
def rekognition_serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    home: Home = None,
) -> None:
    """Serve Rekognition's face-collection API (SigV4-signed, AWS JSON 1.1) from this album."""
    import uvicorn
    from fastapi import FastAPI

    from .rekognition.server import from_settings

    settings = Settings.load(home=home, host=host, port=port)
    _refuse_busy_port(settings)
    endpoint, keys = from_settings(settings)
    app_ = FastAPI(title="facealbum Rekognition", docs_url=None, redoc_url=None, openapi_url=None)
    app_.include_router(endpoint)
    _print_keys(settings, keys)
    console.print(f"Rekognition endpoint at {_http_url(settings)}")
    uvicorn.run(app_, host=settings.host, port=settings.port, log_level="warning")


@rekognition.command("keys")
def rekognition_keys(home: Home = None) -> None:
    """Print the key pair requests to the Rekognition endpoint (``facealbum rekognition
    serve``, or ``/rekognition`` on ``facealbum serve``) must be signed with, made on
    first use (kept 0600 in $FACEALBUM_HOME/rekognition-keys.json), or the one set by
    FACEALBUM_REKOGNITION_ACCESS_KEY_ID / _SECRET_ACCESS_KEY."""
    from .rekognition.keys import load_or_create_keys

    settings = Settings.load(home=home)
    key_id, secret, _new = load_or_create_keys(settings)
    console.print(f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}", soft_wrap=True)


faces_cli = typer.Typer(
    help="Face collections on the configured engine (local dlib or Rekognition): the "
    "original's maintenance scripts as commands."
)
app.add_typer(faces_cli, name="faces")


Collection = Annotated[
    str | None,
    typer.Argument(help="Collection id; default: the album's (FACEALBUM_REKOGNITION_COLLECTION)"),
]


@contextlib.contextmanager
def _faces(home: Path | None):
    """The configured faces port and the album's collection id; its errors end the
    command with their message."""
    from .wiring import make_faces

    settings = Settings.load(home=home)
    try:
        yield make_faces(settings), settings.rekognition_collection
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@faces_cli.command("collections")
def faces_collections(home: Home = None) -> None:
    """List the collections with their face counts."""
    table = Table("collection", "faces", "model")
    with _faces(home) as (faces, _):
        token = None
        while True:
            ids, token = faces.list_collections(1000, token)
            for cid in ids:
                info = faces.describe_collection(cid)
                table.add_row(cid, str(info.face_count), info.model_version)
            if not token:
                break
    console.print(table)


@faces_cli.command("create")
def faces_create(collection: Collection = None, home: Home = None) -> None:
    """Create a collection."""
    with _faces(home) as (faces, default):
        collection = collection or default
        faces.create_collection(collection)
    console.print(f"created {collection}")


@faces_cli.command("delete")
def faces_delete(
    collection: Annotated[str, typer.Argument(help="Collection id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
    home: Home = None,
) -> None:
    """Delete a collection and every face in it (the album's own needs a reindex after)."""
    with _faces(home) as (faces, _):
        count = faces.describe_collection(collection).face_count
        if not yes and not typer.confirm(f"Delete {collection} and its {count} faces?"):
            raise typer.Exit(1)
        faces.delete_collection(collection)
    console.print(f"deleted {collection} ({count} faces)")


@faces_cli.command("count")
def faces_count(collection: Collection = None, home: Home = None) -> None:
    """How many faces a collection holds."""
    with _faces(home) as (faces, default):
        collection = collection or default
        count = faces.describe_collection(collection).face_count
    console.print(f"{collection}: {count} faces")


@faces_cli.command("list")
def faces_list(
    collection: Collection = None,
    limit: Annotated[int, typer.Option(help="At most this many faces")] = 100,
    home: Home = None,
) -> None:
    """List a collection's faces: id, external image id, box, confidence."""
    table = Table("face id", "external image id", "box (left, top, width, height)", "confidence")
    found: list = []
    with _faces(home) as (faces, default):
        collection = collection or default
        token = None
        while len(found) < limit:
            page, token = faces.list_faces(collection, min(1000, limit), token)
            found += page
            if not token:
                break
    for f in found[:limit]:
        b = f.box
        box = f"{b.left:.3f}, {b.top:.3f}, {b.width:.3f}, {b.height:.3f}"
        table.add_row(f.face_id, f.external_image_id or "-", box, f"{f.confidence:.1f}")
    console.print(table)


faces_cli.command("reindex")(reindex)


sets_cli = typer.Typer(help="Picture sets: big changes run as resumable jobs.")
app.add_typer(sets_cli, name="sets")
NoWait = Annotated[
    bool,
    typer.Option(
        "--no-wait", help="Only queue the job: a running server or `facealbum worker` runs it"
    ),
]


def _follow_set_job(album, job: dict, wait: bool, verb: str) -> None:
    """Run the job here (or follow the process that runs it) with a progress bar, or
    just say it is queued."""
    if not wait:
        console.print(
            f"{verb} set {job['set']!r} as job {job['id']} ({job['total']} pictures); "
            "a running server or `facealbum worker` does it"
        )
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{verb} {job['set']}", total=job["total"] or None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=max(total, done) or None)

        final = album.wait_set_job(job["id"], step)
    console.print(f"{verb.replace('ing', 'ed')} {job['set']!r}: {final['done']} pictures")


@sets_cli.command("delete")
def sets_delete(name: str, no_wait: NoWait = False, home: Home = None) -> None:
    """Delete a set with its pictures, in batches, showing progress; resumable (run it
    again, or a server picks it up, after an interruption). Visitors stop seeing the
    set at once."""
    album = _album(home)
    try:
        job = album.start_delete_set(name) if no_wait else album.start_delete_set_here(name)
        _follow_set_job(album, job, not no_wait, "Deleting")
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@sets_cli.command("rename")
def sets_rename(old: str, new: str, no_wait: NoWait = False, home: Home = None) -> None:
    """Rename a set; its pictures follow (DynamoDB moves them one by one: resumable)."""
    album = _album(home)
    try:
        job = album.start_rename_set(old, new, queue=no_wait)
        _follow_set_job(album, job, not no_wait, "Renaming")
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


@sets_cli.command("jobs")
def sets_jobs(home: Home = None) -> None:
    """The jobs not finished yet (sets being deleted or renamed, a reindex), with their
    progress."""
    album = _album(home)
    table = Table("job", "change", "set", "state", "done", "error")
    for j in album.set_jobs():
        change = f"rename to {j['to']!r}" if j["kind"] == "rename" else j["kind"]
        table.add_row(j["id"], change, j["set"] or "(all)", j["state"], f"{j['done']}/{j['total']}",
                      j["error"] or "")  # fmt: skip
    console.print(table)


people_cli = typer.Typer(help="People: the album's faces grouped into persons.")
app.add_typer(people_cli, name="people")


@people_cli.command("recluster")
def people_recluster(home: Home = None) -> None:
    """Group every face again (the owner's decisions and people's names are kept); as
    the regrouping after a batch does, and never beside one."""
    from .people import regroup

    album = _album(home)
    with _progress() as progress:
        task = progress.add_task("Comparing faces", total=None, rate="-", faces=0)
        report = regroup.run_now(
            album,
            on_start=lambda total: progress.reset(task, total=total),
            on_progress=lambda: progress.advance(task),
        )
    if report is None:
        now = regroup.status(album)
        until = datetime.fromtimestamp(now["lease_until"], UTC).strftime("%H:%M:%S")
        console.print(
            f"A regrouping is running already ({now['done']} of {now['total']} faces "
            "compared); it runs once more when it ends. If its process was stopped, its "
            f"claim runs out at {until} UTC: a running server then regroups by itself, or "
            "run this again after that."
        )
        return
    console.print(
        f"{report.people} people from {report.faces} faces ({report.too_small} too small "
        f"to judge, left unassigned); {report.changed} faces moved, in {report.seconds:.1f} s"
    )


@people_cli.command("mirror")
def people_mirror(home: Home = None) -> None:
    """Make the face collection's users match the album's persons again (after the
    face engine was unreachable: each change mirrors its own persons as it goes)."""
    from .people.users_mirror import mirror

    album = _album(home)
    with console.status("Mirroring people as users"):
        r = mirror(album)
    console.print(
        f"{r.users} people mirrored as users: {r.associated} faces associated, "
        f"{r.disassociated} disassociated, {r.deleted} users of gone persons deleted"
    )


@people_cli.command("list")
def people_list(home: Home = None) -> None:
    """Every person with its faces and pictures."""
    album = _album(home)
    table = Table("person", "name", "faces", "pictures", "hidden")
    for p in album.catalog.list_people():
        table.add_row(p.person_id, p.name or "-", str(p.face_count), str(p.picture_count),
                      "yes" if p.hidden else "")  # fmt: skip
    console.print(table)


def _aws_cli() -> typer.Typer:
    from .aws.cli import aws_cli

    return aws_cli


app.add_typer(_aws_cli(), name="aws")


@app.command()
def worker(home: Home = None) -> None:
    """Process queued uploads in the foreground (serve also does this by itself)."""
    import threading

    album = _album(home)
    console.print(f"facealbum worker: {album.queue.pending()} jobs queued; Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        album.run_jobs(threading.Event())


if __name__ == "__main__":  # pragma: no cover
    app()
