"""Models: start a training (Model + Job rows), run it (the "train" job: collection ->
trainer -> artifacts in models/<id>/), list, cancel, resume and delete them (finding one: model_lookup).

Validating and queueing a training reads the static catalogue and the settings (no torch: the API process
never imports it); the trainer proper is imported inside the job, in the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cvat_bridge.db import Deployment, Job, Model
from cvat_bridge.errors import Conflict, Invalid
from cvat_bridge.ingest.store import CollectionNotFound, get_collection, load_samples
from cvat_bridge.jobs.runner import JobContext, JobError
from cvat_bridge.jobs.store import TERMINAL_STATES, create_job, request_cancel, requeue_job
from cvat_bridge.limits import MAX_NAME_LENGTH, name_problem
from cvat_bridge.model_lookup import ModelNotFound, get_model
from cvat_bridge.services import Services
from cvat_bridge.storage import Storage
from trainer.artifacts import CHECKPOINT
from trainer.catalogue import UnknownArchitecture, get_architecture
from trainer.config import TrainSettings

log = logging.getLogger(__name__)

_VERSION_ATTEMPTS = 3  # two trainings of one name may race for the next version number


class TrainingRequestError(Invalid):
    """The training cannot be started as asked; the message says what to change."""


class ModelBusy(Conflict):
    """The model is still training, or deployed."""


class ResumeRefused(Conflict):
    """The model's training cannot be resumed (message meant for the user)."""


def start_training(
    services: Services,
    *,
    name: str,
    collection_id: int,
    architecture: str,
    settings: dict[str, Any] | None = None,
) -> Model:
    """Validate the request, record the Model (next version of name) and its queued Job, queue the job."""
    model = create_training(
        services, name=name, collection_id=collection_id, architecture=architecture, settings=settings
    )
    services.jobs.submit(model.job_id)
    return model


def create_training(
    services: Services,
    *,
    name: str,
    collection_id: int,
    architecture: str,
    settings: dict[str, Any] | None = None,
) -> Model:
    """Validate the request and record the Model (next version of name) with its queued "train" Job."""
    name = (name or "").strip()
    if problem := "empty" if not name else name_problem(name):
        raise TrainingRequestError(
            f"give the model a name of 1 to {MAX_NAME_LENGTH} characters (this one is {problem})"
        )
    try:
        spec = get_architecture(architecture)
    except UnknownArchitecture as exc:
        raise TrainingRequestError(str(exc)) from None
    try:
        checked = TrainSettings.model_validate(settings or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TrainingRequestError(f"invalid settings: {problems}") from None
    if checked.image_size is None:
        checked = checked.model_copy(update={"image_size": spec.preprocessing().crop_size})
    if problem := spec.check_image_size(checked.image_size):
        raise TrainingRequestError(problem)
    try:
        collection = get_collection(services, collection_id)
    except CollectionNotFound as exc:
        raise TrainingRequestError(str(exc)) from None

    params = {"name": name, "architecture": architecture, "collection_id": collection_id}
    job_id = create_job(services.db, "train", {**params, "settings": checked.model_dump()})
    return _insert_model(
        services, job_id, **params, settings=checked.model_dump(), classes=sorted(collection.classes)
    )


def training_warnings(model: Model) -> list[str]:
    """What the user should know before this training runs (it runs all the same): e.g. an image size far
    below the architecture's own."""
    warning = get_architecture(model.architecture).size_warning(model.settings["image_size"])
    return [warning] if warning else []


def _insert_model(services: Services, job_id: str, **columns: Any) -> Model:
    for attempt in range(1, _VERSION_ATTEMPTS + 1):
        try:
            with services.db.session() as session:
                latest = session.scalar(select(func.max(Model.version)).where(Model.name == columns["name"]))
                model = Model(**columns, version=(latest or 0) + 1, job_id=job_id)
                session.add(model)
                session.flush()
                session.refresh(model)  # loads the job relationship
                return model
        except IntegrityError:
            if attempt == _VERSION_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def list_models(services: Services) -> list[Model]:
    """Every model, newest first."""
    with services.db.session() as session:
        return list(session.scalars(select(Model).order_by(Model.id.desc())))


def cancel_training(services: Services, model_id: int) -> Model:
    request_cancel(services.db, get_model(services, model_id).job_id)
    return get_model(services, model_id)


def resume_training(services: Services, model_id: int) -> Model:
    """Queue a cancelled or failed training again, to go on from its checkpoint.pt (same model and job)."""
    model = requeue_training(services, model_id)
    services.jobs.submit(model.job_id)
    return model


def requeue_training(services: Services, model_id: int) -> Model:
    """Check that the training can resume, and mark its job queued again with `resume` (not submitted)."""
    model = get_model(services, model_id)
    if model.job.status not in ("failed", "cancelled"):
        raise ResumeRefused(
            f"model {model_id} is {model.job.status}: only a cancelled or failed training can be resumed"
        )
    if not (services.storage.model_dir(model_id) / CHECKPOINT).is_file():
        raise ResumeRefused(
            f"model {model_id} has no {CHECKPOINT} (it stopped before its first epoch ended): train it again"
        )
    if not requeue_job(services.db, model.job_id, {**model.job.params, "resume": True}):
        raise ResumeRefused(f"model {model_id} changed state meanwhile; look at it again")
    return get_model(services, model_id)


def delete_model(services: Services, model_id: int) -> None:
    """Remove a model's rows and files. A queued one is cancelled first; a running one must be cancelled."""
    model = get_model(services, model_id)
    if model.job.status == "queued":
        request_cancel(services.db, model.job_id)
    with services.db.session() as session:
        model = session.get(Model, model_id)
        if model is None:
            raise ModelNotFound(f"no model with id {model_id}")
        job = session.get(Job, model.job_id, populate_existing=True)
        if job.status not in TERMINAL_STATES:
            raise ModelBusy(f"model {model_id} is still training; cancel it first, then delete it")
        deployment = session.get(Deployment, model_id)
        if deployment is not None and deployment.state != "removed":
            raise ModelBusy(
                f"model {model_id} is deployed to Nuclio as {deployment.function_name}; remove the "
                f"deployment first (DELETE /api/models/{model_id}/deployment), then delete the model"
            )
        session.delete(model)
        session.flush()
        session.delete(job)
    Storage.remove(services.storage.model_dir(model_id))


def run_training_job(ctx: JobContext) -> dict[str, Any]:
    """The "train" job: fine-tune the model row's architecture on its collection's stored split.

    Every artifact write, and the final metrics, happen only while this worker holds the job's claim."""
    from trainer import artifacts

    with artifacts.guard_writes(ctx.confirm_claim):
        return _train(ctx)


def _train(ctx: JobContext) -> dict[str, Any]:
    from trainer import artifacts
    from trainer.checkpoint import NoCheckpoint
    from trainer.data import train_data
    from trainer.distributed import fine_tune_distributed, resolve_processes
    from trainer.engine import TrainingError, fine_tune
    from trainer.export import ExportMismatch
    from trainer.weights import WeightsMissing

    services = ctx.services
    with services.db.session() as session:
        model = session.scalar(select(Model).where(Model.job_id == ctx.job_id))
    if model is None:
        raise JobError("the model of this training job was deleted")
    try:
        collection = get_collection(services, model.collection_id)
    except CollectionNotFound:
        raise JobError(f"the collection {model.collection_id} of this model was deleted") from None
    samples = load_samples(services, collection.id)
    data = train_data(
        samples.classes, samples.samples, samples.mode, str(services.storage.collection_dir(collection.id))
    )
    out_dir = services.storage.model_dir(model.id)
    collection_root = services.storage.collection_dir(collection.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_json(
        out_dir / artifacts.SPLIT,
        {
            split: [
                [Path(path).relative_to(collection_root).as_posix(), _json_label(label)]
                for path, label in rows
            ]
            for split, rows in samples.samples.items()
        },
    )
    info = {
        "model": {"id": model.id, "name": model.name, "version": model.version},
        "collection": {"id": collection.id, "name": collection.name, "version": collection.version},
    }
    resume = bool(ctx.params.get("resume"))
    report = _logged(ctx, f"model {model.id} ({model.name} v{model.version})")
    report(
        phase="resuming" if resume else "starting",
        epoch=0,
        epochs=model.settings.get("epochs"),
        eta_seconds=None,
    )
    try:
        processes = resolve_processes(services.settings.train_processes)  # > 1: DDP, one process per GPU
        train = fine_tune if processes == 1 else partial(fine_tune_distributed, processes=processes)
        result = train(
            get_architecture(model.architecture),
            TrainSettings.model_validate(model.settings),
            data,
            out_dir,
            info=info,
            report=report,
            check_cancelled=ctx.check_cancelled,
            resume=resume,
        )
    except (TrainingError, WeightsMissing, UnknownArchitecture, ExportMismatch, NoCheckpoint) as exc:
        raise JobError(str(exc)) from None
    metrics = {**result.metrics, "history": result.history}
    with ctx.claimed_session() as session:
        session.get(Model, model.id).metrics = metrics
    ctx.report(phase="done")
    return {
        "model_id": model.id,
        "accuracy": metrics.get("accuracy"),  # multi-label: none (its "map" is in the model's metrics)
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "device": result.device,
        "processes": result.processes,
    }


def _logged(ctx: JobContext, who: str) -> Callable[..., None]:
    """ctx.report, also logging each new phase and each epoch's end (what `cvat-bridge serve` shows). A new
    phase (evaluating, exporting, quantizing...) checks for cancellation first: a cancel asked during the
    last epoch stops before the next long step."""
    phase: list[str | None] = [None]

    def report_and_log(**fields: Any) -> None:
        ctx.report(**fields)
        if "val_accuracy" in fields:
            log.info(
                "%s: epoch %s/%s: train loss %.4f, val loss %.4f, val %s %.1f%%",
                who,
                fields["epoch"],
                fields["epochs"],
                fields["loss"],
                fields["val_loss"],
                fields.get("val_score", "accuracy"),
                100 * fields["val_accuracy"],
            )
        elif fields.get("phase") not in (None, phase[0]):
            ctx.check_cancelled()
            log.info("%s: %s", who, fields["phase"])
        phase[0] = fields.get("phase", phase[0])

    return report_and_log


def _json_label(label: str | tuple[str, ...]) -> str | list[str]:
    """A split.json label: the class; multi-label: the list of labels."""
    return list(label) if isinstance(label, tuple) else label
