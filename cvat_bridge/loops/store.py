"""The loop's rows: create and read loops and rounds, and change a round's state only from the state the
caller saw (one UPDATE ... WHERE state = old), so two deliveries or two workers never both win a step.

Round states: scoring -> reviewing -> reviewed -> training -> comparing -> done; any step may end in failed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from cvat_bridge.db import Job, Loop, LoopRound, utcnow
from cvat_bridge.errors import Conflict, NotFound
from cvat_bridge.services import Services

ROUND_STATES = ("scoring", "reviewing", "reviewed", "training", "comparing", "done", "failed")
FINISHED_ROUND_STATES = ("done", "failed")


class LoopNotFound(NotFound):
    """No loop (or round of a loop) has this id or number."""


class LoopConflict(Conflict):
    """The loop or round is not in a state that allows this (message for the user)."""


def get_loop(services: Services, loop_id: int) -> Loop:
    return services.db.get(Loop, loop_id, LoopNotFound(f"no loop with id {loop_id}"))


def list_loops(services: Services) -> list[Loop]:
    with services.db.session() as session:
        return list(session.scalars(select(Loop).order_by(Loop.id.desc())))


def loop_rounds(services: Services, loop_id: int) -> list[LoopRound]:
    with services.db.session() as session:
        return list(
            session.scalars(select(LoopRound).where(LoopRound.loop_id == loop_id).order_by(LoopRound.number))
        )


def get_round(services: Services, round_id: int) -> LoopRound:
    return services.db.get(LoopRound, round_id, LoopNotFound(f"no loop round with id {round_id}"))


def find_round(services: Services, loop_id: int, number: int) -> LoopRound:
    with services.db.session() as session:
        row = session.scalar(
            select(LoopRound).where(LoopRound.loop_id == loop_id, LoopRound.number == number)
        )
    if row is None:
        raise LoopNotFound(f"loop {loop_id} has no round {number}")
    return row


def new_round(services: Services, loop: Loop) -> LoopRound:
    """The next round (state scoring), unless the last one is still under way."""
    with services.db.session() as session:
        last = session.scalar(
            select(LoopRound).where(LoopRound.loop_id == loop.id).order_by(LoopRound.number.desc()).limit(1)
        )
        if last is not None and last.state not in FINISHED_ROUND_STATES:
            raise LoopConflict(
                f"round {last.number} of loop {loop.id} is {last.state}; wait until it is done"
            )
        number = (
            session.scalar(select(func.max(LoopRound.number)).where(LoopRound.loop_id == loop.id)) or 0
        ) + 1
        row = LoopRound(loop_id=loop.id, number=number, state="scoring", model_id=loop.model_id)
        session.add(row)
        session.flush()
        return row


def move(services: Services, round_id: int, old: str, new: str, **fields: Any) -> bool:
    """Set the round's state (and fields) only if it is ``old`` now; whether this call did it."""
    with services.db.session() as session:
        result = session.execute(
            update(LoopRound)
            .where(LoopRound.id == round_id, LoopRound.state == old)
            .values(state=new, updated_at=utcnow(), **fields)
        )
        return result.rowcount == 1


def record(services: Services, round_id: int, **fields: Any) -> None:
    with services.db.session() as session:
        session.execute(
            update(LoopRound).where(LoopRound.id == round_id).values(updated_at=utcnow(), **fields)
        )


def fail_round(services: Services, round_id: int, reason: str) -> None:
    """A step failed: the round says why (it can be started again as a new round)."""
    with services.db.session() as session:
        session.execute(
            update(LoopRound)
            .where(LoopRound.id == round_id, LoopRound.state.not_in(FINISHED_ROUND_STATES))
            .values(state="failed", decision=reason, updated_at=utcnow())
        )


def rounds_in(services: Services, state: str) -> list[LoopRound]:
    with services.db.session() as session:
        return list(session.scalars(select(LoopRound).where(LoopRound.state == state)))


def reviewed_frames(services: Services, loop_id: int) -> tuple[set[tuple[int, int]], set[int]]:
    """The (task, frame) pairs earlier rounds sent to review, and the loop's review tasks."""
    sent: set[tuple[int, int]] = set()
    tasks: set[int] = set()
    for row in loop_rounds(services, loop_id):
        sent |= {(item["task_id"], item["frame"]) for item in row.selected or []}
        if row.review_task_id:
            tasks.add(row.review_task_id)
    return sent, tasks


def last_step_job(services: Services, kind: str, round_id: int) -> Job | None:
    """The latest job of this kind for the round."""
    with services.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == kind).order_by(Job.created_at.desc()))
        return next((job for job in jobs if (job.params or {}).get("round_id") == round_id), None)
