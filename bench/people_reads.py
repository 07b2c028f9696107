"""What listing people costs: counting every face per request (before issue 17) against
the counts each person's row keeps (after), side by side on one SQLite catalog.

    python -m bench.people_reads [--persons 200] [--faces 10000,100000]

For each album size it fills a temporary catalog (pictures of one face each, spread
over the persons), then times ``list_people`` as it is now (person rows) and the query
it ran before (persons joined to a GROUP BY count over every assigned face), and one
person's representatives read (``Catalog.representatives``). Median of 15 runs, ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import distinct, func, insert, select

from facealbum.adapters.catalog_schema import faces, persons, pictures, sets
from facealbum.adapters.catalog_sql import SqlCatalog


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
    return statistics.median(times)


def fill(catalog: SqlCatalog, n_persons: int, n_faces: int) -> None:
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
                 "person_id": f"p{i % n_persons:05d}", "by_owner": False}
                for i in range(n_faces)
            ],
        )  # fmt: skip
    ids = [f"p{i:05d}" for i in range(n_persons)]
    catalog.recount_people(ids)
    for i, person_id in enumerate(ids):
        catalog.set_representatives(
            person_id, [f"f{j:07d}" for j in range(i, n_faces, n_persons)][:8]
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=200)
    ap.add_argument("--faces", default="10000,100000")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
