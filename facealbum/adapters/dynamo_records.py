"""The catalog's records beside the pictures, on DynamoDB: web uploads with their
leases, the per-content locks, the owner's sessions and failed sign-ins, the background
jobs' states. All live in the ``album`` table (see dynamo_tables), each kind under its
own partition key, and every change that two processes could race on is one
conditional write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ..domain import OwnerSession, Upload
from .dynamo_tables import batch_get, num, query_all

_UPLOAD = ("upload_id", "set_name", "name", "status", "error", "image_id", "faces", "duplicate")


class DynamoRecords:
    db: Any
    album: Any
    client: Any

    def _conditional(self, call, **kwargs: Any) -> bool:
        """Whether a conditional write went through (False: its condition failed)."""
        try:
            call(**kwargs)
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    # -- uploads ------------------------------------------------------------------

    def _uploads(self) -> list[dict]:
        return list(query_all(self.album, KeyConditionExpression="pk = :p",
                              ExpressionAttributeValues={":p": "uploads"}))  # fmt: skip

    def add_upload(self, upload: Upload) -> None:
        now = num(time.time())
        item = {"pk": "uploads", "sk": upload.upload_id, **_upload_item(upload),
                "created_at": now, "enqueued_at": now, "attempts": 0}  # fmt: skip
        # once: a second put would reset a claimed (or finished) upload to queued
        self._conditional(self.album.put_item, Item=item,
                          ConditionExpression="attribute_not_exists(pk)")  # fmt: skip

    def claim_upload(self, upload_id: str, lease_seconds: float) -> Upload | None:
        """One conditional update: of two runners, one wins."""
        now = time.time()
        won = self._conditional(
            self.album.update_item,
            Key={"pk": "uploads", "sk": upload_id},
            UpdateExpression="SET lease_until = :until, attempts = attempts + :one",
            ConditionExpression="#st = :queued AND "
            "(attribute_not_exists(lease_until) OR lease_until < :now)",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":until": num(now + lease_seconds),
                ":one": 1,
                ":queued": "queued",
                ":now": num(now),
            },  # fmt: skip
        )
        return self.get_uploads([upload_id])[0] if won else None

    def renew_upload(self, upload_id: str, lease_seconds: float) -> None:
        self._conditional(
            self.album.update_item,
            Key={"pk": "uploads", "sk": upload_id},
            UpdateExpression="SET lease_until = :until",
            ConditionExpression="#st = :queued",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":until": num(time.time() + lease_seconds),
                ":queued": "queued",
            },  # fmt: skip
        )

    def finish_upload(self, upload: Upload) -> None:
        fields = _upload_item(upload)
        names = {f"#k{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": v for i, v in enumerate(fields.values())}
        sets = ", ".join(f"#k{i} = :v{i}" for i in range(len(fields)))
        self._conditional(
            self.album.update_item,
            Key={"pk": "uploads", "sk": upload.upload_id},
            UpdateExpression=f"SET {sets} REMOVE lease_until",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def requeue_stuck_uploads(self, unclaimed_after: float) -> list[Upload]:
        now = time.time()
        taken = []
        for u in self._uploads():
            if u["status"] != "queued":
                continue
            lease = u.get("lease_until")
            if not ((lease is not None and lease < num(now)) or (
                lease is None and u["enqueued_at"] < num(now - unclaimed_after)
            )):  # fmt: skip
                continue
            condition = "#st = :queued AND " + (
                "lease_until = :lease" if lease is not None else
                "attribute_not_exists(lease_until) AND enqueued_at = :enq"
            )  # fmt: skip
            values = {":queued": "queued", ":now": num(now)} | (
                {":lease": lease} if lease is not None else {":enq": u["enqueued_at"]}
            )
            if self._conditional(
                self.album.update_item,
                Key={"pk": "uploads", "sk": u["sk"]},
                UpdateExpression="SET enqueued_at = :now REMOVE lease_until",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
            ):
                taken.append(u["sk"])
        return self.get_uploads(taken)

    def upload_ids(self) -> list[str]:
        return [u["sk"] for u in self._uploads()]

    def queued_uploads(self) -> list[Upload]:
        found = [_upload(u) for u in self._uploads() if u["status"] == "queued"]
        return sorted(found, key=lambda u: u.created_at or 0)

    def get_uploads(self, upload_ids: Sequence[str]) -> list[Upload]:
        keys = [{"pk": "uploads", "sk": i} for i in upload_ids]
        found = [_upload(u) for u in batch_get(self.db, self.album, keys)]
        return sorted(found, key=lambda u: u.created_at or 0)

    # -- content locks ------------------------------------------------------------

    def lock_content(self, sha256: str, holder: str, seconds: float) -> bool:
        """Taken if free or if its holder's lease ran out: one conditional put."""
        now = time.time()
        return self._conditional(
            self.album.put_item,
            Item={
                "pk": f"lock#{sha256}",
                "sk": "-",
                "holder": holder,
                "expires_at": num(now + seconds),
            },  # fmt: skip
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": num(now)},
        )

    def unlock_content(self, sha256: str, holder: str) -> None:
        self._conditional(
            self.album.delete_item,
            Key={"pk": f"lock#{sha256}", "sk": "-"},
            ConditionExpression="holder = :h",
            ExpressionAttributeValues={":h": holder},
        )

    # -- the album's background jobs: one item each (pk job#NAME), conditional puts ---

    def get_job(self, name: str) -> tuple[dict, int] | None:
        item = self.album.get_item(Key={"pk": f"job#{name}", "sk": "-"}, ConsistentRead=True)
        item = item.get("Item")
        return (json.loads(item["state"]), int(item["version"])) if item else None

    def put_job(self, name: str, state: dict, version: int) -> bool:
        item = {"pk": f"job#{name}", "sk": "-", "version": version + 1, "state": json.dumps(state)}
        if version == 0:
            return self._conditional(self.album.put_item, Item=item,
                                     ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
        return self._conditional(
            self.album.put_item,
            Item=item,
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": version},
        )

    # -- the owner's sessions and failed sign-ins ---------------------------------

    def add_session(self, session: OwnerSession) -> None:
        item = {k: num(v) if isinstance(v, float) else v for k, v in vars(session).items()}
        self.album.put_item(Item={"pk": "sessions", "sk": session.session_id, **item})

    def get_session(self, session_id: str) -> OwnerSession | None:
        item = self.album.get_item(Key={"pk": "sessions", "sk": session_id}).get("Item")
        return _session(item) if item else None

    def touch_session(self, session_id: str, at: float) -> None:
        self._conditional(
            self.album.update_item,
            Key={"pk": "sessions", "sk": session_id},
            UpdateExpression="SET last_seen = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": num(at)},
        )

    def list_sessions(self) -> list[OwnerSession]:
        items = query_all(self.album, KeyConditionExpression="pk = :p",
                          ExpressionAttributeValues={":p": "sessions"})  # fmt: skip
        return sorted((_session(i) for i in items), key=lambda s: s.created_at)

    def delete_sessions(self, session_id: str | None = None, keep_tag: str | None = None) -> int:
        ended = 0
        for s in self.list_sessions():
            if session_id is not None and s.session_id != session_id:
                continue
            if keep_tag is not None and s.secret_tag == keep_tag:
                continue
            gone = self.album.delete_item(
                Key={"pk": "sessions", "sk": s.session_id}, ReturnValues="ALL_OLD"
            )
            ended += "Attributes" in gone
        return ended

    def add_signin_failure(self, client: str, at: float) -> None:
        pk = f"fail#{client}"
        cut = {":p": pk, ":cut": _stamp(at - 3600)}
        old = query_all(
            self.album,
            KeyConditionExpression="pk = :p AND sk < :cut",
            ExpressionAttributeValues=cut,
        )
        with self.album.batch_writer() as batch:
            for item in old:
                batch.delete_item(Key={"pk": pk, "sk": item["sk"]})
        self.album.put_item(
            Item={"pk": pk, "sk": f"{_stamp(at)}#{time.monotonic_ns()}", "at": num(at)}
        )

    def signin_failures(self, client: str, since: float) -> list[float]:
        items = query_all(self.album, KeyConditionExpression="pk = :p AND sk >= :since",
                          ExpressionAttributeValues={":p": f"fail#{client}",
                                                     ":since": _stamp(since)})  # fmt: skip
        return sorted(float(i["at"]) for i in items)


def _upload_item(u: Upload) -> dict:
    return {k: getattr(u, k) for k in _UPLOAD}


def _upload(item: dict) -> Upload:
    faces = item.get("faces")
    return Upload(
        upload_id=item["upload_id"],
        set_name=item["set_name"],
        name=item["name"],
        status=item["status"],
        error=item.get("error"),
        image_id=item.get("image_id"),
        faces=None if faces is None else int(faces),
        attempts=int(item.get("attempts", 0)),
        created_at=float(item["created_at"]),
        duplicate=item.get("duplicate"),
    )


def _session(item: dict) -> OwnerSession:
    return OwnerSession(
        session_id=item["session_id"],
        secret_tag=item["secret_tag"],
        created_at=float(item["created_at"]),
        last_seen=float(item["last_seen"]),
        expires_at=float(item["expires_at"]),
        client=item["client"],
        user_agent=item["user_agent"],
    )


def _stamp(at: float) -> str:
    """A sort key that orders as the time does."""
    return f"{max(at, 0):020.6f}"
