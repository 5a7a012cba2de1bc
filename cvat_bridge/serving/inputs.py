"""Decoding uploaded or local image files for prediction, with errors that name the file."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from PIL import Image

from cvat_bridge.runtime.imaging import ImageReadError, open_image

_OBJECT_REPR = re.compile(r" ?<_io\.\w+ object at 0x[0-9a-f]+>")  # Pillow names the buffer, not the file


class BadImage(ValueError):
    """A file that is not a readable image, or has more pixels than allowed; the message names it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


def read_images(
    files: Iterable[tuple[str, bytes | str | os.PathLike]], max_pixels: int, min_short_side: int | None = None
) -> list[Image.Image]:
    """RGB images of ``(name, data or path)`` pairs, in order; raises BadImage on the first bad one.

    ``min_short_side``: see ``open_image`` (pass the predictor's ``preprocessing.resize_size``).
    """
    images = []
    for name, source in files:
        try:
            images.append(open_image(source, max_pixels, min_short_side))
        except ImageReadError as exc:
            raise BadImage(name, _OBJECT_REPR.sub("", str(exc))) from exc
    return images
