"""Graph clustering, the ground people grouping stands on."""

from __future__ import annotations

from facealbum.people.clustering import chinese_whispers, connected_components


def clique(names: str, w: float) -> list[tuple[str, str, float]]:
    return [(a, b, w) for i, a in enumerate(names) for b in names[i + 1 :]]


def test_a_weak_bridge_joins_components_but_not_whispers():
    """Two people, each a tight clique, and one look-alike pair between them: connected
    components fuse them, Chinese whispers keeps them apart; a loner stays alone."""
    nodes = list("abcdeXYZWV") + ["loner"]
    edges = clique("abcde", 95.0) + clique("XYZWV", 95.0) + [("e", "X", 81.0)]
    whispers = chinese_whispers(nodes, edges)
    assert len({whispers[n] for n in "abcde"}) == 1 and len({whispers[n] for n in "XYZWV"}) == 1
    assert whispers["a"] != whispers["X"] != whispers["loner"] != whispers["a"]
    components = connected_components(nodes, edges)
    assert components["a"] == components["X"] != components["loner"]


def test_labels_are_stable_and_numbered_in_node_order():
    nodes = ["p", "q", "r", "s"]
    edges = [("r", "s", 90.0), ("p", "q", 90.0)]
    first = chinese_whispers(nodes, edges, seed=1)
    assert first == chinese_whispers(nodes, edges, seed=1)
    assert first == {"p": 0, "q": 0, "r": 1, "s": 1}
    assert connected_components(nodes, edges) == first
    assert chinese_whispers(nodes, [("p", "unknown", 99.0)]) == {"p": 0, "q": 1, "r": 2, "s": 3}


def test_nodes_kept_apart_never_share_a_label_and_fixed_ones_hold():
    """Three faces of one photo that look alike (small, blurry) stay three people; a
    fixed node keeps its label and passes it on; a refused label is never taken."""
    nodes = ["a", "b", "c", "d"]
    edges = [("a", "b", 90.0), ("b", "c", 90.0), ("a", "c", 90.0), ("c", "d", 99.0)]
    apart = {"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}}
    labels = chinese_whispers(nodes, edges, apart=apart)
    assert len({labels["a"], labels["b"], labels["c"]}) == 3
    fixed = chinese_whispers(nodes, edges, fixed={"c": "Ann"})
    assert fixed["c"] == "Ann" and fixed["d"] == "Ann"
    refusing = chinese_whispers(nodes, edges, fixed={"c": "Ann"}, refused={("d", "Ann")})
    assert refusing["d"] != "Ann"
