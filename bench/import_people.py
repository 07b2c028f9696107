"""People right after an import, without a manual step: placement one photo at a time
(today's rule and the average-linkage rule) against the regrouping an import now ends
with.

    python -m bench.import_people DIR [DIR…] [--base REV] [--workers N]

Each DIR holds <person>/*.jpg (a photo labels its largest face; its other faces are
grouped but not scored). The folders are imported once into a temporary album with no
regrouping; then, for each placement rule, the album's people are cleared and every
photo's faces placed in the import's order (by name), and scored; last, the full
regrouping the import now runs at its end (people/regroup.py → recluster) is scored.
"Today" is place_faces as it was at ``--base`` (read from git), run on the same album
in the same process, so both rules see the same faces and similarities.

Scores: pairwise precision, recall and F1 over the labelled faces, and people found
against the true number.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

from bench.common import machine
from facealbum.importer import import_folder
from facealbum.people import grouping
from facealbum.settings import Settings
from facealbum.wiring import open_album


def today_place_faces(base: str) -> Callable:
    """place_faces as it was at git revision ``base``."""
    root = Path(__file__).resolve().parent.parent
    code = subprocess.run(
        ["git", "show", f"{base}:facealbum/people/grouping.py"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("facealbum.people.grouping_then")
    module.__package__ = "facealbum.people"
    sys.modules[module.__name__] = module  # (dataclasses look their module up)
    exec(compile(code, f"{base}:grouping.py", "exec"), module.__dict__)
    return module.place_faces


def labels(album, set_name: str) -> dict[str, str]:
    """Largest face of each photo -> the person its folder names."""
    out = {}
    for p in album.get_set(set_name)[1]:
        if p.faces:
            face = max(p.faces, key=lambda f: f.box.width * f.box.height)
            out[face.face_id] = p.name.split("/")[-2]
    return out


def score(album, truth: dict[str, str]) -> tuple[float, float, float, int]:
    found = {f: p for f, (p, _) in album.catalog.face_assignments().items() if f in truth}
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same = truth[a] == truth[b]
        grouped = found.get(a) is not None and found.get(a) == found.get(b)
        tp += same and grouped
        fp += grouped and not same
        fn += same and not grouped
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, len({p for p in found.values() if p})


def clear(album) -> None:
    catalog = album.catalog
    catalog.assign_faces(dict.fromkeys(catalog.face_assignments()), by_owner=False)
    for person in catalog.list_people():
        catalog.delete_person(person.person_id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--base", default="13c0904", help="git revision of today's place_faces")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--home", type=Path, help="keep the imported album here (reused if there)")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="import-people-"))
    album = open_album(Settings(home=home / "album"))
    started = time.perf_counter()
    for folder in args.folders:
        import_folder(album, folder, folder.name, workers=args.workers, regroup=False)
    imported = time.perf_counter() - started  # (a re-run into a kept album: skips all)
    truth: dict[str, str] = {}
    order = []
    for summary in album.sets():
        truth |= {f: f"{summary.name}/{p}" for f, p in labels(album, summary.name).items()}
        order += sorted(album.get_set(summary.name)[1], key=lambda p: p.name)
    print(f"# {machine()}")
    print(f"{len(order)} photos, {len(truth)} labelled faces, {len(set(truth.values()))} "
          f"people; imported in {imported:.0f} s")  # fmt: skip
    print(f"| after the import | precision | recall | F1 | people found (of {len(set(truth.values()))}) |")  # noqa: E501
    print("|---|---|---|---|---|")
    rules = {"placed one by one, today's rule (look-alikes' weight)": today_place_faces(args.base),
             "placed one by one, average linkage (this change)": grouping.place_faces}  # fmt: skip
    for name, place in rules.items():
        clear(album)
        for picture in order:
            place(album, album.catalog.get_picture(picture.image_id))
        p, r, f1, n = score(album, truth)
        print(f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {n} |")
    grouping.recluster(album)
    p, r, f1, n = score(album, truth)
    print(f"| then the regrouping the import ends with (recluster) | {p:.3f} | {r:.3f} | {f1:.3f} | {n} |")  # noqa: E501
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
