"""/api/loops: the closed loop (start, follow, next round, check a review, retrain, stop) and the CVAT webhook
``POST /api/loops/webhook``, the one route without the API token: it takes only deliveries signed with the
secret of a loop it knows (``loops/deliveries.py``). The router's lifespan runs the loops' poller."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cvat_bridge.api.deps import Id, services
from cvat_bridge.api.gate import gate
from cvat_bridge.api.schemas import Timestamp
from cvat_bridge.db import Loop, LoopRound
from cvat_bridge.limits import MAX_JSON_BYTES, MAX_NAME_LENGTH
from cvat_bridge.loops import steps, store
from cvat_bridge.loops.deliveries import handle_delivery
from cvat_bridge.model_lookup import resolve_model
from cvat_bridge.services import Services


@asynccontextmanager
async def _poller(app: FastAPI) -> AsyncIterator[None]:
    stop = threading.Event()
    thread = threading.Thread(
        target=steps.advance_forever, args=(app.state.services, stop), name="loops", daemon=True
    )
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


router = APIRouter(tags=["loops"], lifespan=_poller)


class LoopRequest(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    model: str = Field(min_length=1, description="the scoring model: an id, or a name (its latest version)")
    project_id: Id
    task_id: Id | None = Field(default=None, description="score only this task's frames")
    strategy: Literal["margin", "least_confidence", "entropy", "random"] = "margin"
    budget: int = Field(default=20, ge=1, le=10_000, description="frames sent to review per round")
    auto_tag_threshold: float = Field(default=0.9, ge=0.0, le=1.0)
    auto_retrain: bool = True
    auto_deploy: bool = True
    deploy_margin: float = Field(default=0.0, ge=0.0, le=1.0)
    review_done: Literal["completed", "acceptance"] = "completed"
    assignee_id: Id | None = None


class RoundOut(BaseModel):
    number: int
    state: str
    model_id: int | None
    scored: int
    auto_tagged: int
    sent_to_review: int
    selected: list[dict[str, Any]]
    review_task_id: int | None
    review_job_id: int | None
    reviewed: int | None
    collection_id: int | None
    labelled: int | None
    new_model_id: int | None
    old_accuracy: float | None
    new_accuracy: float | None
    compared_on: int | None
    deployed_model_id: int | None
    decision: str | None
    updated_at: Timestamp


class LoopOut(BaseModel):
    id: int
    name: str
    model_id: int | None
    project_id: int
    task_id: int | None
    strategy: str
    budget: int
    auto_tag_threshold: float
    auto_retrain: bool
    auto_deploy: bool
    deploy_margin: float
    review_done: str
    assignee_id: int | None
    webhook_id: int | None
    webhook_note: str | None
    state: str
    created_at: Timestamp
    rounds: list[RoundOut]


class Started(BaseModel):
    job_id: str


class DeliveryAnswer(BaseModel):
    """What the bridge did with a CVAT delivery (refusals: ``{"detail"}`` with 400, 401 or 403)."""

    loop_id: int
    event: str | None
    action: str
    job_id: str | None = None


def round_out(row: LoopRound) -> RoundOut:
    return RoundOut(
        **{name: getattr(row, name) for name in RoundOut.model_fields if hasattr(row, name)},
        sent_to_review=len(row.selected or []),
    )


def loop_out(svc: Services, loop: Loop, with_frames: bool = True) -> LoopOut:
    rounds = [round_out(row) for row in store.loop_rounds(svc, loop.id)]
    if not with_frames:
        rounds = [row.model_copy(update={"selected": []}) for row in rounds]
    fields = {name: getattr(loop, name) for name in LoopOut.model_fields if name != "rounds"}
    return LoopOut(**fields, rounds=rounds)


@router.post(
    "/loops/webhook",
    responses={
        200: {"model": DeliveryAnswer},
        202: {"model": DeliveryAnswer, "description": "a check started"},
    },
)
@gate(open=True, body_limit=lambda _settings: MAX_JSON_BYTES)
async def cvat_webhook(request: Request) -> JSONResponse:
    """CVAT's deliveries (no API token: the X-Signature-256 of the raw body is checked instead)."""
    answer = handle_delivery(
        request.app.state.services, await request.body(), request.headers.get("x-signature-256")
    )
    return JSONResponse(answer.body, status_code=answer.status)


@router.post("/loops", status_code=201)
def create_loop(body: LoopRequest, svc: Services = Depends(services)) -> LoopOut:
    """Start a loop: its first round is queued at once."""
    model_id = resolve_model(svc, body.model)
    loop = steps.start_loop(svc, model_id=model_id, **body.model_dump(exclude={"model"}))
    return loop_out(svc, loop)


@router.get("/loops")
def list_loops(svc: Services = Depends(services)) -> list[LoopOut]:
    """Every loop with its rounds (without the lists of frames)."""
    return [loop_out(svc, loop, with_frames=False) for loop in store.list_loops(svc)]


@router.get("/loops/{loop_id}")
def read_loop(loop_id: Id, svc: Services = Depends(services)) -> LoopOut:
    return loop_out(svc, store.get_loop(svc, loop_id))


@router.post("/loops/{loop_id}/rounds", status_code=202)
def next_round(loop_id: Id, svc: Services = Depends(services)) -> RoundOut:
    """Start the next round (409 while one is under way)."""
    return round_out(steps.start_round(svc, store.get_loop(svc, loop_id)))


@router.post("/loops/{loop_id}/rounds/{number}/check", status_code=202)
def check_review(loop_id: Id, number: Id, svc: Services = Depends(services)) -> Started:
    """Ask CVAT now whether the round's review job is done."""
    return Started(job_id=steps.start_check(svc, store.find_round(svc, loop_id, number).id))


@router.post("/loops/{loop_id}/rounds/{number}/retrain", status_code=202)
def retrain(loop_id: Id, number: Id, svc: Services = Depends(services)) -> Started:
    """Retrain after the review (loops with auto_retrain do this by themselves)."""
    return Started(job_id=steps.start_retrain(svc, store.find_round(svc, loop_id, number).id))


@router.post("/loops/{loop_id}/stop")
def stop_loop(loop_id: Id, svc: Services = Depends(services)) -> LoopOut:
    """No new round starts (one under way finishes)."""
    store.get_loop(svc, loop_id)
    return loop_out(svc, steps.stop_loop(svc, loop_id))
