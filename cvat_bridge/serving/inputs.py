"""Decoding uploaded or local image files for prediction, with errors that name the file."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import IO

import numpy as np
from PIL import Image

from cvat_bridge.errors import Invalid, TooLarge
from cvat_bridge.runtime.imaging import ImageReadError, Preprocessing, open_image, preprocess

_OBJECT_REPR = re.compile(r" ?<[\w.]+ object at 0x[0-9a-f]+>")  # Pillow names the buffer, not the file


class BadImage(Invalid):
    """A file that is not a readable image, or has more pixels than allowed; the message names it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


class TooManyPixels(TooLarge):
    """The images of one request have more pixels together than its budget."""


def check_pixels(files: Sequence[tuple[str, IO[bytes]]], max_total_pixels: int) -> None:
    """TooManyPixels when the files' images have more than ``max_total_pixels`` together, read from their
    headers (nothing is decoded); BadImage naming the first file that is not an image."""
    total = sum(_header_pixels(name, handle) for name, handle in files)
    if total > max_total_pixels:
        raise TooManyPixels(
            f"the {len(files)} images have {total} pixels together, more than the limit of "
            f"{max_total_pixels} per request: send fewer or smaller images per request"
        )


def read_inputs(files: Sequence[tuple[str, IO[bytes]]], max_pixels: int, spec: Preprocessing) -> np.ndarray:
    """The model inputs (N, 3, crop, crop) of uploaded files, in order: each image is decoded and reduced to
    its model input before the next one is decoded, so at most one is ever held at full size. Raises
    BadImage naming the first bad file."""
    inputs = np.empty((len(files), 3, spec.crop_size, spec.crop_size), dtype=np.float32)
    for index, (name, handle) in enumerate(files):
        handle.seek(0)
        [image] = read_images([(name, handle)], max_pixels, spec.resize_size)
        inputs[index] = preprocess(image, spec)
        del image
    return inputs


def _header_pixels(name: str, handle: IO[bytes]) -> int:
    """Width x height from the file's header (nothing is decoded)."""
    handle.seek(0)
    try:
        with Image.open(handle) as image:
            width, height = image.size
    except Exception as exc:  # Pillow raises many types for bad data
        raise BadImage(name, _OBJECT_REPR.sub("", f"not a readable image ({exc})")) from exc
    return width * height


def read_images(
    files: Iterable[tuple[str, bytes | str | os.PathLike | IO[bytes]]],
    max_pixels: int,
    min_short_side: int | None = None,
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
