"""Small JPEG thumbnails of a collection's images, made once and kept in the collection's folder.

collections/<id>/.thumbnails/<image id>.jpg     made on first request (``image_thumbnail``)
collections/<id>/.thumbnails/skipped/<n>.jpg    made at import time for the n-th skipped file of the report
                                                that is still a readable picture (``keep_skipped_thumbnail``)

The folder starts with a dot: no image path of a collection can (the importer skips hidden files), and it goes
when the collection is deleted. Thumbnails never change once written (image ids are never reused).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

from cvat_bridge.runtime.imaging import ImageReadError, open_image

THUMBNAIL_SIDE = 192  # px, the longer side (shown at 96 px: sharp on 2x screens)
JPEG_QUALITY = 80
THUMBNAIL_DIR = ".thumbnails"
SKIPPED_DIR = "skipped"
MAX_SKIPPED_THUMBNAILS = 200  # the first skipped files of the report (its list is cut there too)
MAX_SKIPPED_BYTES = 64 * 1024**2  # a skipped file larger than this gets no thumbnail


def image_thumbnail(collection_dir: Path, image_id: int, relative_path: str, max_pixels: int) -> Path:
    """The thumbnail of one image of the collection, made now if it is not there yet (ImageReadError if the
    file cannot be read)."""
    target = collection_dir / THUMBNAIL_DIR / f"{image_id}.jpg"
    if not target.is_file():
        write_thumbnail(collection_dir / relative_path, target, max_pixels)
    return target


def skipped_thumbnail(collection_dir: Path, index: int) -> Path | None:
    """The thumbnail kept at import time of the report's index-th skipped file (None: there is none)."""
    path = collection_dir / THUMBNAIL_DIR / SKIPPED_DIR / f"{index}.jpg"
    return path if path.is_file() else None


def keep_skipped_thumbnail(
    staging: Path, index: int, source: Path | IO[bytes], size: int, max_pixels: int
) -> None:
    """At import time: the thumbnail of a skipped file (``size`` bytes; a path, or an open zip member) if
    Pillow can still read it (an unsupported format, a picture outside the class folders), under its index in
    the report's list of skipped files; only the first ``MAX_SKIPPED_THUMBNAILS``, none past
    ``MAX_SKIPPED_BYTES``."""
    if index >= MAX_SKIPPED_THUMBNAILS or size > MAX_SKIPPED_BYTES:
        return
    try:
        write_thumbnail(source, staging / THUMBNAIL_DIR / SKIPPED_DIR / f"{index}.jpg", max_pixels)
    except ImageReadError:
        pass  # corrupt, or not an image: the report's reason says so, there is no picture to show


def write_thumbnail(source: Path | IO[bytes], target: Path, max_pixels: int) -> None:
    """Write a JPEG of source at most THUMBNAIL_SIDE px on its longer side, atomically (two requests for the
    same thumbnail each write their own file; the last rename wins, both are the same picture)."""
    image = open_image(source, max_pixels=max_pixels, min_short_side=THUMBNAIL_SIDE)
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="JPEG", quality=JPEG_QUALITY)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
