"""Writing a file so that a crash leaves the old one or the new one, never half of it:
a temporary file beside the target, flushed to disk, renamed over it. The temporary
file is created 0600 (mkstemp), so secrets and manifests are private from the start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO


def write_atomically(target: Path, data: bytes | BinaryIO) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data, bytes | bytearray):
                out.write(data)
            else:
                while chunk := data.read(1 << 20):
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
