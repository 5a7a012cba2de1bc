"""A bridge for the loop tests: a trained "tiny" colour model, served live with PUBLIC_URL (so loops register
CVAT webhooks), a Nuclio dashboard stand-in and a CVAT stand-in that delivers webhooks to the bridge."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from cvat_bridge.db import Job
from cvat_bridge.jobs.store import TERMINAL_STATES
from cvat_bridge.services import Services, set_services
from tests.conftest import LiveServer, standin_settings
from tests.helpers.models import train_tiny_model
from tests.standins import free_port
from tests.standins.cvat import CvatStandin
from tests.standins.nuclio import NuclioStandin

CLASSES = ("red", "green", "blue")


@dataclass
class LoopBridge:
    services: Services
    server: LiveServer
    nuclio: NuclioStandin
    cvat: CvatStandin
    model_id: int


@pytest.fixture
def loop_bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopBridge]:
    with NuclioStandin() as nuclio, CvatStandin(nuclio_url=nuclio.url) as cvat:
        port = free_port()
        settings = standin_settings(tmp_path_factory.mktemp("loops") / "data", port, nuclio, cvat)
        services = Services(settings)
        set_services(services)
        model_id = train_tiny_model(services, classes=CLASSES, name="tiny", epochs=1)
        with LiveServer(services, port) as server:
            yield LoopBridge(services, server, nuclio, cvat, model_id)
        services.jobs.close()
        services.db.dispose()
        set_services(None)


def seed_loop(services: Services) -> int:
    """A loop row with two finished rounds and a third waiting for its review (no jobs, no CVAT)."""
    from cvat_bridge.db import Loop, LoopRound

    with services.db.session() as session:
        loop = Loop(
            name="seeded",
            project_id=3,
            strategy="entropy",
            budget=5,
            auto_tag_threshold=0.9,
            webhook_id=4,
            webhook_secret="s",
        )
        session.add(loop)
        session.flush()
        frame = {"task_id": 2, "frame": 7, "name": "f.jpg", "guess": "red", "confidence": 0.4, "score": 1.1}
        session.add_all(
            [
                LoopRound(
                    loop_id=loop.id,
                    number=1,
                    state="done",
                    scored=30,
                    auto_tagged=12,
                    selected=[frame] * 5,
                    reviewed=5,
                    labelled=17,
                    old_accuracy=0.6,
                    new_accuracy=0.8,
                    compared_on=5,
                    deployed_model_id=None,
                    decision="deploying: v2",
                ),
                LoopRound(
                    loop_id=loop.id,
                    number=2,
                    state="done",
                    scored=13,
                    auto_tagged=0,
                    selected=[frame] * 5,
                    reviewed=5,
                    labelled=22,
                    old_accuracy=0.8,
                    new_accuracy=0.7,
                    compared_on=7,
                    decision="not deployed: v3: worse",
                ),
                LoopRound(
                    loop_id=loop.id,
                    number=3,
                    state="reviewing",
                    scored=8,
                    selected=[frame] * 5,
                    review_task_id=9,
                    review_job_id=9,
                ),
            ]
        )
        session.flush()
        return loop.id


def settled_jobs(
    services: Services,
    kinds: Iterable[str],
    round_id: int | None = None,
    timeout: float = 60,
    at_least: int = 0,
) -> list[Job]:
    """The loop step jobs of these kinds (of one round, when given) once there are at_least of them and every
    one has ended."""
    deadline = time.monotonic() + timeout
    while True:
        with services.db.session() as session:
            jobs = [
                job
                for job in session.scalars(select(Job).where(Job.kind.in_(list(kinds))))
                if round_id is None or job.params["round_id"] == round_id
            ]
        if len(jobs) >= at_least and all(job.status in TERMINAL_STATES for job in jobs):
            return jobs
        assert time.monotonic() < deadline, [(job.kind, job.status) for job in jobs]
        time.sleep(0.3)
