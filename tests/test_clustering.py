"""Graph clustering, the ground people grouping stands on."""

from __future__ import annotations

from facealbum.people.clustering import average_linkage, chinese_whispers, connected_components


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


def test_average_linkage_is_scipys_on_a_sparse_graph():
    """The same groups as scipy's average linkage (UPGMA) cut at the same distance,
    pairs the search did not return counting as similarity 0, on random albums."""
    import itertools

    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(2, 30))
        centres = rng.normal(size=(int(rng.integers(1, 6)), 8))
        x = centres[rng.integers(0, len(centres), n)] + rng.normal(scale=0.6, size=(n, 8))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        sim = x @ x.T * 100
        seen = np.where(sim >= 20.0, sim, 0.0)  # a search with a floor of 20
        dist = 100 - seen
        np.fill_diagonal(dist, 0.0)
        cut = float(rng.uniform(40, 90))
        scipys = fcluster(linkage(squareform(dist, checks=False), "average"), 100 - cut, "distance")
        edges = [(i, j, sim[i, j]) for i, j in itertools.combinations(range(n), 2) if seen[i, j]]
        ours = average_linkage(list(range(n)), edges, cut)
        mine = [ours[i] for i in range(n)]
        assert (np.equal.outer(scipys, scipys) == np.equal.outer(mine, mine)).all()


def test_a_chain_of_look_alikes_does_not_fuse_two_people_under_average_linkage():
    """Two people (tight cliques) and two look-alike pairs between them: single pairs
    above the cut, but the two people on average far below it."""
    nodes = list("abcdeXYZWV")
    edges = clique("abcde", 95.0) + clique("XYZWV", 95.0) + [("e", "X", 90.0), ("d", "Y", 88.0)]
    labels = average_linkage(nodes, edges, cut=80.0)
    assert labels == {**dict.fromkeys("abcde", 0), **dict.fromkeys("XYZWV", 1)}


def test_average_linkage_keeps_the_owners_faces_the_photos_apart_and_refusals():
    """A fixed label holds and pulls its look-alikes along; two fixed labels never
    merge; faces of one photo stay apart; a refused label is never joined."""
    nodes = ["a", "b", "c", "d", "e"]
    edges = clique("abcde", 95.0)
    fixed = average_linkage(nodes, edges, 80.0, fixed={"a": "Ann", "e": "Bob"})
    assert fixed["a"] == "Ann" and fixed["e"] == "Bob"
    assert {fixed[n] for n in "bcd"} <= {"Ann", "Bob"}
    apart = average_linkage(nodes, edges, 80.0, apart={"a": {"b"}, "b": {"a"}})
    assert apart["a"] != apart["b"] and len({apart[n] for n in "cde"}) == 1
    refusing = average_linkage(nodes, edges, 80.0, fixed={"a": "Ann"}, refused={("b", "Ann")})
    assert refusing["b"] != "Ann" and refusing["c"] == "Ann"
    # the owner's faces of one person start together, however unlike they look
    apart_look = average_linkage(["p", "q"], [], 80.0, fixed={"p": "Ann", "q": "Ann"})
    assert apart_look == {"p": "Ann", "q": "Ann"}


def test_a_crowded_person_does_not_swallow_a_look_alike_under_average_linkage():
    """A crowded person (five faces alike, as gray scans are) and a look-alike of two
    faces, one of which resembles all five just above the cut: Chinese whispers lets
    the crowd's summed weight pull both look-alike faces in; average linkage weighs
    every pair of the two groups (the other face resembles none of the five) and
    keeps them apart."""
    nodes = list("ABCDE") + ["x", "y"]
    edges = clique("ABCDE", 95.0) + [("x", "y", 88.0)] + [(a, "x", 85.0) for a in "ABCDE"]
    whispers = chinese_whispers(nodes, edges)
    assert whispers["x"] == whispers["y"] == whispers["A"]  # today's grouping fuses them
    linked = average_linkage(nodes, edges, cut=83.0)
    assert linked["x"] == linked["y"] != linked["A"]
    assert len({linked[n] for n in "ABCDE"}) == 1


def test_as_norm_judges_a_pair_against_both_faces_neighbourhoods():
    """The same similarity counts for less between faces that look like everyone (a
    crowded cohort, as gray scans have) than between ordinary faces; the score is
    symmetric; a search that returned few faces pads the cohort with its floor."""
    from facealbum.people.scoring import as_norm, cohort_of

    crowded = cohort_of([88.0 + (i % 7) for i in range(60)], floor=50.0)
    ordinary = cohort_of([60.0, 55.0, 52.0], floor=50.0)
    assert as_norm(90.0, crowded, crowded) < as_norm(90.0, ordinary, ordinary)
    assert as_norm(90.0, crowded, ordinary) == as_norm(90.0, ordinary, crowded)
    assert cohort_of([], floor=50.0) == cohort_of([50.0] * 50, floor=50.0)


def test_as_norm_groups_many_copies_of_one_photo():
    """The same photo imported 55 times (55 faces at similarity 100 to each other): a
    face's copies are not its neighbourhood. Before, each face's cohort was its 50
    copies, every pair scored 0 cohort deviations, under the cut, and recluster made 55
    persons of one face."""
    from facealbum.people.scoring import as_norm, cohort_of
    from facealbum.settings import Settings

    copies = [f"c{i}" for i in range(55)]
    cohort = cohort_of([100.0] * 54 + [62.0, 55.0], floor=50.0)
    edges = [(a, b, as_norm(100.0, cohort, cohort)) for a in copies for b in copies if a < b]
    labels = average_linkage(copies, edges, cut=Settings().people_cohort_cut)
    assert set(labels.values()) == {0}


def test_average_linkage_ignores_broken_weights_and_the_order_of_both_ends():
    """A NaN similarity (a broken answer) joins no one; a pair listed from both ends
    with two similarities counts at the higher, whichever end is listed first."""
    assert len(set(average_linkage(list("ab"), [("a", "b", float("nan"))], 80.0).values())) == 2
    both = [("a", "b", 90.0), ("b", "a", 70.0)]
    for edges in (both, both[::-1]):
        assert average_linkage(list("ab"), edges, 80.0) == {"a": 0, "b": 0}
