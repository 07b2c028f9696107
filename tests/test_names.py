"""Names are one form everywhere: a name typed on macOS (NFD) finds what was stored as
NFC through every boundary (command arguments, URLs, JSON, folder names); a command
that matches nothing says so and fails; person names follow the rules of set names."""

from __future__ import annotations

import shutil
import unicodedata
from urllib.parse import quote

import httpx
from conftest import PHOTOS, cli, start_server

SECRET = "names owner secret"
NFC, NFD = "Fête", unicodedata.normalize("NFD", "Fête")


def test_a_set_named_in_nfd_is_found_by_either_form_and_unknown_names_fail(tmp_path):
    assert NFC != NFD and len(NFD) == len(NFC) + 1
    home, folder = tmp_path / "home", tmp_path / "photos"
    (folder / unicodedata.normalize("NFD", "Été")).mkdir(parents=True)
    shutil.copy(PHOTOS / "obama" / "obama.jpg", folder / unicodedata.normalize("NFD", "Été"))
    done = cli("import", str(folder), "--set", NFD, "--workers", "1", home=home)
    assert done.returncode == 0, done.stdout + done.stderr

    # a command's argument in NFD finds the set stored in NFC (as the URLs below do)
    done = cli("export", NFD, str(tmp_path / "export"), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in (tmp_path / "export" / "Été").iterdir()] == ["obama.jpg"]  # NFC
    done = cli("reindex", "--set", NFD, "--all", "--workers", "1", home=home)
    assert done.returncode == 0 and "Reindexed 1 pictures" in done.stdout, done.stdout
    # a name that matches nothing is an error, not "0 pictures" and success
    for args in (("reindex", "--set", "nope"), ("export", "nope", str(tmp_path / "x"))):
        done = cli(*args, home=home)
        assert done.returncode != 0 and "no set 'nope'" in done.stderr, done.stdout + done.stderr
    (tmp_path / "empty").mkdir()
    done = cli("import", str(tmp_path / "empty"), "--set", "Empty", home=home)
    assert done.returncode != 0 and "no photos in" in done.stderr, done.stdout + done.stderr

    proc, base = start_server(home, {"FACEALBUM_OWNER_SECRET": SECRET})
    owner = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {SECRET}"})
    try:
        with owner:
            [stored] = owner.get("/api/sets").json()["sets"]
            assert stored["name"] == NFC
            for form in (NFC, NFD):  # URLs, either form (as a browser on macOS sends it)
                found = owner.get(f"/api/sets/{quote(form)}")
                assert found.status_code == 200, (form, found.text)
                [picture] = found.json()["pictures"]
                assert picture["name"] == "Été/obama.jpg"
                ids = owner.get(f"/api/sets/{quote(form)}/ids").json()
                assert ids == {"name": NFC, "image_ids": [picture["image_id"]], "next": None}
            changed = owner.patch(f"/api/sets/{quote(NFD)}", json={"share_location": True})
            assert changed.status_code == 200 and changed.json()["share_location"] is True
            same = owner.patch(f"/api/sets/{quote(NFD)}", json={"name": NFC})
            assert same.status_code == 200 and same.json()["name"] == NFC  # no rename

            # person names: the rules of set names (and NFC from JSON)
            face = picture["faces"][0]["face_id"]
            person = owner.post("/api/people/split", json={"face_ids": [face]}).json()["person_id"]
            path = f"/api/people/{person}"
            for bad in ("\u202egpj.exe", "Ann\x00", "Ann\u2066B"):
                refused = owner.patch(path, json={"name": bad})
                assert refused.status_code == 422, (bad, refused.text)
                assert "not allowed" in refused.json()["error"]
            named = owner.patch(path, json={"name": f"  {unicodedata.normalize('NFD', 'Zoë')} "})
            assert named.json()["name"] == "Zoë"
            assert owner.patch(path, json={"name": "  "}).json()["name"] is None
    finally:
        proc.terminate()
        proc.wait(10)
