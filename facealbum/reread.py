"""``facealbum reindex --metadata``: when and where the album's pictures were taken, read
again from their originals (issue 20), with no face work.

Pictures stored before capture times and places were kept (migration 0019) have none;
this reads each original's header (``Image.open``: its metadata blocks, not its pixels)
as an import does (``imaging.metadata``, ``ingest.capture_fields``) and writes the
fields that changed (``Catalog.set_capture``). The original's file name is the
picture's name in the album; its modification time is not known any more (the blob
store's is the import's), so a capture time this run cannot read keeps the one the
import recorded (which may have come from the file time), and likewise a position.
Re-running converges: a picture whose fields read the same is not written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from PIL import Image, UnidentifiedImageError

from . import raw
from .album import Album
from .domain import CAPTURE_FIELDS, Picture
from .imaging import metadata
from .ingest import capture_fields

log = logging.getLogger(__name__)

BATCH = 100  # pictures read from the catalog at once


@dataclass
class MetadataReport:
    """``read``: pictures whose original was read; ``updated``: those whose fields
    changed; ``failed``: (name, reason) of those whose original could not be read."""

    read: int = 0
    updated: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def reindex_metadata(
    album: Album,
    set_name: str | None = None,
    *,
    on_start: Callable[[int], None] = lambda total: None,
    on_picture: Callable[[Picture, bool], None] = lambda picture, changed: None,
) -> MetadataReport:
    """Read every picture's (or one set's) capture time and place from its original
    and store those that changed. NotFound for a ``set_name`` the album has no set of.
    A picture whose original is missing or unreadable is reported, the rest go on."""
    if set_name is not None:
        set_name = album.get_set(set_name, limit=0)[0].name
    names = [set_name] if set_name is not None else [s.name for s in album.catalog.list_sets()]
    ids = [i for name in names for i in album.catalog.picture_ids(name)]
    on_start(len(ids))
    report = MetadataReport()
    for picture in _pictures(album, ids):
        try:
            fresh = reread(album, picture)
        except KeyError:
            report.failed.append((picture.name, "its original is missing from the blob store"))
            continue
        except Exception as exc:  # report this picture, go on with the rest
            report.failed.append((picture.name, f"{type(exc).__name__}: {exc}"))
            continue
        report.read += 1
        changed = _fields(fresh) != _fields(picture)
        if changed and album.catalog.set_capture(fresh):
            report.updated += 1
        on_picture(fresh, changed)
    return report


def _pictures(album: Album, ids: list[str]) -> Iterator[Picture]:
    """The pictures of ``ids`` still there, read a batch at a time."""
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        found = album.catalog.get_pictures(batch)
        yield from (found[i] for i in batch if i in found)


def reread(album: Album, picture: Picture) -> Picture:
    """The picture with its capture fields as its original's metadata gives them now;
    what cannot be read now keeps the value the import recorded. KeyError if the
    original is missing."""
    with album.blobs.open("originals", picture.original_key) as fh:
        if raw.kind(fh):
            taken, position = metadata(None, picture.name, None)
        else:
            try:
                with Image.open(fh) as img:
                    taken, position = metadata(img, picture.name, None)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                log.warning("%s: original unreadable (%s); its name alone read", picture.name,
                            exc)
                taken, position = metadata(None, picture.name, None)
    return capture_fields(replace(picture, faces=list(picture.faces)), taken, position)


def _fields(picture: Picture) -> tuple:
    return tuple(getattr(picture, k) for k in CAPTURE_FIELDS)
