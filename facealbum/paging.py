"""Keyset paging's cursors: a page ends with the key of its last row, and the next page
starts after it (``WHERE key > last``), so any page costs O(page) on an index, however
deep, and rows added or deleted meanwhile never shift a row into two pages or none
(offset paging does both, and walks the offset).

A cursor is opaque to clients: the key as URL-safe base64 of compact JSON. Anything
that does not decode to a key of the expected shape is ``BadInput`` (a 400).
"""

from __future__ import annotations

import base64
import binascii
import json

from .domain import BadInput

SET_SORTS = ("newest", "name")


def encode(key: list) -> str:
    """``key``: the last row's sort key, e.g. [created_at, name]."""
    text = json.dumps(key, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str, *types: type) -> list:
    """The key of ``cursor``, checked to be a list of ``types`` (int counts as float)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise BadInput(f"invalid cursor {cursor[:40]!r}: pass a page's `next` as it was") from None
    ok = isinstance(key, list) and len(key) == len(types)
    ok = ok and all(_fits(v, t) for v, t in zip(key, types, strict=False))
    ok = ok and sum(len(v.encode()) for v in key if isinstance(v, str)) <= 1024
    if not ok:
        raise BadInput(f"invalid cursor {cursor[:40]!r}: pass a page's `next` as it was")
    return key


def _fits(value: object, kind: type) -> bool:
    """A key part as a catalog stores them: a number within 2**53 (a time in seconds;
    SQLite's integers overflow past 2**63, DynamoDB's numbers past 1e125), or a name
    (not empty; the key's names together at most DynamoDB's 1,024 bytes of a sort key;
    no NUL, which PostgreSQL's text refuses, nor a lone surrogate, which UTF-8 cannot
    encode: no name or id holds either)."""
    if kind is float:
        return type(value) in (int, float) and abs(value) <= 2**53  # type: ignore[arg-type]
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        return 0 < len(value.encode()) <= 1024
    except UnicodeEncodeError:
        return False


def set_key(sort: str, created_at: float, name: str) -> list:
    """A set's place in ``sort``'s order: newest first [created_at, name] or by name
    [name.casefold(), name]."""
    return [created_at, name] if sort == "newest" else [name.casefold(), name]


def set_after(sort: str, cursor: str | None) -> list | None:
    if cursor is None:
        return None
    return decode(cursor, float, str) if sort == "newest" else decode(cursor, str, str)
