"""DynamoDB tables of the catalog, and the two fan-out reads every caller needs.

The original design's key schema, plus one table for the rest of what the album keeps:

- ``PREFIXpics``: partition ``set``, sort ``name``. A picture's item holds its faces. The
  ``/`` partition lists the sets (sort key = the set's name), each with its featured
  picture, set once by a conditional ``attribute_not_exists`` write, and its counts.
- ``PREFIXpics_by_image_id``: ``image_id`` → the picture's ``set`` and ``name``.
- ``PREFIXalbum``: partition ``pk``, sort ``sk``, one kind of row per prefix of ``pk``:
  ``hash#SET`` / sha256 (one content once per set), ``pixels#SET`` / pixel sha256 (one
  photo once per set, whatever its metadata), ``sha#SHA`` / image id (who uses a
  content), ``face#ID`` (a face's picture and box), ``uploads``, ``lock#SHA``,
  ``sessions``, ``fail#CLIENT``, ``job#NAME`` (a background job's state), ``sets#newest``
  and ``sets#name`` (the sets in either order, for paging), ``counters`` (the album's
  counts) and ``schema`` (see dynamo_sets; also the tables' ``LAYOUT`` once made so).

Tables are created on demand capacity (PAY_PER_REQUEST) if missing. Endpoint,
credentials and region come from the standard AWS configuration; throttling is retried
by botocore's adaptive mode, not by a loop of ours.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

KEYS = {
    "pics": [("set", "HASH"), ("name", "RANGE")],
    "pics_by_image_id": [("image_id", "HASH")],
    "album": [("pk", "HASH"), ("sk", "RANGE")],
}
# global secondary indexes (partition, sort), all attributes projected: what the people
# pages read by. ``people_rank`` ("%010d#person id" of the picture count) is on every
# person row, ``people_shown`` ("people") only on those not hidden (a sparse index of
# what visitors see); ``by_image`` lists a person's membership rows (``person#ID``) by
# picture (``member_image``: the face's image id, on membership rows only); ``people_named``
# ("people") is on the rows of persons with a name.
INDEXES = {
    "album": {
        "people_listed": ("pk", "people_rank"),
        "people_shown": ("people_shown", "people_rank"),
        "by_image": ("pk", "member_image"),
        "people_named": ("people_named", "sk"),
    }
}
BATCH = 100  # BatchGetItem's most keys per call
# the tables' layout as this code makes it, noted on the ``schema`` item once the tables
# and indexes are so (catalog_dynamo): a new index changes it, and the next open adds it
LAYOUT = ";".join(
    f"{short}:{','.join(a for a, _ in KEYS[short])}:{','.join(sorted(INDEXES.get(short, {})))}"
    for short in KEYS
)


def _index(name: str, hash_key: str, range_key: str) -> dict:
    return {
        "IndexName": name,
        "KeySchema": [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def _attributes(short: str) -> list[dict]:
    names = [a for a, _ in KEYS[short]]
    names += [a for keys in INDEXES.get(short, {}).values() for a in keys]
    return [{"AttributeName": a, "AttributeType": "S"} for a in dict.fromkeys(names)]


def dynamodb() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.resource(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION") or None,
        config=Config(retries={"mode": "adaptive", "max_attempts": 10}),
    )


def ensure_tables(resource: Any, prefix: str) -> dict[str, Any]:
    """The catalog's tables by short name, created (on demand) if missing."""
    client = resource.meta.client
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing |= set(page["TableNames"])
    for short, keys in KEYS.items():
        name = prefix + short
        if name in existing:
            continue
        indexes = [_index(i, *k) for i, k in INDEXES.get(short, {}).items()]
        with contextlib.suppress(client.exceptions.ResourceInUseException):  # being created
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": a, "KeyType": t} for a, t in keys],
                AttributeDefinitions=_attributes(short),
                BillingMode="PAY_PER_REQUEST",
                **({"GlobalSecondaryIndexes": indexes} if indexes else {}),
            )
        client.get_waiter("table_exists").wait(TableName=name)
    return {short: resource.Table(prefix + short) for short in KEYS}


def ensure_indexes(resource: Any, prefix: str) -> set[str]:
    """Add the global secondary indexes a table made before them lacks (one at a time,
    as DynamoDB allows), waiting until each is ACTIVE; returns the names added (their
    rows may need attributes written: the caller's part). One DescribeTable per table
    when nothing is missing."""
    client = resource.meta.client
    added: set[str] = set()

    def status(name: str) -> dict[str, str]:
        table = client.describe_table(TableName=name)["Table"]
        return {
            i["IndexName"]: i.get("IndexStatus", "ACTIVE")
            for i in table.get("GlobalSecondaryIndexes", [])
        }

    for short, wanted in INDEXES.items():
        name = prefix + short
        have = status(name)
        for index, keys in wanted.items():
            if index not in have:
                with contextlib.suppress(client.exceptions.ResourceInUseException):
                    client.update_table(
                        TableName=name,
                        AttributeDefinitions=_attributes(short),
                        GlobalSecondaryIndexUpdates=[{"Create": _index(index, *keys)}],
                    )
                added.add(index)
                have = status(name)
            for _ in range(1800):  # backfilling a big table's index takes minutes
                if have.get(index) == "ACTIVE":
                    break
                time.sleep(1)
                have = status(name)
    return added


def batch_get(
    resource: Any, table: Any, keys: list[dict], consistent: bool = False
) -> list[dict]:
    """Every item of ``keys`` there is, in chunks of 100, with what DynamoDB left
    unprocessed (throttling, the 16 MB limit) asked for again after a short backoff:
    unlike a throttled call, UnprocessedKeys is an answer, so botocore does not retry it.
    ``consistent``: strongly consistent reads (twice the read units)."""
    found: list[dict] = []
    unique = list({tuple(sorted(k.items())): k for k in keys}.values())
    for i in range(0, len(unique), BATCH):
        chunk = unique[i : i + BATCH]
        request = {table.name: {"Keys": chunk, **({"ConsistentRead": True} if consistent else {})}}
        for attempt in range(12):
            answer = resource.batch_get_item(RequestItems=request)
            found += answer["Responses"].get(table.name, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(2.0, 0.02 * 2**attempt) * random.random())
        else:
            raise TimeoutError(f"{table.name}: keys stayed unprocessed after 12 tries")
    return found


def query_all(table: Any, **kwargs: Any) -> Iterator[dict]:
    """Every item a Query matches, page after page by LastEvaluatedKey."""
    while True:
        page = table.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_all(table: Any, **kwargs: Any) -> Iterator[dict]:
    while True:
        page = table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def num(x: float | int) -> Decimal:
    """DynamoDB numbers go through Decimal; a float's shortest repr keeps it exact."""
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
