"""The rest of a named person's pictures after a click on one of its faces.

A click on a named person's face promises every photo of that person, best match
first. The search (search.py) ranks what the face and the person's representatives
find; a picture of the person they do not find (a look none of them shares, a face the
owner put there, a face grouped at ``people_threshold`` below the search's threshold)
follows them, in id order, at the threshold's similarity: vouched for, not measured.
Reading them page by page (``Catalog.person_image_ids``) keeps the cost O(offset +
limit + the pictures ranked), never O(the person's size).
"""

from __future__ import annotations

from collections.abc import Sequence

from .collection import Hit
from .copies import Copy
from .domain import Person
from .ports import Catalog

READ_MAX = 1000  # ids per person_image_ids read


def rest_of_person(
    catalog: Catalog,
    person: Person,
    ranked: Sequence[tuple[Hit, list[Copy]]],
    refs: dict[str, tuple[str, str]],
    skip: int,
    want: int,
    similarity: float,
) -> tuple[list[tuple[Hit, list[Copy]]], int]:
    """The person's photos that ``ranked`` (the search's photos, with their copies;
    ``refs``: their image id -> (sha256, set name)) does not show: ``want`` of them
    after the first ``skip``, each as a hit on the person's face in it (face id ""
    where it is not known yet: the caller picks the person's face of the picture); and
    how many there are in all. That count is exact when the walk reached the person's
    last picture, else ``Person.picture_count`` less the ranked pictures that are the
    person's (one ``face_persons`` read of those), which counts a photo stored in
    several sets, none of them ranked, once per set.

    Cost: reads of ids in the person's id order up to the page's last one, skipping
    only ranked pictures (O(skip + want + len(ranked))), and ``picture_refs`` of those
    ids."""
    shown = {h.image_id for h, _ in ranked} | {c.image_id for _, cs in ranked for c in cs}
    shas = {refs[i][0] for i in shown if i in refs}
    out: list[tuple[Hit, list[Copy]]] = []
    first: dict[str, list[Copy]] = {}  # sha -> the copies of a tail photo listed
    seen, after = 0, None
    batch = min(skip + want + len(shown) + 1, READ_MAX)
    while want and seen < skip + want:
        ids = catalog.person_image_ids(person.person_id, after, batch)
        found = catalog.picture_refs(ids)
        for image_id in ids:
            after = image_id
            sha, set_name = found.get(image_id, (f"gone:{image_id}", ""))
            if image_id in shown or sha in shas:
                continue
            if sha in first:
                first[sha].append(Copy(image_id, set_name))
                continue
            seen += 1
            first[sha] = []
            if skip < seen <= skip + want:
                out.append((Hit("", image_id, similarity), first[sha]))
            elif seen > skip + want:
                seen -= 1  # not listed: counted below
                break
        else:
            if len(ids) < batch:  # the person's last picture: the count is exact
                return out, seen
            continue
        break
    mine = catalog.face_persons(sorted(shown))
    of_person = sum(1 for persons in mine.values() if person.person_id in persons)
    return out, max(person.picture_count - of_person, seen)
