"""Measure where "same person" ends: the default match threshold comes from here.

    python bench/threshold.py [--folder ../shared/faces]

Every photo of the manifest's `people` rows is analysed with the default settings; all
pairs of faces are compared. A good threshold lies above every different-person pair
and below every same-person pair.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, machine  # noqa: E402

from facealbum.adapters.faces_local import analyze_image  # noqa: E402
from facealbum.faces import similarity  # noqa: E402
from facealbum.settings import Settings  # noqa: E402
from facealbum.wiring import make_engine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folder", type=Path, default=SHARED)
    args = ap.parse_args()
    settings = Settings()
    engine = make_engine(settings)
    vectors, people = [], []
    with (args.folder / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["kind"] != "people":
                continue
            data = (args.folder / row["path"]).read_bytes()
            faces = analyze_image(data, settings, engine)
            if faces:
                vectors.append(max(faces, key=lambda f: f.side_px).vector)
                people.append(row["person"])
    v, p = np.array(vectors), np.array(people)
    sims = v @ v.T * 100
    upper = np.triu_indices(len(p), 1)
    same = (p[:, None] == p[None, :])[upper]
    s_same, s_diff = sims[upper][same], sims[upper][~same]
    print(f"machine: {machine()}")
    print(
        f"{len(p)} faces of {len(set(people))} people: {len(s_same)} same-person pairs, "
        f"{len(s_diff)} different-person pairs"
    )
    print(
        f"same person:      min {s_same.min():.2f}  p1 {np.percentile(s_same, 1):.2f}  "
        f"median {np.median(s_same):.2f}"
    )
    print(
        f"different people: max {s_diff.max():.2f}  p99 {np.percentile(s_diff, 99):.2f}  "
        f"median {np.median(s_diff):.2f}"
    )
    for t in (88, 90, 91, 91.5, 92, 93, 95):  # cosine x 100
        print(
            f"cosine {t / 100:.3f} (similarity {similarity(t / 100):5.1f}): same-person "
            f"recall {(s_same >= t).mean():.3f}, false matches {(s_diff >= t).sum()} of "
            f"{len(s_diff)}"
        )


if __name__ == "__main__":
    main()
