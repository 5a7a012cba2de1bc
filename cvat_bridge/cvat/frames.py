"""Frames of a CVAT image task, downloaded chunk by chunk (original quality: the uploaded files' bytes)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from cvat_bridge.cvat.client import call
from cvat_bridge.errors import Invalid


class VideoTaskRefused(Invalid):
    """A video task: the bridge works on image tasks (their chunks hold the original files)."""


def check_image_task(task: Any) -> None:
    if task.data_original_chunk_type != "imageset":
        raise VideoTaskRefused(
            f"CVAT task {task.id} ({task.name!r}) is a {task.media_type or 'video'} task; cvat-bridge works "
            "on image tasks only (create the task from the extracted frames instead)"
        )


def iter_frames(task: Any, frames: Iterable[int]) -> Iterator[tuple[int, bytes]]:
    """``(frame, original bytes)`` for the wanted frame numbers, in order, one chunk download per chunk.

    A chunk is a zip of its frames in order; the frame's position in the zip, not the member name, says
    which frame it is (as cvat-sdk's own dataset code reads them)."""
    check_image_task(task)
    chunk_size = task.data_chunk_size
    for chunk, wanted in groupby(sorted(set(frames)), key=lambda frame: frame // chunk_size):
        buffer = call(f"download chunk {chunk} of task {task.id}", lambda c=chunk: _chunk(task, c))
        with zipfile.ZipFile(buffer) as archive:
            members = archive.infolist()
            for frame in wanted:
                yield frame, archive.read(members[frame % chunk_size])


def _chunk(task: Any, chunk: int) -> io.BytesIO:
    buffer = io.BytesIO()
    task.download_chunk(chunk, buffer, quality="original")
    buffer.seek(0)
    return buffer
