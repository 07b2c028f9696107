"""Schema upgrades keep what an existing album holds."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from conftest import PHOTOS

from facealbum.adapters.catalog_sql import MIGRATIONS, make_engine, migrate
from facealbum.adapters.faces_local import analyze_image
from facealbum.settings import Settings
from facealbum.wiring import make_engine as make_face_engine
from facealbum.wiring import open_album

OLD_PHOTOS = ["obama/obama.jpg", "obama/obama2.jpg", "biden/biden.jpg"]


def upgrade_to(engine: sa.Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path) -> Settings:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_cluster").new_database()
        return Settings(home=tmp_path / "home", database_url=url)
    (tmp_path / "home").mkdir()
    return Settings(home=tmp_path / "home")


def test_0006_moves_descriptors_into_the_collection_keeping_face_ids(settings):
    """An album from before the faces port: its catalog rows carry dlib descriptors.
    After the upgrade the same face ids search the same way, through the collection,
    and nothing was analysed again (the descriptors are byte for byte the old ones)."""
    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0005")
    dlib = make_face_engine(settings)
    old: dict[str, tuple[str, bytes]] = {}  # face id -> (photo, descriptor)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sets (name, created_at) VALUES ('old', 0)"))
        for i, name in enumerate(OLD_PHOTOS):
            [found] = analyze_image((PHOTOS / name).read_bytes(), settings, dlib)
            image_id = f"00000000-0000-4000-8000-00000000000{i}"
            face_id = f"11111111-0000-4000-8000-00000000000{i}"
            conn.execute(
                sa.text(
                    "INSERT INTO pictures (image_id, set_name, name, sha256, width, height, "
                    "original_key, content_type, byte_size, engine_tag, created_at) VALUES "
                    "(:i, 'old', :n, :s, 10, 10, 'k', 'image/jpeg', 1, :t, :c)"
                ),
                {"i": image_id, "n": name, "s": f"{i:064d}", "t": settings.engine_tag, "c": i},
            )
            vector = np.asarray(found.vector, dtype="<f4").tobytes()
            conn.execute(
                sa.text(
                    "INSERT INTO faces (face_id, image_id, box_left, box_top, box_width, "
                    "box_height, confidence, embedding) VALUES (:f, :i, .1, .1, .2, .2, 99, :e)"
                ),
                {"f": face_id, "i": image_id, "e": vector},
            )
            old[face_id] = (name, vector)
    migrate(engine)

    columns = {c["name"] for c in sa.inspect(engine).get_columns("faces")}
    assert "embedding" not in columns  # the catalog keeps ids and boxes only
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT face_id, external_image_id, embedding FROM collection_faces "
                "WHERE collection_id = 'facealbum' ORDER BY seq"
            )
        ).all()
    assert [(r[0], bytes(r[2])) for r in rows] == [(f, v) for f, (_, v) in old.items()]
    assert all(r[1].startswith("00000000-") for r in rows)  # ExternalImageId = the picture

    album = open_album(settings)
    result = album.search("11111111-0000-4000-8000-000000000000")
    assert [m.picture.name for m in result.matches] == ["obama/obama.jpg", "obama/obama2.jpg"]
    assert album.collection.faces.describe_collection("facealbum").face_count == 3
    assert album.catalog.pictures_needing(settings.engine_tag, None) == []  # no reindex due


def test_0010_counts_each_persons_faces_and_leaves_representatives_to_be_chosen(settings):
    """A catalog from before persons kept their counts: the upgrade counts each person's
    faces and pictures from the faces, so the people page (which no longer counts
    faces per request) shows the same numbers; representatives start empty."""
    from facealbum.adapters.catalog_sql import SqlCatalog

    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0009")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sets (name, created_at) VALUES ('old', 0)"))
        for i in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO pictures (image_id, set_name, name, sha256, width, height, "
                    "original_key, content_type, byte_size, engine_tag, created_at) VALUES "
                    "(:i, 'old', :i, :i, 10, 10, 'k', 'image/jpeg', 1, 't', 0)"
                ),
                {"i": f"img{i}"},
            )
        for person in ("p1", "p2"):
            conn.execute(
                sa.text("INSERT INTO persons (person_id, created_at) VALUES (:p, 0)"),
                {"p": person},
            )
        for face, image, person in [("f0", "img0", "p1"), ("f1", "img0", "p1"),
                                    ("f2", "img1", "p1"), ("f3", "img2", None)]:  # fmt: skip
            conn.execute(
                sa.text(
                    "INSERT INTO faces (face_id, image_id, box_left, box_top, box_width, "
                    "box_height, confidence, person_id) VALUES (:f, :i, .1, .1, .2, .2, 99, :p)"
                ),
                {"f": face, "i": image, "p": person},
            )
    engine.dispose()
    catalog = SqlCatalog(settings.catalog_url)  # migrates to the newest
    counts = {p.person_id: (p.face_count, p.picture_count) for p in catalog.list_people()}
    assert counts == {"p1": (3, 2), "p2": (0, 0)}
    assert catalog.representatives(["p1", "p2"]) == {"p1": [], "p2": []}


def test_0013_indexes_what_the_people_pages_read_by(settings):
    """The people list (most pictured first, all or the shown ones) and a person's
    pictures read by indexes that the upgrade adds to an existing catalog; downgrading
    and upgrading again keeps every person and count."""
    from facealbum.adapters.catalog_sql import SqlCatalog

    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0012")
    with engine.begin() as conn:
        for i, count in enumerate([3, 0, 5]):
            conn.execute(
                sa.text(
                    "INSERT INTO persons (person_id, hidden, created_at, face_count, "
                    "picture_count) VALUES (:p, :h, 0, :n, :n)"
                ),
                {"p": f"p{i}", "h": i == 2, "n": count},
            )
    engine.dispose()
    catalog = SqlCatalog(settings.catalog_url)  # migrates to the newest
    names = {
        table: {i["name"] for i in sa.inspect(catalog.engine).get_indexes(table)}
        for table in ("persons", "faces")
    }
    assert {"ix_persons_listed", "ix_persons_shown"} <= names["persons"]
    assert "ix_faces_person_image" in names["faces"] and "ix_persons_name" in names["persons"]
    assert [r.person.person_id for r in catalog.people_page(None, 10, True)] == ["p2", "p0"]
    assert [r.person.person_id for r in catalog.people_page(None, 10, False)] == ["p0"]
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with catalog.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")
    migrate(catalog.engine)
    assert [r.person.person_id for r in catalog.people_page((5, "p2"), 10, True)] == ["p0"]


def test_0014_counts_sets_and_the_album_and_keeps_counting(settings):
    """A catalog from before the counts: the upgrade counts each set's pictures and the
    album's sets, pictures, faces and originals' bytes (a content in two sets once),
    and keys "by name" by the casefolded name; from then on the database keeps them
    as rows come and go, whoever writes them (here: plain SQL, as another tool would)."""
    from facealbum.adapters.catalog_sql import SqlCatalog

    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0013")
    picture = sa.text(
        "INSERT INTO pictures (image_id, set_name, name, sha256, width, height, original_key, "
        "content_type, byte_size, engine_tag, created_at) VALUES "
        "(:i, :s, :i, :h, 10, 10, 'k', 'image/jpeg', :b, 't', 0)"
    )
    face = sa.text(
        "INSERT INTO faces (face_id, image_id, box_left, box_top, box_width, box_height, "
        "confidence) VALUES (:f, :i, .1, .1, .2, .2, 99)"
    )
    with engine.begin() as conn:
        for i, name in enumerate(("beta", "Alpha", "empty")):
            conn.execute(
                sa.text("INSERT INTO sets (name, created_at) VALUES (:n, :c)"), {"n": name, "c": i}
            )
        for image, set_name, sha, size in [("a", "beta", "h1", 100), ("b", "beta", "h2", 20),
                                           ("c", "Alpha", "h1", 100)]:  # fmt: skip
            conn.execute(picture, {"i": image, "s": set_name, "h": sha, "b": size})
        for f, image in [("f1", "a"), ("f2", "a"), ("f3", "c")]:
            conn.execute(face, {"f": f, "i": image})
    engine.dispose()
    catalog = SqlCatalog(settings.catalog_url)  # migrates to the newest

    def counted():
        s = catalog.stats()
        per_set = {x.name: x.picture_count for x in catalog.list_sets()}
        return (s.sets, s.pictures, s.faces, s.original_bytes), per_set

    assert counted() == ((3, 3, 3, 120), {"beta": 2, "Alpha": 1, "empty": 0})
    names = [s.name for s in catalog.sets_page("name", 10)[0]]
    assert names == ["Alpha", "beta", "empty"]  # by the casefolded name
    with catalog.engine.begin() as conn:  # the triggers count any writer's rows
        conn.execute(picture, {"i": "d", "s": "empty", "h": "h3", "b": 5})
        conn.execute(face, {"f": "f4", "i": "d"})
        conn.execute(sa.text("DELETE FROM faces WHERE image_id = 'a'"))
        conn.execute(sa.text("DELETE FROM pictures WHERE image_id = 'a'"))  # h1 stays in c
    assert counted() == ((3, 3, 2, 125), {"beta": 1, "Alpha": 1, "empty": 1})
    with catalog.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM pictures WHERE set_name = 'Alpha'"))  # h1's last
        conn.execute(sa.text("DELETE FROM sets WHERE name = 'Alpha'"))
    assert counted() == ((2, 2, 1, 25), {"beta": 1, "empty": 1})
    catalog.engine.dispose()
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with catalog.engine.begin() as conn:  # down and up again: it counts once more
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013")
    assert not sa.inspect(catalog.engine).has_table("album_counters")
    migrate(catalog.engine)
    assert counted() == ((2, 2, 1, 25), {"beta": 1, "empty": 1})


def test_0016_gives_the_deletion_feed_a_horizon_and_keeps_every_face(settings):
    """A catalog from before the pruned deletion feed: the upgrade adds each collection's
    horizon at 0 (nothing pruned) and keeps its faces and its feed; so does going back
    (a plain ALTER TABLE: copying ``collections`` on SQLite would drop it, and with it,
    through the foreign keys, every face)."""
    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0015")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO collections VALUES ('c', 1.0, 2, 1)"))
        for i in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO collection_faces (face_id, collection_id, image_id, box_left,"
                    " box_top, box_width, box_height, confidence, embedding) VALUES (:f, :c,"
                    " 'i', 0.1, 0.1, 0.2, 0.2, 99.0, :e)"
                ),
                {"f": f"f{i}", "c": "c", "e": b"\0" * 512},
            )
        conn.execute(sa.text("DELETE FROM collection_faces WHERE face_id = 'f0'"))
        conn.execute(
            sa.text(
                "INSERT INTO collection_face_deletions (collection_id, face_seq) VALUES ('c', 1)"
            )
        )

    def held() -> tuple[int, int]:
        with engine.connect() as conn:
            return (
                conn.execute(sa.text("SELECT count(*) FROM collection_faces")).scalar(),
                conn.execute(sa.text("SELECT count(*) FROM collection_face_deletions")).scalar(),
            )

    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT deletions_pruned FROM collections")).scalar() == 0
    assert held() == (2, 1)
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    assert held() == (2, 1)


def test_servers_started_at_once_on_a_new_postgresql_database_migrate_it_once(pg_cluster):
    """Two `facealbum serve` on one new PostgreSQL database raced on the migrations (the
    second failed with DuplicateColumn). Now a migration waits while another holds the
    lock, then finds the schema at head; several at once all succeed."""
    import threading

    from facealbum.adapters.catalog_sql import MIGRATION_LOCK

    url = pg_cluster.new_database()
    holder = make_engine(url)
    done = threading.Event()
    errors: list[BaseException] = []

    def migrating() -> None:
        try:
            migrate(make_engine(url))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        done.set()

    with holder.begin() as conn:  # another process migrating: it holds the lock
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        waiting = threading.Thread(target=migrating)
        waiting.start()
        assert not done.wait(1.0), "a migration ran while another held the lock"
    waiting.join(60)
    assert done.is_set() and not errors, errors

    url = pg_cluster.new_database()
    barrier = threading.Barrier(3)

    def at_once() -> None:
        barrier.wait()
        migrating()

    threads = [threading.Thread(target=at_once) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with make_engine(url).connect() as conn:
        heads = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert len(heads) == 1


def test_0018_adds_pixel_hashes_keeping_every_picture_and_face(settings):
    """A catalog from before pixel hashes: its pictures stay, with none (NULL, matching
    nothing, and two such never clash), new pictures get theirs, unique per set; going
    back is a plain ALTER TABLE that keeps pictures and faces (SQLite's copy of
    ``pictures`` would cascade to every face)."""
    from facealbum.adapters.catalog_sql import SqlCatalog
    from facealbum.domain import Picture

    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0017")
    picture = sa.text(
        "INSERT INTO pictures (image_id, set_name, name, sha256, width, height, original_key, "
        "content_type, byte_size, engine_tag, created_at) VALUES "
        "(:i, 'S', :i, :i, 10, 10, 'k', 'image/jpeg', 5, 't', 0)"
    )
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sets (name, created_at) VALUES ('S', 0)"))
        for image in ("a", "b"):
            conn.execute(picture, {"i": image})
        conn.execute(
            sa.text(
                "INSERT INTO faces (face_id, image_id, box_left, box_top, box_width, "
                "box_height, confidence) VALUES ('f1', 'a', .1, .1, .2, .2, 99)"
            )
        )
    engine.dispose()
    catalog = SqlCatalog(settings.catalog_url)  # migrates to the newest
    old = catalog.get_picture("a")
    assert old.pixel_sha256 is None and [f.face_id for f in old.faces] == ["f1"]
    new = Picture("c", "S", "c.jpg", "c", 10, 10, "k", "image/jpeg", 5, pixel_sha256="px")
    assert catalog.add_picture(new) == "added"
    again = Picture("d", "S", "d.jpg", "d", 10, 10, "k", "image/jpeg", 5, pixel_sha256="px")
    assert catalog.add_picture(again) == "duplicate"
    assert catalog.get_picture("c").pixel_sha256 == "px"
    catalog.engine.dispose()

    def held() -> tuple[int, int]:
        with catalog.engine.connect() as conn:
            return (
                conn.execute(sa.text("SELECT count(*) FROM pictures")).scalar(),
                conn.execute(sa.text("SELECT count(*) FROM faces")).scalar(),
            )

    assert held() == (3, 1)
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with catalog.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
    assert held() == (3, 1)
    columns = sa.inspect(catalog.engine).get_columns("pictures")
    assert "pixel_sha256" not in {c["name"] for c in columns}
    migrate(catalog.engine)
    assert held() == (3, 1)


def test_0019_adds_capture_time_and_place_keeping_every_picture_and_face(settings):
    """A catalog from before capture times: its pictures and faces stay, with the new
    fields empty until ``reindex --metadata``; new pictures keep theirs; going back is a
    plain ALTER TABLE that keeps pictures and faces."""
    from facealbum.adapters.catalog_sql import SqlCatalog
    from facealbum.domain import CAPTURE_FIELDS, Picture

    engine = make_engine(settings.catalog_url)
    upgrade_to(engine, "0018")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sets (name, created_at) VALUES ('S', 0)"))
        conn.execute(sa.text(
            "INSERT INTO pictures (image_id, set_name, name, sha256, width, height, original_key, "
            "content_type, byte_size, engine_tag, created_at) VALUES "
            "('a', 'S', 'a.jpg', 'a', 10, 10, 'k', 'image/jpeg', 5, 't', 0)"
        ))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO faces (face_id, image_id, box_left, box_top, box_width, "
            "box_height, confidence) VALUES ('f1', 'a', .1, .1, .2, .2, 99)"
        ))  # fmt: skip
    engine.dispose()
    catalog = SqlCatalog(settings.catalog_url)  # migrates to the newest
    old = catalog.get_picture("a")
    assert [getattr(old, k) for k in CAPTURE_FIELDS] == [None] * 6
    assert [f.face_id for f in old.faces] == ["f1"]
    new = Picture("c", "S", "c.jpg", "c", 10, 10, "k", "image/jpeg", 5, taken_at="2019-07-12",
                  taken_at_source="file name", latitude=-33.8688, longitude=151.2093)
    assert catalog.add_picture(new) == "added"
    got = catalog.get_picture("c")
    assert (got.taken_at, got.latitude, got.longitude) == ("2019-07-12", -33.8688, 151.2093)
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with catalog.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0018")
    with catalog.engine.connect() as conn:
        held = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("pictures", "faces")]  # fmt: skip
    assert held == [2, 1]
    columns = {c["name"] for c in sa.inspect(catalog.engine).get_columns("pictures")}
    assert not columns & set(CAPTURE_FIELDS) and "pixel_sha256" in columns
    migrate(catalog.engine)
    assert catalog.get_picture("c").taken_at is None  # back up: empty, not lost rows
    catalog.engine.dispose()
