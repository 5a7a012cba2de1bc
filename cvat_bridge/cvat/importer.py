"""CVAT task or project -> collection: frames with exactly one tag become images of that tag's class
(multi-label mode: frames with one or more tags, each carrying all of them).

A frame enters when it is not deleted and has exactly one tag whose label is of type ``tag`` or ``any``
(multi-label: at least one); frames with no such tag or (single-label) several, deleted frames and unreadable
images are left out and counted in the import report. Task subsets ``Train``/``Validation``/``Test`` (any
case) give the split; frames of tasks without a known subset are split 70/30 stratified by
``register_collection``. Annotations are read from the server on every import (never from a cache), so
importing a task again makes a fresh new version.
With ``manual_only`` (the closed loop), tags with ``source="auto"`` (a model's guesses) are left out.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cvat_sdk import Client

from cvat_bridge.cvat.client import CvatError, call, connect, server_url, tag_labels
from cvat_bridge.cvat.frames import VideoTaskRefused, check_image_task, iter_frames
from cvat_bridge.db import Collection, iso_utc, utcnow
from cvat_bridge.ingest.doctor import Skipped, inspect_image
from cvat_bridge.ingest.multilabel import MODES, MULTI, SINGLE
from cvat_bridge.ingest.split import TEST, TRAIN, VAL
from cvat_bridge.ingest.store import ImportedImage, ImportRefused, collection_to_dict, register_collection
from cvat_bridge.jobs.runner import JobContext, JobError
from cvat_bridge.services import Services

SUBSET_SPLITS = {
    "train": TRAIN,
    "training": TRAIN,
    "validation": VAL,
    "val": VAL,
    "test": TEST,
    "testing": TEST,
}
Progress = Callable[..., None]
PROGRESS_EVERY = 100  # frames between progress reports within a task


def split_of_subset(subset: str | None) -> str | None:
    """The collection split of a CVAT subset name, or None (split when the collection is registered)."""
    return SUBSET_SPLITS.get((subset or "").strip().casefold())


def import_from_cvat(
    services: Services,
    client: Client,
    *,
    name: str,
    task_id: int | None = None,
    project_id: int | None = None,
    progress: Progress = lambda **_: None,
    check_cancelled: Callable[[], None] = lambda: None,
    manual_only: bool = False,
    mode: str = SINGLE,
) -> Collection:
    """Import one task or every task of one project as a new collection (version) named ``name``."""
    if (task_id is None) == (project_id is None):
        raise ImportRefused("give either a CVAT task id or a CVAT project id")
    if mode not in MODES:
        raise ImportRefused(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    url = server_url(services.settings)
    if task_id is not None:
        tasks = [call(f"read task {task_id}", lambda: client.tasks.retrieve(task_id))]
    else:
        project = call(f"read project {project_id}", lambda: client.projects.retrieve(project_id))
        tasks = sorted(call(f"list tasks of project {project_id}", project.get_tasks), key=lambda t: t.id)
        if not tasks:
            raise ImportRefused(f"CVAT project {project_id} ({project.name!r}) has no tasks")
    try:
        for task in tasks:
            check_image_task(task)
    except VideoTaskRefused as exc:
        raise ImportRefused(str(exc)) from None

    staging = services.storage.new_staging_dir("cvat-")
    images: list[ImportedImage] = []
    task_reports = []
    total = sum(task.size or 0 for task in tasks)
    done = 0

    def downloaded(frames_seen: int) -> None:  # progress while a task's chunks come in
        progress(stage="downloading", frames_done=done + frames_seen, frames_total=total)

    try:
        for task in tasks:
            check_cancelled()
            report, task_images = _import_task(
                services, task, url, staging, check_cancelled, downloaded, manual_only, mode == MULTI
            )
            images += task_images
            task_reports.append(report)
            done += report["frames"]
            progress(stage="downloading", frames_done=done, frames_total=total, images=len(images))
    except BaseException:
        services.storage.remove(staging)
        raise
    progress(stage="registering", frames_done=done, frames_total=total, images=len(images))
    excluded = sum((Counter(r["excluded"]) for r in task_reports), Counter())
    report = {
        "frames": total,
        "imported": len(images),
        "excluded": {
            key: excluded.get(key, 0) for key in ("untagged", "several_tags", "deleted", "unreadable")
        },
        "tasks": task_reports,
    }
    source = {
        "server": url,
        "task_id": task_id,
        "project_id": project_id,
        "tasks": [task.id for task in tasks],
        "imported_at": iso_utc(utcnow()),
    }
    return register_collection(
        services,
        name=name,
        source="cvat",
        staging_dir=staging,
        images=images,
        report=report,
        provenance={"cvat": source},
        mode=mode,
    )


def _import_task(
    services: Services,
    task: Any,
    url: str,
    staging: Path,
    check_cancelled: Callable[[], None],
    downloaded: Callable[[int], None],
    manual_only: bool = False,
    multi: bool = False,
) -> tuple[dict[str, Any], list[ImportedImage]]:
    labels = call(f"read labels of task {task.id}", task.get_labels)
    usable = {label_id: name for name, label_id in tag_labels(labels).items()}
    meta = call(f"read frames of task {task.id}", task.get_meta)
    tags = call(f"read annotations of task {task.id}", task.get_annotations).tags
    deleted = set(meta.deleted_frames)
    per_frame: dict[int, set[str]] = {}
    for tag in tags:
        if tag.label_id in usable and not (manual_only and tag.source == "auto"):
            per_frame.setdefault(tag.frame, set()).add(usable[tag.label_id])
    excluded: Counter[str] = Counter()
    wanted: dict[int, tuple[str, ...]] = {}
    for frame in range(len(meta.frames)):
        names = tuple(sorted(per_frame.get(frame, ())))
        if frame in deleted:
            excluded["deleted"] += 1
        elif len(names) == 1 or (multi and names):
            wanted[frame] = names
        else:
            excluded["untagged" if not names else "several_tags"] += 1

    split = split_of_subset(task.subset)
    folder = staging / f"task-{task.id}"
    folder.mkdir()
    images, unreadable = [], []
    for count, (frame, data) in enumerate(iter_frames(task, wanted), 1):
        check_cancelled()
        if count % PROGRESS_EVERY == 0:
            downloaded(frame + 1)
        frame_name = meta.frames[frame].name
        relative = f"{folder.name}/{frame:06d}-{_safe_name(frame_name)}"
        path = staging / relative
        path.write_bytes(data)
        try:
            facts = inspect_image(path, services.settings.max_image_pixels, frame_name)
        except Skipped as exc:
            path.unlink()
            unreadable.append({"frame": frame, "name": frame_name, "reason": exc.reason})
            continue
        images.append(
            ImportedImage(
                path=relative,
                label=wanted[frame][0],
                labels=wanted[frame] if multi else None,
                split=split,
                sha256=hashlib.sha256(data).hexdigest(),
                width=facts.width,
                height=facts.height,
                provenance={"server": url, "task_id": task.id, "frame": frame, "frame_name": frame_name},
            )
        )
    excluded["unreadable"] = len(unreadable)
    report = {
        "task_id": task.id,
        "name": task.name,
        "subset": task.subset or "",
        "split": split,
        "frames": len(meta.frames),
        "imported": len(images),
        "excluded": dict(excluded),
        "unreadable": unreadable[:50],
    }
    return report, images


def _safe_name(frame_name: str) -> str:
    """The frame's base name with anything but letters, digits, dot, dash and underscore replaced."""
    base = frame_name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)[-100:] or "frame"


def run_import_job(ctx: JobContext) -> dict[str, Any]:
    """The ``cvat_import`` job: params ``name``, ``task_id`` or ``project_id``, optional ``mode``."""
    params = ctx.params
    try:
        with connect(ctx.services.settings) as client:
            collection = import_from_cvat(
                ctx.services,
                client,
                name=params["name"],
                task_id=params.get("task_id"),
                project_id=params.get("project_id"),
                progress=ctx.report,
                check_cancelled=ctx.check_cancelled,
                mode=params.get("mode", SINGLE),
            )
    except (CvatError, ImportRefused) as exc:
        raise JobError(str(exc)) from None
    return {"collection_id": collection.id, "collection": collection_to_dict(collection)}
