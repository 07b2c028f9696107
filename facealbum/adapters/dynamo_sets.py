"""The DynamoDB catalog's paged reads of sets and pictures, and the album's counters.

- Two orders of the sets, as index rows of the ``album`` table written with each set
  item: ``sets#newest`` / "<inverted created_at>\\x01<name>" and ``sets#name`` /
  "<name casefolded>\\x01<name>" (set names hold no control characters, so \\x01 sorts
  below any of their characters). A page of sets is one Query of an index and one
  BatchGetItem of those sets' ``/`` items, which carry their counts and their cover's
  image id and hash (``featured_sha256``): two calls, whatever the album's size.
- A set's pictures page by the ``pics`` sort key (the name), ← / → are a Query of one
  item either side of the picture's name.
- ``counters`` / "-" holds the album's sets, pictures, faces and bytes of originals
  (each content once), changed by UpdateItem ADD after each change: ``stats`` is one
  GetItem. An ADD outside the change's transaction keeps concurrent writers from
  conflicting on one hot item; a crash between the two leaves the counters off until
  ``check --repair`` (``recount_stats``) counts them again.
- ``schema`` / "sets": the version of these rows; an older catalog gets them (a
  backfill, once) when it is first opened outside Lambda (``facealbum stats`` or
  ``check --repair`` from the owner's machine: a function would time out counting a
  big album at its cold start). Until then reads fall back to listing the ``/``
  partition, as before: right, but O(sets).
"""

from __future__ import annotations

import os
from typing import Any

from .. import paging
from ..domain import Picture, SetSummary, Stats
from .dynamo_tables import batch_get, num, query_all

ROOT = "/"
SEP = "\x01"
COUNTERS = {"pk": "counters", "sk": "-"}
SCHEMA = {"pk": "schema", "sk": "sets"}
VERSION = 1
_FIELDS = ("sets", "pictures", "faces", "original_bytes")


def newest_sk(created_at: float, name: str) -> str:
    """Newest first in ascending key order: 10**11 - created_at, fixed width."""
    return f"{10**11 - float(created_at):020.6f}{SEP}{name}"


def name_sk(name: str) -> str:
    return f"{name.casefold()}{SEP}{name}"


class DynamoSets:
    """Mixed into DynamoCatalog: reads its ``pics``, ``by_id`` and ``album`` tables."""

    db: Any
    pics: Any
    by_id: Any
    album: Any
    _partition: Any
    get_pictures: Any

    # -- index rows and counters, written by the catalog's changes ----------------

    def _index_puts(self, name: str, created_at: Any) -> list[dict]:
        rows = [("sets#newest", newest_sk(created_at, name)), ("sets#name", name_sk(name))]
        return [
            {"Put": {"TableName": self.album.name, "Item": {"pk": pk, "sk": sk, "name": name}}}
            for pk, sk in rows
        ]

    def _unindex(self, name: str, created_at: Any) -> None:
        self.album.delete_item(Key={"pk": "sets#newest", "sk": newest_sk(created_at, name)})
        self.album.delete_item(Key={"pk": "sets#name", "sk": name_sk(name)})

    def _bump(self, **deltas: int) -> None:
        """ADD to the album's counters (sets, pictures, faces, original_bytes)."""
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        self.album.update_item(
            Key=COUNTERS,
            UpdateExpression="ADD " + ", ".join(f"#{k} :{k}" for k in deltas),
            ExpressionAttributeNames={f"#{k}": k for k in deltas},
            ExpressionAttributeValues={f":{k}": v for k, v in deltas.items()},
        )

    def _content_uses(self, sha256: str, most: int) -> int:
        found = self.album.query(
            KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"sha#{sha256}"},
            Limit=most, ProjectionExpression="sk",
        )  # fmt: skip
        return len(found.get("Items", []))

    def _counted_add(self, p: Picture) -> None:
        first = self._content_uses(p.sha256, 2) == 1
        self._bump(pictures=1, faces=len(p.faces), original_bytes=p.byte_size if first else 0)

    def _counted_remove(self, p: Picture) -> None:
        last = self._content_uses(p.sha256, 1) == 0
        self._bump(pictures=-1, faces=-len(p.faces), original_bytes=-p.byte_size if last else 0)

    # -- reads ----------------------------------------------------------------------

    def sets_page(
        self, sort: str, limit: int, after: str | None = None
    ) -> tuple[list[SetSummary], str | None]:
        key = paging.set_after(sort, after)
        if not self._indexed():
            return self._sets_page_unindexed(sort, limit, key)
        kwargs: dict = {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": f"sets#{sort}"},
            "Limit": limit + 1,
        }
        if key is not None:
            sk = newest_sk(key[0], key[1]) if sort == "newest" else f"{key[0]}{SEP}{key[1]}"
            kwargs["ExclusiveStartKey"] = {"pk": f"sets#{sort}", "sk": sk}
        rows: list[dict] = []
        for row in query_all(self.album, **kwargs):
            rows.append(row)
            if len(rows) > limit:
                break
        more, rows = len(rows) > limit, rows[:limit]
        items = batch_get(self.db, self.pics, [{"set": ROOT, "name": r["name"]} for r in rows])
        by_name = {i["name"]: i for i in items}
        found = self._summaries_with_covers([by_name[r["name"]] for r in rows
                                             if r["name"] in by_name])  # fmt: skip
        if not more or not rows:
            return found, None
        last = rows[-1]["sk"].split(SEP, 1)
        if sort == "newest":
            return found, paging.encode([10**11 - float(last[0]), last[1]])
        return found, paging.encode(last)

    def pictures_page(
        self, set_name: str, limit: int, after: str | None = None, faces: bool = True
    ) -> tuple[list[Picture], str | None]:
        """``faces`` changes nothing: a picture's item holds its faces."""
        from .catalog_dynamo import _picture

        kwargs: dict = {
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "set"},
            "ExpressionAttributeValues": {":s": set_name},
            "Limit": limit + 1,
        }
        if after is not None:
            [name] = paging.decode(after, str)
            kwargs["ExclusiveStartKey"] = {"set": set_name, "name": name}
        items: list[dict] = []
        for item in query_all(self.pics, **kwargs):
            items.append(item)
            if len(items) > limit:
                break
        found = [_picture(i) for i in items[:limit]]
        return found, paging.encode([found[-1].name]) if len(items) > limit else None

    def neighbours(self, image_id: str) -> tuple[str | None, str | None]:
        where = self.by_id.get_item(Key={"image_id": image_id}).get("Item")
        if where is None:
            return None, None

        def one(op: str, forward: bool) -> str | None:
            found = self.pics.query(
                KeyConditionExpression=f"#s = :s AND #n {op} :n",
                ExpressionAttributeNames={"#s": "set", "#n": "name"},
                ExpressionAttributeValues={":s": where["set"], ":n": where["name"]},
                ScanIndexForward=forward, Limit=1, ProjectionExpression="image_id",
            )  # fmt: skip
            items = found.get("Items", [])
            return items[0]["image_id"] if items else None

        return one("<", False), one(">", True)

    def _summaries_with_covers(self, items: list[dict]) -> list[SetSummary]:
        found = [summary(i) for i in items]
        # a cover featured before its hash was kept on the set: read it (recount keeps it)
        missing = {i["name"]: i["featured_image_id"] for i, s in zip(items, found, strict=True)
                   if s.featured is None and i.get("featured_image_id")}  # fmt: skip
        if missing:
            covers = self.get_pictures(list(missing.values()))
            for s in found:
                s.featured = s.featured or covers.get(missing.get(s.name, ""))
        return found

    def stats(self) -> Stats:
        if not self._indexed():  # counted as before: every set's item
            sets = list(self._partition(ROOT))
            pictures = sum(int(x.get("picture_count", 0)) for x in sets)
            faces = sum(int(x.get("face_count", 0)) for x in sets)
            return Stats(len(sets), pictures, faces, 0, 0)
        item = self.album.get_item(Key=COUNTERS).get("Item") or {}
        n = [int(item.get(f, 0)) for f in _FIELDS]
        return Stats(n[0], n[1], n[2], n[3], 0)

    # -- repair and backfill ----------------------------------------------------------

    def recount_stats(self) -> None:
        """Count everything again from the items (O(album): the repair): each set's
        counts, its index rows and cover hash, and the album's counters."""
        from .catalog_dynamo import _picture

        totals = dict.fromkeys(_FIELDS, 0)
        contents: dict[str, int] = {}
        for s in list(self._partition(ROOT)):
            pictures = [_picture(i) for i in self._partition(s["name"])]
            faces = sum(len(p.faces) for p in pictures)
            contents.update((p.sha256, p.byte_size) for p in pictures)
            totals["sets"] += 1
            totals["pictures"] += len(pictures)
            totals["faces"] += faces
            cover = {p.image_id: p for p in pictures}.get(s.get("featured_image_id", ""))
            values: dict = {":p": len(pictures), ":f": faces}
            extra = ""
            if cover is not None:
                extra, values[":h"] = ", featured_sha256 = :h", cover.sha256
            self.pics.update_item(
                Key={"set": ROOT, "name": s["name"]},
                UpdateExpression=f"SET picture_count = :p, face_count = :f{extra}",
                ExpressionAttributeValues=values,
            )
            with self.album.batch_writer() as batch:
                for op in self._index_puts(s["name"], s["created_at"]):
                    batch.put_item(Item=op["Put"]["Item"])
        totals["original_bytes"] = sum(contents.values())
        self.album.put_item(Item=COUNTERS | {k: num(v) for k, v in totals.items()})

    def _indexed(self) -> bool:
        """Whether the backfill is done (remembered once it is: one GetItem till then)."""
        if not getattr(self, "_backfilled", False):
            mark = self.album.get_item(Key=SCHEMA).get("Item")
            self._backfilled = bool(mark) and int(mark.get("version", 0)) >= VERSION
        return self._backfilled

    def _backfill(self) -> None:
        """Once per catalog: the rows this module reads, for sets made before it (not
        in a Lambda function, see the module's docstring)."""
        if self._indexed() or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            return
        self.recount_stats()
        self.album.update_item(Key=SCHEMA, UpdateExpression="SET version = :v",
                               ExpressionAttributeValues={":v": VERSION})  # fmt: skip
        self._backfilled = True

    def _sets_page_unindexed(
        self, sort: str, limit: int, key: list | None
    ) -> tuple[list[SetSummary], str | None]:
        """A page cut from every set's item, in the same order and with the same
        cursors as the index's (before the backfill only)."""
        items = sorted(
            self._partition(ROOT),
            key=lambda i: (
                (-float(i["created_at"]), i["name"])
                if sort == "newest"
                else (i["name"].casefold(), i["name"])
            ),
        )
        if key is not None:
            after = (-float(key[0]), key[1]) if sort == "newest" else (key[0], key[1])
            items = [
                i
                for i in items
                if (
                    (-float(i["created_at"]), i["name"])
                    if sort == "newest"
                    else (i["name"].casefold(), i["name"])
                )
                > after
            ]
        found = self._summaries_with_covers(items[:limit])
        if len(items) <= limit:
            return found, None
        last = found[-1]
        return found, paging.encode(paging.set_key(sort, last.created_at, last.name))


def summary(i: dict) -> SetSummary:
    """A set's ``/`` item as a summary; its cover from the hash kept on the item: what
    a cover needs (its id, its thumbnail's key), not the picture's size or faces."""
    featured = None
    if i.get("featured_image_id") and i.get("featured_sha256"):
        featured = Picture(
            image_id=i["featured_image_id"], set_name=i["name"],
            name=i.get("featured_name", ""), sha256=i["featured_sha256"], width=0, height=0,
            original_key="", content_type="", byte_size=0,
        )  # fmt: skip
    return SetSummary(
        name=i["name"],
        picture_count=int(i.get("picture_count", 0)),
        featured=featured,
        created_at=float(i["created_at"]),
        share_location=bool(i.get("share_location")),
    )
