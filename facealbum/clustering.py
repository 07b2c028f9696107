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
) -> dict[N, int]:
    """Cluster label per node (0, 1, … in order of first node); an edge's weight is
    its similarity. Isolated nodes are clusters of their own."""
    neighbours: dict[N, dict[N, float]] = {n: {} for n in nodes}
    for a, b, w in edges:
        if a != b and a in neighbours and b in neighbours:
            neighbours[a][b] = max(w, neighbours[a].get(b, 0.0))
            neighbours[b][a] = max(w, neighbours[b].get(a, 0.0))
    label = {n: i for i, n in enumerate(nodes)}
    order = list(nodes)
    rng = random.Random(seed)
    for _ in range(iterations):
        rng.shuffle(order)
        changed = False
        for n in order:
            if not neighbours[n]:
                continue
            weight: dict[int, float] = defaultdict(float)
            for m, w in neighbours[n].items():
                weight[label[m]] += w
            best = max(weight.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            if best != label[n]:
                label[n], changed = best, True
        if not changed:
            break
    return _renumber(nodes, label)


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
