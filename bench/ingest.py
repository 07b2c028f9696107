"""Import throughput next to the compute limit and the face_recognition loop.

    python bench/ingest.py [--folder ../shared/faces] [--min-photos 200] [--base DIR]

1. Pipeline: `import_folder` on a corpus of >= min-photos files (the folder's photos
   repeated, each copy after the first made another photo by a corner strip
   (common.other_pixels) so none is skipped as a duplicate),
   people placement, sharpness and the final regrouping included.
2. The popular `face_recognition` loop (load_image_file, face_locations, face_encodings)
   over the same photos in one process, as its README shows it, with the faces found.
   Each round runs both, back to back, in alternating order: the machine's speed (and
   other people's load on it) drifts from minute to minute, so each round's ratio is
   taken between neighbours and the median round's ratio is the figure. The faces the
   import found are checked photo by photo against the loop's.
Each side runs in a process of its own, started from this one (one session, so the
kernel's autogroup scheduling treats both alike), and besides its wall clock its CPU
seconds per photo are measured: user + system time of all its processes (the import's
workers included), which other people's load on the machine moves far less than the
wall clock. ``--base DIR`` imports with the code in DIR too (a checkout of the code
before a change), in the same rounds: before and after side by side.

3. With ``--limit``, the compute limit as well: every stage of our pipeline (decode,
   thumbnail + preview, detect, embed) timed photo by photo, in one process per core at
   once, so the cores are as busy as during the import. Photos per second each process
   manages, summed, is what the cores allow if nothing else costs time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine, median, other_pixels  # noqa: E402

from facealbum.imaging import SUFFIXES, bounded, decode, detection_array, jpeg_bytes  # noqa: E402
from facealbum.settings import Settings  # noqa: E402
from facealbum.wiring import make_engine  # noqa: E402


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
            data = p.read_bytes()
            (dest / name).write_bytes(other_pixels(data, copy) if copy else data)
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


ROOT = Path(__file__).resolve().parent.parent

# what each side's process runs: its result as one JSON line on stdout
IMPORT_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album

if __name__ == "__main__":
    album = open_album(Settings(home=Path(sys.argv[3])))
    stamps = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    report = import_folder(album, Path(sys.argv[2]), "bench", workers=int(sys.argv[4]),
                           on_progress=lambda _: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    print(json.dumps({"wall": wall, "parent_cpu": time.process_time() - cpu0,
                      "first": stamps[0] - t0, "last": t0 + wall - stamps[-1],
                      "steady": stamps[-1] - stamps[int(sys.argv[4]) - 1],
                      "outcomes": [(o.name, o.status, o.faces, o.reason)
                                   for o in report.outcomes]}))
"""
LOOP_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from ingest import face_recognition_loop
wall, faces = face_recognition_loop([__import__("pathlib").Path(p) for p in sys.argv[2:]])
print(json.dumps({"wall": wall, "faces": faces}))
"""


def child(code: str, *args: str) -> tuple[dict, float]:
    """Run ``code`` in a new process (this session's, as a user's command would run);
    (its JSON result, CPU seconds of it and all its children: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(out.stdout.strip().splitlines()[-1]), cpu


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
    ap.add_argument("--base", type=Path, help="a checkout of the code before: imported too")
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
    codes = {"now": ROOT} | ({"base": args.base.resolve()} if args.base else {})
    results: dict[str, list[dict]] = {k: [] for k in [*codes, "loop"]}
    for r in range(args.rounds):
        # alternate the order, so that no side always has the machine's later minutes
        sides = [*codes, "loop"] if not args.skip_face_recognition else [*codes]
        for side in sides if r % 2 == 0 else sides[::-1]:
            if side == "loop":
                results["loop"].append(loop_round(photos))
            else:
                home = Path(tmp) / f"home-{side}-{r}"
                results[side].append(
                    import_round(codes[side], corpus, home, args.workers, made, side)
                )
        if args.limit:
            rate = results["now"][-1]["rate"]
            compute_limit(photos, Settings(home=Path(tmp) / "limit"), args.workers, rate)
    summary(results, len(photos), total)


def summary(results: dict[str, list[dict]], distinct: int, total: int) -> None:
    """Each round's ratios between neighbours, and the median round's."""
    loops = results.get("loop") or []
    print(f"\nsummary ({len(next(iter(results.values())))} rounds; load average {load()}):")
    for side, rounds in results.items():
        if side == "loop" or not rounds:
            continue
        walls = [x["rate"] for x in rounds]
        cpus = [x["cpu_ms"] for x in rounds]
        line = (
            f"  import ({side}): {median(walls):.2f} photos/s, CPU {median(cpus):.0f} ms "
            f"per photo (parent {median([x['parent_ms'] for x in rounds]):.1f})"
        )
        if loops:
            ratios = [x["rate"] / y["rate"] for x, y in zip(rounds, loops, strict=True)]
            cpu_ratios = [y["cpu_ms"] / x["cpu_ms"] for x, y in zip(rounds, loops, strict=True)]
            differ = {  # the faces found, photo by photo: (import, loop); a photo the
                # import skipped as a copy of another has its faces there
                k: (x["faces"][k], y["faces"][k])
                for x, y in zip(rounds, loops, strict=True)
                for k in x["faces"]
                if x["faces"][k] != y["faces"][k]
            }
            line += (
                f"; import / loop {median(ratios):.2f}x wall (rounds "
                + " / ".join(f"{x:.2f}" for x in ratios)
                + f"), loop CPU / import CPU per photo {median(cpu_ratios):.2f} (rounds "
                + " / ".join(f"{x:.2f}" for x in cpu_ratios)
                + f"); photos whose faces differ (import, loop): {differ or 'none'}"
            )
        print(line)
    if loops:
        print(
            f"  face_recognition loop: {median([x['rate'] for x in loops]):.2f} photos/s, "
            f"CPU {median([x['cpu_ms'] for x in loops]):.0f} ms per photo ({distinct} photos)"
        )


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def import_round(
    code: Path, corpus: Path, home: Path, workers: int, made: dict[str, Path], side: str
) -> dict:
    """One import of the corpus into a fresh album by the code in ``code``: its rate,
    CPU per photo, and the faces it found per distinct photo (every copy must agree)."""
    out, cpu = child(IMPORT_CHILD, str(code), str(corpus), str(home), str(workers))
    total = len(made)
    failures = [o for o in out["outcomes"] if o[1] == "failed"]
    assert not failures, failures
    faces: dict[str, int] = {}
    for name, status, found, _ in out["outcomes"]:
        if status != "imported":  # the same content as another photo: found there
            continue
        source = str(made[name])
        assert faces.setdefault(source, found) == found, (name, found, faces[source])
    wall = out["wall"]
    rate = total / wall
    steady = (total - workers) / out["steady"]
    print(
        f"\nimport ({side}): {total} photos in {wall:.1f} s with {workers} workers = "
        f"{rate:.2f} photos/s, {sum(faces.values())} faces on {len(faces)} contents; "
        f"{steady:.2f} photos/s after the workers' start ({out['first']:.1f} s to the "
        f"first, {out['last']:.1f} s after the last: the regrouping); CPU "
        f"{cpu / total * 1000:.0f} ms per photo (all its processes, from the command's "
        f"start), of which the parent process during the import "
        f"{out['parent_cpu'] / total * 1000:.1f}; load average {load()}"
    )
    return {
        "rate": rate,
        "faces": faces,
        "cpu_ms": cpu / total * 1000,
        "parent_ms": out["parent_cpu"] / total * 1000,
    }


def loop_round(photos: list[Path]) -> dict:
    out, cpu = child(LOOP_CHILD, str(Path(__file__).resolve().parent), *map(str, photos))
    rate = len(photos) / out["wall"]
    print(
        f"\nface_recognition loop: {rate:.2f} photos/s, {sum(out['faces'].values())} faces "
        f"on {len(photos)} photos; CPU {cpu / len(photos) * 1000:.0f} ms per photo; load "
        f"average {load()}"
    )
    return {"rate": rate, "faces": out["faces"], "cpu_ms": cpu / len(photos) * 1000}


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
