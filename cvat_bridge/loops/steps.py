"""The loop's steps. Each is a job (``runner.HANDLERS``: loop_round, loop_check, loop_retrain,
loop_compare); the round's state is in the database, so a restart of the service or a worker loses nothing.

    start_loop      validate, register the CVAT webhook (when PUBLIC_URL is set), record, start round 1
    loop_round      score candidate frames, make the review task, tag confident frames  -> reviewing
    loop_check      is the review job done (asked from CVAT, whatever the delivery said)? -> reviewed
                    (and, automatic loops, -> training: loop_retrain)
    loop_retrain    import the project again (manual tags only) and queue the training  (state training)
    advance         (the service's poller) a finished training -> comparing: loop_compare; polls reviews
    loop_compare    both versions on the new version's validation images; deploy when not worse -> done
                    (and, automatic loops, the next round)

Jobs queued from inside a job (or the CLI without Redis) are recorded only: the rows are the queue, and the
service's dispatcher (embedded) or its reaper's requeue (Redis) runs them within a heartbeat.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from cvat_bridge.cvat.client import CvatError, connect
from cvat_bridge.cvat.importer import import_from_cvat
from cvat_bridge.db import Loop, LoopRound
from cvat_bridge.errors import Invalid
from cvat_bridge.functions.deploy import DeploymentConflict, start_deployment
from cvat_bridge.ingest.store import ImportRefused
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.jobs.runner import JobContext, JobError
from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.loops import cvat_review, store
from cvat_bridge.loops.strategies import STRATEGIES, select, uncertainty
from cvat_bridge.loops.webhook import new_secret
from cvat_bridge.model_lookup import ModelNotFound, ModelNotReady, get_ready_model
from cvat_bridge.runtime.tags import frame_tag
from cvat_bridge.services import Services
from cvat_bridge.serving import get_predictor
from cvat_bridge.training import TrainingRequestError, create_training, get_model

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/loops/webhook"
REVIEW_POLL_SECONDS = 60.0  # the polling fallback: how often a review job's state is asked from CVAT
REVIEW_DONE = ("completed", "acceptance")


class LoopRequestError(Invalid):
    """The loop cannot be started as asked (message for the user)."""


class _RowsAreTheQueue:
    """A job queue that only records: the service's dispatcher or reaper hands the rows to a worker."""

    def submit(self, job_id: str) -> None:
        pass

    def requeue_lost(self) -> None:
        pass

    def close(self) -> None:
        pass


def without_dispatch(services: Services) -> Services:
    """These services, queuing jobs by their rows only unless Redis is set (inside a job, or the CLI: a
    worker pool of their own would die with them)."""
    if services.settings.redis_url:
        return services
    quiet = copy.copy(services)
    quiet.__dict__["jobs"] = _RowsAreTheQueue()
    return quiet


# ---- starting ----------------------------------------------------------------------------------------------
def start_loop(
    services: Services,
    *,
    name: str,
    model_id: int,
    project_id: int,
    task_id: int | None = None,
    strategy: str = "margin",
    budget: int = 20,
    auto_tag_threshold: float = 0.9,
    auto_retrain: bool = True,
    auto_deploy: bool = True,
    deploy_margin: float = 0.0,
    review_done: str = "completed",
    assignee_id: int | None = None,
) -> Loop:
    """Check the model and the CVAT project, register the webhook, record the loop and start round 1."""
    if strategy not in STRATEGIES:
        raise LoopRequestError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if review_done not in REVIEW_DONE:
        raise LoopRequestError(f"review_done must be one of {', '.join(REVIEW_DONE)}")
    try:
        get_ready_model(services, model_id)
    except (ModelNotFound, ModelNotReady) as exc:
        raise LoopRequestError(str(exc)) from None
    model = get_model(services, model_id)
    if model.metrics.get("mode") == "multi":
        raise LoopRequestError(
            f"model {model_id} is multi-label: the loop's selection strategies and its comparison score "
            "single-label models (one class per frame) only, for now"
        )
    classes = model.classes
    secret, webhook_id, note = new_secret(), None, None
    with connect(services.settings) as client:
        labels = cvat_review.project_labels(client, project_id)
        if not set(classes) & set(labels):
            raise LoopRequestError(
                f"none of the model's classes ({', '.join(classes)}) is a tag label of CVAT project "
                f"{project_id}"
            )
        if services.settings.public_url:
            target = services.settings.public_url.rstrip("/") + WEBHOOK_PATH
            webhook_id = cvat_review.register_webhook(
                client, project_id, target, secret, f"cvat-bridge loop {name}"
            )
        else:
            note = "CVAT_BRIDGE_PUBLIC_URL is not set: no webhook, the service polls the review jobs"
    with services.db.session() as session:
        loop = Loop(
            name=name,
            model_id=model_id,
            project_id=project_id,
            task_id=task_id,
            strategy=strategy,
            budget=budget,
            auto_tag_threshold=auto_tag_threshold,
            auto_retrain=auto_retrain,
            auto_deploy=auto_deploy,
            deploy_margin=deploy_margin,
            review_done=review_done,
            assignee_id=assignee_id,
            webhook_id=webhook_id,
            webhook_secret=secret,
            webhook_note=note,
        )
        session.add(loop)
        session.flush()
    start_round(services, loop)
    return store.get_loop(services, loop.id)


def start_round(services: Services, loop: Loop) -> LoopRound:
    """The loop's next round (scored by its current model); LoopConflict while one is under way."""
    if loop.model_id is None:
        raise store.LoopConflict(f"loop {loop.id} has no model any more (it was deleted)")
    row = store.new_round(services, loop)
    start_job(services, "loop_round", {"round_id": row.id})
    return row


def stop_loop(services: Services, loop_id: int) -> Loop:
    """No new round starts (a round under way finishes its steps, polled); the CVAT webhook is removed."""
    loop = store.get_loop(services, loop_id)
    webhook_id, note = loop.webhook_id, loop.webhook_note
    if webhook_id is not None:
        try:
            with connect(services.settings) as client:
                cvat_review.remove_webhook(client, webhook_id)
            webhook_id, note = None, f"webhook #{loop.webhook_id} removed when the loop stopped"
        except CvatError as exc:
            note = f"could not remove webhook #{webhook_id} from CVAT: {exc}"
    with services.db.session() as session:
        row = session.get(Loop, loop_id)
        row.state, row.webhook_id, row.webhook_note = "stopped", webhook_id, note
    return store.get_loop(services, loop_id)


def start_check(services: Services, round_id: int) -> str:
    """Ask CVAT now whether the round's review is done (a job)."""
    row = store.get_round(services, round_id)
    if row.state != "reviewing":
        raise store.LoopConflict(f"round {row.number} is {row.state}, not waiting for its review")
    return start_job(services, "loop_check", {"round_id": round_id})


def start_retrain(services: Services, round_id: int) -> str:
    """Retrain after a finished review (the button of loops that do not retrain by themselves)."""
    if not store.move(services, round_id, "reviewed", "training"):
        row = store.get_round(services, round_id)
        raise store.LoopConflict(f"round {row.number} is {row.state}: only a reviewed round can retrain")
    return start_job(services, "loop_retrain", {"round_id": round_id})


# ---- the jobs ----------------------------------------------------------------------------------------------
def _context(ctx: JobContext) -> tuple[Services, LoopRound, Loop]:
    services = without_dispatch(ctx.services)
    row = store.get_round(services, int(ctx.params["round_id"]))
    return services, row, store.get_loop(services, row.loop_id)


def _failing(services: Services, round_id: int, exc: Exception) -> JobError:
    store.fail_round(services, round_id, str(exc))
    return JobError(str(exc))


def run_round_job(ctx: JobContext) -> dict[str, Any]:
    """Score, send the least certain frames to review, tag the confident ones."""
    services, row, loop = _context(ctx)
    if row.state != "scoring":
        return {"skipped": f"round is {row.state}"}
    try:
        predictor = get_predictor(services, row.model_id)
        skip_frames, skip_tasks = store.reviewed_frames(services, loop.id)
        ctx.report(step="scoring")
        with connect(services.settings) as client:
            candidates, probabilities = cvat_review.score_frames(
                client,
                predictor,
                project_id=loop.project_id,
                task_id=loop.task_id,
                skip_frames=skip_frames,
                skip_tasks=skip_tasks,
                max_pixels=services.settings.max_image_pixels,
                check_cancelled=ctx.check_cancelled,
            )
            labels = cvat_review.project_labels(client, loop.project_id)
            chosen = select(probabilities, loop.budget, loop.strategy, seed=row.id)
            scores = uncertainty(probabilities, loop.strategy, seed=row.id)
            tags = [frame_tag(p, predictor.classes) for p in probabilities]  # the one tag builder
            guesses = [tag.label for tag in tags]
            selected = [
                {
                    "task_id": candidates[i].task_id,
                    "frame": candidates[i].frame,
                    "name": candidates[i].name,
                    "guess": guesses[i],
                    "confidence": tags[i].confidence,
                    "score": float(scores[i]),
                }
                for i in chosen
            ]
            review_task_id = review_job_id = None
            if chosen:
                ctx.report(step="creating the review task", frames=len(chosen))
                review_task_id, review_job_id = cvat_review.create_review_task(
                    client,
                    name=f"{loop.name}: review, round {row.number}",
                    project_id=loop.project_id,
                    assignee_id=loop.assignee_id,
                    frames=[candidates[i] for i in chosen],
                    guesses=[labels.get(guesses[i]) for i in chosen],
                )
                # Recorded at once: a worker that dies from here on leaves a round that names its task.
                store.record(services, row.id, review_task_id=review_task_id, review_job_id=review_job_id)
            auto: dict[int, list[tuple[int, int]]] = {}
            chosen_set = set(chosen)
            for i, candidate in enumerate(candidates):
                confident = tags[i].confidence >= loop.auto_tag_threshold and guesses[i] in labels
                if i not in chosen_set and confident and not candidate.tagged:
                    auto.setdefault(candidate.task_id, []).append((candidate.frame, labels[guesses[i]]))
            ctx.report(step="tagging confident frames")
            try:
                auto_tagged = cvat_review.write_auto_tags(client, auto)
            except CvatError as exc:
                if review_task_id is None:
                    raise
                gone, error = cvat_review.without_review_task(client, review_task_id, exc)
                if gone:
                    store.record(services, row.id, review_task_id=None, review_job_id=None)
                raise error from None
    except (CvatError, ModelNotFound, ModelNotReady) as exc:
        raise _failing(services, row.id, exc) from None
    fields = {
        "scored": len(candidates),
        "auto_tagged": auto_tagged,
        "selected": selected,
        "review_task_id": review_task_id,
        "review_job_id": review_job_id,
    }
    if not chosen:
        store.move(services, row.id, "scoring", "done", decision="no frame left to review", **fields)
    else:
        store.move(services, row.id, "scoring", "reviewing", **fields)
    return {"round_id": row.id, **{k: v for k, v in fields.items() if k != "selected"}, "sent": len(chosen)}


def run_check_job(ctx: JobContext) -> dict[str, Any]:
    """Whether the review is done, asked from CVAT (a delivery may be late, repeated or out of order)."""
    services, row, loop = _context(ctx)
    if row.state != "reviewing":
        return {"skipped": f"round is {row.state}"}
    try:
        with connect(services.settings) as client:
            if not cvat_review.review_finished(client, row.review_job_id, loop.review_done):
                return {"finished": False}
            reviewed = cvat_review.confirm_review(client, row.review_job_id)
    except CvatError as exc:
        raise JobError(str(exc)) from None  # the round keeps waiting: the next poll asks again
    if not store.move(services, row.id, "reviewing", "reviewed", reviewed=reviewed):
        return {"skipped": "another check got there first"}
    if loop.auto_retrain:
        start_retrain(services, row.id)
    return {"finished": True, "reviewed": reviewed, "retraining": loop.auto_retrain}


def run_retrain_job(ctx: JobContext) -> dict[str, Any]:
    """Import the project again (people's tags only) and queue a new version with the same settings."""
    services, row, loop = _context(ctx)
    if row.state != "training" or row.new_model_id is not None:
        return {"skipped": f"round is {row.state}"}
    old = get_model(services, row.model_id)
    try:
        ctx.report(step="importing")
        with connect(services.settings) as client:
            collection = import_from_cvat(
                services,
                client,
                name=f"{loop.name}-data",
                project_id=loop.project_id,
                progress=ctx.report,
                check_cancelled=ctx.check_cancelled,
                manual_only=True,
            )
        model = create_training(
            services,
            name=old.name,
            collection_id=collection.id,
            architecture=old.architecture,
            settings=old.settings,
        )
    except (CvatError, ImportRefused, TrainingRequestError) as exc:
        raise _failing(services, row.id, exc) from None
    services.jobs.submit(model.job_id)
    store.record(
        services, row.id, collection_id=collection.id, new_model_id=model.id, labelled=collection.num_images
    )
    return {"collection_id": collection.id, "model_id": model.id}


def run_compare_job(ctx: JobContext) -> dict[str, Any]:
    """Score both versions on the new one's validation images; deploy the new one when it is not worse."""
    from cvat_bridge.loops.compare import compare

    services, row, loop = _context(ctx)
    if row.state != "comparing":
        return {"skipped": f"round is {row.state}"}
    new = get_model(services, row.new_model_id)
    if new.job.status != "succeeded":
        raise _failing(
            services, row.id, JobError(f"the retraining (model {new.id}) {new.job.status}: {new.job.error}")
        )
    result = compare(services, row.model_id, new)
    fields: dict[str, Any] = {
        "old_accuracy": result.old_accuracy,
        "new_accuracy": result.new_accuracy,
        "compared_on": result.images,
    }
    verdict = (
        f"v{new.version}: {result.new_accuracy:.1%} against {result.old_accuracy:.1%} on the same "
        f"{result.images} validation images (margin {loop.deploy_margin:.1%})"
    )
    if not result.deploy(loop.deploy_margin):
        decision = f"not deployed: {verdict}, worse"
    elif not loop.auto_deploy:
        decision = f"not deployed (the loop does not deploy by itself): {verdict}"
    else:
        try:
            start_deployment(services, new.id)
            decision = f"deploying: {verdict}"
            fields["deployed_model_id"] = new.id
            with services.db.session() as session:
                session.get(Loop, loop.id).model_id = new.id  # the next round scores with it
        except (DeploymentConflict, ModelNotFound, ModelNotReady, ValueError) as exc:
            decision = f"not deployed ({exc}): {verdict}"
    store.move(services, row.id, "comparing", "done", decision=decision, **fields)
    if loop.auto_retrain and loop.state == "active":
        start_round(services, store.get_loop(services, loop.id))
    return {**fields, "decision": decision}


# ---- the service's poller ----------------------------------------------------------------------------------
def advance(services: Services, polled: dict[int, float] | None = None) -> list[str]:
    """Start what the rounds wait for: a comparison once a retraining ended; a review check every
    REVIEW_POLL_SECONDS (the fallback when CVAT cannot reach the webhook); a round whose step job was lost
    ends failed with the reason. Returns the jobs started."""
    started = []
    for state, kind in (
        ("scoring", "loop_round"),
        ("training", "loop_retrain"),
        ("comparing", "loop_compare"),
    ):
        for row in store.rounds_in(services, state):
            _fail_if_step_lost(services, row, kind)
    for row in store.rounds_in(services, "training"):
        if row.new_model_id is None:
            continue
        if get_model(services, row.new_model_id).job.status in TERMINAL_STATES:
            if store.move(services, row.id, "training", "comparing"):
                started.append(start_job(services, "loop_compare", {"round_id": row.id}))
    polled = {} if polled is None else polled
    now = time.monotonic()
    for row in store.rounds_in(services, "reviewing"):
        if now - polled.get(row.id, float("-inf")) >= REVIEW_POLL_SECONDS:
            polled[row.id] = now
            started.append(start_job(services, "loop_check", {"round_id": row.id}))
    return started


def _fail_if_step_lost(services: Services, row: LoopRound, kind: str) -> None:
    """A round whose step job ended without moving it on (its worker died, the service stopped, a bug) says
    so and ends failed; the next round can start."""
    job = store.last_step_job(services, kind, row.id)
    if job is None or job.status not in ("failed", "cancelled"):
        return
    current = store.get_round(services, row.id)
    if current.state == row.state:  # not moved on meanwhile
        left = ""
        if kind == "loop_round" and current.review_task_id is not None:
            left = f"; its review task {current.review_task_id} is left in CVAT (delete it there)"
        store.fail_round(services, row.id, f"the {kind} job {job.status}: {job.error}{left}")


def advance_forever(services: Services, stop: threading.Event) -> None:
    """``advance`` every job heartbeat until stop is set (run by the service)."""
    polled: dict[int, float] = {}
    while not stop.wait(services.settings.job_heartbeat_seconds):
        try:
            advance(services, polled)
        except Exception:  # noqa: BLE001 - the database or the queue may be briefly away: next beat
            log.warning("could not advance the loops", exc_info=True)
