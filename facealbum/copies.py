"""A photo stored in two sets is two pictures of one content: the same sha256, the hash
the catalog keeps of every original (it refuses a second copy within one set, not
across sets). The owner filed it twice on purpose, but a person's pictures, a face's
matches and "Pictures with…" show photos, not filings: each lists a photo once, at
its first place in the order, naming the other pictures (sets) it is stored as."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .domain import Picture

T = TypeVar("T")


@dataclass(frozen=True)
class Copy:
    """Another picture of the same photo: where it is stored."""

    image_id: str
    set_name: str


def once_per_photo(pictures: Sequence[Picture]) -> list[tuple[Picture, list[Copy]]]:
    """Each photo once, as its first picture, with its other pictures (in order)."""
    refs = {p.image_id: (p.sha256, p.set_name) for p in pictures}
    return once_per_content(pictures, lambda p: p.image_id, refs)


def once_per_content(
    items: Iterable[T], image_id_of: Callable[[T], str], refs: Mapping[str, tuple[str, str]]
) -> list[tuple[T, list[Copy]]]:
    """``items`` (pictures, search hits…) in order, each content once: the first item of
    each content, with the Copy of every later one. ``refs``: image id -> (sha256, set
    name), as Catalog.picture_refs reads it; an item whose picture it lacks (deleted
    a moment ago) stands alone."""
    first: dict[str, tuple[T, list[Copy]]] = {}
    for item in items:
        image_id = image_id_of(item)
        sha, set_name = refs.get(image_id, (f"gone:{image_id}", ""))
        if sha in first:
            first[sha][1].append(Copy(image_id, set_name))
        else:
            first[sha] = (item, [])
    return list(first.values())


def twin_faces(listed: Picture, copy: Picture) -> dict[str, str]:
    """``listed``'s face id -> the same face in ``copy`` (another picture of the same
    content): the face with the same box, since the same bytes analysed the same way
    give the same boxes. A face the owner corrects on a photo listed once is corrected
    on its copies too, else the photo stays listed (as its copy) after "not this
    person". A face without a twin (one set reindexed otherwise) is left out."""
    boxes = {f.box: f.face_id for f in copy.faces}
    return {f.face_id: boxes[f.box] for f in listed.faces if f.box in boxes}
