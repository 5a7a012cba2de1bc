"""Tag a CVAT task with a trained model: frames downloaded in chunks, predicted in batches, tags written back
in bulk with ``source="auto"``.

Model classes map to the task's ``tag``/``any`` labels by name; classes without a label are reported, never
created. Without ``overwrite`` frames that already have a tag are left alone; with it, the old tags of each
frame that gets a new one are removed (after the new ones are written, so a failure never loses tags).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from cvat_sdk import Client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction

from cvat_bridge.cvat.client import call, connect, tag_labels
from cvat_bridge.cvat.frames import VideoTaskRefused, check_image_task, iter_frames
from cvat_bridge.errors import DomainError, Invalid
from cvat_bridge.jobs.runner import JobContext, JobError
from cvat_bridge.runtime.imaging import ImageReadError, open_image
from cvat_bridge.runtime.tags import frame_tags
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor

BATCH_FRAMES = 64  # frames decoded and predicted together
WRITE_BATCH = 1000  # tags per write request


class AnnotateRefused(Invalid):
    """The task cannot be tagged with this model (no class matches a label, video task...)."""


def annotate_task(
    services: Services,
    client: Client,
    *,
    model_id: int,
    task_id: int,
    threshold: float = 0.5,
    overwrite: bool = False,
    progress: Callable[..., None] = lambda **_: None,
    check_cancelled: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Predict every non-deleted frame that needs a tag and write the tags; returns the counts."""
    predictor = get_predictor(services, model_id)
    task = call(f"read task {task_id}", lambda: client.tasks.retrieve(task_id))
    try:
        check_image_task(task)
    except VideoTaskRefused as exc:
        raise AnnotateRefused(str(exc)) from None
    labels = tag_labels(call(f"read labels of task {task_id}", task.get_labels))
    label_ids = {name: labels[name] for name in predictor.classes if name in labels}
    unmatched = [name for name in predictor.classes if name not in labels]
    if not label_ids:
        raise AnnotateRefused(
            f"none of the model's classes ({', '.join(predictor.classes)}) is a tag label of CVAT task "
            f"{task_id} (its tag labels: {', '.join(sorted(labels)) or 'none'}); add labels with these names"
        )
    meta = call(f"read frames of task {task_id}", task.get_meta)
    existing = call(f"read annotations of task {task_id}", task.get_annotations).tags
    deleted = set(meta.deleted_frames)
    already_tagged = {tag.frame for tag in existing}
    frames = [
        f for f in range(len(meta.frames)) if f not in deleted and (overwrite or f not in already_tagged)
    ]

    counts = {"frames_tagged": 0, "frames_below_threshold": 0, "frames_unmatched": 0, "frames_unreadable": 0}
    new_tags: list[models.LabeledImageRequest] = []
    done = 0
    progress(stage="predicting", frames_done=0, frames_total=len(frames))
    max_pixels, short_side = services.settings.max_image_pixels, predictor.preprocessing.resize_size
    for batch in _batches(iter_frames(task, frames), BATCH_FRAMES):
        check_cancelled()
        readable = []
        for frame, data in batch:
            try:
                readable.append((frame, open_image(data, max_pixels, short_side)))
            except ImageReadError:
                counts["frames_unreadable"] += 1
        probabilities = predictor.probabilities([image for _, image in readable])
        for (frame, _), row in zip(readable, probabilities, strict=True):
            tags = frame_tags(row, predictor.classes, threshold, predictor.label_thresholds)
            matched = [tag for tag in tags if tag.label in label_ids]
            if not tags:
                counts["frames_below_threshold"] += 1
            elif not matched:
                counts["frames_unmatched"] += 1
            else:
                counts["frames_tagged"] += 1
                new_tags += [
                    models.LabeledImageRequest(frame=frame, label_id=label_ids[tag.label], source="auto")
                    for tag in matched
                ]
        done += len(batch)
        progress(stage="predicting", frames_done=done, frames_total=len(frames), **counts)

    check_cancelled()
    progress(stage="writing", frames_done=done, frames_total=len(frames), **counts)
    _write(task, new_tags, AnnotationUpdateAction.CREATE)
    retagged = {tag.frame for tag in new_tags}
    replaced = [models.LabeledImageRequest(**tag.to_dict()) for tag in existing if tag.frame in retagged]
    _write(task, replaced, AnnotationUpdateAction.DELETE)
    return {
        "task_id": task_id,
        "model_id": model_id,
        "threshold": threshold,
        "overwrite": overwrite,
        "frames": len(meta.frames),
        "frames_deleted": len(deleted),
        "frames_skipped_already_tagged": 0 if overwrite else len(already_tagged - deleted),
        **counts,
        "tags_replaced": len(replaced),
        "unmatched_labels": unmatched,
    }


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


def _write(task: Any, tags: list[models.LabeledImageRequest], action: AnnotationUpdateAction) -> None:
    for start in range(0, len(tags), WRITE_BATCH):
        request = models.PatchedLabeledDataRequest(tags=tags[start : start + WRITE_BATCH])
        call(f"write tags to task {task.id}", lambda r=request: task.update_annotations(r, action=action))


def run_annotate_job(ctx: JobContext) -> dict[str, Any]:
    """The ``annotate`` job: params ``model_id``, ``task_id``, ``threshold``, ``overwrite``."""
    params = ctx.params
    try:
        with connect(ctx.services.settings) as client:
            return annotate_task(
                ctx.services,
                client,
                model_id=params["model_id"],
                task_id=params["task_id"],
                threshold=params.get("threshold", 0.5),
                overwrite=params.get("overwrite", False),
                progress=ctx.report,
                check_cancelled=ctx.check_cancelled,
            )
    except DomainError as exc:  # CVAT's errors, a refusal, the model gone or not trained
        raise JobError(str(exc)) from None
