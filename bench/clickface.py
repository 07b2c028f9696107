"""Click-face accuracy on a harder labelled set of our own, thresholds chosen by
cross-validation across people (issue 10, point 7).

    python -m bench.clickface [DIR]     # DIR/<person>/*.jpg; default ../shared/faces/people

The set: every labelled photo as it is, mirrored, and as a "scan of an old print":
grayscale, shrunk so the face is about 100 px, JPEG at quality 60. Each variant is a
picture of its own, labelled with its person. Two conditions are scored:

- mixed: every picture (originals, mirrors and scans together);
- scans: only the scans, searched among the scans (all faces small, gray, alike; the
  harsh held-out set's conditions).

For each labelled face, the click-face search ranks the other pictures (one entry per
picture). Two ways to cut the ranking are compared:

- global: a fixed similarity threshold (Rekognition's scale);
- cohort (Z-norm): the score minus the mean, over the standard deviation, of the
  query's similarities to its cohort (its 30th to 300th best pictures, nearly all
  other people), as speaker and face verification normalise scores; the threshold is
  on that z.

Each threshold is chosen on the training people of a 5-fold split (the best F0.5 on
them) and scored on the held-out people.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from bench.common import SHARED, machine
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album

COHORT = (30, 300)
SCAN_SIDE = 180  # px: faces of about 70-100 px


def make_set(src: Path, dest: Path) -> None:
    for photo in sorted(src.glob("*/*.jpg")):
        person = photo.parent.name
        out = dest / person
        out.mkdir(parents=True, exist_ok=True)
        img = ImageOps.exif_transpose(Image.open(photo)).convert("RGB")
        img.save(out / f"{photo.stem}__orig.jpg", quality=92)
        ImageOps.mirror(img).save(out / f"{photo.stem}__mirror.jpg", quality=92)
        scan = ImageOps.grayscale(img)
        k = SCAN_SIDE / max(scan.size)  # the crops here are 150-400 px, mostly face
        scan = scan.resize((max(1, round(scan.width * k)), max(1, round(scan.height * k))))
        scan = scan.filter(ImageFilter.GaussianBlur(0.8))  # an old print's softness
        buf = io.BytesIO()
        scan.save(buf, "JPEG", quality=50)
        (out / f"{photo.stem}__scan.jpg").write_bytes(buf.getvalue())


@dataclass
class Query:
    person: str
    variant: str
    ranked: list[tuple[str, str, float]]  # (person, variant, similarity), best first
    z: list[float]


def queries(album) -> list[Query]:
    pictures = album.get_set("hard")[1]
    label = {p.image_id: (p.name.split("/")[0], p.name.rsplit("__", 1)[-1][:-4]) for p in pictures}
    out = []
    for p in pictures:
        if not p.faces:
            continue
        face = max(p.faces, key=lambda f: f.box.width * f.box.height)
        found = album.search(face.face_id, threshold=0, limit=5000).matches
        ranked = [(*label[m.picture.image_id], m.similarity) for m in found[1:]]
        sims = np.array([s for *_, s in ranked] or [0.0])
        cohort = sims[COHORT[0] : COHORT[1]]
        mu, sd = (cohort.mean(), cohort.std() + 1e-6) if len(cohort) > 10 else (0.0, 1.0)
        out.append(Query(*label[p.image_id], ranked, [(s - mu) / sd for s in sims.tolist()]))
    return out


def score(qs: list[Query], cut: float, use_z: bool, keep) -> tuple[float, float]:
    """Precision and recall over the queries, among the pictures ``keep`` admits."""
    tp = fp = fn = 0
    for q in qs:
        for (person, variant, sim), z in zip(q.ranked, q.z, strict=False):
            if not keep(variant):
                continue
            hit = (z if use_z else sim) >= cut
            same = person == q.person
            tp += hit and same
            fp += hit and not same
            fn += same and not hit
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def choose(qs: list[Query], use_z: bool, keep, beta: float = 0.5) -> float:
    """The cut with the best F-beta on the training people (beta 0.5: precision counts
    twice as much as recall). The lowest cut that still reaches a precision target on
    them generalises badly: it sits on the edge of the training people's impostors."""
    cuts = np.linspace(-2, 12, 281) if use_z else np.linspace(50, 99.5, 199)
    best, best_f = float(cuts[-1]), -1.0
    for cut in cuts:
        p, r = score(qs, float(cut), use_z, keep)
        f = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
        if f > best_f:
            best, best_f = float(cut), f
    return best


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", nargs="?", type=Path, default=SHARED / "people")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "set"
        make_set(args.folder, made)
        album = open_album(Settings(home=Path(tmp) / "home"))
        report = import_folder(album, made, "hard")
        qs = queries(album)
        print(f"machine: {machine()}")
        print(f"{report.count('imported')} pictures ({args.folder} x3 variants), {len(qs)} queries")
        conditions = {
            "mixed": (lambda v: True, lambda q: True),
            "scans": (lambda v: v == "scan", lambda q: q.variant == "scan"),
        }
        people = sorted({q.person for q in qs})
        random.Random(0).shuffle(people)
        folds = [people[i :: args.folds] for i in range(args.folds)]
        print(
            f"\n{'condition':8s} {'method':8s} {'cut (mean)':>10s} {'precision':>9s} {'recall':>7s}"
        )
        for name, (keep, asks) in conditions.items():
            for use_z in (False, True):
                tp_p, tp_r, cuts = [], [], []
                for fold in folds:
                    train = [q for q in qs if asks(q) and q.person not in fold]
                    test = [q for q in qs if asks(q) and q.person in fold]
                    cut = choose(train, use_z, keep)
                    p, r = score(test, cut, use_z, keep)
                    tp_p.append(p)
                    tp_r.append(r)
                    cuts.append(cut)
                method = "cohort z" if use_z else "global"
                print(f"{name:8s} {method:8s} {np.mean(cuts):10.2f} {np.mean(tp_p):9.3f} "
                      f"{np.mean(tp_r):7.3f}")  # fmt: skip
            for fixed in (80.0,):
                p, r = score([q for q in qs if asks(q)], fixed, False, keep)
                print(f"{name:8s} {'at 80':8s} {fixed:10.2f} {p:9.3f} {r:7.3f}")
        # person-aware: group the faces into people, name every person (as an owner
        # would), and search again at 80 with the whole person
        from facealbum.people import recluster

        grouped = recluster(album)
        for person in album.catalog.list_people():
            person.name = f"person {person.person_id[:8]}"
            album.catalog.update_person(person)
        aware = queries(album)
        print(f"\nperson-aware at 80 ({grouped.people} people found):")
        for name, (keep, asks) in conditions.items():
            p, r = score([q for q in aware if asks(q)], 80.0, False, keep)
            print(f"{name:8s} {'person':8s} {80.0:10.2f} {p:9.3f} {r:7.3f}")
        album.close()


if __name__ == "__main__":
    sys.exit(main())
