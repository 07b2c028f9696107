"""Click-face accuracy on a harder labelled set of our own, thresholds chosen by
cross-validation across people (issue 10, point 7).

    python -m bench.clickface [DIR]     # DIR/<person>/*.jpg; default ../shared/faces/people

The set: every labelled photo as it is, mirrored, as a "scan of an old print"
(grayscale, shrunk so the face is about 100 px, JPEG at quality 50) and as a "record
card" of a face database (the face aligned to one frame by its landmarks, grayscale,
equalised, about 100 px: everyone under identical conditions). Each variant is a
picture of its own, labelled with its person. Three conditions are scored:

- mixed: every picture (all variants together);
- scans: only the scans, searched among the scans (small, gray, soft faces);
- cards: only the cards, among the cards (the harsh held-out set's conditions: faces
  that all look alike to the model).

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
from facealbum.quality import QualityRule
from facealbum.settings import Settings
from facealbum.wiring import open_album

COHORT = (30, 300)
VARIANTS = ["orig", "mirror", "scan", "card", "blur"]
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}  # the labelled folder has all three
STRANGERS = "_strangers"
# group photos with labelled people in them (the rest are strangers' faces)
NOT_STRANGERS = {"two_people.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg"}
SCAN_SIDE = 180  # px: faces of about 70-100 px


def make_set(src: Path, dest: Path) -> None:
    for photo in sorted(p for p in src.glob("*/*") if p.suffix.lower() in PHOTO_SUFFIXES):
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
        card = id_card(img)
        if card is not None:
            card.save(out / f"{photo.stem}__card.jpg", quality=75)
            # the card blurred, as a print copied twice: the harshest variant
            blurred = card.resize((100, 100), Image.BILINEAR).filter(ImageFilter.GaussianBlur(2))
            blurred.save(out / f"{photo.stem}__blur.jpg", quality=75)

    # strangers: every face of the group photos in which none of the labelled people
    # is, each a card of its own (24 bald men among them): impostors for every query
    for photo in sorted((src.parent / "groups").glob("*.jpg")):
        if photo.name in NOT_STRANGERS:
            continue
        img = ImageOps.exif_transpose(Image.open(photo)).convert("RGB")
        for i, card in enumerate(id_cards(img, every=True)):
            out = dest / STRANGERS
            out.mkdir(parents=True, exist_ok=True)
            card.save(out / f"{photo.stem}-{i}__card.jpg", quality=75)


def id_card(img: Image.Image) -> Image.Image | None:
    cards = id_cards(img)
    return cards[0] if cards else None


def id_cards(img: Image.Image, every: bool = False) -> list[Image.Image]:
    """The face (the largest, or ``every`` face) as a record card of a face database
    would hold it (the harshest condition): aligned by its eyes and nose to one frame,
    grayscale, histogram equalised, the face about 100 px, everyone under identical
    conditions."""
    import dlib

    from facealbum.adapters.engine_dlib import _models

    det, shape, _ = _models("hog")
    rgb = np.asarray(img)
    found = sorted(det(rgb, 1), key=lambda r: -r.area())
    return [
        ImageOps.equalize(
            ImageOps.grayscale(
                Image.fromarray(dlib.get_face_chip(rgb, shape(rgb, r), size=200, padding=0.5))
            )
        )
        for r in (found if every else found[:1])
    ]


@dataclass
class Pairs:
    """Every (query, picture) pair of one condition, as arrays: the query's person, the
    pair's similarity, its cohort z, the blurrier face's sharpness, same person?"""

    person: np.ndarray
    sim: np.ndarray
    z: np.ndarray
    sharp: np.ndarray
    same: np.ndarray


def pairs(album, keep, asks) -> Pairs:
    """The pairs a condition scores: queries whose variant ``asks`` admits, against
    the pictures whose variant ``keep`` admits."""
    pictures = album.get_set("hard")[1]
    label = {p.image_id: _label(p.name) for p in pictures}
    cols: dict[str, list] = {k: [] for k in ("person", "sim", "z", "sharp", "same")}
    for p in pictures:
        person, variant = label[p.image_id]
        if not p.faces or p.name.startswith(STRANGERS) or not asks(variant):
            continue  # strangers are never asked for
        face = max(p.faces, key=lambda f: f.box.width * f.box.height)
        found = album.search(face.face_id, threshold=0, limit=5000).matches[1:]
        found = [m for m in found if keep(label[m.picture.image_id][1])]
        sims = np.array([m.similarity for m in found] or [0.0])
        cohort = sims[COHORT[0] : COHORT[1]]
        mu, sd = (cohort.mean(), cohort.std() + 1e-6) if len(cohort) > 10 else (0.0, 1.0)
        for m in found:
            cols["person"].append(person)
            cols["sim"].append(m.similarity)
            cols["z"].append((m.similarity - mu) / sd)
            known = [x for x in (face.sharpness, m.face.sharpness) if x is not None]
            cols["sharp"].append(min(known) if known else 100.0)
            cols["same"].append(label[m.picture.image_id][0] == person)
    return Pairs(*(np.array(cols[k]) for k in ("person", "sim", "z", "sharp", "same")))


def counts(pp: Pairs, method: str, g: tuple, people=None) -> np.ndarray:
    """(true, false, missed) matches of a method's setting ``g`` over the pairs (of
    ``people``' queries only, if given)."""
    if method == "cohort z":
        hit = pp.z >= g[0]
    else:  # global is the quality rule with no penalty
        t, penalty, floor = g if method == "quality" else (g[0], 0.0, 0.0)
        hit = pp.sim >= np.minimum(100.0, t + penalty * np.maximum(0.0, floor - pp.sharp))
    mine = np.isin(pp.person, people) if people is not None else np.ones(len(hit), bool)
    return np.array([(hit & pp.same & mine).sum(), (hit & ~pp.same & mine).sum(),
                     (~hit & pp.same & mine).sum()])  # fmt: skip


def pr(c: np.ndarray) -> tuple[float, float]:
    tp, fp, fn = (int(x) for x in c)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def f_beta(c: np.ndarray, beta: float = 0.5) -> float:
    """F0.5: precision counts twice as much as recall. (The lowest cut that still
    reaches a precision target on the training people generalises badly: it sits on
    the edge of their impostors.)"""
    p, r = pr(c)
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


GRIDS = {
    "global": [(t,) for t in np.arange(70, 99, 0.5)],
    "cohort z": [(z,) for z in np.arange(-2, 12, 0.1)],
    "quality": [
        (t, k, f)
        for t in np.arange(70, 95, 1.0)
        for k in (0.1, 0.2, 0.3, 0.5, 0.8)
        for f in (40.0, 50.0, 60.0)
    ],  # fmt: skip
}


def cross_validate(conds: dict[str, Pairs], method: str, folds: list[list[str]], joint: bool):
    """Held-out (precision, recall) per condition, and the settings chosen. ``joint``:
    one setting for every condition (the mean F0.5 over them on the training people),
    else one per condition (as if each album were tuned on its own)."""
    out = {c: np.zeros(3, int) for c in conds}
    chosen = []
    people = sorted({p for pp in conds.values() for p in pp.person})
    for fold in folds:
        train = [p for p in people if p not in fold]
        groups = [list(conds)] if joint else [[c] for c in conds]
        for group in groups:
            best = max(GRIDS[method], key=lambda g: np.mean(
                [f_beta(counts(conds[c], method, g, train)) for c in group]))  # fmt: skip
            chosen.append(best)
            for c in group:
                out[c] += counts(conds[c], method, best, fold)
    return {c: pr(v) for c, v in out.items()}, chosen


def grouping_score(album) -> tuple[float, float, int]:
    """Pairwise precision and recall of the persons found, over every grouped face."""
    from collections import Counter

    truth, found = [], []
    for p in album.get_set("hard")[1]:
        for f in p.faces:
            if f.person_id:
                truth.append(_label(p.name)[0])
                found.append(f.person_id)
    pairs_of = lambda labels: sum(n * (n - 1) // 2 for n in Counter(labels).values())  # noqa: E731
    both = pairs_of(list(zip(truth, found, strict=True)))
    return both / max(pairs_of(found), 1), both / max(pairs_of(truth), 1), len(set(found))


def labelled_apart(album) -> tuple[int, int]:
    """(labelled people whose main person is theirs alone, labelled people): a person
    merged with another shares its main person with it."""
    from collections import Counter

    mains: dict[str, Counter] = {}
    for p in album.get_set("hard")[1]:
        person = _label(p.name)[0]
        if person.startswith("stranger"):
            continue
        for f in p.faces:
            if f.person_id:
                mains.setdefault(person, Counter())[f.person_id] += 1
    main = {person: c.most_common(1)[0][0] for person, c in mains.items()}
    shared = Counter(main.values())
    return sum(1 for m in main.values() if shared[m] == 1), len(main)


def _label(name: str) -> tuple[str, str]:
    """(person, variant) of a picture: a stranger is a person of its own."""
    folder, rest = name.split("/", 1)
    person = f"stranger {rest}" if folder == STRANGERS else folder
    return person, name.rsplit("__", 1)[-1][:-4]


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
        # ranked with no quality rule: the rules are applied here, to compare them
        album = open_album(Settings(home=Path(tmp) / "home", blurry_face_penalty=0))
        report = import_folder(album, made, "hard")
        print(f"machine: {machine()}")
        print(f"{report.count('imported')} pictures ({args.folder}: {len(VARIANTS)} variants "
              "each, and strangers' faces)")  # fmt: skip
        photos = {"orig", "mirror"}
        conditions = {
            "mixed": (lambda v: True, lambda v: True),
            "photos": (lambda v: v in photos, lambda v: v in photos),
            **{v: (lambda x, v=v: x == v, lambda x, v=v: x == v) for v in VARIANTS[2:]},
        }
        conds = {name: pairs(album, keep, asks) for name, (keep, asks) in conditions.items()}
        people = sorted({p for pp in conds.values() for p in pp.person})
        random.Random(0).shuffle(people)
        folds = [people[i :: args.folds] for i in range(args.folds)]
        print("\nprecision / recall on held-out people (5-fold cross-validation across people)")
        header = "".join(f"{c:>14s}" for c in conds)  # precision/recall in each
        print(f"{'method':34s}{header}")
        for joint in (False, True):
            for method in GRIDS:
                res, chosen = cross_validate(conds, method, folds, joint)
                how = "one setting for all" if joint else "tuned per condition"
                cells = "".join(f"{res[c][0]:>8.3f}/{res[c][1]:.3f}" for c in conds)
                print(f"{method + ', ' + how:34s}{cells}")
                if joint:
                    picked = sorted({tuple(round(float(x), 2) for x in g) for g in chosen})
                    print(f"{'':34s}chosen: {picked}")
        rule, t = QualityRule(), Settings().match_threshold
        fixed = [("at 80", "global", (80.0,)), ("at 83", "global", (83.0,)),
                 ("80, rule 0.2 below 50", "quality", (80.0, 0.2, 50.0)),
                 ("83, rule 0.2 below 50", "quality", (83.0, 0.2, 50.0)),
                 ("83, rule 0.3 below 40", "quality", (83.0, 0.3, 40.0)),
                 ("85, rule 0.2 below 50", "quality", (85.0, 0.2, 50.0)),
                 ("defaults", "quality", (t, rule.penalty, rule.floor))]  # fmt: skip
        for name, method, g in fixed:
            cells = "".join(f"{pr(counts(conds[c], method, g))[0]:>8.3f}/"
                            f"{pr(counts(conds[c], method, g))[1]:.3f}" for c in conds)  # fmt: skip
            print(f"{name:34s}{cells}")
        # person-aware: group the faces into people, name every person (as an owner
        # would), and search again with the whole person (and the default rule)
        from facealbum.people.grouping import recluster

        album.close()
        true_people = len([d for d in args.folder.iterdir() if d.is_dir()])
        print("\ngrouping (pairwise over every face; each stranger a person of its own):")
        for threshold, penalty in [(80.0, 0.0), (80.0, 0.2), (83.0, 0.0), (83.0, 0.2),
                                   (86.0, 0.2)]:  # fmt: skip
            album = open_album(Settings(home=Path(tmp) / "home", people_threshold=threshold,
                                        blurry_face_penalty=penalty))  # fmt: skip
            grouped = recluster(album)
            p, r, found = grouping_score(album)
            apart, labelled = labelled_apart(album)
            print(f"  people_threshold {threshold:.0f}, rule {penalty}: "
                  f"precision {p:.3f} recall {r:.3f} "
                  f"F1 {2 * p * r / (p + r):.3f}, {found} people found, "
                  f"{apart} of {labelled} labelled people apart")  # fmt: skip
            album.close()
        album = open_album(Settings(home=Path(tmp) / "home"))
        grouped = recluster(album)
        for person in album.catalog.list_people():
            person.name = f"person {person.person_id[:8]}"
            album.catalog.update_person(person)
        aware = {name: pairs(album, keep, asks) for name, (keep, asks) in conditions.items()}
        strangers = sum(1 for p in album.get_set("hard")[1] if p.name.startswith(STRANGERS))
        s = album.settings
        g = (s.match_threshold, s.blurry_face_penalty, s.sharp_face_floor)
        cells = "".join(f"{pr(counts(aware[c], 'quality', g))[0]:>8.3f}/"
                        f"{pr(counts(aware[c], 'quality', g))[1]:.3f}" for c in conds)  # fmt: skip
        print(f"{'person-aware, defaults':34s}{cells}")
        print(f"(defaults: {grouped.people} people found from {grouped.faces} faces; "
              f"{true_people} labelled people and {strangers} strangers)")  # fmt: skip
        album.close()


if __name__ == "__main__":
    sys.exit(main())
