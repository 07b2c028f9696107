"""What the people pages cost, before and after, side by side on one SQLite catalog.

    python -m bench.people_reads [--persons 200] [--faces 10000,100000]
    python -m bench.people_reads --pages --persons 20000 --faces 200000

Without ``--pages`` (issue 17): ``list_people`` as it is now (person rows) against the
query it ran before (persons joined to a GROUP BY count over every assigned face), and
one person's representatives read. With ``--pages`` (issue 18): each people read as it
was before issue 18 (every person, every face of the person) against the paged read
now (``people/edits.py`` and the catalog's indexes), on an album where the largest
person has a fifth of the faces, 19 more have 1 % each and the rest share what is
left; the first two share 1,000 pictures, no other two any. Median of 15 runs (5 for
reads over 1 s), ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import distinct, func, insert, select

from facealbum.adapters.catalog_schema import faces, persons, pictures, sets
from facealbum.adapters.catalog_sql import SqlCatalog
from facealbum.domain import largest_first
from facealbum.settings import Settings


def before(catalog: SqlCatalog) -> int:
    """Today's query before issue 17 (catalog_sql_people._people at 13c0904)."""
    counts = (
        select(
            faces.c.person_id,
            func.count().label("n_faces"),
            func.count(distinct(faces.c.image_id)).label("n_pictures"),
        )
        .where(faces.c.person_id.is_not(None))
        .group_by(faces.c.person_id)
        .subquery()
    )
    q = select(persons, counts.c.n_faces, counts.c.n_pictures).outerjoin(
        counts, counts.c.person_id == persons.c.person_id
    )
    with catalog.engine.connect() as conn:
        return len(conn.execute(q).all())


def median_ms(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        if times[-1] > 1000 and len(times) >= 5:
            break
    return statistics.median(times)


def fill(catalog: SqlCatalog, n_persons: int, n_faces: int, owner=None) -> None:
    """``n_faces`` pictures of one face each; face i is person ``owner(i)``'s (by
    default spread evenly), each person's first 8 faces its representatives."""
    owner = owner or (lambda i: i % n_persons)
    with catalog.engine.begin() as conn:
        conn.execute(insert(sets).values(name="S", created_at=0))
        conn.execute(
            insert(persons),
            [{"person_id": f"p{i:05d}", "created_at": float(i)} for i in range(n_persons)],
        )
        conn.execute(
            insert(pictures),
            [
                {"image_id": f"i{i:07d}", "set_name": "S", "name": f"{i}.jpg",
                 "sha256": f"{i:064d}", "width": 10, "height": 10, "original_key": "k",
                 "content_type": "image/jpeg", "byte_size": 1, "engine_tag": "t",
                 "created_at": 0.0}
                for i in range(n_faces)
            ],
        )  # fmt: skip
        conn.execute(
            insert(faces),
            [
                {"face_id": f"f{i:07d}", "image_id": f"i{i:07d}", "box_left": 0.1,
                 "box_top": 0.1, "box_width": 0.2, "box_height": 0.2, "confidence": 99.0,
                 "person_id": f"p{owner(i):05d}", "by_owner": False}
                for i in range(n_faces)
            ],
        )  # fmt: skip
    ids = [f"p{i:05d}" for i in range(n_persons)]
    catalog.recount_people(ids)
    first: dict[int, list[str]] = {}
    for i in range(n_faces):
        reps = first.setdefault(owner(i), [])
        if len(reps) < 8:
            reps.append(f"f{i:07d}")
    for i, person_id in enumerate(ids):
        catalog.set_representatives(person_id, first.get(i, []))


def issue17(args: argparse.Namespace) -> None:
    print("| faces | persons | list people, before (ms) | after (ms) | 20 persons' reps (ms) |")
    print("|---:|---:|---:|---:|---:|")
    for n in (int(x) for x in args.faces.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            catalog = SqlCatalog(f"sqlite:///{Path(tmp) / 'catalog.db'}")
            fill(catalog, args.persons, n)
            assert before(catalog) == len(catalog.list_people()) == args.persons
            some = [f"p{i:05d}" for i in range(20)]
            old = median_ms(lambda c=catalog: before(c))
            new = median_ms(catalog.list_people)
            reps = median_ms(lambda c=catalog, s=some: c.representatives(s))
            print(f"| {n} | {args.persons} | {old:.1f} | {new:.1f} | {reps:.1f} |")
            catalog.engine.dispose()


def skewed(n_persons: int, n_faces: int):
    """Face i's person: the largest has a fifth, 19 more 1 % each, the rest the rest."""
    big, mid = n_faces // 5, n_faces // 100

    def owner(i: int) -> int:
        if i < big:
            return 0
        if i < big + 19 * mid:
            return 1 + (i - big) // mid
        return 20 + (i - big - 19 * mid) % max(n_persons - 20, 1)

    return owner


def issue18(args: argparse.Namespace) -> None:
    from facealbum.people import edits

    n_persons, n_faces = args.persons, int(args.faces.split(",")[-1])
    with tempfile.TemporaryDirectory() as tmp:
        catalog = SqlCatalog(f"sqlite:///{Path(tmp) / 'catalog.db'}")
        t0 = time.perf_counter()
        fill(catalog, n_persons, n_faces, skewed(n_persons, n_faces))
        # the two largest persons share 1,000 pictures: a second face on p00001's
        with catalog.engine.begin() as conn:
            shared = [f"i{i:07d}" for i in range(1000)]
            conn.execute(
                insert(faces),
                [{"face_id": f"g{i}", "image_id": image, "box_left": 0.5, "box_top": 0.1,
                  "box_width": 0.2, "box_height": 0.2, "confidence": 99.0,
                  "person_id": "p00001", "by_owner": False}
                 for i, image in enumerate(shared)],
            )  # fmt: skip
        catalog.recount_people(["p00001"])
        album = SimpleNamespace(catalog=catalog, settings=Settings())
        built = time.perf_counter() - t0
        big, other = "p00000", "p00001"

        def people_before() -> int:  # edits.people before issue 18: every person
            found = [p for p in catalog.list_people() if p.face_count and not p.hidden]
            found.sort(key=lambda p: (-p.picture_count, p.name is None, p.created_at))
            reps = catalog.representatives([p.person_id for p in found])
            firsts = [r[0] for r in reps.values() if r]
            refs = catalog.faces_of(firsts)
            return len(catalog.get_pictures(list(dict.fromkeys(refs.values()))))

        def person_before() -> int:  # person_pictures: every face, every picture
            ids = {f.image_id for f in catalog.person_faces(big)}
            return len(catalog.get_pictures(sorted(ids)))

        def search_before(other: str = other) -> int:  # "all": both persons' every face
            a = {f.image_id for f in catalog.person_faces(big)}
            b = {f.image_id for f in catalog.person_faces(other)}
            return len(catalog.get_pictures(sorted(a & b)))

        def aware_before() -> int:  # _person_faces_of: the person's every face
            person = catalog.get_person(big)
            reps = catalog.representatives([big])[big]
            found = catalog.person_faces(big)
            found.sort(key=largest_first)
            return len(reps) + len(found) + bool(person)

        def aware_after() -> int:
            person = catalog.get_person(big)
            return len(catalog.representatives([big])[big]) + bool(person)

        rows = [
            ("`/api/people` (first page of 60)", people_before,
             lambda: len(edits.people_page(album).items)),  # type: ignore[arg-type]
            (f"the largest person's page ({n_faces // 5:,} faces)", person_before,
             lambda: len(edits.person_pictures(album, big)[1].items)),  # type: ignore[arg-type]
            ("search `people=A,B&mode=all` (A the largest)", search_before,
             lambda: len(edits.search_people(album, [big, other]).items)),  # type: ignore[arg-type]
            ("the same, A and C sharing no picture (a page: none, a cursor)",
             lambda: search_before("p00002"),
             lambda: len(edits.search_people(album, [big, "p00002"]).items)),  # type: ignore[arg-type]
            ("person-aware click-face: the person's faces read", aware_before, aware_after),
        ]  # fmt: skip
        print(f"{n_persons:,} persons, {n_faces:,} faces (built in {built:.0f} s)\n")
        print("| read | before (ms) | after (ms) |")
        print("|---|---:|---:|")
        for label, old, new in rows:
            print(f"| {label} | {median_ms(old):.1f} | {median_ms(new):.2f} |", flush=True)
        catalog.engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=200)
    ap.add_argument("--faces", default="10000,100000")
    ap.add_argument("--pages", action="store_true", help="issue 18's paged reads")
    args = ap.parse_args()
    (issue18 if args.pages else issue17)(args)


if __name__ == "__main__":
    main()
