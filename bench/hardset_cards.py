"""Add a "record cards" source to a labelled set: the harshest kind, faces that all look
alike to the model (old record photos of a face database: grayscale, aligned to one
frame, equalised, 92 x 112 px).

    python -m bench.hardset_cards LFW_GIT_DIR SET_DIR [--people 30] [--per 8]

No licensed set of such scans could be found (every candidate was held out for
evaluation or forbids redistribution), so they are made from photos of people who are
in no other source of the set: LFW (Labeled Faces in the Wild) as a git repository
holds them, each person's photos named ``<Person>_<NNNN>.jpg`` under ``*/lfw/``. Each
card is the largest face aligned by ``dlib.get_face_chip`` (bench/clickface.id_card),
cut to the 92:112 frame and shrunk to it. The rows are appended to SET_DIR's
manifest.csv with ``source`` lfw_cards and the original file's repository and path.
Deterministic: the same people (the first with enough photos, in name order, that no
other source has) and photos each time.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
from collections import defaultdict
from pathlib import Path

from PIL import Image

from bench.clickface import id_card

SOURCE = "lfw_cards"
KIND = "grayscale record cards, derived: aligned, equalised, 92x112 (bench/hardset_cards.py)"
SIZE = (92, 112)
# people whose first LFW photos are held out elsewhere (krasserm/face-recognition)
HELD_OUT = {
    "Ariel_Sharon", "Arnold_Schwarzenegger", "Colin_Powell", "Donald_Rumsfeld",
    "George_W_Bush", "Gerhard_Schroeder", "Hugo_Chavez", "Jacques_Chirac", "Tony_Blair",
    "Vladimir_Putin",
}  # fmt: skip


def card(data: bytes) -> Image.Image | None:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    chip = id_card(img)
    if chip is None:
        return None
    w, h = chip.size  # square; keep the middle 92:112 band
    cut = round(w * SIZE[0] / SIZE[1])
    left = (w - cut) // 2
    return chip.crop((left, 0, left + cut, h)).resize(SIZE, Image.LANCZOS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("set_dir", type=Path)
    ap.add_argument("--people", type=int, default=30)
    ap.add_argument("--per", type=int, default=8)
    a = ap.parse_args()
    manifest = a.set_dir / "manifest.csv"
    rows = list(csv.DictReader(manifest.open()))
    taken = {r["person"] for r in rows} | HELD_OUT
    fields = list(rows[0].keys())
    commit = subprocess.run(
        ["git", f"--git-dir={a.git_dir}", "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    files = subprocess.run(
        ["git", f"--git-dir={a.git_dir}", "ls-tree", "-r", "--name-only", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    by_person: dict[str, list[str]] = defaultdict(list)
    for f in files:
        parts = f.split("/")
        if len(parts) >= 2 and parts[-2] == "lfw" and f.endswith(".jpg"):
            by_person[parts[-1].rsplit("_", 1)[0]].append(f)
    chosen = [p for p in sorted(by_person) if p not in taken and len(by_person[p]) >= a.per]
    added = []
    for person in chosen:
        if len({r["person"] for r in added}) >= a.people:
            break
        made = []
        for path in sorted(by_person[person]):
            if len(made) >= a.per:
                break
            data = subprocess.run(
                ["git", f"--git-dir={a.git_dir}", "show", f"HEAD:{path}"], capture_output=True
            ).stdout
            c = card(data)
            if c is None:
                continue
            out = a.set_dir / SOURCE / person / Path(path).name
            out.parent.mkdir(parents=True, exist_ok=True)
            c.save(out, quality=75)
            made.append(
                {
                    **{k: "" for k in fields},
                    "path": str(out.relative_to(a.set_dir)),
                    "source": SOURCE,
                    "kind": KIND,
                    "person": person,
                    "width": SIZE[0],
                    "height": SIZE[1],
                    "grayscale": 1,
                    "note": "derived from the photo at source_path",
                    "source_repo": "erstrong/BigDataSystemsandIntelligenceAnalytics",
                    "source_path": path,
                    "licence": "MIT",
                    "commit": commit,
                }
            )
        if len(made) >= 2:
            added.extend(made)
    rows = [r for r in rows if r["source"] != SOURCE] + added
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print(f"{SOURCE}: {len({r['person'] for r in added})} people, {len(added)} cards")


if __name__ == "__main__":
    main()
