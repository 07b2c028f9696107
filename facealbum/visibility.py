"""What a visitor may know of people: nothing of a person the owner hid.

Hiding a person is the owner saying "do not point visitors at this one". Leaving out
the person from the people list is not enough when every face in every answer carries
its ``person_id``: crawling the sets would collect every picture of the hidden person.
So each answer shows its faces through one :class:`FaceView` (the web's ``face_json``
takes one): the owner's shows every face as it is; a visitor's shows the face of a
hidden person as a face of no one (the face and its box stay: they are in the picture
for anyone to see).

The view also carries the names of the answer's persons, read in the same batched
read, so a face shows its person's name exactly when it shows its person: a hidden
person's name never reaches a visitor.

And it says where the answer's pictures were taken as this viewer may know it (issue
20): the owner always; a visitor only for pictures of a set that shares locations, as
for originals with their GPS (privacy.py, web/media.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .domain import Face, Picture
from .ports import Catalog


@dataclass(frozen=True)
class FaceView:
    """``hidden``: the persons this viewer must not be told of; ``names``: the names
    of the (shown) persons of the answer that have one."""

    hidden: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)
    # the sets whose pictures' positions and places this viewer is given; None: all
    located: frozenset[str] | None = None

    def shows_location(self, picture: Picture) -> bool:
        """Whether this viewer may have the picture's GPS position and place."""
        return self.located is None or picture.set_name in self.located

    def person_id(self, face: Face) -> str | None:
        """The face's person as this viewer may know it: None for a hidden one."""
        return None if face.person_id in self.hidden else face.person_id

    def person(self, face: Face) -> dict | None:
        """The face's person as this viewer may know it, with its name (None when
        unnamed): None for no person or a hidden one."""
        pid = self.person_id(face)
        return {"person_id": pid, "name": self.names.get(pid)} if pid else None


OWNER = FaceView()  # sees every face's person (no names: use owner_view for those)


def _persons_of(pictures: Iterable[Picture], faces: Iterable[Face]) -> set[str]:
    named = {f.person_id for p in pictures for f in p.faces if f.person_id}
    return named | {f.person_id for f in faces if f.person_id}


def _view(catalog: Catalog, ids: set[str], owner: bool) -> FaceView:
    labels = catalog.person_labels(ids) if ids else {}
    hidden = frozenset() if owner else frozenset(p for p, (_, h) in labels.items() if h)
    names = {p: n for p, (n, _) in labels.items() if n and p not in hidden}
    return FaceView(hidden, names)


def visitor_view(
    catalog: Catalog, pictures: Iterable[Picture] = (), faces: Iterable[Face] = ()
) -> FaceView:
    """The view a visitor gets of these pictures' and faces' persons: one batched read
    of the persons they name (so O(page), never every person of the album)."""
    pictures = list(pictures)
    view = _view(catalog, _persons_of(pictures, faces), owner=False)
    return replace(view, located=_sharing(catalog, pictures))


def _sharing(catalog: Catalog, pictures: Iterable[Picture]) -> frozenset[str]:
    """The sets among those of these pictures that have a position that share their
    locations: one read a set, and none for pictures without a position (most)."""
    sets = {p.set_name for p in pictures if p.latitude is not None or p.place is not None}
    found = (catalog.get_set(name) for name in sorted(sets))
    return frozenset(s.name for s in found if s is not None and s.share_location)


def owner_view(
    catalog: Catalog, pictures: Iterable[Picture] = (), faces: Iterable[Face] = ()
) -> FaceView:
    """The owner's view: every person, with the names, in the same one batched read."""
    return _view(catalog, _persons_of(pictures, faces), owner=True)
