"""Two rounds of the closed loop against the CVAT and Nuclio stand-ins, through the live service: the frames
sent to review are the least certain by margin (scores computed here with the served model), the review task
holds exactly those frames with the model's guesses as ``auto`` tags, people's tags are never touched, a
wrongly signed or unsigned delivery is refused, a signed ``update:job`` delivery (sent twice) starts exactly
one retraining, and the new version is compared on the same images and deployed only when not worse."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from cvat_bridge.db import Job, Model
from cvat_bridge.loops import steps
from cvat_bridge.loops.compare import accuracy, validation_images
from cvat_bridge.loops.strategies import uncertainty
from cvat_bridge.loops.webhook import sign
from cvat_bridge.runtime.imaging import open_image
from cvat_bridge.serving import get_predictor
from cvat_bridge.training import get_model
from tests.conftest import API_TOKEN
from tests.cvat.conftest import frames
from tests.loops.conftest import CLASSES, LoopBridge, settled_jobs
from tests.standins.cvat import CvatStandin

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
BUDGET = 5
MANUAL = 12  # frames 0-11 carry a person's tag (4 per class)


def api(bridge: LoopBridge, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{bridge.server.url}/api{path}", headers=AUTH, timeout=60, **kwargs)


def wait_round(
    bridge: LoopBridge, loop_id: int, number: int, states: tuple[str, ...], timeout: float = 240
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loop = api(bridge, "GET", f"/loops/{loop_id}").json()
        rounds = {r["number"]: r for r in loop["rounds"]}
        if number in rounds and rounds[number]["state"] in states:
            return rounds[number]
        if number in rounds and rounds[number]["state"] == "failed":
            raise AssertionError(f"round {number} failed: {rounds[number]['decision']}")
        time.sleep(0.3)
    raise AssertionError(f"round {number} of loop {loop_id} never reached {states}: {rounds.get(number)}")


def cvat_call(cvat: CvatStandin, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {cvat.access_token}"}
    answer = httpx.request(method, f"{cvat.url}{path}", headers=headers, timeout=30, **kwargs)
    answer.raise_for_status()
    return answer


def expected_selection(
    bridge: LoopBridge, model_id: int, task_id: int, skip: set[int]
) -> tuple[list[int], dict]:
    """The BUDGET frames with the highest margin uncertainty among those without a person's tag, scored here
    with the served model, and each frame's guessed class."""
    task = bridge.cvat.tasks[task_id]
    manual = {tag["frame"] for tag in task.tags if tag["source"] == "manual"}
    candidates = [i for i in range(len(task.frames)) if i not in manual and i not in skip]
    predictor = get_predictor(bridge.services, model_id)
    size = predictor.preprocessing.resize_size
    probabilities = predictor.probabilities(
        [open_image(task.frames[i].data, min_short_side=size) for i in candidates]
    )
    scores = uncertainty(probabilities, "margin")
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))[:BUDGET]
    guesses = {candidates[i]: predictor.classes[int(np.argmax(probabilities[i]))] for i in order}
    return [candidates[i] for i in order], guesses


def check_review_task(
    bridge: LoopBridge, round_: dict, source: int, chosen: list[int], guesses: dict
) -> None:
    cvat = bridge.cvat
    review = cvat.tasks[round_["review_task_id"]]
    src = cvat.tasks[source]
    assert review.project_id == src.project_id and review.assignee_id is not None
    assert sorted(f.name for f in review.frames) == sorted(src.frames[i].name for i in chosen)
    by_name = {f.name: f for f in review.frames}
    for i in chosen:  # the original bytes, named as in the source task
        assert by_name[src.frames[i].name].data == src.frames[i].data
    tags = cvat.tags_by_frame(review.id)
    assert {review.frames[f].name: labels for f, labels in tags.items()} == {
        src.frames[i].name: [(guesses[i], "auto")] for i in chosen
    }


def review(bridge: LoopBridge, round_: dict, truth: list[str], source: int) -> None:
    """A reviewer corrects every wrong guess (set to manual, as CVAT's UI does) and completes the job."""
    cvat = bridge.cvat
    review_task = cvat.tasks[round_["review_task_id"]]
    names = {label["id"]: label["name"] for label in cvat.task_labels(review_task)}
    ids = {name: label_id for label_id, name in names.items()}
    frame_truth = {f.name: truth[i] for i, f in enumerate(cvat.tasks[source].frames)}
    job = round_["review_job_id"]
    tags = cvat_call(cvat, "GET", f"/api/jobs/{job}/annotations/").json()["tags"]
    fixes = [
        {**tag, "label_id": ids[frame_truth[review_task.frames[tag["frame"]].name]], "source": "manual"}
        for tag in tags
        if names[tag["label_id"]] != frame_truth[review_task.frames[tag["frame"]].name]
    ]
    if fixes:
        cvat_call(
            cvat, "PATCH", f"/api/jobs/{job}/annotations/", params={"action": "update"}, json={"tags": fixes}
        )
    cvat_call(cvat, "PATCH", f"/api/jobs/{job}", json={"state": "in progress"})
    cvat_call(cvat, "PATCH", f"/api/jobs/{job}", json={"state": "completed"})
    cvat.webhooks.wait_idle()


def check_comparison(bridge: LoopBridge, round_: dict, old_id: int) -> None:
    """Both versions scored here on the new version's validation images; deployed only when not worse."""
    new = get_model(bridge.services, round_["new_model_id"])
    images = validation_images(bridge.services, new)
    assert round_["compared_on"] == len(images) > 0
    old_accuracy = accuracy(bridge.services, old_id, images)
    new_accuracy = accuracy(bridge.services, new.id, images)
    assert (round_["old_accuracy"], round_["new_accuracy"]) == pytest.approx((old_accuracy, new_accuracy))
    if new_accuracy >= old_accuracy:
        assert round_["deployed_model_id"] == new.id
        deadline = time.monotonic() + 120
        while api(bridge, "GET", f"/models/{new.id}/deployment").json()["state"] == "deploying":
            assert time.monotonic() < deadline
            time.sleep(0.3)
        state = api(bridge, "GET", f"/models/{new.id}/deployment").json()
        assert state["state"] == "ready", state
        assert state["function_name"] in bridge.nuclio.functions
    else:
        assert round_["deployed_model_id"] is None and "not deployed" in round_["decision"]
        assert api(bridge, "GET", f"/models/{new.id}/deployment").json()["state"] == "not_deployed"


def trainings(bridge: LoopBridge) -> int:
    with bridge.services.db.session() as session:
        return len(session.scalars(select(Model).where(Model.name == "tiny")).all())


def test_two_rounds(loop_bridge: LoopBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    bridge, cvat = loop_bridge, loop_bridge.cvat
    # Only the poller's first ask per round: the completion below must be found by the webhook, not a poll.
    monkeypatch.setattr(steps, "REVIEW_POLL_SECONDS", 3600.0)
    truth = [CLASSES[i % 3] for i in range(36)]
    project = cvat.add_project("loop-project", list(CLASSES))
    alice = cvat.add_user("alice")
    source = cvat.add_task(
        "frames",
        frames(truth, seed=7),
        project_id=project,
        tags={i: [truth[i]] for i in range(MANUAL)},
    )
    manual_before = {f: t for f, t in cvat.tags_by_frame(source).items() if f < MANUAL}

    created = api(
        bridge,
        "POST",
        "/loops",
        json={
            "name": "colours-loop",
            "model": "tiny",
            "project_id": project,
            "budget": BUDGET,
            "auto_tag_threshold": 0.999,
            "assignee_id": alice,
        },
    )
    assert created.status_code == 201, created.text
    loop = created.json()
    assert loop["strategy"] == "margin" and loop["webhook_id"] in cvat.webhooks.hooks
    hook = cvat.webhooks.hooks[loop["webhook_id"]]
    assert hook["target_url"] == f"{bridge.server.url}/api/loops/webhook" and hook["events"] == ["update:job"]

    # Round 1: the least certain frames by margin, in a review task with the guesses pre-filled.
    round1 = wait_round(bridge, loop["id"], 1, ("reviewing",))
    chosen, guesses = expected_selection(bridge, bridge.model_id, source, skip=set())
    assert [(s["task_id"], s["frame"]) for s in round1["selected"]] == [(source, i) for i in chosen]
    assert [s["guess"] for s in round1["selected"]] == [guesses[i] for i in chosen]
    check_review_task(bridge, round1, source, chosen, guesses)
    assert {f: t for f, t in cvat.tags_by_frame(source).items() if f < MANUAL} == manual_before
    assert all(tags[0][1] == "auto" for f, tags in cvat.tags_by_frame(source).items() if f >= MANUAL)

    # Deliveries that are not CVAT's: refused, and nothing moves.
    completed = {
        "event": "update:job",
        "webhook_id": loop["webhook_id"],
        "job": {"id": round1["review_job_id"], "state": "completed", "stage": "annotation"},
    }
    raw = json.dumps(completed).encode()
    url = f"{bridge.server.url}/api/loops/webhook"
    wrong = httpx.post(url, content=raw, headers={"X-Signature-256": sign("not-the-secret", raw)})
    unsigned = httpx.post(url, content=raw)
    assert (wrong.status_code, unsigned.status_code) == (403, 401)
    assert wait_round(bridge, loop["id"], 1, ("reviewing",))["state"] == "reviewing"
    with bridge.services.db.session() as session:
        assert not session.scalars(select(Job).where(Job.kind == "loop_check")).all()[
            1:
        ]  # at most the first poll

    # The completion: CVAT's signed delivery starts the retraining; delivered twice: one retraining.
    before = trainings(bridge)
    # The poller's first ask for the round has run (it starts at the poller's next beat, which may come after
    # the test gets here): it cannot race the delivery.
    settled_jobs(bridge.services, ["loop_check"], at_least=1)
    review(bridge, round1, truth, source)
    completion = max(
        d
        for d, item in cvat.webhooks.deliveries.items()
        if '"state": "completed"' in json.dumps(item["request"].get("job"))
    )
    cvat_call(cvat, "POST", f"/api/webhooks/{loop['webhook_id']}/deliveries/{completion}/redelivery")
    cvat.webhooks.wait_idle()
    statuses = [status for event, status, _ in cvat.webhooks.sent if event == "update:job"]
    assert 202 in statuses
    round1 = wait_round(bridge, loop["id"], 1, ("done",))
    assert trainings(bridge) == before + 1
    assert round1["reviewed"] == BUDGET
    review_tags = cvat.tags_by_frame(round1["review_task_id"])
    assert all(source_ == "manual" for tags in review_tags.values() for _, source_ in tags)
    check_comparison(bridge, round1, bridge.model_id)

    # Round 2 starts by itself, scored by the version the loop now holds; no frame goes to review twice.
    round2 = wait_round(bridge, loop["id"], 2, ("reviewing",))
    scorer = round1["deployed_model_id"] or bridge.model_id
    assert round2["model_id"] == scorer
    chosen2, guesses2 = expected_selection(bridge, scorer, source, skip=set(chosen))
    assert [(s["task_id"], s["frame"]) for s in round2["selected"]] == [(source, i) for i in chosen2]
    check_review_task(bridge, round2, source, chosen2, guesses2)
    review(bridge, round2, truth, source)
    round2 = wait_round(bridge, loop["id"], 2, ("done",))
    assert trainings(bridge) == before + 2
    assert round2["labelled"] == MANUAL + 2 * BUDGET
    check_comparison(bridge, round2, scorer)
    assert {f: t for f, t in cvat.tags_by_frame(source).items() if f < MANUAL} == manual_before
    stopped = api(bridge, "POST", f"/loops/{loop['id']}/stop").json()
    assert stopped["state"] == "stopped" and stopped["webhook_id"] is None
    assert loop["webhook_id"] not in cvat.webhooks.hooks  # removed from CVAT
