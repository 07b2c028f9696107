"""People accuracy by source: click-face search and grouping, each score and clustering
method compared under leave-one-source-out cross-validation (issue 17, item 2).

    python -m bench.people_accuracy [--set DIR]...   # DIR/manifest.csv

A set is a folder with a ``manifest.csv``: columns ``path`` and ``person`` (rows without
a person are skipped), and ``source`` (where the photo comes from) and ``kind``; the
shared ``../shared/faces`` folder has ``source_repo`` instead and its people rows are
used. By default: ``../shared/faces/people`` rows and, when it exists,
``../shared/faces/hard``.

Each photo's largest face is described by the album's own engine (the same detector,
landmarks, descriptor and sharpness as an import; cached under
``~/.cache/facealbum-bench`` by the file's SHA-256, so a re-run takes seconds). The
set's faces are one album: it is its own cohort for the normalised scores.

For every score and every source held out in turn, the cut is chosen on the other
sources' faces and applied to the held-out one:

- click-face: each face as the query against every other face (ordered pairs whose
  query is in the source); the cut is the lowest that keeps precision >= 0.98 on the
  other sources' pairs;
- grouping: the whole album clustered at each cut; the cut with the best pairwise F1
  over pairs of the other sources' faces, scored on the pairs with a held-out face,
  and the people the held-out faces were put in against their true number.

The same is done again on the colour photos alone (a grayscale photo has R = G = B),
as an album of its own: a small album is a noisy cohort.

Scores (``C`` the cosine of two descriptors, ``S`` its similarity on Rekognition's
scale as the album reports it, ``m_i`` the mean of face i's k best cosines to other
faces of the album, k = 50 or a tenth of the album if smaller):

- plain: S;
- quality: S less the quality rule's raise (facealbum/quality.py, the defaults);
- S-norm: the mean of both faces' z-scores against all the album's faces;
- AS-norm: the same against each face's k best (the top-k cohort);
- k-NN: C - (m_i + m_j) / 2 (distance minus the mean k-NN distance of both faces);
- adaptive: C - (e_i + e_j) / 2, e_i = max(0, m_i - median m): normalised only where
  a face's neighbourhood is more crowded than the album's typical face's;
- impostors: k-NN against a fixed impostor cohort (every face of ``../shared/faces``
  not in the set) instead of the album.

Grouping methods: Chinese whispers (facealbum/people/clustering.py, weights the
similarity of the edges at or above the cut) and average linkage (scipy).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.common import SHARED, machine

# ../shared/faces beside the checkout (a worktree may sit one level deeper)
SHARED = next(
    (
        d / "shared" / "faces"
        for d in Path(__file__).resolve().parents
        if (d / "shared" / "faces").is_dir()
    ),
    SHARED,
)
CACHE = Path.home() / ".cache" / "facealbum-bench" / "descriptors-v1.pkl"
PRECISION = 0.98
FLOOR = 50.0  # Settings.people_edge_floor: what a recluster reads
K = 50


@dataclass
class Face:
    path: str
    person: str
    source: str
    kind: str
    vector: np.ndarray
    sharpness: float
    colour: bool


@dataclass
class Album:
    """One set's faces, as arrays."""

    name: str
    faces: list[Face]
    v: np.ndarray = field(init=False)
    person: np.ndarray = field(init=False)
    source: np.ndarray = field(init=False)
    sharp: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.v = np.stack([f.vector for f in self.faces]).astype(np.float64)
        self.person = np.array([f.person for f in self.faces])
        self.source = np.array([f.source for f in self.faces])
        self.sharp = np.array([f.sharpness for f in self.faces])

    def subset(self, keep: np.ndarray, name: str) -> Album:
        return Album(name, [f for f, k in zip(self.faces, keep, strict=True) if k])


# -- loading --------------------------------------------------------------------------


def read_manifest(folder: Path) -> list[tuple[Path, str, str, str]]:
    """(file, person, source, kind) of each labelled photo."""
    out = []
    with (folder / "manifest.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            person = (row.get("person") or "").strip()
            if not person:
                continue
            if "source" in row and row["source"]:
                source = row["source"]
            else:  # the shared folder: its repository, and only its people rows
                if row.get("kind") != "people":
                    continue
                source = row.get("source_repo") or "unknown"
            out.append((folder / row["path"], person, source, row.get("kind") or ""))
    return out


class Describer:
    """The album's engine, each photo's largest face, cached by the file's hash."""

    def __init__(self) -> None:
        self.cache: dict[str, tuple | None] = {}
        if CACHE.exists():
            self.cache = pickle.loads(CACHE.read_bytes())
        self.engine = None
        self.new = 0

    def __call__(self, data: bytes) -> tuple | None:
        key = hashlib.sha256(data).hexdigest()
        if key not in self.cache:
            self.cache[key] = self._describe(data)
            self.new += 1
            if self.new % 50 == 0:
                self.save()
        return self.cache[key]

    def _describe(self, data: bytes) -> tuple | None:
        from PIL import Image, ImageOps

        from facealbum.adapters.faces_local import analyze_image
        from facealbum.settings import Settings
        from facealbum.wiring import make_engine

        settings = Settings()
        if self.engine is None:
            self.engine = make_engine(settings)
        try:
            found = analyze_image(data, settings, self.engine)
        except Exception:
            return None
        if not found:
            return None
        face = max(found, key=lambda f: f.side_px)
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        img.thumbnail((256, 256))
        rgb = np.asarray(img).astype(np.int16)
        grey = float(
            np.abs(rgb[..., 0] - rgb[..., 1]).mean() + np.abs(rgb[..., 1] - rgb[..., 2]).mean()
        )
        sharp = face.face.sharpness if face.face.sharpness is not None else 100.0
        return np.asarray(face.vector, dtype=np.float32), float(sharp), grey > 2.0

    def save(self) -> None:
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        tmp = CACHE.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.cache))
        tmp.replace(CACHE)


def load(folder: Path, describe: Describer, exclude: set[str] = frozenset()) -> tuple[Album, int]:  # type: ignore[assignment]
    faces, missed = [], 0
    for path, person, source, kind in read_manifest(folder):
        if path.name in exclude:
            continue
        got = describe(path.read_bytes())
        if got is None:
            missed += 1
            continue
        vector, sharp, colour = got
        faces.append(Face(str(path), person, source, kind, vector, sharp, colour))
    return Album(folder.name, faces), missed


def impostor_vectors(describe: Describer, album: Album) -> np.ndarray:
    """Every face of ../shared/faces (people and groups) not of the album's people: a
    fixed impostor cohort. Groups count with all their faces."""
    from facealbum.adapters.faces_local import analyze_image
    from facealbum.settings import Settings

    people = {p.lower() for p in album.person}
    out = []
    for path, person, _, _ in read_manifest(SHARED):
        if person.lower() in people:
            continue
        got = describe(path.read_bytes())
        if got is not None:
            out.append(got[0])
    key = "groups-all-faces"
    if key not in describe.cache:
        settings, vecs = Settings(), []
        from facealbum.wiring import make_engine

        engine = describe.engine or make_engine(settings)
        for photo in sorted((SHARED / "groups").glob("*")):
            vecs += [f.vector for f in analyze_image(photo.read_bytes(), settings, engine)]
        describe.cache[key] = (np.array(vecs, dtype=np.float32), 0.0, True)
    out += list(describe.cache[key][0])
    return np.array(out, dtype=np.float64)


# -- scores ---------------------------------------------------------------------------


def rekognition_scale(c: np.ndarray) -> np.ndarray:
    from facealbum.faces import _HIGH, _LOW, _MID, _SLOPE

    c = np.clip(c, -1.0, 1.0)
    return 100.0 * (1.0 / (1.0 + np.exp(-_SLOPE * (c - _MID))) - _LOW) / (_HIGH - _LOW)


def top_k(m: np.ndarray, k: int) -> np.ndarray:
    """Each row's k largest values (the diagonal excluded by the caller), sorted desc."""
    k = min(k, m.shape[1])
    part = np.partition(m, m.shape[1] - k, axis=1)[:, -k:]
    return -np.sort(-part, axis=1)


def scores(album: Album, impostors: np.ndarray | None, k: int) -> dict[str, np.ndarray]:
    """Every method's n x n score matrix (symmetric; the diagonal is meaningless)."""
    from facealbum.quality import QualityRule

    c = album.v @ album.v.T
    n = len(c)
    off = c.copy()
    np.fill_diagonal(off, -np.inf)
    s = rekognition_scale(c)
    rule = QualityRule()
    low = np.minimum(album.sharp[:, None], album.sharp[None, :])
    out: dict[str, np.ndarray] = {
        "plain": s,
        "quality rule": s - rule.penalty * np.maximum(0.0, rule.floor - low),
    }
    cohort = np.where(np.isfinite(off), off, np.nan)
    mu, sd = np.nanmean(cohort, axis=1), np.nanstd(cohort, axis=1) + 1e-9
    out["S-norm"] = 0.5 * ((c - mu[:, None]) / sd[:, None] + (c - mu[None, :]) / sd[None, :])
    top = top_k(off, k)
    tm, ts = top.mean(axis=1), top.std(axis=1) + 1e-9
    out[f"AS-norm (top {k})"] = 0.5 * (
        (c - tm[:, None]) / ts[:, None] + (c - tm[None, :]) / ts[None, :]
    )
    # as a recluster sees it (facealbum/people/scoring.py): cohort members under the
    # search's floor count as the floor
    from facealbum.faces import cosine_for

    ft = np.maximum(top, cosine_for(FLOOR))
    fm, fs = ft.mean(axis=1), ft.std(axis=1) + 1e-6
    out["AS-norm, album's search"] = 0.5 * (
        (c - fm[:, None]) / fs[:, None] + (c - fm[None, :]) / fs[None, :]
    )
    out[f"k-NN (k={k})"] = c - 0.5 * (tm[:, None] + tm[None, :])
    stop = rekognition_scale(top).mean(axis=1)  # the same on the similarity scale
    out[f"k-NN on similarity (k={k})"] = s - 0.5 * (stop[:, None] + stop[None, :])
    excess = np.maximum(0.0, tm - np.median(tm))
    out["adaptive k-NN"] = c - 0.5 * (excess[:, None] + excess[None, :])
    sexcess = np.maximum(0.0, stop - np.median(stop))
    out["adaptive k-NN on similarity"] = s - 0.5 * (sexcess[:, None] + sexcess[None, :])
    out["adaptive + quality rule"] = out["adaptive k-NN on similarity"] - (s - out["quality rule"])
    if impostors is not None and len(impostors):
        ki = min(k, max(5, len(impostors) // 4))
        im = top_k(album.v @ impostors.T, ki).mean(axis=1)
        out[f"impostor k-NN (k={ki}, {len(impostors)} faces)"] = c - 0.5 * (
            im[:, None] + im[None, :]
        )
    assert all(m.shape == (n, n) for m in out.values())
    return out


# -- click-face -----------------------------------------------------------------------


def counts_at(score: np.ndarray, same: np.ndarray, rows: np.ndarray, cols: np.ndarray, cut: float):
    """(tp, fp, fn) over ordered pairs (query in rows, other in cols, not itself)."""
    sub = score[np.ix_(rows, cols)]
    sm = same[np.ix_(rows, cols)]
    valid = ~np.equal.outer(np.flatnonzero(rows), np.flatnonzero(cols))
    hit = (sub >= cut) & valid
    return (
        int((hit & sm).sum()),
        int((hit & ~sm).sum()),
        int((~hit & sm & valid).sum()),
    )


def precise_cut(score: np.ndarray, same: np.ndarray, mask: np.ndarray) -> float:
    """The lowest cut with precision >= PRECISION over the ordered pairs of ``mask``'s
    faces (the most recall such a cut allows)."""
    iu = np.triu_indices(int(mask.sum()), 1)
    sub = score[np.ix_(mask, mask)][iu]
    sm = same[np.ix_(mask, mask)][iu]
    order = np.argsort(-sub, kind="stable")
    tp = np.cumsum(sm[order])
    fp = np.cumsum(~sm[order])
    ok = np.flatnonzero(tp / np.maximum(tp + fp, 1) >= PRECISION)
    if not len(ok):
        return float(sub.max()) + 1e-9
    return float(sub[order][ok[-1]])


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def clickface(album: Album, score: np.ndarray) -> dict[str, tuple]:
    """Per held-out source: (precision, recall, cut); and 'all' over every fold."""
    same = np.equal.outer(album.person, album.person)
    out, total = {}, np.zeros(3, int)
    everyone = np.ones(len(album.person), bool)
    for src in sorted(set(album.source)):
        held = album.source == src
        cut = precise_cut(score, same, ~held)
        c = np.array(counts_at(score, same, held, everyone, cut))
        total += c
        out[src] = (*prf(*c)[:2], cut)
    out["all"] = (*prf(*total)[:2], precise_cut(score, same, everyone))  # the default's cut
    return out


# -- grouping -------------------------------------------------------------------------


def cut_grid(score: np.ndarray, n: int = 90) -> np.ndarray:
    iu = np.triu_indices(len(score), 1)
    vals = score[iu]
    qs = 1.0 - np.geomspace(0.3, 0.5 / len(vals), n)
    return np.unique(np.quantile(vals, qs))


def average_linkage_runs(score: np.ndarray) -> Callable[[float], np.ndarray]:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    top = float(np.nanmax(score[np.triu_indices(len(score), 1)]))
    d = top - score
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(np.maximum(d, 0.0), checks=False), method="average")
    return lambda cut: fcluster(z, t=top - cut, criterion="distance")


def whispers_runs(score: np.ndarray, weight: np.ndarray) -> Callable[[float], np.ndarray]:
    from facealbum.people.clustering import chinese_whispers

    n = len(score)
    iu = np.triu_indices(n, 1)

    def run(cut: float) -> np.ndarray:
        keep = score[iu] >= cut
        edges = [
            (int(a), int(b), float(w))
            for a, b, w in zip(iu[0][keep], iu[1][keep], weight[iu][keep], strict=True)
        ]
        labels = chinese_whispers(list(range(n)), edges)
        return np.array([labels[i] for i in range(n)])

    return run


def graph_runs(score: np.ndarray, s: np.ndarray, floor: float) -> Callable[[float], np.ndarray]:
    """The album's own average linkage (facealbum/people/clustering.py) on the graph a
    recluster reads: the pairs whose similarity is at least ``floor``, the others 0."""
    from facealbum.people.clustering import average_linkage

    n = len(score)
    iu = np.triu_indices(n, 1)
    keep = s[iu] >= floor
    edges = [
        (int(a), int(b), float(w))
        for a, b, w in zip(iu[0][keep], iu[1][keep], score[iu][keep], strict=True)
    ]

    # a pair the search did not return scores no more than the lowest one it did
    missing = 0.0 if s is score else min(0.0, min((e[2] for e in edges), default=0.0))

    def run(cut: float) -> np.ndarray:
        labels = average_linkage(list(range(n)), edges, cut, missing=missing)
        return np.array([labels[i] for i in range(n)])

    return run


def _within(labels: np.ndarray, person: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(same cluster and person, same cluster, same person) pair counts within mask m,
    from the contingency table: O(faces), not O(faces^2)."""

    def pairs(*keys: np.ndarray) -> int:
        _, n = np.unique(np.stack(keys, axis=1), axis=0, return_counts=True)
        return int((n * (n - 1) // 2).sum())

    lab, per = labels[m], np.unique(person[m], return_inverse=True)[1]
    if not len(lab):
        return np.zeros(3, int)
    lab = np.unique(lab, return_inverse=True)[1]
    return np.array([pairs(lab, per), pairs(lab), pairs(per)])


def pair_counts(labels: np.ndarray, person: np.ndarray, a: np.ndarray, b: np.ndarray):
    """(tp, fp, fn) over unordered pairs with one face in ``a`` and one in ``b``
    (masks), each pair once: ``b`` is ``a`` (pairs within it) or every face (pairs with
    at least one face in ``a``)."""
    if np.array_equal(a, b):
        both, same_c, same_p = _within(labels, person, a)
    else:
        assert b.all()
        both, same_c, same_p = _within(labels, person, b) - _within(labels, person, ~a)
    return int(both), int(same_c - both), int(same_p - both)


def grouping(album: Album, run: Callable[[float], np.ndarray], grid: np.ndarray) -> dict:
    """Per held-out source: (F1, people found, true people, cut); 'all' summed."""
    labels = {cut: run(cut) for cut in grid}
    out, total = {}, np.zeros(3, int)
    found_all = true_all = 0
    for src in sorted(set(album.source)):
        held = album.source == src
        train = ~held
        best = max(
            grid,
            key=lambda cut: (prf(*pair_counts(labels[cut], album.person, train, train))[2], -cut),
        )
        lab = labels[best]
        c = np.array(pair_counts(lab, album.person, held, np.ones_like(held)))
        total += c
        found, true = len(set(lab[held])), len(set(album.person[held]))
        found_all += found
        true_all += true
        out[src] = (prf(*c)[2], found, true, best)
    every = np.ones(len(album.person), bool)  # the default's cut: chosen on every source
    best = max(
        grid, key=lambda cut: (prf(*pair_counts(labels[cut], album.person, every, every))[2], -cut)
    )
    out["all"] = (prf(*total)[2], found_all, true_all, best)
    return out


# -- report ---------------------------------------------------------------------------


def evaluate(album: Album, impostors: np.ndarray | None, quick: bool) -> dict:
    k = min(K, len(album.faces) // 2)  # well above any one person's photos
    sc = scores(album, impostors, k)
    s = sc["plain"]
    results: dict = {}
    for name, score in sc.items():
        results[(name, "click")] = clickface(album, score)
        grid = cut_grid(score)
        results[(name, "average linkage")] = grouping(album, average_linkage_runs(score), grid)
        product = name in ("plain", "quality rule") or name.startswith(("adaptive", "AS"))
        if not quick or product:
            results[(name, "Chinese whispers")] = grouping(
                album, whispers_runs(score, s), grid[::3]
            )
        if product and "similarity" in name or name in ("plain", "quality rule") or "AS" in name:
            results[(name, "album's graph")] = grouping(
                album, graph_runs(score, s, FLOOR), grid[(grid < 100)][::2]
            )
    return results


def table(title: str, album: Album, results: dict) -> str:
    sources = sorted(set(album.source))
    lines = [
        f"**{title}**: {len(album.faces)} faces, {len(set(album.person))} people, "
        f"{len(sources)} sources ("
        + ", ".join(f"{s} {int((album.source == s).sum())}" for s in sources)
        + ")",
        "",
        "| score | click-face precision / recall | average linkage F1, people | "
        f"Chinese whispers F1, people | average linkage on the album's graph (>= {FLOOR:g}) |",
        "|---|---|---|---|---|",
    ]
    names = sorted({n for n, _ in results}, key=list(dict.fromkeys(n for n, _ in results)).index)
    for name in names:
        p, r, _ = results[(name, "click")]["all"]
        cells = [f"{p:.3f} / {r:.3f}"]
        for method in ("average linkage", "Chinese whispers", "album's graph"):
            got = results.get((name, method))
            if got is None:
                cells.append("")
            else:
                f1, found, true, _ = got["all"]
                cells.append(f"{f1:.3f}, {found} / {true}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_source(album: Album, results: dict, name: str, method: str) -> str:
    lines = [
        f"per held-out source, {name} (click-face) and {name} + {method} (grouping); the "
        "cut chosen on the other sources in brackets ('all': chosen on every source, the "
        "default's):",
        "",
        "| held out | faces | click-face precision / recall (cut) | F1 "
        "| people found / true (cut) |",
        "|---|---:|---|---:|---|",
    ]
    click, group = results[(name, "click")], results[(name, method)]
    for src in [*sorted(set(album.source)), "all"]:
        n = int((album.source == src).sum()) if src != "all" else len(album.faces)
        p, r, cut = click[src]
        f1, found, true, gcut = group[src]
        cuts, gcuts = f" ({cut:.2f})", f" ({gcut:.2f})"
        lines.append(
            f"| {src} | {n} | {p:.3f} / {r:.3f}{cuts} | {f1:.3f} | {found} / {true}{gcuts} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    hard = SHARED / "hard"
    ap.add_argument("--set", dest="sets", action="append", type=Path,
                    help="a labelled folder with manifest.csv (repeatable)")  # fmt: skip
    ap.add_argument(
        "--all", dest="quick", action="store_false", help="Chinese whispers on every score"
    )
    ap.add_argument("--show", default="AS-norm, album's search",
                    help="the score whose per-source rows are printed")  # fmt: skip
    ap.add_argument("--method", default="album's graph")
    args = ap.parse_args()
    sets = args.sets or [SHARED, *([hard] if (hard / "manifest.csv").exists() else [])]
    started = time.perf_counter()
    describe = Describer()
    print(f"machine: {machine()}")
    for folder in sets:
        album, missed = load(folder, describe)
        impostors = impostor_vectors(describe, album) if folder != SHARED else None
        describe.save()
        name = "shared people" if folder == SHARED else str(folder)
        print(f"\n## {name}: {len(album.faces)} photos with a face ({missed} without)\n")
        colour = np.array([f.colour for f in album.faces])
        parts = [(name, album)]
        if not colour.all() and colour.sum() >= 10:
            parts.append((f"{name}, colour photos only", album.subset(colour, "colour")))
        for title, part in parts:
            if len(set(part.source)) < 2:
                print(f"{title}: one source only, no cross-validation")
                continue
            results = evaluate(part, impostors, args.quick)
            print(table(title, part, results))
            print()
            print(per_source(part, results, args.show, args.method))
            print()
    describe.save()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
