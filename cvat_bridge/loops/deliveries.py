"""A CVAT webhook delivery, answered fast: the loop is found by the delivery's webhook id, the body's
signature checked with that loop's secret over the raw bytes, and an ``update:job`` of a review job that
looks finished queues a ``loop_check`` job (which asks CVAT for the job's real state: a delivery may come
twice, late or out of order, and only one check moves the round on). Refusals are logged."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cvat_bridge.db import Loop, LoopRound
from cvat_bridge.jobs.queue import start_job
from cvat_bridge.loops.webhook import signature_valid
from cvat_bridge.services import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def handle_delivery(services: Services, raw: bytes, signature: str | None) -> Answer:
    if not signature:  # refused before the body is even parsed
        log.warning("webhook delivery refused: unsigned")
        return Answer(401, {"detail": "unsigned delivery (no X-Signature-256)"})
    try:
        payload = json.loads(raw)
        webhook_id = payload.get("webhook_id") or (payload.get("webhook") or {}).get("id")
        event = str(payload.get("event", ""))
    except (ValueError, AttributeError):
        log.warning("webhook delivery refused: the body is not a JSON object")
        return Answer(400, {"detail": "the body is not a JSON object"})
    loop = _loop_of(services, webhook_id)
    if loop is None:
        log.warning("webhook delivery refused: no loop has webhook %r", webhook_id)
        return Answer(403, {"detail": "no loop has this webhook"})
    if not signature_valid(loop.webhook_secret, raw, signature):
        log.warning("webhook delivery for loop %s refused: wrong signature", loop.id)
        return Answer(403, {"detail": "wrong signature"})
    if event != "update:job":
        return Answer(200, {"loop_id": loop.id, "event": event, "action": "none"})
    job = payload.get("job") or {}
    row = _reviewing_round(services, loop.id, job.get("id"))
    if row is None:
        return Answer(
            200, {"loop_id": loop.id, "event": event, "action": "none: not a review job waited for"}
        )
    done = (
        job.get("stage") == "acceptance"
        if loop.review_done == "acceptance"
        else job.get("state") == "completed"
    )
    if not done:
        return Answer(200, {"loop_id": loop.id, "event": event, "action": "none: the review is not finished"})
    job_id = start_job(services, "loop_check", {"round_id": row.id})
    return Answer(
        202, {"loop_id": loop.id, "event": event, "action": "checking the review", "job_id": job_id}
    )


def _loop_of(services: Services, webhook_id: Any) -> Loop | None:
    if not isinstance(webhook_id, int) or isinstance(webhook_id, bool):
        return None
    with services.db.session() as session:
        return session.scalar(select(Loop).where(Loop.webhook_id == webhook_id))


def _reviewing_round(services: Services, loop_id: int, job_id: Any) -> LoopRound | None:
    if not isinstance(job_id, int):
        return None
    with services.db.session() as session:
        return session.scalar(
            select(LoopRound).where(
                LoopRound.loop_id == loop_id,
                LoopRound.review_job_id == job_id,
                LoopRound.state == "reviewing",
            )
        )
