"""A round that fails after it created its review task leaves nothing behind in CVAT: the task is removed
and the round says so; a round whose worker died after creating it names the task left in CVAT."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cvat_bridge.cvat.client import CvatError
from cvat_bridge.db import Job
from cvat_bridge.jobs.runner import run_job
from cvat_bridge.jobs.store import fail_unfinished_job
from cvat_bridge.loops import cvat_review, steps, store
from tests.cvat.conftest import frames
from tests.loops.conftest import CLASSES, LoopBridge

pytestmark = pytest.mark.slow


def _loop(bridge: LoopBridge) -> tuple[int, int]:
    """A loop (jobs recorded, not dispatched) on a project with one untagged task: (loop id, round id)."""
    cvat = bridge.cvat
    project = cvat.add_project("failing-project", list(CLASSES))
    cvat.add_task("frames", frames([CLASSES[i % 3] for i in range(12)], seed=3), project_id=project)
    quiet = steps.without_dispatch(bridge.services)
    loop = steps.start_loop(
        quiet, name="failing", model_id=bridge.model_id, project_id=project, budget=3, auto_tag_threshold=0.0
    )
    return loop.id, store.find_round(quiet, loop.id, 1).id


def _round_job(bridge: LoopBridge) -> str:
    with bridge.services.db.session() as session:
        jobs = session.scalars(select(Job).where(Job.kind == "loop_round").order_by(Job.created_at)).all()
        return jobs[-1].id


def test_a_round_failing_after_its_review_task_removes_it(
    loop_bridge: LoopBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = loop_bridge
    loop_id, round_id = _loop(bridge)
    tasks_before = set(bridge.cvat.tasks)

    def cvat_refuses(*_: object) -> int:
        raise CvatError("CVAT answered 500 while writing tags")

    monkeypatch.setattr(cvat_review, "write_auto_tags", cvat_refuses)
    run_job(_round_job(bridge))

    failed = store.get_round(bridge.services, round_id)
    assert failed.state == "failed" and failed.review_task_id is None
    assert "CVAT answered 500 while writing tags" in failed.decision
    removed = re.search(r"its review task (\d+) was removed from CVAT", failed.decision)
    assert removed and int(removed[1]) > max(tasks_before), failed.decision  # a task this round created
    assert set(bridge.cvat.tasks) == tasks_before  # nothing left behind


def test_a_round_whose_worker_died_names_the_review_task_it_left(loop_bridge: LoopBridge) -> None:
    bridge = loop_bridge
    loop_id, round_id = _loop(bridge)
    quiet = steps.without_dispatch(bridge.services)
    store.record(quiet, round_id, review_task_id=77, review_job_id=78)  # created, then the worker was killed
    fail_unfinished_job(quiet.db, _round_job(bridge), "the worker process died while running the job")
    steps.advance(quiet)
    failed = store.get_round(quiet, round_id)
    assert failed.state == "failed"
    assert failed.decision == (
        "the loop_round job failed: the worker process died while running the job; its review task 77 is "
        "left in CVAT (delete it there)"
    )
