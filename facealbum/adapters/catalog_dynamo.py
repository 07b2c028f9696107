"""The catalog on DynamoDB, in the original design's key schema (see dynamo_tables).

What one SQL transaction does here is one TransactWriteItems: adding a picture puts
its item, its image-id item, the "this content is in this set" guard (and the "this
photo is in this set" one of its pixel hash), the content's use, and bumps the set's
counts, all or nothing; the set's featured picture is then
set once by a conditional write. Face items (face id → picture) are written just before
and deleted again if the picture is not added, so no face item outlives a failure for
long (``check`` would find the faces, not the picture). Renaming or deleting a set moves
or deletes its pictures one transaction each; an interrupted rename is finished by
running it again.

Backups of this catalog are DynamoDB's own (point-in-time recovery): ``snapshot``
says so instead of pretending.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..domain import (
    CAPTURE_FIELDS,
    AlbumError,
    BadInput,
    Box,
    Face,
    NotFound,
    Picture,
    SetSummary,
)
from ..ports import CatalogSnapshot
from .dynamo_people import DynamoPeople
from .dynamo_reanalysis import DynamoReanalysis
from .dynamo_records import DynamoRecords
from .dynamo_sets import SCHEMA, VERSION, DynamoSets
from .dynamo_tables import (
    KEYS,
    LAYOUT,
    batch_get,
    dynamodb,
    ensure_indexes,
    ensure_tables,
    num,
    query_all,
    scan_all,
)

ROOT = "/"  # the partition that lists the sets
N = {"#s": "set", "#n": "name"}  # both are reserved words in DynamoDB expressions
_TRIES = 8  # a picture whose faces changed between our read and our delete: again
_PICTURE = ("image_id", "sha256", "width", "height", "original_key", "content_type")


class DynamoCatalog(DynamoSets, DynamoPeople, DynamoRecords, DynamoReanalysis):
    def __init__(self, prefix: str, resource: Any = None):
        """One consistent GetItem (the ``schema`` item) when the tables are as this code
        lays them out; else (a new album, or one from before an index) the tables and
        indexes are made or completed, their rows written, and the layout noted on the
        ``schema`` item, so later opens (each Lambda cold start) skip ListTables and
        DescribeTable."""
        self.db = resource or dynamodb()
        self.client = self.db.meta.client
        self.pics, self.by_id, self.album = (self.db.Table(prefix + short) for short in KEYS)
        mark = self._schema_mark()
        if mark.get("tables") != LAYOUT:
            ensure_tables(self.db, prefix)
            added = ensure_indexes(self.db, prefix)
            if added & {"people_listed", "people_shown", "people_named"}:
                self._rank_people()  # a catalog from before them: its person rows join
            if "by_image" in added:
                self._key_members()
            self.album.update_item(Key=SCHEMA, UpdateExpression="SET #t = :t",
                                   ExpressionAttributeNames={"#t": "tables"},
                                   ExpressionAttributeValues={":t": LAYOUT})  # fmt: skip
        self._backfilled = int(mark.get("version", 0)) >= VERSION
        self._backfill()

    def _schema_mark(self) -> dict:
        """The ``schema`` item, read consistently; empty if it or the table is missing."""
        try:
            return self.album.get_item(Key=SCHEMA, ConsistentRead=True).get("Item") or {}
        except self.client.exceptions.ResourceNotFoundException:
            return {}

    # -- pictures -----------------------------------------------------------------

    def add_picture(self, picture: Picture, create_set: bool = True) -> str:
        """'added', 'duplicate', 'name_taken' or 'no_set', as the SQL catalog."""
        for _ in range(3):
            if create_set:
                self.create_set(picture.set_name)
            self._put_faces(picture.faces)
            status = self._add(picture)
            if status != "added":
                self._delete_faces([f.face_id for f in picture.faces])
            if status != "no_set" or not create_set:
                break  # else the set was deleted between its creation and the add: again
        if status == "added":
            self._counted_add(picture)
            self._feature_once(picture)
        return status

    def add_pictures(self, new: Sequence[Picture]) -> None:
        """One :meth:`add_picture` each (DynamoDB's transactions hold 100 items, each
        picture's own transaction several): a picture whose name or content is taken
        raises BadInput, those before it stay added."""
        for picture in new:
            status = self.add_picture(picture)
            if status != "added":
                raise BadInput(f"{picture.name!r} in {picture.set_name!r}: {status}")

    def _add(self, p: Picture) -> str:
        now = num(time.time())
        item = _picture_item(p) | {"created_at": now}
        ops = [
            _update(self.pics, {"set": ROOT, "name": p.set_name},
                    "SET picture_count = picture_count + :one, face_count = face_count + :nf",
                    {":one": 1, ":nf": len(p.faces)}, "attribute_exists(#n)", {"#n": "name"}),
            _put(self.pics, item, "attribute_not_exists(#n)", {"#n": "name"}),
            _put(self.album, {"pk": f"hash#{p.set_name}", "sk": p.sha256, "image_id": p.image_id},
                 "attribute_not_exists(pk)"),
            _put(self.by_id, {"image_id": p.image_id, "set": p.set_name, "name": p.name,
                              "sha256": p.sha256}),
            _put(self.album, {"pk": f"sha#{p.sha256}", "sk": p.image_id, "set": p.set_name}),
        ]  # fmt: skip
        if p.pixel_sha256:  # one photo once per set, as the SQL catalog's unique index
            ops.append(_put(self.album, _pixels_guard(p.set_name, p.pixel_sha256, p.image_id),
                            "attribute_not_exists(pk)"))  # fmt: skip
        failed = self._transact(ops)
        if failed is None:
            return "added"
        if 2 in failed or 5 in failed:
            return "duplicate"
        if 1 in failed:
            return "name_taken"
        return "no_set"

    def _transact(self, ops: list[dict]) -> set[int] | None:
        """None if it went through, else the positions whose condition failed."""
        try:
            self.client.transact_write_items(TransactItems=ops)
            return None
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons", [])
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if not failed:
                raise
            return failed

    def _feature_once(self, p: Picture) -> None:
        """The original's conditional write: the first picture stored features its set."""
        self._feature(p.set_name, (p.image_id, p.sha256, p.name),
                      "AND attribute_not_exists(featured_image_id)")  # fmt: skip

    def _put_faces(self, faces: list[Face]) -> None:
        with self.album.batch_writer() as batch:
            for f in faces:
                batch.put_item(Item=_face_item(f))

    def _delete_faces(self, face_ids: list[str]) -> None:
        self._forget_faces(face_ids)  # with their persons' memberships (DynamoPeople)

    def set_featured(self, set_name: str, image_id: str) -> None:
        where = self._where(image_id) or {"sha256": "", "name": ""}
        self._feature(set_name, (image_id, where["sha256"], where["name"]))

    def _feature(self, set_name: str, cover: tuple[str, str, str], also: str = "") -> None:
        """``cover``: (image id, sha256, name), kept on the set item so that a page of
        sets shows covers without reading the pictures."""
        self._conditional(
            self.pics.update_item,
            Key={"set": ROOT, "name": set_name},
            UpdateExpression="SET featured_image_id = :id, featured_sha256 = :h, "
            "featured_name = :m",
            ConditionExpression=f"attribute_exists(#n) {also}".strip(),
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":id": cover[0], ":h": cover[1], ":m": cover[2]},
        )

    def replace_faces(
        self, image_id: str, new_faces: list[Face], engine_tag: str
    ) -> list[str] | None:
        where = self._where(image_id)
        picture = self._get(where) if where else None
        if picture is None:
            return None
        self._put_faces(new_faces)
        try:
            self.pics.update_item(
                Key={"set": picture.set_name, "name": picture.name},
                UpdateExpression="SET faces = :f, engine_tag = :t",
                ConditionExpression="image_id = :id",
                ExpressionAttributeValues={
                    ":f": [_face_map(f) for f in new_faces],
                    ":t": engine_tag,
                    ":id": image_id,
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            self._delete_faces([f.face_id for f in new_faces])
            return None
        old = [f.face_id for f in picture.faces]
        self._delete_faces([f for f in old if f not in {n.face_id for n in new_faces}])
        self._count(picture.set_name, 0, len(new_faces) - len(old))
        return old

    def set_capture(self, picture: Picture) -> bool:
        """One conditional update of the picture's item: the capture fields that have a
        value set, the others removed (DynamoDB keeps no nulls here, as pixel_sha256)."""
        where = self._where(picture.image_id)
        if where is None:
            return False
        values = _capture_attributes(picture)
        names = {f"#c{i}": k for i, k in enumerate(CAPTURE_FIELDS)}
        sets = [f"#c{i} = :c{i}" for i, k in enumerate(CAPTURE_FIELDS) if k in values]
        gone = [f"#c{i}" for i, k in enumerate(CAPTURE_FIELDS) if k not in values]
        update = " ".join(
            part for part in ("SET " + ", ".join(sets) if sets else "",
                              "REMOVE " + ", ".join(gone) if gone else "") if part
        )  # fmt: skip
        bound = {f":c{i}": values[k] for i, k in enumerate(CAPTURE_FIELDS) if k in values}
        try:
            self.pics.update_item(
                Key={"set": where["set"], "name": where["name"]},
                UpdateExpression=update,
                ConditionExpression="image_id = :id",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=bound | {":id": picture.image_id},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False  # renamed or deleted meanwhile
        return True

    def _count(self, set_name: str, pictures: int, faces: int) -> None:
        self._bump(pictures=pictures, faces=faces)
        self._conditional(
            self.pics.update_item,
            Key={"set": ROOT, "name": set_name},
            UpdateExpression="SET picture_count = picture_count + :p, face_count = face_count + :f",
            ConditionExpression="attribute_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":p": pictures, ":f": faces},
        )

    def mark_stale(self, set_name: str | None) -> None:
        for item in self._picture_items(set_name, ("set", "name")):
            self.pics.update_item(
                Key={"set": item["set"], "name": item["name"]},
                UpdateExpression="SET engine_tag = :e",
                ConditionExpression="attribute_exists(image_id)",
                ExpressionAttributeValues={":e": ""},
            )

    def pictures_needing(self, engine_tag: str, set_name: str | None) -> list[str]:
        items = self._picture_items(set_name, ("image_id", "engine_tag"))
        return sorted(i["image_id"] for i in items if i.get("engine_tag") != engine_tag)

    def _partition(self, set_name: str, *fields: str) -> Iterator[dict]:
        """Every item of one partition of ``pics`` (a set's pictures, or ``/``: the
        sets), page after page, with only ``fields`` if given."""
        names = {"#s": "set"}
        extra: dict = {}
        if fields:
            projected = {f"#f{i}": f for i, f in enumerate(fields)}
            names |= projected
            extra["ProjectionExpression"] = ", ".join(projected)
        return query_all(
            self.pics,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":s": set_name},
            **extra,
        )

    def _picture_items(self, set_name: str | None, fields: tuple[str, ...]) -> Iterator[dict]:
        if set_name is not None:
            yield from self._partition(set_name, *fields)
            return
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        projection = ", ".join(names)
        yield from scan_all(
            self.pics,
            FilterExpression="#s <> :root",
            ExpressionAttributeNames=names | {"#s": "set"},
            ExpressionAttributeValues={":root": ROOT},
            ProjectionExpression=projection,
        )

    # -- sets ---------------------------------------------------------------------

    def create_set(self, name: str) -> bool:
        """The set's item and its rows in both orders of the sets, in one transaction."""
        now = num(time.time())
        item = {"set": ROOT, "name": name, "created_at": now, "picture_count": 0,
                "face_count": 0, "share_location": False}  # fmt: skip
        ops = [_put(self.pics, item, "attribute_not_exists(#n)", {"#n": "name"})]
        if self._transact(ops + self._index_puts(name, now)) is not None:
            return False
        self._bump(sets=1)
        return True

    def rename_set(self, old: str, new: str) -> None:
        """Moves the pictures one transaction each; run again after an interruption,
        it finishes the move (the new set remembers where it came from until done)."""
        source = self.pics.get_item(Key={"set": ROOT, "name": old}).get("Item")
        target = self.pics.get_item(Key={"set": ROOT, "name": new}).get("Item")
        if target is not None and target.get("renamed_from") != old:
            raise BadInput(f"a set named {new!r} exists already")
        if source is None:
            raise NotFound(f"no set {old!r}")
        if target is None:
            moved = {k: v for k, v in source.items() if k not in ("picture_count", "face_count")}
            self._transact([
                _put(self.pics, moved | {"name": new, "renamed_from": old, "picture_count": 0,
                                         "face_count": 0}),
                *self._index_puts(new, source["created_at"]),
            ])  # fmt: skip
            self._bump(sets=1)  # for a moment there are both
        for item in list(self._partition(old)):
            self._move(item, new)
        self._move_name_counters(old, new)
        for upload in self._uploads():
            if upload["set_name"] == old:
                self.album.update_item(
                    Key={"pk": "uploads", "sk": upload["upload_id"]},
                    UpdateExpression="SET set_name = :n",
                    ExpressionAttributeValues={":n": new},
                )
        if "Attributes" in self.pics.delete_item(
            Key={"set": ROOT, "name": old}, ReturnValues="ALL_OLD"
        ):
            self._bump(sets=-1)
        self._unindex(old, source["created_at"])
        self.pics.update_item(
            Key={"set": ROOT, "name": new}, UpdateExpression="REMOVE renamed_from"
        )

    def _move_name_counters(self, old: str, new: str) -> None:
        """The set's clash counters (``names#SET`` / a name -> the last number given,
        see :meth:`next_name_number`) follow it: a counter begun again at 2 under the
        new name would give names its pictures have, each a clash. Each is raised on the
        new set to at least its old value, then deleted from the old one if unchanged
        (else again): O(the set's names that ever clashed), and harmless twice (a rename
        run again after an interruption)."""
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": f"names#{old}"})  # fmt: skip
        for item in list(items):
            key = {"pk": f"names#{old}", "sk": item["sk"]}
            for _ in range(5):  # a clash numbered in the old set meanwhile: again
                last = item["last"]
                self._conditional(
                    self.album.update_item,
                    Key={"pk": f"names#{new}", "sk": item["sk"]},
                    UpdateExpression="SET #l = :v",
                    ConditionExpression="attribute_not_exists(#l) OR #l < :v",
                    ExpressionAttributeNames={"#l": "last"},
                    ExpressionAttributeValues={":v": last},
                )
                if self._conditional(
                    self.album.delete_item,
                    Key=key,
                    ConditionExpression="attribute_not_exists(#l) OR #l = :v",
                    ExpressionAttributeNames={"#l": "last"},
                    ExpressionAttributeValues={":v": last},
                ):
                    break
                item = self.album.get_item(Key=key, ConsistentRead=True).get("Item") or item

    def rename_set_step(self, old: str, new: str, limit: int) -> bool:
        """The whole rename at once: it moves a picture a transaction already. Once it
        is done (``old`` gone, ``new`` there), NotFound, as on SQL."""
        try:
            self.rename_set(old, new)
        except BadInput:
            if self.get_set(old) is None:
                raise NotFound(f"no set {old!r}") from None
            raise
        return True

    def _move(self, item: dict, new: str) -> None:
        old, nf, sha, image_id = (
            item["set"],
            len(item.get("faces", [])),
            item["sha256"],
            item["image_id"],
        )
        self._transact([
            {"Delete": {"TableName": self.pics.name, "Key": {"set": old, "name": item["name"]}}},
            _put(self.pics, item | {"set": new}),
            _update(self.by_id, {"image_id": image_id}, "SET #s = :n", {":n": new},
                    names={"#s": "set"}),
            {"Delete": {"TableName": self.album.name, "Key": {"pk": f"hash#{old}", "sk": sha}}},
            _put(self.album, {"pk": f"hash#{new}", "sk": sha, "image_id": image_id}),
            _update(self.album, {"pk": f"sha#{sha}", "sk": image_id}, "SET #s = :n", {":n": new},
                    names={"#s": "set"}),
            _update(self.pics, {"set": ROOT, "name": old},
                    "SET picture_count = picture_count - :one, face_count = face_count - :nf",
                    {":one": 1, ":nf": nf}),
            _update(self.pics, {"set": ROOT, "name": new},
                    "SET picture_count = picture_count + :one, face_count = face_count + :nf",
                    {":one": 1, ":nf": nf}),
        ] + ([
            {"Delete": {"TableName": self.album.name,
                        "Key": _pixels_key(old, item["pixel_sha256"])}},
            _put(self.album, _pixels_guard(new, item["pixel_sha256"], image_id)),
        ] if item.get("pixel_sha256") else []))  # fmt: skip

    def delete_set(self, name: str) -> list[Picture]:
        """The set's item goes first, so that no upload (which may not create sets)
        lands in it meanwhile; then each picture, returned with its faces."""
        gone = self.pics.delete_item(Key={"set": ROOT, "name": name}, ReturnValues="ALL_OLD")
        if "Attributes" not in gone:
            raise NotFound(f"no set {name!r}")
        self._bump(sets=-1)
        self._unindex(name, gone["Attributes"]["created_at"])
        doomed = []
        for item in list(self._partition(name)):
            if gone := self._remove(item, counts=False):
                doomed.append(gone)
        for upload in self._uploads():
            if upload["set_name"] == name:
                self.album.delete_item(Key={"pk": "uploads", "sk": upload["upload_id"]})
        return doomed

    def _remove(self, item: dict, counts: bool = True) -> Picture | None:
        """Delete the picture of ``item`` (its ``pics`` item as read) in one
        transaction, on condition that its item still lists the faces read (a
        re-analysis that swapped them meanwhile: read again, consistently, so the faces
        forgotten after are the ones it has and no person loses a face twice); then its
        faces, with their persons' counts. The picture as deleted, or None if gone."""
        for _ in range(_TRIES):
            done = self._remove_item(item, counts)
            if done is not None:
                break
            image_id = item["image_id"]
            again = self.pics.get_item(
                Key={"set": item["set"], "name": item["name"]}, ConsistentRead=True
            ).get("Item")
            if again is None or again["image_id"] != image_id:  # gone, or renamed/moved
                again = next(iter(self._items([image_id])), None)
                if again is None or (again["set"], again["name"]) == (item["set"], item["name"]):
                    return None
            item = again
        else:
            raise AlbumError(f"picture {item['image_id']} kept changing; try again")
        if not done:
            return None
        p = _picture(item)
        self._counted_remove(p)
        self._delete_faces([f.face_id for f in p.faces])
        return p

    def _remove_item(self, item: dict, counts: bool) -> bool | None:
        """One transaction: the picture's items (and its set's counts if ``counts``),
        conditioned on its faces being those of ``item``. True if done, False if the
        picture is gone, None if its faces changed (read again)."""
        p = _picture(item)
        listed = [m["face_id"] for m in item.get("faces", [])]
        values: dict = {":id": p.image_id, **({":n": len(listed)} if "faces" in item else {})}
        values |= {f":f{i}": f for i, f in enumerate(listed)}
        same = ["image_id = :id", "size(faces) = :n" if "faces" in item else
                "attribute_not_exists(faces)"]  # fmt: skip
        same += [f"faces[{i}].face_id = :f{i}" for i in range(len(listed))]
        ops = [
            {"Delete": {"TableName": self.pics.name, "Key": {"set": p.set_name, "name": p.name},
                        "ConditionExpression": " AND ".join(same),
                        "ExpressionAttributeValues": values}},
            {"Delete": {"TableName": self.by_id.name, "Key": {"image_id": p.image_id}}},
            {"Delete": {"TableName": self.album.name,
                        "Key": {"pk": f"hash#{p.set_name}", "sk": p.sha256}}},
            {"Delete": {"TableName": self.album.name,
                        "Key": {"pk": f"sha#{p.sha256}", "sk": p.image_id}}},
        ]  # fmt: skip
        if p.pixel_sha256:  # written with the item's hash, so this picture's own
            ops.append({"Delete": {"TableName": self.album.name,
                                   "Key": _pixels_key(p.set_name, p.pixel_sha256)}})
        if counts:
            ops.append(
                _update(
                    self.pics,
                    {"set": ROOT, "name": p.set_name},
                    "SET picture_count = picture_count - :one, face_count = face_count - :nf",
                    {":one": 1, ":nf": len(p.faces)},
                    "attribute_exists(#n)",
                    {"#n": "name"},
                )  # fmt: skip
            )
        try:
            failed = self._transact(ops)
        except self.client.exceptions.TransactionCanceledException:
            return None  # a conflict with another transaction on these items: again
        if failed is not None and counts and failed == {len(ops) - 1}:
            failed = self._transact(ops[:-1])  # its set went meanwhile: no counts to keep
        if failed is None:
            return True
        return None if 0 in failed else False

    def delete_pictures(self, image_ids: Sequence[str]) -> list[Picture]:
        """A batch of pictures deleted, each in one TransactWriteItems of its own items
        (five, under the 25-item limit) with its set's counts, as ``delete_picture``;
        two BatchGetItem reads find them. Ids gone already are skipped."""
        found = self._items(list(dict.fromkeys(image_ids)))
        return [gone for item in found if (gone := self._remove(item))]

    def next_name_number(self, set_name: str, name: str) -> int:
        """One UpdateItem ADD on the album table's ``names#<set>`` item: atomic, so two
        writers get two numbers (the first is 2: the name itself was 1)."""
        got = self.album.update_item(
            Key={"pk": f"names#{set_name}", "sk": name},
            UpdateExpression="ADD #l :one",
            ExpressionAttributeNames={"#l": "last"},
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(got["Attributes"]["last"]) + 1

    def rename_picture(self, image_id: str, name: str) -> None:
        picture = self.get_picture(image_id)
        if picture is None:
            raise NotFound(f"no picture {image_id}")
        if name == picture.name:
            return
        item = self.pics.get_item(Key={"set": picture.set_name, "name": picture.name})["Item"]
        failed = self._transact([
            {"Delete": {"TableName": self.pics.name,
                        "Key": {"set": picture.set_name, "name": picture.name},
                        "ConditionExpression": "image_id = :id",
                        "ExpressionAttributeValues": {":id": image_id}}},
            _put(self.pics, item | {"name": name}, "attribute_not_exists(#n)", {"#n": "name"}),
            _update(self.by_id, {"image_id": image_id}, "SET #n = :n", {":n": name},
                    names={"#n": "name"}),
        ])  # fmt: skip
        if failed and 1 in failed:
            raise BadInput(f"another picture in the set is named {name!r}")
        if failed:
            raise NotFound(f"no picture {image_id}")

    def delete_picture(self, image_id: str) -> Picture | None:
        found = self._items([image_id])
        picture = self._remove(found[0]) if found else None
        if picture is None:
            return None
        summary = self.pics.get_item(Key={"set": ROOT, "name": picture.set_name}).get("Item")
        if summary and summary.get("featured_image_id") == image_id:
            fields = ("image_id", "created_at", "name", "sha256")
            rest = list(self._partition(picture.set_name, *fields))
            successor = min(rest, key=lambda r: (r["created_at"], r["name"]), default=None)
            self._conditional(
                self.pics.update_item,
                Key={"set": ROOT, "name": picture.set_name},
                UpdateExpression=(
                    "SET featured_image_id = :new, featured_sha256 = :h, featured_name = :m"
                    if successor
                    else "REMOVE featured_image_id, featured_sha256, featured_name"
                ),
                ConditionExpression="featured_image_id = :old",
                ExpressionAttributeValues={":old": image_id}
                | (
                    {
                        ":new": successor["image_id"],
                        ":h": successor["sha256"],
                        ":m": successor["name"],
                    }
                    if successor
                    else {}
                ),  # fmt: skip
            )
        return picture

    def sha_in_use(self, sha256: str) -> bool:
        found = self.album.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"sha#{sha256}"},
            Limit=1,
        )  # fmt: skip
        return bool(found.get("Items"))

    def set_share_location(self, set_name: str, share: bool) -> None:
        if not self._conditional(
            self.pics.update_item,
            Key={"set": ROOT, "name": set_name},
            UpdateExpression="SET share_location = :v",
            ConditionExpression="attribute_exists(#n)",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":v": share},
        ):
            raise NotFound(f"no set {set_name!r}")

    def shares_location(self, sha256: str) -> bool:
        uses = query_all(self.album, KeyConditionExpression="pk = :p",
                         ExpressionAttributeValues={":p": f"sha#{sha256}"})  # fmt: skip
        keys = [{"set": ROOT, "name": u["set"]} for u in uses]
        return any(s.get("share_location") for s in batch_get(self.db, self.pics, keys))

    # -- reads --------------------------------------------------------------------

    def find_by_hash(self, set_name: str, sha256: str) -> Picture | None:
        guard = self.album.get_item(Key={"pk": f"hash#{set_name}", "sk": sha256}).get("Item")
        return self.get_picture(guard["image_id"]) if guard else None

    def find_by_pixels(self, set_name: str, pixel_sha256: str) -> Picture | None:
        guard = self.album.get_item(Key=_pixels_key(set_name, pixel_sha256)).get("Item")
        return self.get_picture(guard["image_id"]) if guard else None

    def set_pixel_sha256(self, image_id: str, pixel_sha256: str) -> bool:
        """The picture's item, its new guard and its old one's deletion in one
        transaction, conditional on the item's hash being the one read and on no
        other picture of the set holding the new guard."""
        where = self._where(image_id)
        item = self.pics.get_item(
            Key={"set": where["set"], "name": where["name"]}, ConsistentRead=True
        ).get("Item") if where else None  # fmt: skip
        if item is None or item["image_id"] != image_id:
            return False
        old = item.get("pixel_sha256")
        if old == pixel_sha256:
            return True
        values = {":px": pixel_sha256, ":id": image_id} | ({":old": old} if old else {})
        same = "pixel_sha256 = :old" if old else "attribute_not_exists(pixel_sha256)"
        ops = [
            _update(self.pics, {"set": item["set"], "name": item["name"]},
                    "SET pixel_sha256 = :px", values, f"image_id = :id AND {same}"),
            _put(self.album, _pixels_guard(item["set"], pixel_sha256, image_id),
                 "attribute_not_exists(pk)"),
        ]  # fmt: skip
        if old:
            ops.append({"Delete": {"TableName": self.album.name,
                                   "Key": _pixels_key(item["set"], old)}})  # fmt: skip
        return self._transact(ops) is None

    def hashes_in_set(self, set_name: str) -> list[str]:
        guards = query_all(self.album, KeyConditionExpression="pk = :p",
                           ExpressionAttributeValues={":p": f"hash#{set_name}"})  # fmt: skip
        return [g["sk"] for g in guards]

    def _where(self, image_id: str) -> dict | None:
        return self.by_id.get_item(Key={"image_id": image_id}).get("Item")

    def _get(self, where: dict) -> Picture | None:
        item = self.pics.get_item(Key={"set": where["set"], "name": where["name"]}).get("Item")
        return _picture(item) if item else None

    def get_picture(self, image_id: str) -> Picture | None:
        return self.get_pictures([image_id]).get(image_id)

    def get_pictures(self, image_ids: Sequence[str]) -> dict[str, Picture]:
        return {i["image_id"]: _picture(i) for i in self._items(image_ids)}

    def _items(self, image_ids: Sequence[str]) -> list[dict]:
        """These pictures' ``pics`` items (those there are): two batched reads."""
        wheres = batch_get(self.db, self.by_id, [{"image_id": i} for i in image_ids])
        keys = [{"set": w["set"], "name": w["name"]} for w in wheres]
        wanted = set(image_ids)
        return [i for i in batch_get(self.db, self.pics, keys) if i["image_id"] in wanted]

    def get_face(self, face_id: str) -> Face | None:
        item = self.album.get_item(Key={"pk": f"face#{face_id}", "sk": "-"}).get("Item")
        return _face(item) if item else None

    def faces_of(self, face_ids: Sequence[str]) -> dict[str, str]:
        return {f: ref[0] for f, ref in self.face_refs(face_ids).items()}

    def face_refs(self, face_ids: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in dict.fromkeys(face_ids)]
        return {
            i["face_id"]: (i["image_id"], _float(i.get("sharpness")))
            for i in batch_get(self.db, self.album, keys)
        }

    def face_people(
        self, face_ids: Sequence[str]
    ) -> dict[str, tuple[str, float | None, str | None]]:
        """From the face items alone: a face's person is written on its item in the
        same transaction as on its picture's (dynamo_people.py)."""
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in dict.fromkeys(face_ids)]
        return {
            i["face_id"]: (i["image_id"], _float(i.get("sharpness")), i.get("person_id"))
            for i in batch_get(self.db, self.album, keys)
        }

    def picture_refs(self, image_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """From the image-id table alone (it holds each picture's hash and set)."""
        items = batch_get(self.db, self.by_id, [{"image_id": i} for i in image_ids])
        return {i["image_id"]: (i["sha256"], i["set"]) for i in items}

    def content_image_ids(self, shas: Sequence[str]) -> dict[str, list[str]]:
        """One Query of each hash's ``sha#`` items (who uses a content)."""
        out: dict[str, list[str]] = {}
        for sha in dict.fromkeys(shas):
            rows = query_all(self.album, KeyConditionExpression="pk = :p",
                             ExpressionAttributeValues={":p": f"sha#{sha}"})  # fmt: skip
            if ids := [r["sk"] for r in rows]:
                out[sha] = ids
        return out

    def list_sets(self) -> list[SetSummary]:
        items = list(self._partition(ROOT))
        return self._summaries(items)

    def get_set(self, name: str) -> SetSummary | None:
        item = self.pics.get_item(Key={"set": ROOT, "name": name}).get("Item")
        return self._summaries([item])[0] if item else None

    def _summaries(self, items: list[dict]) -> list[SetSummary]:
        featured = self.get_pictures([i["featured_image_id"] for i in items
                                      if i.get("featured_image_id")])  # fmt: skip
        return [
            SetSummary(
                name=i["name"],
                picture_count=int(i.get("picture_count", 0)),
                featured=featured.get(i.get("featured_image_id", "")),
                created_at=float(i["created_at"]),
                share_location=bool(i.get("share_location")),
            )
            for i in sorted(items, key=lambda i: (-i["created_at"], i["name"]))  # newest first
        ]

    def list_pictures(self, set_name: str, limit: int, offset: int) -> list[Picture]:
        """In name order (the sort key's); an offset is walked past, page by page."""
        out: list[Picture] = []
        items = self._partition(set_name)
        for i, item in enumerate(items):
            if i >= offset + limit:
                break
            if i >= offset:
                out.append(_picture(item))
        return out

    def picture_ids(self, set_name: str) -> list[str]:
        items = self._partition(set_name, "image_id")
        return [i["image_id"] for i in items]

    def snapshot(self, dest_dir: Path) -> CatalogSnapshot:
        raise AlbumError(
            "a DynamoDB catalog is backed up by DynamoDB itself: point-in-time recovery "
            "(the CloudFormation template turns it on) or AWS Backup"
        )

    def restore_snapshot(self, fmt: str, path: Path) -> None:
        raise AlbumError("restore a DynamoDB catalog with DynamoDB's point-in-time recovery")


# -- items ------------------------------------------------------------------------


def _put(table: Any, item: dict, condition: str | None = None, names: dict | None = None) -> dict:
    op: dict = {"TableName": table.name, "Item": item}
    if condition:
        op["ConditionExpression"] = condition
    if names:
        op["ExpressionAttributeNames"] = names
    return {"Put": op}


def _update(
    table: Any,
    key: dict,
    expression: str,
    values: dict,
    condition: str | None = None,
    names: dict | None = None,
) -> dict:
    op: dict = {
        "TableName": table.name,
        "Key": key,
        "UpdateExpression": expression,
        "ExpressionAttributeValues": values,
    }
    if condition:
        op["ConditionExpression"] = condition
    if names:
        op["ExpressionAttributeNames"] = names
    return {"Update": op}


def _face_map(f: Face) -> dict:
    b = f.box
    sharp = {} if f.sharpness is None else {"sharpness": num(f.sharpness)}
    return {"face_id": f.face_id, "left": num(b.left), "top": num(b.top),
            "width": num(b.width), "height": num(b.height),
            "confidence": num(f.confidence), **sharp}  # fmt: skip


def _float(value) -> float | None:
    return None if value is None else float(value)


def _face_item(f: Face) -> dict:
    return {"pk": f"face#{f.face_id}", "sk": "-", "image_id": f.image_id, **_face_map(f)}


def _face(m: dict, image_id: str | None = None) -> Face:
    box = Box(float(m["left"]), float(m["top"]), float(m["width"]), float(m["height"]))
    return Face(
        m["face_id"],
        image_id or m["image_id"],
        box,
        float(m["confidence"]),
        m.get("person_id"),
        _float(m.get("sharpness")),
    )


def _picture_item(p: Picture) -> dict:
    return {
        "set": p.set_name,
        "name": p.name,
        **{k: getattr(p, k) for k in _PICTURE},
        "byte_size": p.byte_size,
        "engine_tag": p.engine_tag,
        "faces": [_face_map(f) for f in p.faces],
        **({"pixel_sha256": p.pixel_sha256} if p.pixel_sha256 else {}),
        **_capture_attributes(p),
    }


def _capture_attributes(p: Picture) -> dict:
    """The picture's capture fields that have a value, numbers as DynamoDB's."""
    values = {k: getattr(p, k) for k in CAPTURE_FIELDS if getattr(p, k) is not None}
    return {k: num(v) if isinstance(v, float | int) else v for k, v in values.items()}


def _pixels_key(set_name: str, pixel_sha256: str) -> dict:
    """The guard item that says "this photo (its pixels) is in this set"."""
    return {"pk": f"pixels#{set_name}", "sk": pixel_sha256}


def _pixels_guard(set_name: str, pixel_sha256: str, image_id: str) -> dict:
    return _pixels_key(set_name, pixel_sha256) | {"image_id": image_id}


def _picture(item: dict) -> Picture:
    faces = [_face(m, item["image_id"]) for m in item.get("faces", [])]
    return Picture(
        image_id=item["image_id"],
        set_name=item["set"],
        name=item["name"],
        sha256=item["sha256"],
        width=int(item["width"]),
        height=int(item["height"]),
        original_key=item["original_key"],
        content_type=item["content_type"],
        byte_size=int(item["byte_size"]),
        engine_tag=item.get("engine_tag", ""),
        faces=sorted(faces, key=lambda f: f.box.left),
        pixel_sha256=item.get("pixel_sha256"),
        taken_at=item.get("taken_at"),
        taken_at_source=item.get("taken_at_source"),
        latitude=_float(item.get("latitude")),
        longitude=_float(item.get("longitude")),
        altitude=_float(item.get("altitude")),
        place=item.get("place"),
    )
