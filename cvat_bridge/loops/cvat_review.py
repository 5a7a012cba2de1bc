"""A round's CVAT work, all through cvat-sdk: score a project's candidate frames with the served model, make
the review task of the least certain (their original frames, named as in the source task, the model's guess
pre-filled with ``source="auto"``), tag confident frames, register the webhook, read the review job's state.

A frame is a candidate when it is not deleted, has no ``manual`` tag (a person's tag is never touched) and
was never sent to review by this loop; the loop's own review tasks are never scored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cvat_sdk import Client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction

from cvat_bridge.cvat.client import CvatError, call, tag_labels
from cvat_bridge.cvat.frames import iter_frames
from cvat_bridge.runtime.imaging import ImageReadError, open_image
from cvat_bridge.serving import Predictor

SCORE_BATCH = 64  # frames decoded and scored together
WEBHOOK_EVENTS = ["update:job"]


@dataclass(frozen=True)
class Candidate:
    task_id: int
    frame: int
    name: str
    tagged: bool  # has an automatic tag already (it is never tagged twice)


def score_frames(
    client: Client,
    predictor: Predictor,
    *,
    project_id: int,
    task_id: int | None,
    skip_frames: set[tuple[int, int]],
    skip_tasks: set[int],
    max_pixels: int,
    check_cancelled: Callable[[], None] = lambda: None,
) -> tuple[list[Candidate], np.ndarray]:
    """Every candidate frame of the project (or of its one task) and its class probabilities."""
    project = call(f"read project {project_id}", lambda: client.projects.retrieve(project_id))
    if task_id is not None:
        tasks = [call(f"read task {task_id}", lambda: client.tasks.retrieve(task_id))]
    else:
        tasks = sorted(call(f"list tasks of project {project_id}", project.get_tasks), key=lambda t: t.id)
    candidates: list[Candidate] = []
    rows: list[np.ndarray] = []
    for task in tasks:
        if task.id in skip_tasks or task.data_original_chunk_type != "imageset":
            continue
        meta = call(f"read frames of task {task.id}", task.get_meta)
        tags = call(f"read annotations of task {task.id}", task.get_annotations).tags
        manual = {tag.frame for tag in tags if tag.source != "auto"}
        tagged = {tag.frame for tag in tags}
        deleted = set(meta.deleted_frames)
        wanted = [
            f
            for f in range(len(meta.frames))
            if f not in deleted and f not in manual and (task.id, f) not in skip_frames
        ]
        batch: list[tuple[int, Any]] = []
        for frame, data in iter_frames(task, wanted):
            try:
                batch.append((frame, open_image(data, max_pixels, predictor.preprocessing.resize_size)))
            except ImageReadError:
                continue
            if len(batch) == SCORE_BATCH:
                rows.append(_score(predictor, batch, task, meta, tagged, candidates))
                batch = []
                check_cancelled()
        if batch:
            rows.append(_score(predictor, batch, task, meta, tagged, candidates))
    probabilities = np.concatenate(rows) if rows else np.zeros((0, len(predictor.classes)), np.float32)
    return candidates, probabilities


def _score(
    predictor: Predictor, batch: list, task: Any, meta: Any, tagged: set[int], out: list[Candidate]
) -> np.ndarray:
    out += [Candidate(task.id, frame, meta.frames[frame].name, frame in tagged) for frame, _ in batch]
    return predictor.probabilities([image for _, image in batch])


def project_labels(client: Client, project_id: int) -> dict[str, int]:
    project = call(f"read project {project_id}", lambda: client.projects.retrieve(project_id))
    return tag_labels(call(f"read labels of project {project_id}", project.get_labels))


def create_review_task(
    client: Client,
    *,
    name: str,
    project_id: int,
    assignee_id: int | None,
    frames: list[Candidate],
    guesses: list[int | None],
) -> tuple[int, int]:
    """A task in the project holding these frames (original bytes, source names; a name used by two source
    tasks gets the task id in front), each with its guessed label as an ``auto`` tag; (task id, job id)."""
    names: dict[str, int] = {}
    for candidate in frames:
        names[candidate.name] = names.get(candidate.name, 0) + 1
    with tempfile.TemporaryDirectory(prefix="cvat-bridge-review-") as folder:
        paths, file_names = [], []
        sources: dict[int, Any] = {}
        for candidate in frames:
            base = Path(candidate.name.replace("\\", "/")).name or f"frame_{candidate.frame}.jpg"
            file_name = base if names[candidate.name] == 1 else f"task{candidate.task_id}_{base}"
            if candidate.task_id not in sources:
                sources[candidate.task_id] = call(
                    f"read task {candidate.task_id}", lambda c=candidate: client.tasks.retrieve(c.task_id)
                )
            task = sources[candidate.task_id]
            data = call(
                f"download frame {candidate.frame} of task {candidate.task_id}",
                lambda t=task, c=candidate: t.get_frame(c.frame, quality="original").read(),
            )
            path = Path(folder) / file_name
            path.write_bytes(data)
            paths.append(path)
            file_names.append(file_name)
        spec = models.TaskWriteRequest(name=name, project_id=project_id, assignee_id=assignee_id)
        review = call(
            "create the review task", lambda: client.tasks.create_from_data(spec=spec, resources=paths)
        )
    try:
        return review.id, _prefill(review, file_names, guesses)
    except CvatError as exc:
        raise without_review_task(client, review.id, exc)[1] from None


def _prefill(review: Any, file_names: list[str], guesses: list[int | None]) -> int:
    """The guesses written to a new review task as ``auto`` tags; its job id."""
    meta = call(f"read frames of task {review.id}", review.get_meta)
    frame_of = {frame.name: number for number, frame in enumerate(meta.frames)}  # CVAT sorts by name
    tags = [
        models.LabeledImageRequest(frame=frame_of[file_name], label_id=label_id, source="auto")
        for file_name, label_id in zip(file_names, guesses, strict=True)
        if label_id is not None
    ]
    if tags:
        request = models.PatchedLabeledDataRequest(tags=tags)
        call(
            f"write the guesses to task {review.id}",
            lambda: review.update_annotations(request, action=AnnotationUpdateAction.CREATE),
        )
    jobs = call(f"read the jobs of task {review.id}", review.get_jobs)
    return jobs[0].id


def without_review_task(client: Client, task_id: int, error: CvatError) -> tuple[bool, CvatError]:
    """Remove the review task of a round that failed with ``error``: whether the task is gone, and the error
    to raise, saying what became of the task."""
    try:
        remove_task(client, task_id)
    except CvatError as exc:
        note = f"its review task {task_id} could not be removed ({exc}): delete it in CVAT"
        return False, type(error)(f"{error} ({note})")
    return True, type(error)(f"{error} (its review task {task_id} was removed from CVAT)")


def remove_task(client: Client, task_id: int) -> None:
    """Delete a task from CVAT (a review task its round could not finish)."""
    call(f"remove task {task_id}", lambda: client.tasks.remove_by_ids([task_id]))


def write_auto_tags(client: Client, tags: dict[int, list[tuple[int, int]]]) -> int:
    """Create ``auto`` tags: {task id: [(frame, label id)]}; returns how many."""
    written = 0
    for task_id, items in tags.items():
        if not items:
            continue
        task = call(f"read task {task_id}", lambda t=task_id: client.tasks.retrieve(t))
        request = models.PatchedLabeledDataRequest(
            tags=[models.LabeledImageRequest(frame=f, label_id=label, source="auto") for f, label in items]
        )
        call(
            f"write tags to task {task_id}",
            lambda t=task, r=request: t.update_annotations(r, action=AnnotationUpdateAction.CREATE),
        )
        written += len(items)
    return written


def register_webhook(client: Client, project_id: int, target_url: str, secret: str, description: str) -> int:
    """A project webhook for ``update:job`` events, signed with the secret; returns its id."""
    api = client.api_client.webhooks_api
    request = models.WebhookWriteRequest(
        target_url=target_url,
        type=models.WebhookType("project"),
        project_id=project_id,
        content_type=models.WebhookContentType("application/json"),
        secret=secret,
        events=[models.EventsEnum(event) for event in WEBHOOK_EVENTS],
        description=description,
    )
    webhook, _ = call(f"register a webhook on project {project_id}", lambda: api.create(request))
    return webhook.id


def remove_webhook(client: Client, webhook_id: int) -> None:
    """Delete the loop's webhook (one already gone is fine)."""
    from cvat_bridge.cvat.client import CvatNotFound

    try:
        call(f"remove webhook {webhook_id}", lambda: client.api_client.webhooks_api.destroy(webhook_id))
    except CvatNotFound:
        pass


def review_finished(client: Client, job_id: int, review_done: str) -> bool:
    """Whether the review job is done: state completed (``completed``), or in the acceptance stage."""
    job = call(f"read job {job_id}", lambda: client.jobs.retrieve(job_id))
    if review_done == "acceptance":
        return job.stage == "acceptance"
    return job.state == "completed"


def confirm_review(client: Client, job_id: int) -> int:
    """The reviewers finished: every tag of the review job is theirs now (``auto`` guesses they kept are set
    to ``manual``); returns the number of reviewed tags."""
    job = call(f"read job {job_id}", lambda: client.jobs.retrieve(job_id))
    tags = call(f"read annotations of job {job_id}", job.get_annotations).tags
    kept = [
        models.LabeledImageRequest(
            id=tag.id,
            frame=tag.frame,
            label_id=tag.label_id,
            source="manual",
            group=tag.group or 0,
            attributes=[],
        )
        for tag in tags
        if tag.source == "auto"
    ]
    if kept:
        request = models.PatchedLabeledDataRequest(tags=kept)
        call(
            f"confirm the reviewed tags of job {job_id}",
            lambda: job.update_annotations(request, action=AnnotationUpdateAction.UPDATE),
        )
    return len(tags)
