"""What a visitor may know of people: nothing of a person the owner hid.

Hiding a person is the owner saying "do not point visitors at this one". Leaving out
the person from the people list is not enough when every face in every answer carries
its ``person_id``: crawling the sets would collect every picture of the hidden person.
So each answer shows its faces through one :class:`FaceView` (the web's ``face_json``
takes one): the owner's shows every face as it is; a visitor's shows the face of a
hidden person as a face of no one (the face and its box stay: they are in the picture
for anyone to see).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .domain import Face, Picture
from .ports import Catalog


@dataclass(frozen=True)
class FaceView:
    """``hidden``: the persons this viewer must not be told of."""

    hidden: frozenset[str] = frozenset()

    def person_id(self, face: Face) -> str | None:
        """The face's person as this viewer may know it: None for a hidden one."""
        return None if face.person_id in self.hidden else face.person_id


OWNER = FaceView()  # sees every face's person


def visitor_view(
    catalog: Catalog, pictures: Iterable[Picture] = (), faces: Iterable[Face] = ()
) -> FaceView:
    """The view a visitor gets of these pictures' and faces' persons: one batched read
    of the persons they name (so O(page), never every person of the album)."""
    named = {f.person_id for p in pictures for f in p.faces if f.person_id}
    named |= {f.person_id for f in faces if f.person_id}
    return FaceView(frozenset(catalog.hidden_persons(named))) if named else FaceView()
