"""The DynamoDB catalog's people, in the ``album`` table: a row per person (partition
``people``), a membership row per face (partition ``person#ID``, for a person's faces
and counts), the rejections (partition ``reject``). A face's person is also written on
its face item (with whether the owner put it there) and on its picture's item, where
``faces[i].person_id`` is set by a conditional update of that one list element, so two
faces of one picture assigned at once never overwrite each other.

A face's person changes in one transaction of all of these, conditioned on the person
the face had and on the new person existing: concurrent moves cannot leave a face in two
persons, a crash cannot leave it in none, a face is never placed into a person deleted
(merged away) a moment before. A face deleted with its picture leaves its person's
membership in the same transaction.

The person's row keeps its face and picture counts and its representative faces, so
listing people reads the person rows only. Each person row also keeps ``people_rank``
(its picture count, zero-padded, then its id) and, unless hidden, ``people_shown``:
the sort and partition keys of the indexes the people pages read by (dynamo_tables.py).
A face's move carries the counts in its own transaction: ``face_count`` by ADD, the
picture count (and rank) set from the value read when no other face of the picture is
in that person (the picture's item says, and the move is conditioned on it), on
condition it is still that value; O(1) per placement, and a retried move fails on the
face's condition rather than counting twice. Deleting faces (a picture deleted, its
faces replaced) and re-analysis carry them the same way, O(the faces changed) whatever
the persons' sizes (:meth:`_forget_faces`, dynamo_reanalysis.py): the same
transaction that takes a person's faces of one picture away takes them off its counts
and out of its cover and representatives, conditioned on what it read, so a retry
after it is done finds nothing left to take. A row with a ``recounting`` set (a
writer of an older version killed midway) is counted by its readers from its
membership rows. ``check --repair`` counts a person whose counts are off (no
transaction here can leave them so) again (``recount_people``, O(its faces))."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..domain import Face, NotFound, Person
from ..ports import PersonRow
from .dynamo_tables import batch_get, num, query_all, scan_all

_TRIES = 8  # a face changed by another writer between our read and our write: again
_GROUP = 32  # faces deleted per transaction: two items each, and a person's row (of 100)


class DynamoPeople:
    db: Any
    album: Any
    pics: Any
    by_id: Any
    client: Any

    _conditional: Callable[..., bool]  # DynamoRecords'
    _transact: Callable[[list[dict]], set[int] | None]  # the catalog's

    def add_person(self, person: Person) -> None:
        self.album.put_item(
            Item={
                "pk": "people",
                "sk": person.person_id,
                "name": person.name,
                "hidden": person.hidden,
                "cover_face_id": person.cover_face_id,
                "created_at": num(person.created_at),
                "face_count": 0,
                "picture_count": 0,
                "people_rank": _rank(0, person.person_id),
                **({} if person.hidden else {"people_shown": "people"}),
                **({"people_named": "people"} if person.name else {}),
            }  # fmt: skip
        )

    def _members(self, person_id: str, consistent: bool = False) -> list[dict]:
        return list(query_all(self.album, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": f"person#{person_id}"},
                              ConsistentRead=consistent))  # fmt: skip

    def _person(self, item: dict) -> Person:
        counts = int(item.get("face_count", 0)), int(item.get("picture_count", 0))
        if item.get("recounting") or "face_count" not in item:  # being changed, or older
            members = self._members(item["sk"], consistent=True)
            counts = len(members), len({m["image_id"] for m in members})
            if "face_count" not in item and not item.get("recounting"):
                # a row from before counts: keep them on it, so this is the only read
                # that counts; not over a writer that counted since (or is under way)
                self._conditional(
                    self.album.update_item,
                    Key={"pk": "people", "sk": item["sk"]},
                    UpdateExpression="SET face_count = :f, picture_count = :i, people_rank = :r",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists("
                    "face_count) AND attribute_not_exists(recounting)",
                    ExpressionAttributeValues={
                        ":f": counts[0],
                        ":i": counts[1],
                        ":r": _rank(counts[1], item["sk"]),
                    },
                )
        return Person(
            person_id=item["sk"],
            name=item.get("name"),
            hidden=bool(item.get("hidden")),
            cover_face_id=item.get("cover_face_id"),
            created_at=float(item["created_at"]),
            face_count=counts[0],
            picture_count=counts[1],
            representatives=list(item.get("representatives", [])),
        )

    def _recount(self, person_ids: Collection[str | None]) -> None:
        """Write each person's counts from its membership rows (O(its faces): the
        repair, and rows from before counts)."""
        for person_id in sorted({p for p in person_ids if p}):
            self._count_members(person_id)

    def _count_members(self, person_id: str) -> None:
        members = self._members(person_id, consistent=True)
        for _ in range(_TRIES):
            if not self._conditional(
                self.album.update_item,
                Key={"pk": "people", "sk": person_id},
                UpdateExpression="SET face_count = :f, picture_count = :i, people_rank = :r",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={
                    ":f": len(members), ":i": (n := len({m["image_id"] for m in members})),
                    ":r": _rank(n, person_id)},
            ):  # fmt: skip
                break  # the person is gone
            again = self._members(person_id, consistent=True)
            if {m["sk"] for m in again} == {m["sk"] for m in members}:
                break
            members = again

    def recount_people(self, person_ids: Collection[str]) -> None:
        self._recount(person_ids)

    def set_representatives(self, person_id: str, face_ids: Sequence[str]) -> list[str]:
        """Those of ``face_ids`` that are this person's (read consistently) become its
        representatives, in that order; returns them. A reader filters again."""
        wanted = list(dict.fromkeys(face_ids))
        live = set()
        for face_id in wanted:  # a handful; consistent reads, which BatchGetItem lacks
            item = self.album.get_item(
                Key={"pk": f"face#{face_id}", "sk": "-"}, ConsistentRead=True
            ).get("Item")
            if item is not None and item.get("person_id") == person_id:
                live.add(face_id)
        kept = [f for f in wanted if f in live]
        self._conditional(
            self.album.update_item,
            Key={"pk": "people", "sk": person_id},
            UpdateExpression="SET representatives = :r",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":r": kept},
        )
        return kept

    def representatives(self, person_ids: Collection[str]) -> dict[str, list[str]]:
        """Each of these persons (those that exist) with its stored representatives
        that are still its faces: two batched reads of O(persons x representatives)."""
        keys = [{"pk": "people", "sk": p} for p in dict.fromkeys(person_ids)]
        stored = {
            i["sk"]: list(i.get("representatives", []))
            for i in batch_get(self.db, self.album, keys)
        }
        faces = [{"pk": f"face#{f}", "sk": "-"} for reps in stored.values() for f in reps]
        live = {i["face_id"]: i.get("person_id") for i in batch_get(self.db, self.album, faces)}
        return {p: [f for f in reps if live.get(f) == p] for p, reps in stored.items()}

    def get_person(self, person_id: str) -> Person | None:
        item = self.album.get_item(Key={"pk": "people", "sk": person_id}).get("Item")
        return self._person(item) if item else None

    def list_people(self) -> list[Person]:
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": "people"})  # fmt: skip
        found = [self._person(i) for i in items]
        return sorted(found, key=lambda p: (p.created_at, p.person_id))

    def people_page(
        self, after: tuple[int, str] | None, limit: int, hidden: bool
    ) -> list[PersonRow]:
        """A Query of ``people_listed`` (the owner's) or ``people_shown`` (a visitor's),
        descending, then the covers: their face items and their pictures' hashes, two
        batched reads of O(limit) keys."""
        names = {"#h": "pk" if hidden else "people_shown"}
        values: dict[str, Any] = {":p": "people"}
        condition = "#h = :p"
        if after is not None:
            condition += " AND people_rank < :r"
            values[":r"] = _rank(*after)
        items: list[dict] = []
        kwargs: dict[str, Any] = {}
        while len(items) < limit:  # one page, unless it stopped at 1 MB
            page = self.album.query(
                IndexName="people_listed" if hidden else "people_shown",
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit - len(items),
                **kwargs,
            )
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found = [self._person(i) for i in items if int(i.get("picture_count", 0))]
        first = {p.person_id: p.representatives[0] for p in found if p.representatives}
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in first.values()]
        from .catalog_dynamo import _face

        faces = {i["face_id"]: _face(i) for i in batch_get(self.db, self.album, keys)}
        live = {
            p: faces[f] for p, f in first.items() if f in faces and faces[f].person_id == p
        }
        refs = self.picture_refs([f.image_id for f in live.values()])  # type: ignore[attr-defined]
        rows = []
        for p in found:
            face = live.get(p.person_id)
            ref = face and refs.get(face.image_id)
            rows.append(PersonRow(p, face if ref else None, ref[0] if ref else None))
        return rows

    def face_persons(self, image_ids: Sequence[str]) -> dict[str, set[str]]:
        """From the pictures' items, where each face carries its person."""
        found = self.get_pictures(image_ids)  # type: ignore[attr-defined]
        return {i: {f.person_id for f in p.faces if f.person_id} for i, p in found.items()}

    def images_with_person(self, person_id: str, image_ids: Sequence[str]) -> set[str]:
        """From the pictures' items (``face_persons``): one BatchGetItem per 100."""
        found = self.face_persons(image_ids)
        return {i for i, persons in found.items() if person_id in persons}

    def named_people(self) -> list[Person]:
        """A Query of the sparse ``people_named`` index: the named rows only."""
        items = query_all(self.album, IndexName="people_named",
                          KeyConditionExpression="people_named = :p",
                          ExpressionAttributeValues={":p": "people"})  # fmt: skip
        return sorted((self._person(i) for i in items), key=lambda p: p.name or "")

    def person_image_ids(self, person_id: str, after: str | None, limit: int) -> list[str]:
        """The person's membership rows by ``by_image``, from ``after`` on, until
        ``limit`` distinct pictures (a picture with two of its faces counts once)."""
        condition = "pk = :p" + ("" if after is None else " AND member_image > :a")
        values = {":p": f"person#{person_id}", **({} if after is None else {":a": after})}
        found: list[str] = []
        kwargs: dict[str, Any] = {}
        while len(found) < limit:
            page = self.album.query(
                IndexName="by_image",
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                Limit=limit - len(found) + 1,
                **kwargs,
            )
            for i in page.get("Items", []):
                if not found or found[-1] != i["member_image"]:
                    found.append(i["member_image"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def _key_members(self) -> None:
        """Write ``member_image`` on membership rows made before it (once, when the
        ``by_image`` index was added): one scan of the table."""
        items = scan_all(self.album, FilterExpression="begins_with(pk, :m) AND "
                         "attribute_not_exists(member_image)",
                         ExpressionAttributeValues={":m": "person#"})  # fmt: skip
        for item in items:
            self._conditional(
                self.album.update_item,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET member_image = :i",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":i": item["image_id"]},
            )

    def _rank_people(self) -> None:
        """Write ``people_rank``, ``people_shown`` and ``people_named`` on person rows
        made before them (once, when their indexes were added), so that every person
        is listed."""
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": "people"})  # fmt: skip
        for item in items:
            shown, named = not item.get("hidden"), bool(item.get("name"))
            if "people_rank" in item and shown <= ("people_shown" in item) and named <= (
                "people_named" in item
            ):
                continue
            count = self._person(item).picture_count
            self._conditional(
                self.album.update_item,
                Key={"pk": "people", "sk": item["sk"]},
                UpdateExpression="SET people_rank = if_not_exists(people_rank, :r)"
                + (", people_shown = :s" if shown else "")
                + (", people_named = :s" if named else ""),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":r": _rank(count, item["sk"]), ":s": "people"},
            )

    def update_person(self, person: Person) -> None:
        if not self._conditional(
            self.album.update_item,
            Key={"pk": "people", "sk": person.person_id},
            UpdateExpression="SET #n = :n, #h = :h, cover_face_id = :c"
            + ("" if person.hidden else ", people_shown = :s")
            + (", people_named = :s" if person.name else "")
            + _remove([*(["people_shown"] if person.hidden else []),
                       *([] if person.name else ["people_named"])]),  # fmt: skip
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#n": "name", "#h": "hidden"},
            ExpressionAttributeValues={
                ":n": person.name,
                ":h": person.hidden,
                ":c": person.cover_face_id,
                **({} if person.hidden and not person.name else {":s": "people"}),
            },  # fmt: skip
        ):
            raise NotFound(f"no person {person.person_id}")

    def delete_person(self, person_id: str) -> None:
        """The person's row goes first, so that no placement into it succeeds after
        (each checks the row in its transaction); then each member is let go, on
        condition that it is still this person's."""
        self.album.delete_item(Key={"pk": "people", "sk": person_id})
        members = [m["sk"] for m in self._members(person_id)]
        self.assign_faces(dict.fromkeys(members), by_owner=False, force=True,
                          expected=dict.fromkeys(members, person_id))  # fmt: skip

    def delete_unused_person(self, person_id: str) -> bool:
        """Conditioned on the row: no name, no face counted (every change of its faces
        counts in its own transaction, and a face's move checks the row exists in it)
        and no count left under way by an older writer, so no face outlives it."""
        return self._conditional(
            self.album.delete_item,
            Key={"pk": "people", "sk": person_id},
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#n) OR "
            "attribute_type(#n, :null)) AND (attribute_not_exists(face_count) OR "
            "face_count = :zero) AND attribute_not_exists(recounting)",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":null": "NULL", ":zero": 0},
        )

    def assign_faces(
        self,
        assignments: dict[str, str | None],
        by_owner: bool,
        expected: dict[str, str | None] | None = None,
        force: bool = False,
    ) -> int:
        """Each face's change is one TransactWriteItems (see :meth:`_move_face`), conditioned
        on the person it had when read; when another change came first it is read again
        (consistently) and tried again, unless the caller's ``expected`` says which
        person it must still have."""
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in assignments]
        items = {i["face_id"]: i for i in batch_get(self.db, self.album, keys)}
        changed = 0
        for face_id, person_id in assignments.items():
            item = items.get(face_id)
            for _ in range(_TRIES):
                if item is None:
                    break
                old, owned = item.get("person_id"), bool(item.get("by_owner"))
                if expected is not None and face_id in expected and old != expected[face_id]:
                    break  # changed since the caller read it: that change stands
                if owned and not by_owner and not force:
                    break  # the owner's decisions stand
                if old == person_id and owned == (by_owner and person_id is not None):
                    break
                done = self._move_face(item, person_id, by_owner)
                if done is not None:
                    changed += done
                    break
                item = self.album.get_item(
                    Key={"pk": f"face#{face_id}", "sk": "-"}, ConsistentRead=True
                ).get("Item")
        return changed

    def _move_face(self, item: dict, person_id: str | None, by_owner: bool) -> bool | None:
        """Move one face from the person it had (as ``item`` says) to ``person_id``, in
        one transaction: the face item (conditioned on that person and owner flag), the
        two membership rows, the face's element on its picture's item (conditioned on
        the persons the picture's other faces have), and the two person rows' counts:
        ``face_count`` by ADD, ``picture_count`` (and ``people_rank``) set from the value
        read, on condition it is still that, when no other face of the picture is in
        that person. O(1) whatever the persons' sizes; a retry after a success fails on
        the face's condition, so nothing is counted twice. True if done; False if it
        cannot be (the person or the picture is gone); None if something changed
        meanwhile (read again)."""
        face_id, old = item["face_id"], item.get("person_id")
        owned = by_owner and person_id is not None
        values: dict[str, Any] = {":o": owned, ":was": bool(item.get("by_owner"))}
        condition = "attribute_exists(pk) AND " + (
            "by_owner = :was" if item.get("by_owner") else
            "(attribute_not_exists(by_owner) OR by_owner = :was)"
        )  # fmt: skip
        if old is None:
            condition += " AND attribute_not_exists(person_id)"
        else:
            condition, values[":old"] = condition + " AND person_id = :old", old
        if person_id is None:
            update = "REMOVE person_id SET by_owner = :o"
        else:
            update, values[":p"] = "SET person_id = :p, by_owner = :o", person_id
        ops: list[dict] = [{"Update": {
            "TableName": self.album.name, "Key": {"pk": f"face#{face_id}", "sk": "-"},
            "UpdateExpression": update, "ConditionExpression": condition,
            "ExpressionAttributeValues": values}}]  # fmt: skip
        on_picture = self._on_picture(item["image_id"], face_id, person_id)
        if on_picture is None:
            return False  # the picture is gone, and its faces with it
        ops.append(on_picture[0])
        others = on_picture[1]  # the persons of the picture's other faces
        recount: list[str] = []  # rows from before counts: counted after, as before
        if old != person_id:  # else only the owner flag changes
            rows = self._person_rows({p for p in (old, person_id) if p})
            if person_id is not None and person_id not in rows:
                return False  # the person is gone (merged away, deleted)
            for who, step in ((old, -1), (person_id, 1)):
                row = rows.get(who) if who else None
                if row is None:
                    continue  # no person, or one deleted already: nothing to count
                if "face_count" not in row:
                    recount.append(who)  # type: ignore[arg-type]
                    op = self._person_check(who)  # type: ignore[arg-type]
                else:
                    op = self._person_count(row, step, pictures=who not in others)
                ops.append(op)
        else:
            if person_id is not None:
                ops.append(self._person_check(person_id))
        if old is not None and old != person_id:
            ops.append({"Delete": {"TableName": self.album.name,
                                   "Key": {"pk": f"person#{old}", "sk": face_id}}})  # fmt: skip
        if person_id is not None and old != person_id:
            ops.append({"Put": {"TableName": self.album.name,
                                "Item": {"pk": f"person#{person_id}", "sk": face_id,
                                         "image_id": item["image_id"],
                                         "member_image": item["image_id"]}}})  # fmt: skip
        try:
            failed = self._transact(ops)
        except self.client.exceptions.TransactionCanceledException:
            return None  # a conflict with another transaction on these items: again
        if failed is not None:
            return None  # changed meanwhile (the face, the picture, a person): again
        for who in recount:
            self._count_members(who)
        return True

    def _person_rows(self, person_ids: Collection[str]) -> dict[str, dict]:
        """These persons' rows, read consistently (one GetItem each: one or two)."""
        found = {}
        for person_id in sorted(person_ids):
            row = self.album.get_item(
                Key={"pk": "people", "sk": person_id}, ConsistentRead=True
            ).get("Item")
            if row is not None:
                if "face_count" not in row and not row.get("recounting"):
                    self._person(row)  # a row from before counts gets them now
                    row = self.album.get_item(
                        Key={"pk": "people", "sk": person_id}, ConsistentRead=True
                    ).get("Item")
                if row is not None:
                    found[person_id] = row
        return found

    def _person_check(self, person_id: str) -> dict:
        return {"ConditionCheck": {"TableName": self.album.name,
                                   "Key": {"pk": "people", "sk": person_id},
                                   "ConditionExpression": "attribute_exists(pk)"}}  # fmt: skip

    def _person_count(self, row: dict, step: int, pictures: bool) -> dict:
        """The person row's counts moved by one face (``step`` ±1), and by one picture
        too if ``pictures``: conditioned on the picture count read (the rank is made of
        it), else only on the row existing."""
        values: dict[str, Any] = {":one": step}
        update, condition = "ADD face_count :one", "attribute_exists(face_count)"
        if pictures:
            was = int(row.get("picture_count", 0))
            values |= {":was": was, ":n": was + step, ":r": _rank(was + step, row["sk"])}
            update += " SET picture_count = :n, people_rank = :r"
            condition += " AND picture_count = :was"
        return {"Update": {"TableName": self.album.name, "Key": {"pk": "people", "sk": row["sk"]},
                           "UpdateExpression": update, "ConditionExpression": condition,
                           "ExpressionAttributeValues": values}}  # fmt: skip

    def _on_picture(
        self, image_id: str, face_id: str, person_id: str | None
    ) -> tuple[dict, set[str]] | None:
        """The update of the face's person on its picture's item: one list element,
        conditioned on it being that face and on the picture's other faces having the
        persons they have now; with those persons. None if the picture (or face) is
        gone."""
        where = self.by_id.get_item(Key={"image_id": image_id}).get("Item")
        item = where and self.pics.get_item(Key={"set": where["set"], "name": where["name"]}).get(
            "Item"
        )
        if not item:
            return None
        faces = item.get("faces", [])
        for i, f in enumerate(faces):
            if f["face_id"] == face_id:
                values: dict[str, Any] = {":f": face_id}
                if person_id is None:
                    update = f"REMOVE faces[{i}].person_id"
                else:
                    update, values[":p"] = f"SET faces[{i}].person_id = :p", person_id
                conditions = [f"faces[{i}].face_id = :f"]
                others: set[str] = set()
                for j, g in enumerate(faces):
                    if j == i:
                        continue
                    if g.get("person_id"):
                        conditions.append(f"faces[{j}].person_id = :p{j}")
                        values[f":p{j}"] = g["person_id"]
                        others.add(g["person_id"])
                    else:
                        conditions.append(f"attribute_not_exists(faces[{j}].person_id)")
                return {"Update": {
                    "TableName": self.pics.name, "Key": {"set": item["set"], "name": item["name"]},
                    "UpdateExpression": update, "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeValues": values}}, others  # fmt: skip
        return None

    def _person_change(
        self, row: dict, faces: int, pictures: int, renamed: dict[str, str | None]
    ) -> dict | None:
        """One Update of a person's row for a change of its faces: ``faces`` and
        ``pictures`` added to its counts (the picture count, and the rank made of it,
        set from the value read, on condition it is still that), and those of
        ``renamed`` (old face id -> its new id, None if it is gone) that are its cover or
        representatives replaced, on condition they are still as read. A transaction
        holds one operation per item, so a change's counts, cover and representatives
        go together. None if it changes nothing."""
        sets: list[str] = []
        conditions = ["attribute_exists(face_count)"]
        values: dict[str, Any] = {}
        update = ""
        if faces:
            update, values[":df"] = "ADD face_count :df", faces
        if pictures:
            was = int(row.get("picture_count", 0))
            values |= {":pw": was, ":pn": was + pictures, ":pr": _rank(was + pictures, row["sk"])}
            sets += ["picture_count = :pn", "people_rank = :pr"]
            conditions.append("picture_count = :pw")
        cover = row.get("cover_face_id")
        if cover and cover in renamed:
            values |= {":cw": cover, ":cn": renamed[cover]}
            sets.append("cover_face_id = :cn")
            conditions.append("cover_face_id = :cw")
        reps = list(row.get("representatives", []))
        if any(r in renamed for r in reps):
            values |= {":rn": len(reps), ":rk": [n for r in reps if (n := renamed.get(r, r))]}
            values |= {f":r{i}": r for i, r in enumerate(reps)}
            sets.append("representatives = :rk")
            conditions += ["size(representatives) = :rn"]
            conditions += [f"representatives[{i}] = :r{i}" for i in range(len(reps))]
        if not values:
            return None
        update += f" SET {', '.join(sets)}" if sets else ""
        return {"Update": {"TableName": self.album.name, "Key": {"pk": "people", "sk": row["sk"]},
                           "UpdateExpression": update.strip(),
                           "ConditionExpression": " AND ".join(conditions),
                           "ExpressionAttributeValues": values}}  # fmt: skip

    def _forget_faces(self, face_ids: list[str]) -> None:
        """Delete face items with their memberships: the faces of one picture that one
        person had in one transaction (:meth:`_forget_group`), which also takes them off
        that person's counts, cover and representatives; O(the faces) whatever the
        persons' sizes. The faces are off their picture's item when this runs (the
        picture is deleted, or its faces replaced), and a placement is conditioned on
        the picture's item listing the face, so none of them moves meanwhile: the faces
        of a picture that a person has here are all it had in that picture (one picture
        fewer; read consistently, so a person's faces of a picture are one group). Run
        again (a retry), it finds only the faces not yet gone."""
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in face_ids]
        groups: dict[tuple[str | None, str], list[dict]] = {}
        for item in batch_get(self.db, self.album, keys, consistent=True):  # each face's
            groups.setdefault((item.get("person_id"), item["image_id"]), []).append(item)
        for (person, _), items in groups.items():
            self._forget_group(person, items)

    def _forget_group(self, person: str | None, items: list[dict]) -> None:
        """Delete these faces (all ``person``'s of one picture, or faces of no person)
        in transactions of at most ``_GROUP``, each conditioned on every face still
        having that person, with the person's row changed by :meth:`_person_change`
        (the last one takes the picture off its count). A face found with another
        person when read again goes with that person's faces."""
        tries = 0
        while items and tries < _TRIES:
            chunk, rest = items[:_GROUP], items[_GROUP:]
            ops: list[dict] = []
            for item in chunk:
                op: dict = {"TableName": self.album.name,
                            "Key": {"pk": f"face#{item['face_id']}", "sk": "-"}}  # fmt: skip
                if person is None:
                    op["ConditionExpression"] = "attribute_not_exists(person_id)"
                else:
                    op["ConditionExpression"] = "person_id = :p"
                    op["ExpressionAttributeValues"] = {":p": person}
                ops.append({"Delete": op})
            recount = False
            if person is not None:
                ops += [{"Delete": {"TableName": self.album.name,
                                    "Key": {"pk": f"person#{person}", "sk": i["face_id"]}}}
                        for i in chunk]  # fmt: skip
                row = self._person_rows({person}).get(person)
                if row is not None and "face_count" not in row:
                    recount = True  # a row from before counts: counted after, as before
                    ops.append(self._person_check(person))
                elif row is not None:
                    gone: dict[str, str | None] = {i["face_id"]: None for i in chunk}
                    change = self._person_change(row, -len(chunk), 0 if rest else -1, gone)
                    ops += [change] if change else []
            try:
                failed = self._transact(ops)
            except self.client.exceptions.TransactionCanceledException:
                failed = set()  # a conflict with another transaction on these items
            if failed is None:
                if recount:
                    self._count_members(person)  # type: ignore[arg-type]
                items, tries = rest, 0
                continue
            tries += 1  # read them again: the person's row (or a face) changed meanwhile
            again = [
                self.album.get_item(
                    Key={"pk": f"face#{i['face_id']}", "sk": "-"}, ConsistentRead=True
                ).get("Item")
                for i in items
            ]
            items = [i for i in again if i is not None and i.get("person_id") == person]
            moved = [i for i in again if i is not None and i.get("person_id") != person]
            for other in {i.get("person_id") for i in moved}:
                self._forget_group(other, [i for i in moved if i.get("person_id") == other])
        if items:
            raise RuntimeError(f"the faces of person {person} kept changing; try again")

    def face_assignments(self) -> dict[str, tuple[str | None, bool]]:
        items = scan_all(self.album, FilterExpression="begins_with(pk, :f)",
                         ExpressionAttributeValues={":f": "face#"},
                         ProjectionExpression="face_id, person_id, by_owner")  # fmt: skip
        return {i["face_id"]: (i.get("person_id"), bool(i.get("by_owner"))) for i in items}

    def person_faces(self, person_id: str) -> list[Face]:
        from .catalog_dynamo import _face

        keys = [{"pk": f"face#{m['sk']}", "sk": "-"} for m in self._members(person_id)]
        return [_face(i) for i in batch_get(self.db, self.album, keys)]

    def reject_face(self, face_id: str, person_id: str) -> None:
        self.album.put_item(Item={"pk": "reject", "sk": f"{face_id}#{person_id}"})

    def rejections(self) -> set[tuple[str, str]]:
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": "reject"})  # fmt: skip
        return {tuple(i["sk"].split("#", 1)) for i in items}  # type: ignore[misc]

    def rejections_of(self, face_ids: Collection[str]) -> set[tuple[str, str]]:
        """One Query per face, of its own answers only (sort keys ``FACE#PERSON``)."""
        found: set[tuple[str, str]] = set()
        for face_id in dict.fromkeys(face_ids):
            items = query_all(
                self.album,
                KeyConditionExpression="pk = :p AND begins_with(sk, :f)",
                ExpressionAttributeValues={":p": "reject", ":f": f"{face_id}#"},
            )
            found |= {tuple(i["sk"].split("#", 1)) for i in items}  # type: ignore[misc]
        return found

    def hidden_persons(self, person_ids: Collection[str]) -> set[str]:
        return {p for p, (_, hidden) in self.person_labels(person_ids).items() if hidden}

    def person_labels(self, person_ids: Collection[str]) -> dict[str, tuple[str | None, bool]]:
        keys = [{"pk": "people", "sk": p} for p in dict.fromkeys(person_ids)]
        items = batch_get(self.db, self.album, keys)
        return {i["sk"]: (i.get("name") or None, bool(i.get("hidden"))) for i in items}


def _rank(picture_count: int, person_id: str) -> str:
    """The sort key of the people indexes: most pictured last in ascending order (read
    descending), ties by id."""
    return f"{int(picture_count):010d}#{person_id}"


def _remove(attributes: list[str]) -> str:
    return f" REMOVE {', '.join(attributes)}" if attributes else ""
