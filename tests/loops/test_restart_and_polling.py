"""A round survives a restart of the service, and polling finds a review CVAT could not report: the bridge is
down when the reviewer completes the job (CVAT's delivery fails), a new service on the same data dir asks CVAT
by itself, and the round retrains and finishes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cvat_bridge.services import Services, set_services
from tests.conftest import API_TOKEN, LiveServer, make_settings
from tests.cvat.conftest import frames
from tests.helpers.models import train_tiny_model
from tests.loops.conftest import CLASSES
from tests.standins import free_port
from tests.standins.cvat import CvatStandin

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def rounds(server: LiveServer, loop_id: int) -> dict[int, dict]:
    answer = httpx.get(f"{server.url}/api/loops/{loop_id}", headers=AUTH, timeout=30).json()
    return {r["number"]: r for r in answer["rounds"]}


def wait(server: LiveServer, loop_id: int, number: int, state: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rounds(server, loop_id).get(number)
        if found and found["state"] == state:
            return found
        assert not found or found["state"] != "failed", found
        time.sleep(0.3)
    raise AssertionError(f"round {number} never became {state}: {found}")


def test_review_finished_while_the_bridge_was_down(tmp_path: Path) -> None:
    with CvatStandin() as cvat:
        port = free_port()
        settings = make_settings(
            tmp_path / "data",
            public_url=f"http://127.0.0.1:{port}",
            cvat_url=cvat.url,
            cvat_access_token=cvat.access_token,
        )
        first = Services(settings)
        set_services(first)
        train_tiny_model(first, classes=CLASSES, name="tiny", epochs=1)
        truth = [CLASSES[i % 3] for i in range(18)]
        project = cvat.add_project("p", list(CLASSES))
        cvat.add_task(
            "frames", frames(truth, seed=3), project_id=project, tags={i: [truth[i]] for i in range(9)}
        )
        body = {"name": "restart", "model": "tiny", "project_id": project, "budget": 3, "auto_deploy": False}
        with LiveServer(first, port) as server:
            loop = httpx.post(f"{server.url}/api/loops", json=body, headers=AUTH, timeout=60).json()
            review = wait(server, loop["id"], 1, "reviewing")
        first.jobs.close()
        first.db.dispose()

        job = review["review_job_id"]
        headers = {"Authorization": f"Bearer {cvat.access_token}"}
        httpx.patch(
            f"{cvat.url}/api/jobs/{job}", json={"state": "completed"}, headers=headers
        ).raise_for_status()
        cvat.webhooks.wait_idle()
        assert cvat.webhooks.sent[-1][:2] == ("update:job", 502)  # nobody answered

        second = Services(settings)
        with LiveServer(second, port) as server:
            done = wait(server, loop["id"], 1, "done")
            assert done["reviewed"] == 3 and done["new_model_id"] is not None
            assert done["decision"].startswith("not deployed") and done["compared_on"] > 0
            wait(server, loop["id"], 2, "reviewing")  # and the loop goes on
        second.jobs.close()
        second.db.dispose()
        set_services(None)
