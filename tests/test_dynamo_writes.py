"""Issue 18, item 4 on DynamoDB (moto_server): deleting faces and re-analysis change a
person's stored counts, cover and representatives by what changed, never by counting
the person's faces again; a set's clash counters follow it through a rename."""

from __future__ import annotations

import contextlib
import json

import pytest
from test_ports import assert_people_consistent, catalog, picture, reads_counted  # noqa: F401

from facealbum.domain import Box, Face, Person
from facealbum.ingest import free_name


@contextlib.contextmanager
def member_queries(catalog):  # noqa: F811
    """The Query calls the block makes of a person's membership rows (``person#ID``:
    all of a person's faces), by partition."""
    seen: list[str] = []

    def query(params, **_):
        found = json.loads(params["body"]).get("ExpressionAttributeValues", {}).values()
        seen.extend(v["S"] for v in found if str(v.get("S", "")).startswith("person#"))

    events = catalog.client.meta.events
    events.register("before-call.dynamodb.Query", query)
    try:
        yield seen
    finally:
        events.unregister("before-call.dynamodb.Query", query)


def people_of(catalog) -> dict[str, tuple[int, int]]:  # noqa: F811
    return {p.person_id: (p.face_count, p.picture_count) for p in catalog.list_people()}


def grow(catalog, person: str, n: int) -> None:  # noqa: F811
    """``n`` more pictures of one face each, all ``person``'s."""
    for i in range(n):
        catalog.add_picture(picture(f"{person}{i}", "S", f"sha-{person}{i}", 1))
    catalog.assign_faces({f"{person}{i}-0": person for i in range(n)}, by_owner=False)


@pytest.mark.parametrize("catalog", ["dynamodb"], indirect=True)
def test_a_dynamodb_face_delete_costs_the_same_in_a_person_of_1_or_21_faces(catalog):  # noqa: F811
    """Deleting a picture takes its faces off their persons' counts in the deletion's
    own transaction (a person's membership rows were counted again after, O(its
    faces)): the same calls and items read for a person of 1 face or of 21, no Query of
    a person's faces; the counts equal a recount; a face that was the person's cover or
    a representative leaves those too; and a retry of a deletion killed midway takes
    nothing off twice."""
    for name in ("small", "big"):
        catalog.add_person(Person(name, created_at=1.0))
    grow(catalog, "big", 20)
    for name in ("a", "b"):  # a: small's first face; b: big's 21st
        catalog.add_picture(picture(name, "S", f"sha-{name}", 1))
    catalog.assign_faces({"a-0": "small", "b-0": "big"}, by_owner=False)
    catalog.set_representatives("big", ["big0-0", "b-0", "big1-0"])
    assert people_of(catalog) == {"small": (1, 1), "big": (21, 21)}

    costs = []
    for image_id in ("a", "b"):
        with reads_counted(catalog) as seen, member_queries(catalog) as members:
            assert catalog.delete_picture(image_id) is not None
        costs.append((seen["calls"], seen["items"], members))
    assert costs[0] == costs[1] and costs[1][2] == [], costs
    assert people_of(catalog) == {"small": (0, 0), "big": (20, 20)}
    assert catalog.get_person("big").representatives == ["big0-0", "big1-0"]  # as stored

    # two faces of one person in one picture, one of them its cover: one picture fewer
    catalog.add_picture(picture("c", "S", "sha-c", 3))
    catalog.assign_faces({"c-0": "big", "c-1": "big", "c-2": "small"}, by_owner=False)
    catalog.update_person(Person("big", cover_face_id="c-1", created_at=1.0))
    assert people_of(catalog) == {"small": (1, 1), "big": (22, 21)}
    transact, done = catalog._transact, []

    def killed_after_one_person(ops):  # the picture's transaction, one person's, then dies
        if len(done) == 2:
            raise SystemExit("killed")
        done.append(transact(ops))
        return done[-1]

    catalog._transact = killed_after_one_person
    with pytest.raises(SystemExit):
        catalog.delete_picture("c")
    catalog._transact = transact
    assert people_of(catalog) in ({"small": (1, 1), "big": (20, 20)},
                                  {"small": (0, 0), "big": (22, 21)})  # fmt: skip
    catalog._delete_faces(["c-0", "c-1", "c-2"])  # the step again (and again: nothing)
    catalog._delete_faces(["c-0", "c-1", "c-2"])
    assert people_of(catalog) == {"small": (0, 0), "big": (20, 20)}
    assert catalog.get_person("big").cover_face_id is None
    assert_people_consistent(catalog, ["b-0", "c-0", "c-1", "c-2", "big0-0"])
    counted = people_of(catalog)
    catalog.recount_people(["small", "big"])  # what check --repair runs
    assert people_of(catalog) == counted


@pytest.mark.parametrize("catalog", ["dynamodb"], indirect=True)
def test_a_dynamodb_reanalysis_costs_the_same_in_a_person_of_1_or_21_faces(catalog):  # noqa: F811
    """A picture analysed again changes its persons' rows in the swap's own transaction:
    a face that lost its person takes one face (and here the picture) off that person's
    counts, a paired face keeps its person and carries its cover and representative
    place to its new id; the same calls and items whatever the persons' sizes, no
    Query of a person's faces, and the counts equal a recount."""
    for name in ("small", "big", "other"):
        catalog.add_person(Person(name, created_at=1.0))
    grow(catalog, "big", 20)
    costs = []
    for person in ("small", "big"):
        image_id = f"r-{person}"
        catalog.add_picture(picture(image_id, "S", f"sha-{image_id}", 2))
        kept, lost = f"{image_id}-0", f"{image_id}-1"
        catalog.assign_faces({kept: person, lost: "other"}, by_owner=False)
        catalog.update_person(Person(person, cover_face_id=kept, created_at=1.0))
        catalog.set_representatives(person, [kept])
        catalog.set_representatives("other", [lost])
        new = [Face(f"n-{person}", image_id, Box(0.0, 0.2, 0.1, 0.2), 99.0)]  # kept's box
        with reads_counted(catalog) as seen, member_queries(catalog) as members:
            assert catalog.replace_faces_keeping_people(image_id, new, "t2") == [kept, lost]
        costs.append((seen["calls"], seen["items"], members))
        mine = catalog.get_person(person)
        assert (mine.cover_face_id, mine.representatives) == (f"n-{person}", [f"n-{person}"])
        assert catalog.get_person("other").representatives == []
    assert costs[0] == costs[1] and costs[1][2] == [], costs
    assert people_of(catalog) == {"small": (1, 1), "big": (21, 21), "other": (0, 0)}
    assert_people_consistent(catalog, ["n-small", "n-big", "r-small-0", "r-big-1"])
    counted = people_of(catalog)
    catalog.recount_people(["small", "big", "other"])
    assert people_of(catalog) == counted


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql", "dynamodb"], indirect=True)
def test_a_renamed_set_keeps_its_clash_counters(catalog):  # noqa: F811
    """A clash numbers the name from the set's counter (one write, no probing): after a
    rename the counter goes on under the new name, so the next clash gets a free name
    at once (DynamoDB began it again at 2: a name taken, a clash, another try)."""
    catalog.add_picture(picture("x", "A", "sha-x", 0))
    for n in (2, 3):
        assert catalog.next_name_number("A", "x.jpg") == n
        numbered = picture(f"x{n}", "A", f"sha-x{n}", 0)
        numbered.name = f"x ({n}).jpg"
        assert catalog.add_picture(numbered) == "added"
    catalog.rename_set("A", "B")
    again = picture("y", "B", "sha-y", 0)
    again.name = "x.jpg"
    assert catalog.add_picture(again) == "name_taken"
    again.name = free_name(catalog, "B", "x.jpg", 0)
    assert (again.name, catalog.add_picture(again)) == ("x (4).jpg", "added")
    catalog.create_set("A")  # a new set of the old name begins its own
    assert catalog.next_name_number("A", "x.jpg") == 2


@pytest.mark.parametrize("catalog", ["dynamodb"], indirect=True)
def test_a_dynamodb_picture_deleted_as_it_is_analysed_again_takes_its_new_faces(catalog):  # noqa: F811
    """DynamoDB has no read in a transaction: a re-analysis that swaps a picture's faces
    between a delete's read and its write made the delete forget the old faces (gone
    already, their person's counts taken off by the swap) and leave the new ones, in
    their person. The delete is conditioned on the faces read, so it reads again."""
    catalog.add_person(Person("p", created_at=1.0))
    for name in ("a", "b"):
        catalog.add_picture(picture(name, "S", f"sha-{name}", 1))
    catalog.assign_faces({"a-0": "p", "b-0": "p"}, by_owner=False)
    transact, swapped = catalog._transact, []

    def swap_first(ops):
        first = ops[0].get("Delete", {})
        if not swapped and first.get("TableName") == catalog.pics.name:
            swapped.append(True)  # analysed again just now, by another process
            new = [Face("n-0", "a", Box(0.0, 0.2, 0.1, 0.2), 99.0)]
            assert catalog.replace_faces_keeping_people("a", new, "t2") == ["a-0"]
        return transact(ops)

    catalog._transact = swap_first
    gone = catalog.delete_picture("a")
    catalog._transact = transact
    assert swapped and [f.face_id for f in gone.faces] == ["n-0"]
    assert catalog.get_face("n-0") is None and catalog.get_face("a-0") is None
    assert people_of(catalog) == {"p": (1, 1)}
    assert_people_consistent(catalog, ["a-0", "n-0", "b-0"])
