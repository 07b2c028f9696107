"""Blob store on a local folder: one directory per bucket.

Writes go to a temporary file in the store's own ``.tmp`` folder and are renamed into
place, so a crash leaves either the whole blob or nothing where readers look.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..domain import BadInput, StorageFull
from ..ports import Bucket

BUCKETS: tuple[Bucket, ...] = ("originals", "thumbnails", "incoming")


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._tmp = self.root / ".tmp"
        for bucket in BUCKETS:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        # leftovers of a killed writer; recent ones may belong to a live process
        for stale in self._tmp.iterdir():
            if time.time() - stale.stat().st_mtime > 3600:
                stale.unlink(missing_ok=True)

    def path(self, bucket: Bucket, key: str) -> Path:
        if bucket not in BUCKETS:
            raise BadInput(f"unknown bucket {bucket!r}")
        base = (self.root / bucket).resolve()
        p = (base / key).resolve()
        if not p.is_relative_to(base) or p == base:
            raise BadInput(f"invalid blob key {key!r}")
        return p

    def put(
        self,
        bucket: Bucket,
        key: str,
        data: bytes | BinaryIO,
        content_type: str = "",
        expect_sha256: str | None = None,
    ) -> None:
        """With ``expect_sha256``, bytes that hash otherwise raise BadInput and nothing
        is stored: a backup never takes in a damaged original."""
        try:
            self._put(bucket, key, data, expect_sha256)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(
                    f"the album's storage is full ({self.root}: {exc.strerror}); "
                    "nothing was stored — free some space and try again"
                ) from exc
            raise

    def _put(
        self, bucket: Bucket, key: str, data: bytes | BinaryIO, expect_sha256: str | None
    ) -> None:
        target = self.path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, bytes | bytearray):
                    data = io.BytesIO(data)
                while chunk := data.read(1 << 20):
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            if expect_sha256 and digest.hexdigest() != expect_sha256:
                raise BadInput(f"{bucket}/{key}: content does not match sha256 {expect_sha256}")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, bucket: Bucket, key: str) -> BinaryIO:
        try:
            return self.path(bucket, key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(f"{bucket}/{key}") from None

    def length(self, bucket: Bucket, key: str) -> int:
        p = self.path(bucket, key)
        if not p.is_file():
            raise KeyError(f"{bucket}/{key}")
        return p.stat().st_size

    def get(self, bucket: Bucket, key: str) -> bytes:
        try:
            return self.path(bucket, key).read_bytes()
        except FileNotFoundError:
            raise KeyError(f"{bucket}/{key}") from None

    def exists(self, bucket: Bucket, key: str) -> bool:
        return self.path(bucket, key).is_file()

    def delete(self, bucket: Bucket, key: str) -> None:
        self.path(bucket, key).unlink(missing_ok=True)

    def open_version(self, bucket: Bucket, key: str) -> tuple[BinaryIO, str]:
        """The token is the file's inode, change time and size: writes replace files
        (``os.replace``), so a newer file under the key has another."""
        fh = self.open(bucket, key)
        return fh, _version(os.fstat(fh.fileno()))

    def delete_version(self, bucket: Bucket, key: str, version: str) -> bool:
        """Compare, then unlink: a file has no conditional delete, so a file written
        under the key in between (microseconds) would go too."""
        p = self.path(bucket, key)
        try:
            if _version(p.stat()) != version:
                return False
            p.unlink()
        except FileNotFoundError:
            return False
        return True

    def keys(self, bucket: Bucket) -> Iterator[str]:
        base = self.root / bucket
        for p in sorted(base.rglob("*")):
            if p.is_file():
                yield p.relative_to(base).as_posix()

    def free_bytes(self) -> int | None:
        return shutil.disk_usage(self.root).free

    def size(self, bucket: Bucket) -> int:
        return sum(p.stat().st_size for p in (self.root / bucket).rglob("*") if p.is_file())


def _version(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_ctime_ns}:{st.st_size}"
