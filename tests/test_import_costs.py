"""What `facealbum import` costs the main process per photo, beyond the workers'
analysis (which the face_recognition loop pays too): counted, never timed.

Placing a photo's faces is one search call and a fixed number of catalog statements;
the regrouping at the end searches its faces a chunk at a time; each person the import
changed has its representatives chosen once, at the end (up to 64 faces compared in
one call), however often its users followed during the import."""

from __future__ import annotations

import io
from collections import Counter

from badfiles import PHOTOS
from conftest import other_pixels
from PIL import Image
from sqlalchemy import event
from sqlalchemy.engine import Engine

from facealbum.adapters.faces_local import LocalFaces
from facealbum.importer import import_folder
from facealbum.people import representatives
from facealbum.settings import Settings
from facealbum.wiring import open_album

PHOTOS_N = 12


def test_an_import_searches_and_writes_a_bounded_amount_per_photo(tmp_path, monkeypatch):
    face = Image.open(PHOTOS / "obama" / "obama-480p.jpg").crop((330, 20, 560, 250))
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(PHOTOS_N):  # distinct content: none is skipped as a copy
        (folder / f"{i:02d}.jpg").write_bytes(other_pixels(buf.getvalue(), i))
    # the users follow after every photo: the most an import's people work can be
    album = open_album(Settings(home=tmp_path / "home", people_follow_seconds=0))
    searches: Counter[str] = Counter()
    for name in ("search_faces", "search_faces_ranked", "search_faces_ranked_many",
                 "search_hits_many"):  # fmt: skip
        real = getattr(LocalFaces, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            searches[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(LocalFaces, name, counted)
    chosen: Counter[str] = Counter()
    real_choose = representatives.choose

    def choose(album, person, faces, current=()):
        chosen[person.person_id] += 1
        return real_choose(album, person, faces, current)

    monkeypatch.setattr(representatives, "choose", choose)
    statements = [0]

    def count(*_):
        statements[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        report = import_folder(album, folder, "faces", workers=2)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert report.count("imported") == PHOTOS_N and report.faces == PHOTOS_N
    people = {f.person_id for p in album.all_pictures() for f in p.faces}
    assert len(people) == 1 and None not in people
    person = album.catalog.get_person(next(iter(people)))
    assert person is not None and len(person.representatives) == 8
    # one representatives choice for the one person (it was chosen at each follow
    # while it had fewer than 8 faces: 8 times)
    assert chosen == {person.person_id: 1}, chosen
    # placement: one call a photo; the regrouping: one (12 faces < a chunk of 64);
    # representatives: one (it was 59: a search a face, in each choice too)
    assert sum(searches.values()) <= PHOTOS_N + 2, searches
    # the photo's row and blobs' lock, the placement, the users' follow, and the
    # end's regrouping and representatives spread over the photos (it was 48.8)
    assert statements[0] / PHOTOS_N <= 40, statements[0] / PHOTOS_N
