"""`facealbum aws …`: thin commands over facealbum.aws.deploy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..domain import AlbumError
from ..settings import Settings

aws_cli = typer.Typer(
    help="The original's serverless shape on AWS: package, deploy, and fill it. Endpoints "
    "and credentials come from the standard AWS configuration (AWS_PROFILE, AWS_REGION…)."
)


def _console():
    from ..cli import console, err

    return console, err


@aws_cli.command("package")
def package_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the zip")] = Path("dist"),
) -> None:
    """Build the functions' zip (no dlib: Rekognition does the faces)."""
    from .deploy import package

    console, _ = _console()
    path = package(out, on_step=lambda s: console.print(f"[dim]{s}[/]"))
    console.print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


@aws_cli.command("deploy")
def deploy_cmd(
    stack: Annotated[str, typer.Option("--stack", help="CloudFormation stack name")],
    prefix: Annotated[str, typer.Option(help="Names the buckets and tables; default: stack")] = "",
    collection: Annotated[str, typer.Option(help="Rekognition collection")] = "facealbum",
    zip_path: Annotated[
        Path | None, typer.Option("--package", help="A zip from `aws package`; default: build")
    ] = None,
) -> None:
    """Create or update the stack and upload the site. The owner's secret comes from
    FACEALBUM_OWNER_SECRET."""
    from .deploy import deploy, package

    console, err = _console()
    secret = os.environ.get("FACEALBUM_OWNER_SECRET", "")
    if len(secret) < 12:
        err.print("[red]error:[/] set FACEALBUM_OWNER_SECRET (12 characters or more)")
        raise typer.Exit(2)
    step = lambda s: console.print(f"[dim]{s}[/]")  # noqa: E731
    try:
        zip_path = zip_path or package(Path("dist"), on_step=step)
        done = deploy(stack, prefix or stack, secret, zip_path, collection, on_step=step)
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"stack {done.stack}")
    table.add_column("output")
    table.add_column("value")
    for k, v in {**done.outputs, "ApiUrl": done.api_url or "-"}.items():
        table.add_row(k, v)
    console.print(table)


@aws_cli.command("import")
def import_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of photos, read recursively")],
    set_name: Annotated[str, typer.Option("--set", help="Picture set")],
    workers: Annotated[int, typer.Option(help="Uploads at once")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for processing")] = 1800,
    nudge_after: Annotated[
        float, typer.Option(help="Seconds without a verdict before S3 is asked to notify again")
    ] = 60,
) -> None:
    """Upload a folder to the originals bucket as SET/FILE and wait until the upload
    function has processed every photo (FACEALBUM_BLOB_STORE and
    FACEALBUM_DATABASE_URL name the deployed buckets and tables)."""
    from ..wiring import open_album
    from .deploy import upload_folder

    console, err = _console()
    try:
        album = open_album(Settings.load())
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    failed = []
    with Progress(*columns, console=console) as progress:
        sent = progress.add_task("uploaded", total=None)
        done = progress.add_task("processed", total=None)

        def start(total: int) -> None:
            progress.update(sent, total=total)
            progress.update(done, total=total)

        def finished(d) -> None:
            progress.advance(done)
            if d.status == "failed":
                failed.append(d)
                progress.console.print(f"[red]failed[/] {d.key}: {d.error}")

        try:
            results = upload_folder(
                album, folder, set_name, workers=workers, timeout=timeout,
                nudge_after=nudge_after, on_start=start,
                on_uploaded=lambda d: progress.advance(sent), on_done=finished,
            )  # fmt: skip
        except AlbumError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
    counts = {s: sum(r.status == s for r in results) for s in ("added", "duplicate", "failed")}
    waiting = sum(r.status == "waiting" for r in results)
    console.print(
        f"{counts['added']} added, {counts['duplicate']} already there, {counts['failed']} "
        f"failed, {waiting} still waiting"
    )
    if failed or waiting:
        raise typer.Exit(1)


@aws_cli.command("migrate")
def migrate_cmd(
    prefix: Annotated[str, typer.Option(help="The deployed stack's prefix")],
    collection: Annotated[str, typer.Option(help="Rekognition collection")] = "facealbum",
    home: Annotated[Path | None, typer.Option(help="The embedded album (FACEALBUM_HOME)")] = None,
) -> None:
    """Copy an embedded album to the deployed buckets and tables: pictures keep their
    ids; faces are indexed again by Rekognition (the one thing recomputed); people,
    the owner's placements and "not this person" answers follow the faces."""
    from ..migrate import migrate
    from ..wiring import open_album

    console, err = _console()
    source_settings = Settings.load(home=home)
    target_settings = source_settings.model_copy(
        update={
            "blob_store": f"s3://{prefix}",
            "database_url": f"dynamodb://{prefix}-",
            "face_engine": "rekognition",
            "rekognition_collection": collection,
        }  # fmt: skip
    )
    try:
        source, target = open_album(source_settings), open_album(target_settings)
    except AlbumError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    total = source.stats().pictures
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("migrating", total=total)
        people = progress.add_task("Grouping people", total=None, visible=False)
        report = migrate(
            source, target, lambda p, s: progress.advance(task),
            on_grouping_start=lambda n: progress.reset(people, total=n, visible=True),
            on_grouping_progress=lambda: progress.advance(people),
        )  # fmt: skip
    console.print(
        f"{report.sets} sets, {report.copied} pictures copied ({report.skipped} there "
        f"already), {report.faces} faces {'indexed again' if report.reindexed else 'kept'}, "
        f"{report.people} people with {report.placed} faces placed, in {report.seconds:.1f} s"
    )
