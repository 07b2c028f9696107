"""Is dlib's jitter worth its cost? (issue 10, point 7)

    python -m bench.jitter [DIR] [--jitters 0 5 10]

dlib can describe a face as the mean of the descriptors of N randomly jittered copies
(``num_jitters``): its documentation says this makes descriptors "slightly more
accurate" at N times the cost. This measures both on bench/clickface.py's harder set
(photos, scans, record cards, blurred cards and strangers), side by side in one run:
the descriptor time per face, and pair precision / recall at the album's defaults (83
with the quality rule) and at 80, per condition.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.clickface import STRANGERS, VARIANTS, _label, make_set
from bench.common import SHARED, machine
from facealbum.faces import similarity
from facealbum.imaging import decode, detection_array
from facealbum.quality import QualityRule
from facealbum.settings import Settings


def describe(files: list[Path], jitters: int, s: Settings) -> tuple[list, float]:
    """(person, variant, vector, sharpness) of each picture's largest face, and the
    median descriptor seconds per face."""
    from facealbum.adapters.engine_dlib import DlibFaceEngine, _models, sharpness

    det_engine = DlibFaceEngine.from_settings(s)
    _, shape_predictor, rec = _models("hog")
    out, times = [], []
    for path in files:
        rgb, _ = detection_array(decode(path.read_bytes(), s.decode_size, s.max_pixels).image,
                                 s.detect_size, s.detect_max_upscale)  # fmt: skip
        found = det_engine.detect(np.ascontiguousarray(rgb))
        if not found:
            continue
        rect = max(found, key=lambda f: f[0].area())[0]
        shape = shape_predictor(rgb, rect)
        started = time.perf_counter()
        vec = np.asarray(rec.compute_face_descriptor(rgb, shape, jitters), dtype=np.float32)
        times.append(time.perf_counter() - started)
        person, variant = _label(f"{path.parent.name}/{path.name}")
        out.append((person, variant, vec / np.linalg.norm(vec), sharpness(rgb, shape)))
    return out, float(np.median(times))


def score(faces: list, keep, threshold: float, rule: QualityRule) -> tuple[float, float]:
    """Pair precision and recall among the faces whose variant ``keep`` admits (pairs
    of two strangers do not count: neither is ever searched for)."""
    chosen = [f for f in faces if keep(f[1])]
    vecs = np.array([f[2] for f in chosen])
    sims = vecs @ vecs.T
    tp = fp = fn = 0
    for i in range(len(chosen)):
        for j in range(i + 1, len(chosen)):
            a, b = chosen[i], chosen[j]
            if a[0].startswith("stranger") and b[0].startswith("stranger"):
                continue
            hit = similarity(float(sims[i, j])) >= rule.required(threshold, a[3], b[3])
            same = a[0] == b[0]
            tp += hit and same
            fp += hit and not same
            fn += same and not hit
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", nargs="?", type=Path, default=SHARED / "people")
    ap.add_argument("--jitters", type=int, nargs="+", default=[0, 5, 10])
    args = ap.parse_args()
    s = Settings()
    conditions = {
        "mixed": lambda v: True,
        "photos": lambda v: v in ("orig", "mirror"),
        **{v: (lambda x, v=v: x == v) for v in VARIANTS[2:]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "set"
        make_set(args.folder, made)
        files = sorted(made.glob("*/*.jpg"))
        print(f"machine: {machine()}")
        print(f"{len(files)} pictures ({len(list(made.glob(STRANGERS + '/*')))} strangers)\n")
        header = "".join(f"{c:>14s}" for c in conditions)
        print(f"{'jitters':8s}{'ms/face':>9s}  {'cut':24s}{header}")
        for jitters in args.jitters:
            faces, seconds = describe(files, jitters, s)
            for name, threshold, rule in [
                ("defaults (83 + rule)", s.match_threshold, QualityRule()),
                ("80, no rule", 80.0, QualityRule(penalty=0.0)),
            ]:
                cells = "".join(
                    "{:>8.3f}/{:.3f}".format(*score(faces, keep, threshold, rule))
                    for keep in conditions.values()
                )
                print(f"{jitters:<8d}{seconds * 1000:9.0f}  {name:24s}{cells}")


if __name__ == "__main__":
    sys.exit(main())
