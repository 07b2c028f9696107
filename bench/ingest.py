"""Import throughput next to the compute limit and the face_recognition loop.

    python bench/ingest.py [--folder ../shared/faces] [--min-photos 200]

1. Pipeline: `import_folder` on a corpus of >= min-photos files (the folder's photos
   repeated, each copy made distinct by trailing bytes so none is skipped as a duplicate),
   people placement, sharpness and the final regrouping included.
2. The popular `face_recognition` loop (load_image_file, face_locations, face_encodings)
   over the same photos in one process, as its README shows it, with the faces found.
   Each round runs both, back to back, in alternating order: the machine's speed (and
   other people's load on it) drifts from minute to minute, so each round's ratio is
   taken between neighbours and the median round's ratio is the figure. The faces the
   import found are checked photo by photo against the loop's.
3. With ``--limit``, the compute limit as well: every stage of our pipeline (decode,
   thumbnail + preview, detect, embed) timed photo by photo, in one process per core at
   once, so the cores are as busy as during the import. Photos per second each process
   manages, summed, is what the cores allow if nothing else costs time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine, median  # noqa: E402

from facealbum.imaging import SUFFIXES, bounded, decode, detection_array, jpeg_bytes  # noqa: E402
from facealbum.importer import import_folder  # noqa: E402
from facealbum.settings import Settings  # noqa: E402
from facealbum.wiring import make_engine, open_album  # noqa: E402


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def camera_size(photos: list[Path], megapixels: float, dest: Path) -> list[Path]:
    """The photos enlarged to a camera's size (JPEG, quality 90), like a phone's."""
    import math

    from PIL import Image, ImageOps

    dest.mkdir()
    out = []
    for i, p in enumerate(photos):
        img = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
        k = math.sqrt(megapixels * 1e6 / (img.width * img.height))
        big = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.BICUBIC)
        target = dest / f"{i:03d}-{p.stem}.jpg"
        big.save(target, "JPEG", quality=90)
        out.append(target)
    return out


def make_corpus(photos: list[Path], minimum: int, dest: Path) -> dict[str, Path]:
    """At least ``minimum`` files, copies of ``photos``: file name -> the photo copied."""
    if not photos:
        raise SystemExit("no photos to make a corpus of")
    made: dict[str, Path] = {}
    copy = 0
    while len(made) < minimum:
        for p in photos:
            name = f"{copy:02d}-{len(made):05d}{p.suffix}"
            (dest / name).write_bytes(p.read_bytes() + b"\0" * copy)
            made[name] = p
        copy += 1
    return made


def stage_times(photos: list[Path], settings: Settings) -> dict[str, list[float]]:
    engine = make_engine(settings)
    engine.analyze(__import__("numpy").zeros((64, 64, 3), "uint8"))  # load the models first
    times: dict[str, list[float]] = {k: [] for k in ("decode", "thumbnail", "detect", "embed")}
    faces: dict[str, int] = {}
    need = max(settings.detect_size, *settings.preview_size)
    for p in photos:
        data = p.read_bytes()
        t0 = time.perf_counter()
        dec = decode(data, need, settings.max_pixels)
        t1 = time.perf_counter()
        preview = bounded(dec.image, settings.preview_size)
        jpeg_bytes(preview, settings.jpeg_quality)
        jpeg_bytes(bounded(preview, settings.thumb_size), settings.jpeg_quality)
        t2 = time.perf_counter()
        source = preview if max(preview.size) >= settings.detect_size else dec.image
        rgb, _ = detection_array(source, settings.detect_size, settings.detect_max_upscale)
        found = engine.detect(rgb)
        t3 = time.perf_counter()
        faces[str(p)] = len(engine.embed(rgb, found))
        t4 = time.perf_counter()
        for k, a, b in (
            ("decode", t0, t1),
            ("thumbnail", t1, t2),
            ("detect", t2, t3),
            ("embed", t3, t4),
        ):
            times[k].append(b - a)
    return times, faces


def busy_stage_times(
    photos: list[Path], settings: Settings, workers: int
) -> tuple[list[dict[str, list[float]]], dict[str, int]]:
    """Stage times measured in ``workers`` processes at once, so that each core is timed
    as busy as the import keeps it (two busy vCPUs are slower than one busy, one idle)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        runs = list(pool.map(stage_times, [photos] * workers, [settings] * workers))
    return [t for t, _ in runs], runs[0][1]


def face_recognition_loop(photos: list[Path]) -> tuple[float, dict[str, int]]:
    import face_recognition

    faces = {}
    t0 = time.perf_counter()
    for p in photos:
        image = face_recognition.load_image_file(str(p))
        locations = face_recognition.face_locations(image)
        faces[str(p)] = len(face_recognition.face_encodings(image, locations))
    return time.perf_counter() - t0, faces


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--folder", type=Path, default=SHARED)
    ap.add_argument("--min-photos", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-face-recognition", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--megapixels", type=float, default=0, help="enlarge photos to this size first")
    ap.add_argument("--limit", action="store_true", help="measure the compute limit too")
    args = ap.parse_args()
    photos = photos_in(args.folder)
    if not photos:
        raise SystemExit(f"no photos in {args.folder} (--folder)")
    print(f"machine: {machine()}")
    print(f"photos: {len(photos)} distinct in {args.folder}")

    tmp_dir = tempfile.TemporaryDirectory()  # lives until the end: the loops below read it
    tmp = tmp_dir.name
    if args.megapixels:
        photos = camera_size(photos, args.megapixels, Path(tmp) / "camera")
        print(f"enlarged to {args.megapixels:g} MP JPEGs")
    corpus = Path(tmp) / "corpus"
    corpus.mkdir()
    made = make_corpus(photos, args.min_photos, corpus)
    total = len(made)
    print(f"corpus: {total} files; {args.workers} workers; load average {load()}")
    rounds = []
    for r in range(args.rounds):
        # alternate the order, so that neither side always has the machine's later minutes
        if r % 2 and not args.skip_face_recognition:
            fr = face_recognition_round(photos)
        settings = Settings(home=Path(tmp) / f"home{r}")
        imported = import_round(settings, corpus, total, args.workers, made)
        if not r % 2 and not args.skip_face_recognition:
            fr = face_recognition_round(photos)
        rate = imported["rate"]
        if not args.skip_face_recognition:
            fr_rate, theirs = fr
            ratio = rate / fr_rate
            diff = {
                k: (imported["faces"][k], theirs[k])
                for k in imported["faces"]
                if imported["faces"][k] != theirs[k]
            }
            print(
                f"  face_recognition loop: {fr_rate:.2f} photos/s, {sum(theirs.values())} "
                f"faces on {len(photos)} photos; import / loop = {ratio:.2f}x; photos whose "
                f"faces differ (import, loop): {diff or 'none'}; load average {load()}"
            )
            rounds.append((ratio, rate, fr_rate))
        if args.limit:
            compute_limit(photos, settings, args.workers, rate)
    if rounds:
        ratio, rate, fr_rate = sorted(rounds)[len(rounds) // 2]
        print(
            f"\nmedian round: import {rate:.2f} photos/s, face_recognition loop "
            f"{fr_rate:.2f} photos/s: {ratio:.2f}x (rounds "
            + " / ".join(f"{x[0]:.2f}" for x in rounds)
            + ")"
        )


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def import_round(
    settings: Settings, corpus: Path, total: int, workers: int, made: dict[str, Path]
) -> dict:
    """One import of the corpus into a fresh album: its rate, and the faces it found per
    distinct photo (every copy must agree)."""
    album = open_album(settings)
    stamps: list[float] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = import_folder(
        album,
        corpus,
        "bench",
        workers=workers,
        on_progress=lambda _, stamps=stamps: stamps.append(time.perf_counter()),
    )
    wall = time.perf_counter() - t0
    # what this process (stores, catalog rows, people placement, the regrouping)
    # takes from the cores the workers share: load-independent, unlike the wall clock
    parent_ms = (time.process_time() - cpu0) / total * 1000
    assert not report.failures, report.failures
    faces: dict[str, int] = {}
    for o in report.outcomes:
        if o.status != "imported":  # the same content as another photo: found there
            continue
        source = str(made[o.name])
        assert faces.setdefault(source, o.faces) == o.faces, (o.name, o.faces, faces[source])
    rate = total / wall
    # throughput once both workers run: the start (spawn, imports, models) excluded
    steady = (total - workers) / (stamps[-1] - stamps[workers - 1])
    print(
        f"\nimport: {total} photos in {wall:.1f} s with {workers} workers = {rate:.2f} "
        f"photos/s, {report.faces} faces, {report.count('skipped')} skipped; "
        f"{steady:.2f} photos/s after the workers' start ({stamps[0] - t0:.1f} s to the "
        f"first, {t0 + wall - stamps[-1]:.1f} s after the last: the regrouping); parent "
        f"process CPU {parent_ms:.1f} ms per photo"
    )
    return {"rate": rate, "faces": faces}


def face_recognition_round(photos: list[Path]) -> tuple[float, dict[str, int]]:
    seconds, theirs = face_recognition_loop(photos)
    return len(photos) / seconds, theirs


def compute_limit(photos: list[Path], settings: Settings, workers: int, rate: float) -> None:
    runs, _ = busy_stage_times(photos, settings, workers)
    limit = sum(len(photos) / sum(map(sum, t.values())) for t in runs)
    times = {k: [x for t in runs for x in t[k]] for k in runs[0]}
    limit_median = workers / sum(median(ts) for ts in times.values())
    print(f"  stage times per photo, {workers} cores busy (median / mean ms):")
    for k, ts in times.items():
        print(f"    {k:9s} {median(ts) * 1000:7.1f} / {sum(ts) / len(ts) * 1000:7.1f}")
    print(
        f"  compute limit with {workers} cores: {limit:.2f} photos/s from mean stage "
        f"times ({limit_median:.2f} from medians); import / limit = {rate / limit:.2f}"
    )


if __name__ == "__main__":
    main()
