"""The DynamoDB catalog's people, in the ``album`` table: a row per person (partition
``people``), a membership row per face (partition ``person#ID``, for a person's faces
and counts), the rejections (partition ``reject``). A face's person is also written on
its face item (with whether the owner put it there) and on its picture's item, where
``faces[i].person_id`` is set by a conditional update of that one list element, so two
faces of one picture assigned at once never overwrite each other."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from ..domain import Face, NotFound, Person
from .dynamo_tables import batch_get, num, query_all, scan_all


class DynamoPeople:
    db: Any
    album: Any
    pics: Any
    by_id: Any
    client: Any

    _conditional: Callable[..., bool]  # DynamoRecords'

    def add_person(self, person: Person) -> None:
        self.album.put_item(
            Item={
                "pk": "people",
                "sk": person.person_id,
                "name": person.name,
                "hidden": person.hidden,
                "cover_face_id": person.cover_face_id,
                "created_at": num(person.created_at),
            }  # fmt: skip
        )

    def _members(self, person_id: str) -> list[dict]:
        return list(query_all(self.album, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": f"person#{person_id}"}))  # fmt: skip

    def _person(self, item: dict) -> Person:
        members = self._members(item["sk"])
        return Person(
            person_id=item["sk"],
            name=item.get("name"),
            hidden=bool(item.get("hidden")),
            cover_face_id=item.get("cover_face_id"),
            created_at=float(item["created_at"]),
            face_count=len(members),
            picture_count=len({m["image_id"] for m in members}),
        )

    def get_person(self, person_id: str) -> Person | None:
        item = self.album.get_item(Key={"pk": "people", "sk": person_id}).get("Item")
        return self._person(item) if item else None

    def list_people(self) -> list[Person]:
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": "people"})  # fmt: skip
        found = [self._person(i) for i in items]
        return sorted(found, key=lambda p: (p.created_at, p.person_id))

    def update_person(self, person: Person) -> None:
        if not self._conditional(
            self.album.update_item,
            Key={"pk": "people", "sk": person.person_id},
            UpdateExpression="SET #n = :n, #h = :h, cover_face_id = :c",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#n": "name", "#h": "hidden"},
            ExpressionAttributeValues={
                ":n": person.name,
                ":h": person.hidden,
                ":c": person.cover_face_id,
            },  # fmt: skip
        ):
            raise NotFound(f"no person {person.person_id}")

    def delete_person(self, person_id: str) -> None:
        members = self._members(person_id)
        self.assign_faces({m["sk"]: None for m in members}, by_owner=False, force=True)
        self.album.delete_item(Key={"pk": "people", "sk": person_id})

    def assign_faces(
        self, assignments: dict[str, str | None], by_owner: bool, force: bool = False
    ) -> int:
        keys = [{"pk": f"face#{f}", "sk": "-"} for f in assignments]
        items = {i["face_id"]: i for i in batch_get(self.db, self.album, keys)}
        changed = 0
        for face_id, person_id in assignments.items():
            item = items.get(face_id)
            if item is None:
                continue
            old, owned = item.get("person_id"), bool(item.get("by_owner"))
            if owned and not by_owner and not force:
                continue  # the owner's decisions stand
            if old == person_id and owned == (by_owner and person_id is not None):
                continue
            condition = "attribute_exists(pk)" + (
                ""
                if by_owner or force
                else " AND (attribute_not_exists(by_owner) OR by_owner = :f)"
            )
            values: dict[str, Any] = {":o": by_owner and person_id is not None}
            if not (by_owner or force):
                values[":f"] = False
            if person_id is None:
                update = "REMOVE person_id SET by_owner = :o"
            else:
                update, values[":p"] = "SET person_id = :p, by_owner = :o", person_id
            if not self._conditional(self.album.update_item,
                                     Key={"pk": f"face#{face_id}", "sk": "-"},
                                     UpdateExpression=update, ConditionExpression=condition,
                                     ExpressionAttributeValues=values):  # fmt: skip
                continue
            self._on_picture(item["image_id"], face_id, person_id)
            if old:
                self.album.delete_item(Key={"pk": f"person#{old}", "sk": face_id})
            if person_id:
                self.album.put_item(Item={"pk": f"person#{person_id}", "sk": face_id,
                                          "image_id": item["image_id"]})  # fmt: skip
            changed += 1
        return changed

    def _on_picture(self, image_id: str, face_id: str, person_id: str | None) -> None:
        """The face's person on its picture's item, one list element, conditionally."""
        where = self.by_id.get_item(Key={"image_id": image_id}).get("Item")
        item = where and self.pics.get_item(Key={"set": where["set"], "name": where["name"]}).get(
            "Item"
        )
        if not item:
            return
        for i, f in enumerate(item.get("faces", [])):
            if f["face_id"] == face_id:
                values: dict[str, Any] = {":f": face_id}
                if person_id is None:
                    update = f"REMOVE faces[{i}].person_id"
                else:
                    update, values[":p"] = f"SET faces[{i}].person_id = :p", person_id
                self._conditional(
                    self.pics.update_item,
                    Key={"set": item["set"], "name": item["name"]},
                    UpdateExpression=update,
                    ConditionExpression=f"faces[{i}].face_id = :f",
                    ExpressionAttributeValues=values,
                )
                return

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

    def hidden_persons(self, person_ids: Collection[str]) -> set[str]:
        keys = [{"pk": "people", "sk": p} for p in person_ids]
        return {i["sk"] for i in batch_get(self.db, self.album, keys) if i.get("hidden")}
