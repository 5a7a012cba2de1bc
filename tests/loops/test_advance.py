"""The service's poller: a review is asked about once per interval, and a round whose step job was lost (its
worker died, the service stopped) ends failed with the reason instead of waiting forever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cvat_bridge.db import Job, LoopRound
from cvat_bridge.jobs.store import create_job, fail_unfinished_job
from cvat_bridge.loops import steps, store
from cvat_bridge.services import Services
from tests.conftest import make_settings
from tests.loops.conftest import seed_loop


@pytest.fixture
def services(tmp_path: Path, database_url: str | None) -> Iterator[Services]:
    """Both databases: SQLite and PostgreSQL (the conditional state changes are SQL)."""
    svc = Services(make_settings(tmp_path / "data", database_url=database_url))
    yield svc
    svc.db.dispose()


def _without_worker(services: Services) -> Services:
    return steps.without_dispatch(services)  # rows only: nothing runs the jobs here


def test_reviews_are_polled_once_per_interval(services: Services) -> None:
    quiet = _without_worker(services)
    seed_loop(quiet)
    polled: dict[int, float] = {}
    assert len(steps.advance(quiet, polled)) == 1  # round 3 is reviewing
    assert steps.advance(quiet, polled) == []
    with services.db.session() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "loop_check")).all()
        assert job.params == {"round_id": session.scalar(select(LoopRound.id).where(LoopRound.number == 3))}


def test_a_lost_step_fails_its_round(services: Services) -> None:
    quiet = _without_worker(services)
    loop_id = seed_loop(quiet)
    row = store.find_round(quiet, loop_id, 3)
    store.move(quiet, row.id, "reviewing", "training")
    job_id = create_job(quiet.db, "loop_retrain", {"round_id": row.id})
    steps.advance(quiet)
    assert store.get_round(quiet, row.id).state == "training"  # queued: still waiting
    fail_unfinished_job(quiet.db, job_id, "the worker process died while running the job")
    steps.advance(quiet)
    failed = store.get_round(quiet, row.id)
    assert failed.state == "failed"
    assert failed.decision == "the loop_retrain job failed: the worker process died while running the job"
