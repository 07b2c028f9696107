"""Person-aware click-face as the product answers it: precision and recall of what a
click on a named person's face lists at the default threshold, three ways side by side
in one run on one album (issue 18, item 2).

    python -m bench.clickface_aware DIR   # DIR/<person>/*.jpg, e.g. /work/shared/faces/people

The album is bench/clickface.py's harder set (each photo as it is, mirrored, as a scan,
as a record card and that card blurred, with strangers' faces), imported with the
default settings, grouped into people (``recluster``) and every person named, as an
owner would. Each labelled face is clicked (``limit`` past the set's size: every page)
and what is listed is scored against the labels, per condition as bench/clickface.py
scores it (micro-averaged over the queries; the clicked picture itself not counted):

- every picture: the behaviour before issue 18 (commit fa86468): the representatives
  search, then every other face of the person lists its picture (the person's faces
  all read: O(the person's size));
- representatives only: what issue 18's first cut did (1cd68a7): the representatives
  search and only what they find is listed;
- now: ``Album.search`` as it is (the representatives search, the person's other
  pictures follow by page: O(representatives + page)).

Unlike bench/clickface.py's rows (every similarity measured at threshold 0, the cut
applied afterwards), this scores the listing itself, so a picture listed because it is
the person's counts as found whatever its similarity.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.clickface import STRANGERS, VARIANTS, _label, make_set, pr
from bench.common import machine
from facealbum.domain import largest_first
from facealbum.importer import import_folder
from facealbum.people.grouping import recluster
from facealbum.people.representatives import of
from facealbum.search import search_face
from facealbum.settings import Settings
from facealbum.wiring import open_album

MOST = 100_000  # more than the set's pictures: every page at once


def listed(album, face, how: str) -> set[str]:
    """Image ids a click on ``face`` lists, the way ``how`` names (module docstring)."""
    if how == "now":
        return {m.picture.image_id for m in album.search(face.face_id, limit=MOST).matches}
    person = album.catalog.get_person(face.person_id) if face.person_id else None
    reps: list[str] = []
    rest: list[str] = []
    if person is not None and person.name:
        reps = [f for f in of(album, [person]).get(person.person_id, []) if f != face.face_id]
        if how == "every picture":  # fa86468's Album._person_faces_of
            faces = sorted(album.catalog.person_faces(person.person_id), key=largest_first)
            rest = [f.face_id for f in faces if f.face_id != face.face_id and f.face_id not in reps]
    s = album.settings
    found = search_face(album.catalog, album.collection, face.face_id, s.match_threshold,
                        MOST, 0, (*reps, *rest), album.quality, face, len(reps))  # fmt: skip
    return {m.picture.image_id for m in found.matches}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("folder", type=Path)
    args = ap.parse_args()
    ways = ["every picture", "representatives only", "now"]
    photos = {"orig", "mirror"}
    conditions = {
        "mixed": (lambda v: True, lambda v: True),
        "photos": (lambda v: v in photos, lambda v: v in photos),
        **{v: (lambda x, v=v: x == v, lambda x, v=v: x == v) for v in VARIANTS[2:]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / "set"
        make_set(args.folder, made)
        album = open_album(Settings(home=Path(tmp) / "home"))
        report = import_folder(album, made, "hard")
        grouped = recluster(album)
        for person in album.catalog.list_people():
            person.name = f"person {person.person_id[:8]}"
            album.catalog.update_person(person)
        pictures = album.get_set("hard")[1]
        label = {p.image_id: _label(p.name) for p in pictures}
        tally = {(w, c): np.zeros(3, int) for w in ways for c in conditions}  # tp, fp, fn
        for p in pictures:
            person, variant = label[p.image_id]
            if not p.faces or p.name.startswith(STRANGERS):
                continue
            face = max(p.faces, key=lambda f: f.box.width * f.box.height)
            for way in ways:
                got = listed(album, face, way) - {p.image_id}
                for cond, (keep, asks) in conditions.items():
                    if not asks(variant):
                        continue
                    pool = {i for i, (_, v) in label.items() if keep(v) and i != p.image_id}
                    truth = {i for i in pool if label[i][0] == person}
                    mine = got & pool
                    tally[(way, cond)] += [len(mine & truth), len(mine - truth), len(truth - mine)]
        s = album.settings
        print(f"machine: {machine()}")
        print(f"{report.count('imported')} pictures of {args.folder} ({len(VARIANTS)} variants "
              f"each, and strangers' faces); {grouped.people} people found from {grouped.faces} "
              f"faces; threshold {s.match_threshold}, rule {s.blurry_face_penalty} below "
              f"{s.sharp_face_floor}, {s.person_representatives} representatives")  # fmt: skip
        print("precision / recall of what a click on a named person's face lists")
        print(f"{'':24s}" + "".join(f"{c:>14s}" for c in conditions))
        for way in ways:
            cells = ""
            for cond in conditions:
                prec, rec = pr(tally[(way, cond)])
                cells += f"{prec:>8.3f}/{rec:.3f}"
            print(f"{way:24s}{cells}")
        album.close()


if __name__ == "__main__":
    sys.exit(main())
