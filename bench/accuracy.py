"""Accuracy on a labelled folder: verification, clustering into people, click-face.

    python -m bench.accuracy [DIR]      # DIR/<person>/*.jpg; default ../shared/faces/people

Imports DIR into a temporary album (local engine), then prints:

(a) pair verification accuracy at the album's match threshold (Rekognition scale);
(b) clustering into people for each method compared: pairwise precision, recall and
    F1 over the labelled faces, and the number of people found against the true number.
    Graph methods use only what the faces port offers (SearchFaces similarities, so
    they run on Rekognition too); vector methods read the local collection's
    descriptors, which only the local engine has;
(c) click-face precision@10: for each labelled face, the share of the first 10
    pictures its search returns that show the same person.

A photo in DIR/<person>/ labels its largest face; its other faces (people in the
background) are clustered but not scored.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import select

from bench.common import SHARED, machine
from facealbum.adapters.catalog_schema import collection_faces
from facealbum.faces import cosine_for, similarity
from facealbum.importer import import_folder
from facealbum.people.clustering import chinese_whispers, connected_components
from facealbum.settings import Settings
from facealbum.wiring import open_album


def labelled_faces(album) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(every face id, face id -> person for labelled ones, image id -> person)."""
    faces, labels, pictures = [], {}, {}
    for p in album.get_set("people")[1]:
        person = p.name.split("/", 1)[0]
        pictures[p.image_id] = person
        faces += [f.face_id for f in p.faces]
        if p.faces:
            largest = max(p.faces, key=lambda f: f.box.width * f.box.height)
            labels[largest.face_id] = person
    return faces, labels, pictures


def descriptors(album, face_ids: list[str]) -> np.ndarray:
    db = album.collection.faces.db
    with db.connect() as conn:
        rows = dict(
            conn.execute(
                select(collection_faces.c.face_id, collection_faces.c.embedding).where(
                    collection_faces.c.face_id.in_(face_ids)
                )
            ).all()
        )
    return np.stack([np.frombuffer(rows[f], dtype="<f4") for f in face_ids])


def graph(album, face_ids: list[str], floor: float) -> list[tuple[str, str, float]]:
    """Every pair the port's searches return at or above ``floor`` (0-100)."""
    edges = []
    for f in face_ids:
        edges += [(f, h.face_id, h.similarity) for h in album.collection.matches(f, floor)]
    return edges


def pairwise(clusters: dict[str, int], labels: dict[str, str]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(labels), 2):
        same_person, same_cluster = labels[a] == labels[b], clusters[a] == clusters[b]
        tp += same_person and same_cluster
        fp += same_cluster and not same_person
        fn += same_person and not same_cluster
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def vector_methods(v: np.ndarray, cut: float) -> dict[str, Callable[[], list[int]]]:
    """The vector clusterers compared, with the album's verification cut (a cosine)
    as their distance where they take one."""
    import dlib
    from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering

    dist = 1.0 - cut  # cosine distance of the album's match threshold
    # dlib's descriptors separate people at euclidean 0.6 (dlib's own guidance; 0.5 in
    # its clustering example); on unit vectors euclidean^2 = 2 - 2 cos
    euclid = float(np.sqrt(2 - 2 * cut))
    return {
        # Immich's defaults: DBSCAN, min 3 faces per person, maxDistance 0.5 for its
        # CLIP face model; translated to dlib as the same role, the verification cut
        "DBSCAN (Immich: min 3 faces)": lambda: (
            DBSCAN(eps=dist, min_samples=3, metric="cosine").fit_predict(v).tolist()
        ),
        "DBSCAN (min 1 face)": lambda: (
            DBSCAN(eps=dist, min_samples=1, metric="cosine").fit_predict(v).tolist()
        ),
        "dlib chinese_whispers (0.5)": lambda: list(
            dlib.chinese_whispers_clustering([dlib.vector(x.tolist()) for x in v], 0.5)
        ),
        f"dlib chinese_whispers ({euclid:.3f})": lambda: list(
            dlib.chinese_whispers_clustering([dlib.vector(x.tolist()) for x in v], euclid)
        ),
        "HDBSCAN (min 2)": lambda: (
            HDBSCAN(min_cluster_size=2, min_samples=1, copy=True).fit_predict(v).tolist()
        ),
        "agglomerative (average)": lambda: (
            AgglomerativeClustering(
                n_clusters=None, distance_threshold=dist, metric="cosine", linkage="average"
            )
            .fit_predict(v)
            .tolist()
        ),
    }


def as_clusters(face_ids: list[str], found: list[int]) -> dict[str, int]:
    """Noise (-1) becomes a cluster of its own per face."""
    top = max(found, default=0) + 1
    out = {}
    for f, c in zip(face_ids, found, strict=True):
        if c < 0:
            c, top = top, top + 1
        out[f] = c
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", nargs="?", type=Path, default=SHARED / "people")
    ap.add_argument("--edge", type=float, default=None, help="graph edge threshold (0-100)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        album = open_album(Settings(home=Path(tmp)))
        t0 = time.perf_counter()
        report = import_folder(album, args.folder, "people")
        threshold = album.settings.match_threshold
        edge = args.edge if args.edge is not None else threshold
        faces, labels, pictures = labelled_faces(album)
        people = sorted(set(labels.values()))
        print(f"machine: {machine()}")
        print(
            f"{args.folder}: {report.count('imported')} photos, {len(faces)} faces, "
            f"{len(labels)} labelled, {len(people)} people; imported in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        v = descriptors(album, faces)
        index = {f: i for i, f in enumerate(faces)}

        # (a) verification at the match threshold
        ids = sorted(labels)
        right = total = 0
        for a, b in itertools.combinations(ids, 2):
            score = similarity(float(v[index[a]] @ v[index[b]]))
            right += (score >= threshold) == (labels[a] == labels[b])
            total += 1
        print(f"\n(a) pair verification at {threshold:g}: accuracy {right / total:.4f} "
              f"over {total} pairs")  # fmt: skip

        # (b) clustering
        print(f"\n(b) clustering ({len(people)} people labelled)")
        print(f"{'method':44s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'people':>7s}")
        edges = graph(album, faces, edge)
        rows: dict[str, dict[str, int]] = {
            f"graph chinese whispers (port, >= {edge:g})": chinese_whispers(faces, edges),
            f"graph components (port, >= {edge:g})": connected_components(faces, edges),
        }
        for name, run in vector_methods(v, cosine_for(threshold)).items():
            rows[name] = as_clusters(faces, run())
        for name, clusters in rows.items():
            p, r, f1 = pairwise(clusters, labels)
            found = len({clusters[f] for f in labels})
            print(f"{name:44s} {p:9.4f} {r:7.4f} {f1:7.4f} {found:4d}/{len(people)}")

        # (c) click-face precision@10
        precisions = []
        for f, person in labels.items():
            top = album.search(f, limit=10).matches
            if top:
                precisions.append(np.mean([pictures[m.picture.image_id] == person for m in top]))
        print(
            f"\n(c) click-face precision@10: {np.mean(precisions):.4f} over {len(precisions)} faces"
        )
        album.close()


if __name__ == "__main__":
    sys.exit(main())
