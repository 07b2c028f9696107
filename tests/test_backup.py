"""Backup, restore and export on real albums: a restored album is the same album
(check clean, same search results), a backup taken while pictures come and go is still
consistent, a second backup copies only what is new, and an export gives the originals
byte for byte with their faces."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import threading

import pytest
from conftest import PHOTOS, cli, other_pixels, start_server

from facealbum.backup import backup, restore
from facealbum.check import check_album
from facealbum.domain import BadInput
from facealbum.export import export_set
from facealbum.importer import import_folder
from facealbum.settings import Settings
from facealbum.wiring import open_album


def album_state(album) -> dict:
    """Everything a visitor or the owner can see, with every face's search results."""
    state: dict = {}
    for s in album.sets():
        _, pictures = album.get_set(s.name)
        state[s.name] = {
            "featured": s.featured.name if s.featured else None,
            "share_location": s.share_location,
            "pictures": {
                p.name: (p.sha256, p.pixel_sha256, [(f.face_id, f.box) for f in p.faces])
                for p in pictures
            },
        }
        for p in pictures:
            for f in p.faces:
                hits = album.search(f.face_id, limit=100).matches
                state[f.face_id] = [(m.picture.name, round(m.similarity, 4)) for m in hits]
    return state


def test_restore_gives_the_same_album_and_a_second_backup_copies_only_new_files(
    library_home, tmp_path
):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    (home / "owner-secret").write_text("correct horse\n")
    album = open_album(Settings(home=home))
    album.rename_set("fixtures", "Family")
    album.catalog.set_share_location("Family", True)
    queued = album.submit_upload(
        "Family", "late.jpg", other_pixels((PHOTOS / "biden" / "biden2.jpg").read_bytes(), 1)
    )
    dest = tmp_path / "backup"

    first = backup(album, dest)
    n = album.stats().pictures
    assert first.pictures == n and not first.damaged and not first.deleted_meanwhile
    assert first.copied >= n + 2 + 1  # originals (some shared), renditions, the queued file
    again = backup(album, dest)
    assert again.copied == 0 and again.kept == first.copied  # incremental: nothing new
    new_content = other_pixels((PHOTOS / "nofaces" / "dog.jpg").read_bytes(), 2)
    album.ingest("Family", "extra.jpg", new_content)
    third = backup(album, dest)
    assert third.copied == 3  # the new original, its thumbnail and preview

    before = album_state(album)
    restored = open_album(Settings(home=tmp_path / "restored"))
    report = restore(restored, dest)
    assert report.problems == [] and report.pictures == n + 1
    assert check_album(restored) == []
    assert album_state(restored) == before
    assert (tmp_path / "restored" / "owner-secret").read_text() == "correct horse\n"
    assert (tmp_path / "restored" / "owner-secret").stat().st_mode & 0o777 == 0o600
    # the upload that was waiting comes back waiting, with its file, and then runs
    assert [u.status for u in restored.uploads([queued.upload_id])] == ["queued"]
    restored.queue.run_pending()
    assert [u.status for u in restored.uploads([queued.upload_id])] == ["added"]

    with pytest.raises(BadInput, match="restore needs an empty album"):
        restore(restored, dest)  # nothing is ever restored over an album


def test_a_backup_during_writes_is_consistent_and_never_keeps_a_damaged_original(
    library_home, tmp_path
):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    dest = tmp_path / "backup"
    photos = sorted(PHOTOS.rglob("*.jpg"))
    stop = threading.Event()
    errors: list[BaseException] = []
    done = [0]

    def churn() -> None:  # another process's work, as the server's jobs would do it
        writer = open_album(Settings(home=home))
        i = 0
        try:
            while not stop.is_set():
                stored = writer.ingest("churn", f"{i}.jpg", photos[i % len(photos)].read_bytes())
                if i % 2:
                    writer.delete_picture(stored.picture.image_id)
                i += 1
                done[0] = i
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=churn)
    thread.start()
    backups = 0
    try:
        while done[0] < 8 and not errors:  # backups back to back while pictures come and go
            assert not backup(album, dest, prune=backups % 3 == 2).damaged
            backups += 1
    finally:
        stop.set()
        thread.join()
    assert not errors and backups > 3
    restored = open_album(Settings(home=tmp_path / "restored"))
    assert restore(restored, dest).problems == []
    assert check_album(restored) == []

    # a picture deleted after the catalog was copied but before its files were: left
    # out of the restored album instead of restored without files
    unique = (PHOTOS / "nofaces" / "dog.jpg").read_bytes() + b"only here"
    victim = album.ingest("alone", "dog.jpg", unique)
    shutil.rmtree(dest)
    deleted: list[str] = []

    def delete_once(_key: str) -> None:
        if not deleted:
            album.delete_picture(victim.picture.image_id)
            deleted.append(victim.picture.image_id)

    report = backup(album, dest, on_progress=delete_once)
    assert report.deleted_meanwhile == deleted
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["deleted_meanwhile"] == deleted
    again = open_album(Settings(home=tmp_path / "restored-2"))
    assert restore(again, dest).problems == []
    assert check_album(again) == []
    assert again.catalog.get_picture(victim.picture.image_id) is None

    # an original damaged in the album is reported, and the good copy stays
    picture = album.get_set("fixtures")[1][0]
    path = home / "blobs" / "originals" / picture.original_key
    good = path.read_bytes()
    path.write_bytes(good[:-10])
    kept = dest / "blobs" / "originals" / picture.original_key
    report = backup(album, dest)
    assert any(picture.original_key in d for d in report.damaged)
    assert kept.read_bytes() == good


def test_backup_and_restore_on_postgresql_use_pg_dump(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    album = open_album(Settings(home=tmp_path / "home", database_url=url))
    assert import_folder(album, PHOTOS / "obama", "obama", workers=1).count("failed") == 0
    album.ingest("groups", "two.jpg", (PHOTOS / "groups" / "two_people.jpg").read_bytes())
    report = backup(album, tmp_path / "backup")
    assert (tmp_path / "backup" / "catalog.pgdump").is_file() and not report.damaged

    target = pg_cluster.new_database()
    restored = open_album(Settings(home=tmp_path / "restored", database_url=target))
    assert restore(restored, tmp_path / "backup").problems == []
    assert check_album(restored) == []
    assert album_state(restored) == album_state(album)
    assert all(p.pixel_sha256 for p in restored.get_set("obama")[1])
    # the catalog keeps working after the restore: new faces get fresh sequence numbers
    restored.ingest("groups", "dog.jpg", (PHOTOS / "nofaces" / "dog.jpg").read_bytes())
    # and keeps one photo once per set: a copy with another caption is the one there
    from test_dedupe import OBAMA, with_exif

    again = restored.ingest("obama", "recaptioned.jpg", with_exif(OBAMA, description="x"))
    assert (again.status, again.same, again.picture.name) == ("duplicate", "pixels", "obama.jpg")
    sqlite_home = open_album(Settings(home=tmp_path / "sqlite"))
    with pytest.raises(BadInput, match="same kind"):
        restore(sqlite_home, tmp_path / "backup")


def test_cli_backup_while_the_server_runs_then_restore(library_home, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    proc, _base = start_server(home)
    try:
        done = cli("backup", str(tmp_path / "backup"), home=home)
    finally:
        proc.terminate()
        proc.wait(10)
    assert done.returncode == 0, done.stderr
    assert "Backed up" in done.stdout
    back = cli("restore", str(tmp_path / "backup"), home=tmp_path / "restored")
    assert back.returncode == 0, back.stderr + back.stdout
    assert "no problems found" in back.stdout
    refused = cli("restore", str(tmp_path / "backup"), home=home)
    assert refused.returncode == 2 and "empty album" in refused.stderr
    bad = cli("restore", str(tmp_path), home=tmp_path / "other")
    assert bad.returncode == 2 and "not a facealbum backup" in bad.stderr


def test_export_writes_the_originals_and_their_faces(library, tmp_path):
    dest = tmp_path / "export"
    report = export_set(library, "fixtures", dest)
    _, pictures = library.get_set("fixtures")
    assert report.pictures == len(pictures) == report.written
    for p in pictures:
        assert hashlib.sha256((dest / p.name).read_bytes()).hexdigest() == p.sha256
    index = json.loads((dest / "faces.json").read_text())
    by_name = {d["name"]: d for d in index["pictures"]}
    assert set(by_name) == {p.name for p in pictures}
    for p in pictures:
        assert by_name[p.name]["pixel_sha256"] == p.pixel_sha256 and p.pixel_sha256
        described = by_name[p.name]["faces"]
        assert [f["face_id"] for f in described] == [f.face_id for f in p.faces]
        for f, d in zip(p.faces, described, strict=True):
            assert d["box"]["Left"] == f.box.left
            assert d["box_px"]["width"] == round(f.box.width * p.width)
    rows = list(csv.DictReader((dest / "faces.csv").open()))
    faceless = sum(1 for p in pictures if not p.faces)
    assert len(rows) == sum(len(p.faces) for p in pictures) + faceless
    assert {r["picture"] for r in rows} == {p.name for p in pictures}

    again = cli("export", "fixtures", str(dest), home=library.settings.home)
    assert again.returncode == 0, again.stderr
    assert f"0 written, {len(pictures)} already there" in again.stdout
    other = tmp_path / "not-empty"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(BadInput, match="not empty"):
        export_set(library, "fixtures", other)
    assert (other / "mine.txt").read_text() == "keep me"


def test_a_snapshot_taken_mid_import_restores_without_stray_faces(album, tmp_path):
    """A photo's faces are indexed a moment before its row is written; a backup taken
    in that moment holds faces no picture lists. The restored album drops them."""
    from facealbum.ingest import analyze, index_faces, new_image_id

    album.ingest("Trip", "obama.jpg", (PHOTOS / "obama" / "obama.jpg").read_bytes())
    in_flight = analyze((PHOTOS / "groups" / "two_people.jpg").read_bytes(), album.settings)
    index_faces(album.collection, in_flight, new_image_id())  # ... and the import stops here
    dest = tmp_path / "backup"
    backup(album, dest)
    restored = open_album(Settings(home=tmp_path / "restored", orphan_face_grace=0))
    report = restore(restored, dest)
    assert report.problems == [] and report.forgotten_faces == 2
    assert check_album(restored) == []
    [picture] = restored.get_set("Trip")[1]
    assert [r.face_id for r in restored.collection.records()] == [picture.faces[0].face_id]


def test_a_restored_album_has_no_regrouping_running_but_keeps_its_request(library_home, tmp_path):
    """A backup taken while people were being regrouped holds that run's claim; nothing
    runs in a restored album, so restore lets the claim go (the request stays: the next
    job loop, import or `people recluster` regroups at once, not a lease later)."""
    from facealbum.people import regroup

    home = tmp_path / "home"
    shutil.copytree(library_home, home)
    album = open_album(Settings(home=home))
    regroup.request(album, delay=0)
    assert regroup.claim(album, "the runner the backup caught mid-way")
    backup(album, tmp_path / "backup")
    restored = open_album(Settings(home=tmp_path / "restored"))
    restore(restored, tmp_path / "backup")
    status = regroup.status(restored)
    assert status["state"] == "scheduled" and not status["lease_until"]
    assert regroup.run(restored) is not None
    assert regroup.status(restored)["state"] == "idle"
