"""Grouping faces into people from a similarity graph.

Rekognition never hands out descriptors, so people are found from what the faces port
does offer on every engine: for each face, the faces similar to it above a threshold
(SearchFaces). That is a weighted graph, and graph clustering works on it as well as on
vectors. Three methods, all deterministic:

- :func:`average_linkage` (UPGMA, the recluster's): the two groups whose faces are
  most alike *on average* merge first, while that average is at or above the cut. A
  single look-alike pair, or a chain of them, cannot fuse two people: every pair of
  their faces counts. Chosen by ``bench/people_accuracy.py`` (leave one source out):
  on the same scores it beats Chinese whispers on every source.

- :func:`chinese_whispers` (Biemann 2006; dlib's clustering of face descriptors is the
  same algorithm on the graph of pairs closer than a distance): every node takes the
  label that weighs most among its neighbours, in a fixed pseudo-random order, until
  nothing changes. A chain of look-alikes does not fuse two people as easily as in
  connected components, since a node follows the weight of its neighbourhood.
- :func:`connected_components`: every edge joins; right only with a tight threshold.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
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


@dataclass
class _Group:
    members: list
    label: Hashable | None  # the owner's, if any member is fixed
    apart: set = field(default_factory=set)  # nodes none of its members may join
    refused: set = field(default_factory=set)  # labels none of its members may take
    links: dict = field(default_factory=dict)  # other group -> [sum of weights, edges]
    version: int = 0


def average_linkage(
    nodes: Sequence[N],
    edges: Iterable[tuple[N, N, float]],
    cut: float,
    missing: float = 0.0,
    fixed: dict[N, Hashable] | None = None,
    refused: set[tuple[N, Hashable]] | None = None,
    apart: dict[N, set[N]] | None = None,
) -> dict[N, Hashable]:
    """Cluster label per node by average linkage on a sparse similarity graph.

    Starting from one group per node, the two groups with the highest mean weight over
    every pair of their nodes merge, until no pair of groups reaches ``cut``. A pair
    without an edge weighs ``missing`` (below the cut: the search that made the graph
    found them less alike than its floor), so only groups joined by edges ever merge,
    and memory and time follow the edges, not the square of the nodes. Without
    constraints the groups are those of ``scipy.cluster.hierarchy.linkage(method=
    "average")`` cut at that distance (``tests/test_clustering.py`` checks it).

    Constraints, as :func:`chinese_whispers` takes them: ``fixed`` nodes with one label
    start as one group that keeps the label (the owner's person) and never merges with
    another label's; a group never merges where a node would join a label it
    ``refused`` or a node it must stay ``apart`` from (two faces of one photo). Free
    groups are labelled 0, 1, ... in order of first node."""
    fixed, refused, apart = fixed or {}, refused or set(), apart or {}
    group_of: dict[N, int] = {}
    groups: dict[int, _Group] = {}
    by_label: dict[Hashable, int] = {}
    for n in nodes:
        if n in group_of:
            continue
        given = fixed.get(n)
        if given is not None and given in by_label:
            gid = by_label[given]
            groups[gid].members.append(n)
        else:
            gid = len(groups)
            groups[gid] = _Group([n], given)
            if given is not None:
                by_label[given] = gid
        group_of[n] = gid
    for n, gid in group_of.items():
        groups[gid].apart |= set(apart.get(n, ()))
    for n, no in refused:
        if n in group_of:
            groups[group_of[n]].refused.add(no)
    # an edge found from both ends counts once, at its higher weight (whichever end
    # came first); a weight that is no finite number (a broken answer) is no edge
    weight: dict[tuple[N, N], float] = {}
    for a, b, w in edges:
        if a == b or a not in group_of or b not in group_of or not math.isfinite(w):
            continue
        pair = (b, a) if (b, a) in weight else (a, b)
        weight[pair] = max(w, weight.get(pair, w))
    for (a, b), w in weight.items():
        ga, gb = group_of[a], group_of[b]
        if ga == gb:
            continue
        link = groups[ga].links.setdefault(gb, [0.0, 0])
        link[0] += w
        link[1] += 1
        groups[gb].links[ga] = link

    def mean(ga: int, gb: int) -> float:
        total, count = groups[ga].links[gb]
        pairs = len(groups[ga].members) * len(groups[gb].members)
        return (total + missing * (pairs - count)) / pairs

    def may_merge(a: _Group, b: _Group) -> bool:
        if a.label is not None and b.label is not None:
            return False  # two of the owner's persons
        if a.label in b.refused or b.label in a.refused:
            return False
        small, other = (a, b) if len(a.members) <= len(b.members) else (b, a)
        return not any(m in other.apart for m in small.members)

    heap = [(-mean(ga, gb), ga, gb, 0, 0) for ga in groups for gb in groups[ga].links if ga < gb]
    heapq.heapify(heap)
    while heap:
        neg, ga, gb, va, vb = heapq.heappop(heap)
        if -neg < cut:
            break
        one, two = groups.get(ga), groups.get(gb)
        if one is None or two is None or one.version != va or two.version != vb:
            continue  # stale: one of them has merged since
        if not may_merge(one, two):
            continue  # never again: a merged group keeps what forbids it
        if len(one.members) < len(two.members):
            ga, gb, one, two = gb, ga, two, one
        one.members += two.members
        one.label = one.label if one.label is not None else two.label
        one.apart |= two.apart
        one.refused |= two.refused
        one.version += 1
        del one.links[gb]
        for gc, (total, count) in two.links.items():
            if gc == ga:
                continue
            link = one.links.setdefault(gc, [0.0, 0])
            link[0] += total
            link[1] += count
            other = groups[gc]
            del other.links[gb]
            other.links[ga] = link
        del groups[gb]
        for gc in one.links:
            heapq.heappush(heap, (-mean(ga, gc), ga, gc, one.version, groups[gc].version))
    labels: dict[N, Hashable] = {}
    for gid, g in groups.items():
        for n in g.members:
            labels[n] = g.label if g.label is not None else ("free", gid)
    if fixed:
        return labels
    return dict(_renumber(nodes, labels))


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
