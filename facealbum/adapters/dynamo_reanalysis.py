"""The DynamoDB catalog's re-analysis: a picture's faces swapped for new ones with the
owner's work carried over (see Catalog.replace_faces_keeping_people).

One TransactWriteItems is the commit point: the picture's face list (each new face with
its person), the membership rows (old ones out, new ones in) and each person's row (its
counts by what this picture's change takes off them, its cover and representatives
following their faces to the new ids or out), conditioned on the picture still listing
the faces read and on the person rows being as read: O(the picture's faces), never a
count of a person's faces. What is written before it (the new face
items with their person and owner flag, the carried rejections) is listed by nothing
until it commits; what is deleted after it (the old face items and rejections) is
listed by nothing once it has. So a process killed anywhere leaves either the old faces
with their people or the new ones with theirs, plus rows nothing lists; a re-run does
the picture again from whichever it finds."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ..domain import Face, same_faces
from .dynamo_tables import batch_get, query_all

MOST_ACTIONS = 100  # TransactWriteItems' limit


class DynamoReanalysis:
    db: Any
    album: Any
    pics: Any
    by_id: Any
    client: Any
    _transact: Callable[[list[dict]], set[int] | None]  # DynamoCatalog's
    _count: Callable[[str, int, int], None]
    _recount: Callable[[Collection[str | None]], None]  # DynamoPeople's
    _person_rows: Callable[[Collection[str]], dict[str, dict]]
    _person_check: Callable[[str], dict]
    _person_change: Callable[[dict, int, int, dict[str, str | None]], dict | None]

    def replace_faces_keeping_people(
        self, image_id: str, new_faces: list[Face], engine_tag: str
    ) -> list[str] | None:
        from .catalog_dynamo import _face_item, _face_map, _picture, _update

        for _ in range(10):  # the picture's faces or a cover changed meanwhile: again
            where = self.by_id.get_item(Key={"image_id": image_id}).get("Item")
            item = where and self.pics.get_item(
                Key={"set": where["set"], "name": where["name"]}
            ).get("Item")
            if not item:
                return None
            old = _picture(item).faces
            listed = [m["face_id"] for m in item.get("faces", [])]
            owned = {
                i["face_id"]: bool(i.get("by_owner"))
                for i in batch_get(
                    self.db, self.album, [{"pk": f"face#{f}", "sk": "-"} for f in listed]
                )
            }
            pairs = same_faces(old, new_faces)
            was = {f.face_id: f for f in old}
            carried = [
                Face(
                    f.face_id,
                    f.image_id,
                    f.box,
                    f.confidence,
                    was[pairs[f.face_id]].person_id if f.face_id in pairs else None,
                    f.sharpness,
                )
                for f in new_faces
            ]
            refused = {o: self._refused(o) for o in listed}
            back = {o: n for n, o in pairs.items()}
            # before the commit point: rows nothing lists yet
            with self.album.batch_writer() as batch:
                for f in carried:
                    owner = bool(f.face_id in pairs and owned.get(pairs[f.face_id]))
                    extra = {"person_id": f.person_id, "by_owner": owner} if f.person_id else {}
                    batch.put_item(Item=_face_item(f) | extra)
                for o, n in back.items():
                    for person in refused[o]:
                        batch.put_item(Item={"pk": "reject", "sk": f"{n}#{person}"})
            faces = [
                _face_map(f) | ({"person_id": f.person_id} if f.person_id else {}) for f in carried
            ]
            # the faces read, each with the person read (a placement meanwhile: again)
            people = [m.get("person_id") for m in item.get("faces", [])]
            same = " AND ".join(
                f"faces[{i}].face_id = :o{i} AND "
                + (
                    f"faces[{i}].person_id = :p{i}"
                    if p
                    else f"attribute_not_exists(faces[{i}].person_id)"
                )
                for i, p in enumerate(people)
            )
            values: dict[str, Any] = (
                {
                    ":f": faces,
                    ":t": engine_tag,
                    ":id": image_id,
                    ":n": len(listed),
                }
                | {f":p{i}": p for i, p in enumerate(people) if p}
                | {f":o{i}": f for i, f in enumerate(listed)}
            )
            ops = [
                _update(
                    self.pics,
                    {"set": item["set"], "name": item["name"]},
                    "SET faces = :f, engine_tag = :t",
                    values,
                    " AND ".join(filter(None, ["image_id = :id", "size(faces) = :n", same])),
                )
            ]
            for f in old:
                if f.person_id:
                    ops.append(
                        {
                            "Delete": {
                                "TableName": self.album.name,
                                "Key": {"pk": f"person#{f.person_id}", "sk": f.face_id},
                            }
                        }
                    )
            for f in carried:
                if f.person_id:
                    ops.append(
                        {
                            "Put": {
                                "TableName": self.album.name,
                                "Item": {
                                    "pk": f"person#{f.person_id}",
                                    "sk": f.face_id,
                                    "image_id": image_id,
                                    "member_image": image_id,
                                },
                            }
                        }
                    )
            people, recount = self._people_changed(old, back)
            if self._commit(ops, people):
                break
            self._forget_rows(
                [f.face_id for f in carried], {n: refused[o] for o, n in back.items()}
            )
        else:
            raise RuntimeError(f"the faces of picture {image_id} kept changing; try again")
        # after it: rows nothing lists any more
        self._forget_rows([o for o in listed if o not in {f.face_id for f in new_faces}], refused)
        self._count(item["set"], 0, len(new_faces) - len(listed))
        self._recount(recount)  # rows from before counts, and crowds (see _commit)
        return listed

    def _people_changed(self, old: list[Face], back: dict[str, str]) -> tuple[list[dict], set[str]]:
        """The updates of the persons' rows for the swap of this picture's faces ``old``
        (``back``: old face id -> the new face it is paired with, which keeps its
        person): each person loses its unpaired faces (and the picture with its last
        one), and its cover and representatives follow their faces; each row read
        consistently and changed on condition it is still as read (another change of
        the person meanwhile: the swap is read and tried again). With the persons whose
        rows are from before counts, to count after (their rows only checked)."""
        mine: dict[str, list[str]] = {}
        for f in old:
            if f.person_id:
                mine.setdefault(f.person_id, []).append(f.face_id)
        rows = self._person_rows(set(mine))
        ops, recount = [], set()
        for person_id, faces in mine.items():
            row = rows.get(person_id)
            if row is None:
                continue  # gone (merged away): nothing to count
            if "face_count" not in row:
                ops.append(self._person_check(person_id))
                recount.add(person_id)
                continue
            kept = [f for f in faces if f in back]
            renamed = {f: back.get(f) for f in faces}
            change = self._person_change(row, len(kept) - len(faces), 0 if kept else -1, renamed)
            if change is not None:
                ops.append(change)
        return ops, recount

    def _refused(self, face_id: str) -> list[str]:
        """The persons the owner said this face is not."""
        items = query_all(
            self.album,
            KeyConditionExpression="pk = :p AND begins_with(sk, :f)",
            ExpressionAttributeValues={":p": "reject", ":f": f"{face_id}#"},
        )
        return [i["sk"].split("#", 1)[1] for i in items]

    def _commit(self, ops: list[dict], people: list[dict]) -> bool:
        """Whether it went through (False: a condition failed, or another transaction
        conflicted: read again). Past the transaction's size (a crowd of more than ~45
        faces with people), the picture's list alone commits and the membership rows
        follow one by one, then each person's row (its cover and representatives), and
        the persons are counted again from their memberships: a crash between leaves
        memberships that `check` reports and repairs."""
        if len(ops) + len(people) <= MOST_ACTIONS:
            try:
                return self._transact(ops + people) is None
            except self.client.exceptions.TransactionCanceledException:
                return False
        if self._transact(ops[:1]) is not None:
            return False
        for op in ops[1:] + people:
            if "Delete" in op:
                self.album.delete_item(Key=op["Delete"]["Key"])
            elif "Put" in op:
                self.album.put_item(Item=op["Put"]["Item"])
            else:  # changed meanwhile: its counts are counted below, its cover left
                self._transact([op])
        self._recount([(p.get("Update") or p["ConditionCheck"])["Key"]["sk"] for p in people])
        return True

    def _forget_rows(self, face_ids: list[str], refused: dict[str, list[str]]) -> None:
        with self.album.batch_writer() as batch:
            for f in face_ids:
                batch.delete_item(Key={"pk": f"face#{f}", "sk": "-"})
            for f, persons in refused.items():
                for person in persons:
                    batch.delete_item(Key={"pk": "reject", "sk": f"{f}#{person}"})
