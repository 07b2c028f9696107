"""Grouping faces into people from a similarity graph.

Rekognition never hands out descriptors, so people are found from what the faces port
does offer on every engine: for each face, the faces similar to it above a threshold
(SearchFaces). That is a weighted graph, and graph clustering works on it as well as on
vectors. Two methods, both deterministic:

- :func:`chinese_whispers` (Biemann 2006; dlib's clustering of face descriptors is the
  same algorithm on the graph of pairs closer than a distance): every node takes the
  label that weighs most among its neighbours, in a fixed pseudo-random order, until
  nothing changes. A chain of look-alikes does not fuse two people as easily as in
  connected components, since a node follows the weight of its neighbourhood.
- :func:`connected_components`: every edge joins; right only with a tight threshold.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def chinese_whispers(
    nodes: Sequence[N],
    edges: Iterable[tuple[N, N, float]],
    iterations: int = 30,
    seed: int = 0,
    fixed: dict[N, Hashable] | None = None,
    refused: set[tuple[N, Hashable]] | None = None,
    apart: dict[N, set[N]] | None = None,
) -> dict[N, Hashable]:
    """Cluster label per node; an edge's weight is its similarity. Isolated nodes are
    clusters of their own.

    ``fixed`` nodes keep the label given (the owner's decisions) and pass it on like
    any other; a node never takes a label it ``refused`` ("not this person"), nor one
    that a node it must stay ``apart`` from holds (two faces of one photo are two
    people). Without ``fixed``, labels are 0, 1, … in order of first node."""
    fixed, refused, apart = fixed or {}, refused or set(), apart or {}
    neighbours: dict[N, dict[N, float]] = {n: {} for n in nodes}
    for a, b, w in edges:
        if a != b and a in neighbours and b in neighbours:
            neighbours[a][b] = max(w, neighbours[a].get(b, 0.0))
            neighbours[b][a] = max(w, neighbours[b].get(a, 0.0))
    label: dict[N, Hashable] = {n: fixed.get(n, ("free", i)) for i, n in enumerate(nodes)}
    order = [n for n in nodes if n not in fixed]
    rng = random.Random(seed)
    for _ in range(iterations):
        rng.shuffle(order)
        changed = False
        for n in order:
            weight: dict[Hashable, float] = defaultdict(float)
            taken = {label[m] for m in apart.get(n, ())}
            for m, w in neighbours[n].items():
                if (n, label[m]) not in refused and label[m] not in taken:
                    weight[label[m]] += w
            if not weight:
                continue
            best = max(weight.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
            if best != label[n]:
                label[n], changed = best, True
        if not changed:
            break
    if fixed:
        return label
    return dict(_renumber(nodes, label))


def connected_components(nodes: Sequence[N], edges: Iterable[tuple[N, N, float]]) -> dict[N, int]:
    parent = {n: n for n in nodes}

    def root(n: N) -> N:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b, _ in edges:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
    return _renumber(nodes, {n: root(n) for n in nodes})


def _renumber(nodes: Sequence[N], label: dict) -> dict[N, int]:
    """Labels 0, 1, … in the order clusters first appear among ``nodes``."""
    seen: dict = {}
    return {n: seen.setdefault(label[n], len(seen)) for n in nodes}
